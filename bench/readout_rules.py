"""Read-out rules studied on saved runs, without retraining: the arrays `bench/ablate.py` keeps per
run (ŷ_0, head, vote, labels, split under bench/out/ablate/arrays/<variant>/) are read out by each
rule, the weights always chosen on the val split's observed labels, and scored on the test split.

    python bench/readout_rules.py guided        # per-cell test accuracy of every rule, vs the best baseline
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lra.diffusion.readout import choose_weights, combine, diffusion_scores  # noqa: E402

OUT = REPO / "bench" / "out" / "ablate"


RULES = {  # name: (which parts, grid step, tolerance in standard errors)
    "diffusion": ("d", 1.0, 0.0),
    "dhv_25": ("dhv", 0.25, 0.0),
    "dhv_25_tol1": ("dhv", 0.25, 1.0),
    "dhv_10": ("dhv", 0.1, 0.0),
    "dh_25": ("dh", 0.25, 0.0),
    "dv_25": ("dv", 0.25, 0.0),
    "hv_25": ("hv", 0.25, 0.0),
    "dhv_50": ("dhv", 0.5, 0.0),
    "dhv_33": ("dhv", 1 / 3, 0.0),
}


def study(variant: str) -> pd.DataFrame:
    rows = []
    for path in sorted((OUT / "arrays" / variant).glob("*.npz")):
        a = np.load(path, allow_pickle=True)
        dataset, seed, noise = path.stem.split("-", 2)
        va, te = a["split"] == "val", a["split"] == "test"
        parts = {"d": diffusion_scores(a["y0"]), "h": a["head"], "v": a["votes"]}
        r = {"dataset": dataset, "seed": int(seed), "noise": noise}
        for name, (which, step, tol) in RULES.items():
            ps = [parts[c] for c in which]
            w = choose_weights([p[va] for p in ps], a["observed"][va], step, tol) if len(ps) > 1 else np.ones(1)
            r[name] = float((combine([p[te] for p in ps], w).argmax(axis=1) == a["y"][te]).mean())
        rows.append(r)
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variant")
    args = p.parse_args()
    r = study(args.variant)
    b = pd.read_csv(OUT / "baselines.tsv", sep="\t").drop(columns="variant")
    j = r.merge(b, on=["dataset", "seed", "noise"])
    j["best"] = j[["knn_vote", "linear_probe", "cleanlab", "datalab_relabel"]].max(axis=1)
    g = 100 * j.groupby(["dataset", "noise"], sort=False)[list(RULES) + ["best"]].mean()
    pd.set_option("display.width", 250)
    print(g.round(2).to_string())
    for rule in RULES:
        d = g[rule] - g["best"]
        print(f"{rule:12s} mean {g[rule].mean():6.2f}  ≥ best − 0.5 in {(d >= -0.5).sum()}/{len(d)} cells, "
              f"worst {d.min():+.2f}, mean vs best {d.mean():+.2f}  ({len(j)} runs)")


if __name__ == "__main__":
    main()
