"""Wrong-label flag rules studied on saved runs, without retraining: the kept arrays of
`bench/ablate.py` (ŷ_0, head, vote, plain probe, labels, split) are read out with the default's
weights (four parts, bagged grid choice on val) and each rule flags train items; F1 against the
true flips, beside cleanlab's (`baselines.tsv`).

    python bench/flag_rules.py guided      # → per cell F1 of every rule, and cells ≥ cleanlab's

Rules: `argmax` (the pipeline's: read-out class ≠ given label); `cl_on_ours` (cleanlab's
find_label_issues on the combined scores, each row clipped at 0 and normalised); `switchT` (the
latter where fewer than T of the train items disagree with the read-out, else the former: at low
noise the read-out's own errors are a large share of its disagreements).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from lra.diffusion.readout import combine, diffusion_scores  # noqa: E402
from lra.score.metrics import precision_recall_f1  # noqa: E402
from readout_rules import OUT, default_weights, kept_runs, probe_parts  # noqa: E402

SWITCH = (0.2, 0.25, 0.3, 0.35, 0.4)


def flag_rules(scores: np.ndarray, given: np.ndarray) -> dict:
    """Each rule's flags over the train items, from their combined scores and given labels."""
    from cleanlab.filter import find_label_issues

    q = np.clip(scores, 0, None)
    q = q / np.maximum(q.sum(axis=1, keepdims=True), 1e-12)
    disagree = scores.argmax(axis=1) != given
    cl = find_label_issues(given, q, n_jobs=1)
    switch = {f"switch{t}": cl if disagree.mean() < t else disagree for t in SWITCH}
    return {"argmax": disagree, "cl_on_ours": cl, **switch}


def study(variant: str) -> pd.DataFrame:
    rows, cache = [], {}
    for path, dataset, seed, noise, a in kept_runs(variant):
        observed, tr, va = a["observed"].astype(int), a["split"] == "train", a["split"] == "val"
        parts = [diffusion_scores(a["y0"]), a["head"], a["votes"], probe_parts(path, a, cache)]
        flags = flag_rules(combine([p[tr] for p in parts], default_weights(parts, observed, va, int(seed))),
                           observed[tr])
        wrong = observed[tr] != a["y"][tr]
        rows.append({"dataset": dataset, "seed": int(seed), "noise": noise,
                     **{k: precision_recall_f1(f, wrong)["f1"] for k, f in flags.items()}})
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variant")
    args = p.parse_args()
    r = study(args.variant)
    b = pd.read_csv(OUT / "baselines.tsv", sep="\t")[["dataset", "seed", "noise", "cleanlab_f1"]]
    j = r.merge(b, on=["dataset", "seed", "noise"])
    rules = [c for c in r.columns if c not in ("dataset", "seed", "noise")]
    g = j.groupby(["dataset", "noise"], sort=False)[rules + ["cleanlab_f1"]].mean()
    pd.set_option("display.width", 250)
    print(g.round(3).to_string())
    for rule in rules:
        d = g[rule] - g["cleanlab_f1"]
        print(f"{rule:12s} mean F1 {g[rule].mean():.4f}  ≥ cleanlab's in {(d >= 0).sum()}/{len(d)} cells, "
              f"worst {d.min():+.3f}  ({len(j)} runs)")


if __name__ == "__main__":
    main()
