"""What surviving a killed job costs: checkpoint saves, and a SIGTERM'd-then-resumed training.

Builds an embeddings dataset (`lra.data.synthetic`, N × d, 30 % symmetric noise), runs the stages up
to the neighbour table in this process, then times `python -m lra train` as a job runs it, on one
torch thread:
  (a) uninterrupted, checkpoints off (`--checkpoint-minutes 0`);
  (b) uninterrupted, a checkpoint every `--every` minutes (far more often than the default 5);
  (c) SIGTERM once half of (a)'s wall time has passed, then the rerun that resumes (walls summed).
Prints CPU seconds (steadier than wall time on a shared machine), the checkpoint size and save
times (from the log), the ratios b/a and c/a, and whether the three model.pt files are identical.

    PYTHONPATH=. python bench/resume.py [--quick] [--n 20000] [--dim 512] [--epochs 20] [--every 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lra import stages
from lra.data.synthetic import clustered_features, embeddings_frame

ROOT = Path(__file__).resolve().parents[1]


def prepare(root: Path, n: int, dim: int) -> list[str]:
    x, y = clustered_features(n, dim, num_classes=10, seed=0)
    emb = root / "vectors.parquet"
    embeddings_frame(x, y).to_parquet(emb)
    stages.data({"kind": "embeddings", "path": str(emb)}, root / "manifest.parquet")
    stages.noise(root / "manifest.parquet", "sym-0.3", root / "labels.parquet", seed=0)
    stages.index(root / "manifest.parquet", [str(emb)], root / "index.faiss")
    stages.neighbors(root / "manifest.parquet", [str(emb)], root / "index.faiss", 10, root / "nb.parquet", device="cpu")
    return ["--manifest", root / "manifest.parquet", "--labels", root / "labels.parquet", "--features", emb,
            "--neighbors", root / "nb.parquet"]


def start(inputs: list, out: Path, params: dict, minutes: float) -> subprocess.Popen:
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "lra", "train", *inputs, "--out", out, "--params", json.dumps(params),
           "--checkpoint-minutes", str(minutes)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(list(map(str, cmd)), stderr=open(out.with_suffix(".log"), "a"), env=env)


def timed(proc: subprocess.Popen) -> tuple[int, float, float]:
    """Exit status, wall seconds from now, and the process's CPU seconds (user + system): the CPU
    time is the figure to compare on a shared, loaded machine."""
    t = time.monotonic()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.monotonic() - t, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 5,000, 10 epochs")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--every", type=float, default=0.05, help="checkpoint interval of run (b), minutes")
    args = ap.parse_args()
    if args.quick:
        args.n, args.epochs = 5_000, 10
    params = {"epochs": args.epochs, "min_steps": 0, "F": 512, "T": 1000, "batch_size": 256, "eval_every": 5,
              "device": "cpu"}
    root = Path(tempfile.mkdtemp(prefix="lra-resume-bench-"))
    inputs = prepare(root, args.n, args.dim)

    rc, plain, plain_cpu = timed(start(inputs, root / "a" / "model.pt", params, 0))
    assert rc == 0
    rc, _, often_cpu = timed(start(inputs, root / "b" / "model.pt", params, args.every))
    assert rc == 0
    out = root / "c" / "model.pt"
    proc = start(inputs, out, params, 0)
    time.sleep(plain / 2)
    proc.send_signal(signal.SIGTERM)
    rc, stop_wall, killed_cpu = timed(proc)
    assert rc == 128 + signal.SIGTERM, rc
    size = (out.parent / "train.ckpt").stat().st_size
    rc, _, resumed_cpu = timed(start(inputs, out, params, 0))
    assert rc == 0

    saves = sorted(float(s) for s in re.findall(r"checkpoint saved .* in ([0-9.]+) s", (root / "b" / "model.log").read_text()))
    resumed_at = re.search(r"resumed from checkpoint at epoch \d+ \(step \d+\)", out.with_suffix(".log").read_text())
    same = len({(root / r / "model.pt").read_bytes() for r in "abc"}) == 1
    both = killed_cpu + resumed_cpu
    print(f"N={args.n} d={args.dim} F=512 T=1000 batch 256, {args.epochs} epochs, 1 torch thread; CPU seconds")
    print(f"(a) uninterrupted, no checkpoints   {plain_cpu:7.1f} s  (wall {plain:.1f} s)")
    print(f"(b) a checkpoint every {args.every * 60:.0f} s        {often_cpu:7.1f} s  b/a {often_cpu / plain_cpu:.3f}"
          f"  ({len(saves)} saves of {size / 2**20:.1f} MiB, median {saves[len(saves) // 2]:.2f} s wall)")
    print(f"(c) SIGTERM halfway + the resume    {both:7.1f} s  c/a {both / plain_cpu:.3f}"
          f"  (c - a = {both - plain_cpu:.1f} s; SIGTERM to exit {stop_wall:.2f} s wall;"
          f" {resumed_at.group(0) if resumed_at else 'NOT RESUMED'})")
    print(f"model.pt identical in (a), (b), (c): {same}")


if __name__ == "__main__":
    main()
