"""E_φ on pixels against E_φ over features, on CPU: LRA (`method: default`) with
`train.image_network: resnet18` against the default `features`, each with its train CPU time.

    python bench/image_network.py                      # glyphs and digits, sym-0.4, seed 0
    python bench/image_network.py --steps 100 --batch-size 64 --seeds 0 1 2

Per dataset and seed, three pipeline runs (one workdir each, the whole DAG with `--cores 2`):
- `features`: the method as it ships (E_φ an MLP over the encoder's features; its own step count);
- `features@budget`: the same with the ResNet's step budget (`train.steps`, `train.batch_size`);
- `resnet18`: E_φ a ResNet-18 on the 32×32 images (CIFAR stem, flips off: glyphs and digits are
  not mirror-symmetric), the same budget.
`train.steps` is the first round's; the default method's two later rounds add half as many
each. Accuracy and the baselines come from each run's metrics.json; train CPU seconds from the
train log's exact figure (the process, plus its DataLoader workers). Writes
bench/results/image_network.jsonl (one row per run) and image_network.md. The load average
before and after each run says what else ran on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from groups import pipeline_config  # noqa: E402

NOISE = "sym-0.4"
CPU = re.compile(r"lra train: peak RSS \d+ MiB, CPU (\d+(?:\.\d+)?) s(?: \(\+ (\d+(?:\.\d+)?) s in its worker)?")


def variants(steps: int, batch: int) -> dict[str, dict]:
    budget = {"steps": steps, "batch_size": batch}
    return {"features": {}, "features@budget": budget,
            "resnet18": {**budget, "image_network": "resnet18", "image_size": 32, "image_flip": False}}


def run(workdir: Path, config: dict) -> dict:
    """The DAG in `workdir`; returns accuracy, baselines, train CPU and wall seconds, load averages."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "bench.yaml").write_text(yaml.safe_dump(config))
    cmd = [str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(REPO / "config.yaml"), str(workdir / "bench.yaml"), "--cores", "2", "--quiet", "rules"]
    load = os.getloadavg()[0]
    t = time.time()
    with open(workdir / "snakemake.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - t
    metrics = json.loads(next(workdir.glob("results/*/runs/*/*/*/*/*/metrics.json")).read_text())
    train_log = next(workdir.glob("logs/*/train/*/*/*/*/seed*[0-9].log")).read_text()
    cpu, workers = CPU.search(train_log).groups()
    bench = next(workdir.glob("logs/*/train/*/*/*/*/*.bench.tsv")).read_text().splitlines()
    train_wall = float(bench[1].split("\t")[0])
    b = metrics["baselines"]
    return {"accuracy": metrics["accuracy"], "knn_vote": b.get("knn_vote"), "linear_probe": b.get("linear_probe"),
            "clean_knn_vote": b.get("clean_knn_vote"), "train_cpu_s": float(cpu) + float(workers or 0),
            "train_worker_cpu_s": float(workers or 0), "train_wall_s": train_wall, "dag_wall_s": round(wall, 1),
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["glyphs", "digits"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--steps", type=int, default=100, help="first-round steps of the budgeted runs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--work", type=Path, default=Path("/tmp/lra-bench-image-network"))
    parser.add_argument("--only", nargs="*", default=None, help="variants to run (default: all)")
    args = parser.parse_args()
    out = REPO / "bench" / "results" / "image_network.jsonl"
    rows = []
    for name in args.datasets:
        for seed in args.seeds:
            for variant, train in variants(args.steps, args.batch_size).items():
                if args.only and variant not in args.only:
                    continue
                config = {**pipeline_config(name, seed, args.work / "data"), "noise": NOISE, "seed": seed,
                          "method": "default", "knn_k": 10, **({"train": train} if train else {})}
                row = {"dataset": name, "seed": seed, "variant": variant, "encoder": config["encoder"], **train,
                       **run(args.work / f"{name}-{variant.replace('@', '-')}-seed{seed}", config)}
                print(json.dumps(row), flush=True)
                rows.append(row)
                with open(out, "a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
