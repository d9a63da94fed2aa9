"""Ablations on the array-level API (no Snakemake): one variant of the train hyper-parameters over
a group's datasets, seeds and noises, one row per run. Far faster than the pipeline; the chosen
default is then confirmed by bench/accuracy.py.

    python bench/ablate.py --variant paper --group dev --seeds 3      # rows to bench/out/ablate/paper.tsv
    python bench/ablate.py --compare default rounds3                  # paired differences, 95 % CI

Each (dataset, seed) draws its split from the seed exactly as the pipeline does; the noise,
neighbours (k = 10, the item itself excluded) and training are the pipeline's own functions.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from groups import GROUPS, arrays  # noqa: E402

from lra.diffusion.config import PRESETS  # noqa: E402

NOISES = ["sym-0.2", "sym-0.4", "sym-0.6", "asym-0.4", "pmd-0.35"]
OUT = REPO / "bench" / "out" / "ablate"

# Each variant: (base preset, train keys over it).
VARIANTS = {
    "paper": ("paper", {}),
    "default": ("default", {}),
    "paper_decay": ("paper", {"lr_decay_epochs": None}),
    "rounds3": ("default", {"rounds": 3, "min_steps": 4000, "round_fraction": 0.5}),
    "rounds3_margin": ("default", {"rounds": 3, "min_steps": 4000, "round_fraction": 0.5, "relabel_margin": 0.2}),
}


def run_one(x, y, split, m, noise: str, seed: int, params: dict, k: int = 10) -> dict:
    import torch

    from lra.data import noise as noise_mod
    from lra.retrieval import knn as retrieval
    from lra.diffusion.config import TrainConfig
    from lra.diffusion.rounds import train_rounds
    from lra.diffusion.readout import read_out
    from lra.diffusion.sample import predict

    observed = noise_mod.observed_labels(m.frame, m.classes, noise, seed, None, x)
    tr, va, te = split == "train", split == "val", split == "test"
    _, rows = retrieval.self_knn(x[tr], k)
    cfg = TrainConfig.from_dict({**params, "seed": seed, "device": "cpu"})
    t = time.process_time()
    model, schedule, history, _ = train_rounds(x[tr], observed[tr], rows, len(m.classes), cfg, x[va], observed[va],
                                               log=lambda *a: None)
    cpu = time.process_time() - t
    pred = read_out(predict(model, schedule, torch.as_tensor(x))[0]).numpy()
    wrong, flag = observed[tr] != y[tr], pred[tr] != observed[tr]
    tp = (wrong & flag).sum()
    f1 = 2 * tp / max(1, wrong.sum() + flag.sum())
    return {"acc": float((pred[te] == y[te]).mean()), "f1": float(f1), "train_cpu_s": cpu,
            "epochs": len(history), "noise_rate": float(wrong.mean())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=sorted(VARIANTS))
    p.add_argument("--group", choices=sorted(GROUPS), default="dev")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--only", nargs="*")
    p.add_argument("--compare", nargs=2, metavar=("BASE", "NEW"))
    args = p.parse_args()
    if args.compare:
        return compare(*args.compare)
    import torch

    torch.set_num_threads(1)
    base, over = VARIANTS[args.variant]
    params = {**PRESETS[base], **over}
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{args.variant}.tsv"
    done = pd.read_csv(path, sep="\t") if path.exists() else pd.DataFrame(columns=["dataset", "seed", "noise"])
    for name in GROUPS[args.group]:
        if args.only and name not in args.only:
            continue
        for seed in range(args.seeds):
            x, y, split, m = arrays(name, seed, REPO / "bench" / "out" / "accuracy" / "data")
            for noise in NOISES:
                if ((done.dataset == name) & (done.seed == seed) & (done.noise == noise)).any():
                    continue
                r = {"dataset": name, "seed": seed, "noise": noise, "variant": args.variant,
                     **run_one(x, y, split, m, noise, seed, params)}
                print("\t".join(str(v) for v in r.values()), flush=True)
                done = pd.concat([done, pd.DataFrame([r])], ignore_index=True)
                done.to_csv(path, sep="\t", index=False, float_format="%.4f")


def compare(base: str, new: str) -> None:
    """Paired differences new − base per cell and overall (t-interval over seeds of the cell means)."""
    from accuracy import t_interval

    a = pd.read_csv(OUT / f"{base}.tsv", sep="\t")
    b = pd.read_csv(OUT / f"{new}.tsv", sep="\t")
    j = a.merge(b, on=["dataset", "seed", "noise"], suffixes=("_a", "_b"))
    j["d"] = 100 * (j.acc_b - j.acc_a)
    for (ds, noise), g in j.groupby(["dataset", "noise"], sort=False):
        mean, lo, hi = t_interval(g.d.to_numpy())
        print(f"{ds:10s} {noise:9s} {100 * g.acc_a.mean():6.2f} → {100 * g.acc_b.mean():6.2f}  "
              f"{mean:+6.2f} [{lo:+6.2f}, {hi:+6.2f}]  F1 {g.f1_a.mean():.3f} → {g.f1_b.mean():.3f}  n={len(g)}")
    mean, lo, hi = t_interval(j.groupby("seed").d.mean().to_numpy())
    cpu = j.train_cpu_s_b.sum() / j.train_cpu_s_a.sum()
    print(f"{new} − {base}: {mean:+.2f} points, 95 % CI [{lo:+.2f}, {hi:+.2f}] over {j.seed.nunique()} seeds, "
          f"{len(j)} runs; train CPU {cpu:.2f}×")


if __name__ == "__main__":
    main()
