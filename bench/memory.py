"""Peak memory of holding N x D features for training, per reader, each in a fresh process.

Writes N x D float16 feature shards (as `embed` with dtype float16 does), then measures the
peak RSS (VmHWM of /proc/self/status; ru_maxrss where that is missing) of a child process that reads them with
- `features.read`: the existing reader (float32, every block then a reordered copy);
- `features.read_compact`: one preallocated float16 matrix filled batch by batch;
- `features.read_compact(mmap_path=...)`: the same matrix as a .npy memory map on disk;
- the float16 matrix handed to torch (torch.from_numpy, no copy), as a train stage would;
and the baseline of a child that imports the same modules and reads nothing.

    PYTHONPATH=. python bench/memory.py                 # 1M x 768 (1.5 GB of float16 shards)
    PYTHONPATH=. python bench/memory.py --n 100000 --dim 512
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
import numpy as np
from lra.core import features
mode, paths, mmap_path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
if mode.startswith("torch"):
    import torch
t = time.perf_counter()
if mode == "baseline":
    x = None
elif mode == "read":
    _, x = features.read(paths)
elif mode == "read_compact":
    _, x = features.read_compact(paths)
elif mode == "read_compact_mmap":
    _, x = features.read_compact(paths, mmap_path=mmap_path)
elif mode == "torch_baseline":
    x = None
elif mode == "torch_read_compact":
    _, a = features.read_compact(paths)
    x = torch.from_numpy(a)
    assert x.data_ptr() == a.ctypes.data  # no copy
seconds = time.perf_counter() - t
# VmHWM: this process's peak RSS since exec (ru_maxrss would include the forking parent's)
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
peak_mib = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"mode": mode, "peak_mib": peak_mib, "seconds": seconds,
                  "shape": None if x is None else list(x.shape), "dtype": None if x is None else str(x.dtype)}))
"""


def main() -> None:
    from lra.core import features

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--shards", type=int, default=10)
    p.add_argument("--dir", default=None, help="where to write the shards (default: a temporary folder)")
    p.add_argument("--modes", default="baseline,read,read_compact,read_compact_mmap,torch_baseline,torch_read_compact")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        rng = np.random.default_rng(0)
        paths, t = [], time.perf_counter()
        for s, block in enumerate(np.array_split(np.arange(args.n), args.shards)):
            x = rng.standard_normal((len(block), args.dim), dtype=np.float32).astype(np.float16)
            paths.append(f"{tmp}/part-{s:05d}.parquet")
            features.write([f"item-{i:08d}" for i in block], x, paths[-1], dtype="float16")
        size = sum(Path(p).stat().st_size for p in paths) / 2**20
        print(f"wrote {args.n} x {args.dim} float16 in {args.shards} shards, {size:.0f} MiB, {time.perf_counter() - t:.0f} s")
        raw16 = args.n * args.dim * 2 / 2**20
        print(f"the matrix itself: {raw16:.0f} MiB as float16, {2 * raw16:.0f} MiB as float32\n")
        print("| reader | peak RSS MiB | above baseline MiB | seconds | result |")
        print("|---|---:|---:|---:|---|")
        base = {}
        for mode in args.modes.split(","):
            out = subprocess.run([sys.executable, "-c", CHILD, mode, json.dumps(paths), f"{tmp}/features.npy"],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            ref = base.get("torch" if mode.startswith("torch") else "plain", r["peak_mib"])
            if mode.endswith("baseline"):
                base["torch" if mode.startswith("torch") else "plain"] = r["peak_mib"]
            result = f"{r['dtype']} {r['shape']}" if r["shape"] else "-"
            print(f"| {mode} | {r['peak_mib']:.0f} | {r['peak_mib'] - ref:.0f} | {r['seconds']:.1f} | {result} |")


if __name__ == "__main__":
    main()
