"""Time and peak memory of a run's figures (`lra plots`) at N items, against reading the run's
tables whole, each in a fresh process.

Writes a synthetic run of N items in the stage contracts (manifest with digit-image sources,
predictions with y0 and class frequencies, label_issues, metrics.json, model.pt with a 200-epoch
history), then measures the peak RSS (VmHWM) and wall time of
- `lra plots` on it (reads test rows, the first 48 label issues and their 48 images);
- a child that reads predictions.parquet, label_issues.parquet and the manifest whole (what a
  plotting script written with `pd.read_parquet` would start with) and draws nothing;
- a child that imports the same modules and reads nothing (the floor: torch's import alone is
  most of it).

    PYTHONPATH=. python bench/report.py                 # N = 1,000,000, 10 classes
    PYTHONPATH=. python bench/report.py --n 100000 --classes 100
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

IMPORTS = "import json, sys\nimport torch, pandas as pd, pyarrow.parquet, matplotlib.figure\nfrom lra import stages\nfrom lra.report import run\n"
PEAK = r"""
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(json.dumps({"peak_mib": int(hwm[0].split()[1]) / 1024}))
"""
# every child imports the same modules first, so peaks above the floor are the data and figures
CHILD = {
    "floor": IMPORTS + PEAK,
    "plots": IMPORTS + "stages.plots(*sys.argv[1:6], sys.argv[6])\n" + PEAK,
    "read_whole": IMPORTS + "frames = [pd.read_parquet(p) for p in (sys.argv[1], sys.argv[3], sys.argv[5])]\n" + PEAK,
}


def write_run(root: Path, n: int, classes: int, seed: int = 0) -> list[str]:
    import pyarrow as pa
    import torch

    from lra.data.datasets import DIGITS_PREFIX
    from lra.core.files import write_json, write_table

    rng = np.random.default_rng(seed)
    ids = np.char.add("item", np.arange(n).astype(str))
    split = rng.choice(np.array(["train", "val", "test"]), n, p=[0.8, 0.1, 0.1])
    truth = rng.integers(0, classes, n)
    given = np.where(rng.random(n) < 0.3, rng.integers(0, classes, n), truth)
    write_table(pa.table({"id": ids, "split": split, "source": np.char.add(DIGITS_PREFIX, (np.arange(n) % 1797).astype(str)),
                          "label": given, "clean_label": truth}), root / "manifest.parquet",
                metadata={"kind": "bundled", "name": "synthetic", "classes": [f"class {c}" for c in range(classes)]})
    freq = rng.dirichlet(np.full(classes, 0.3), n).astype(np.float32)
    predicted = np.where(rng.random(n) < 0.85, truth, freq.argmax(1))
    entropy = -(freq * np.log(np.maximum(freq, 1e-12))).sum(1).astype(np.float32)
    write_table(pa.table({"id": ids, "split": split, "predicted": predicted,
                          "y0": pa.FixedSizeListArray.from_arrays(pa.array(freq.reshape(-1)), classes),
                          "class_frequencies": pa.FixedSizeListArray.from_arrays(pa.array(freq.reshape(-1)), classes),
                          "majority": freq.argmax(1), "entropy": entropy}), root / "predictions.parquet",
                metadata={"samples": 10})
    train = np.flatnonzero(split == "train")
    p_given = freq[train, given[train]]
    order = train[np.argsort(p_given, kind="stable")]
    write_table(pa.table({"id": ids[order], "given_label": given[order], "predicted_label": predicted[order],
                          "p_given": np.sort(p_given), "flag": predicted[order] != given[order]}),
                root / "label_issues.parquet")
    test = split == "test"
    names = [f"class {c}" for c in range(classes)]
    write_json({"accuracy": float((predicted == truth)[test].mean()), "accuracy_stochastic": 0.8, "n_test": int(test.sum()),
                "per_class_accuracy": {names[c]: float((predicted[test] == c)[truth[test] == c].mean()) for c in range(classes)},
                "baselines": {"knn_vote": 0.8, "linear_probe": 0.75, "cleanlab": 0.78, "datalab_relabel": 0.77,
                              "clean_knn_vote": 0.9, "clean_linear_probe": 0.88}}, root / "metrics.json")
    history = [{"epoch": e, "loss": 1 / e, **({"val_accuracy": 0.5 + 0.3 * (1 - 1 / e)} if e % 5 == 0 else {})}
               for e in range(1, 201)]
    history[189]["selected"] = True
    torch.save({"history": history, "selected_epoch": 190, "train_config": {"select_on": "observed"}}, root / "model.pt")
    return [str(root / f) for f in ("manifest.parquet", "model.pt", "predictions.parquet", "metrics.json", "label_issues.parquet")]


def child(mode: str, args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                      os.environ.get("PYTHONPATH")]))}
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD[mode], *args], check=True, capture_output=True, text=True, env=env)
    return {"mode": mode, "seconds": time.perf_counter() - t, **json.loads(out.stdout.strip().splitlines()[-1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--dir", default=None, help="where to write the synthetic run (default: a temporary folder)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        files = write_run(root, a.n, a.classes)
        sizes = {Path(f).name: os.path.getsize(f) / 2**20 for f in files}
        print(f"synthetic run of {a.n:,} items, {a.classes} classes written in {time.perf_counter() - t:.1f} s: "
              + ", ".join(f"{k} {v:.1f} MiB" for k, v in sizes.items()))
        args = [*files, str(root / "figures")]
        rows = [child(mode, args) for mode in ("floor", "plots", "read_whole")]
    floor = rows[0]
    print(f"{'child':<12}{'wall s':>8}{'peak RSS MiB':>14}{'above floor MiB':>17}")
    for r in rows:
        print(f"{r['mode']:<12}{r['seconds']:>8.1f}{r['peak_mib']:>14.0f}{r['peak_mib'] - floor['peak_mib']:>17.0f}")


if __name__ == "__main__":
    main()
