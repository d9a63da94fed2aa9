"""Read-out rules studied on saved runs, without retraining: the arrays `bench/ablate.py` keeps per
run (ŷ_0, head, vote, labels, split under bench/out/ablate/arrays/<variant>/) are read out by each
rule, the weights always chosen on observed (noisy) labels, and scored on the test split.

    python bench/readout_rules.py guided        # per-cell test accuracy of every rule, vs the best baseline
    python bench/readout_rules.py guided --plain-probe   # also the plain probe as a 4th part (refits it per run)

Rules: a grid choice on val (`dhv_25`: the three parts, step 0.25, the rule of issue 15's first
round), its bootstrap mean (`_bagB`: the mean of the weights chosen on B resamples of val, seeded
by the run's seed, as `train.readout_bootstrap` does), fixed equal weights, the choice on train and
val together (the train items' parts are out of fold, but their ŷ_0 is the diffusion's own fit),
and a noise-corrected choice: each val item scores T̂⁻¹[ỹ, class] (backward correction, an
unbiased estimate of clean accuracy when T̂ is right), T̂ from cleanlab's confident joint of the
head's out-of-fold probabilities on the train items. With --plain-probe: `dhvp_25_bag100`, the
plain linear probe (the `linear_probe` baseline, refitted on the run's train features and observed
labels) as a 4th part beside ŷ_0, head and vote, bagged as the default is: the default's own
rule since round 3 (`train.readout_probe`; on val and test items the refitted probe is the one
the pipeline keeps); and `dhvp_25_bag100_keptval`, the same with the weights chosen on the val
items cleanlab does not flag (from the head's probabilities).
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

from lra.diffusion.readout import choose_weights, combine, diffusion_scores, simplex_grid  # noqa: E402

OUT = REPO / "bench" / "out" / "ablate"


RULES = {  # name: (which parts, grid step, tolerance in standard errors, bootstrap resamples)
    "diffusion": ("d", 1.0, 0.0, 0),
    "dhv_25": ("dhv", 0.25, 0.0, 0),
    "dhv_25_tol1": ("dhv", 0.25, 1.0, 0),
    "dhv_10": ("dhv", 0.1, 0.0, 0),
    "dh_25": ("dh", 0.25, 0.0, 0),
    "dv_25": ("dv", 0.25, 0.0, 0),
    "hv_25": ("hv", 0.25, 0.0, 0),
    "dhv_25_bag30": ("dhv", 0.25, 0.0, 30),
    "dhv_25_bag100": ("dhv", 0.25, 0.0, 100),
    "dhv_25_bag300": ("dhv", 0.25, 0.0, 300),
    "dhv_10_bag100": ("dhv", 0.1, 0.0, 100),
}
OTHER = ["equal", "trainval", "noise_corrected"]  # rules that are not a grid choice on val


def noise_corrected_weights(parts, labels, t_inv: np.ndarray, step: float = 0.25) -> np.ndarray:
    """The grid weights with the highest mean T̂⁻¹[observed, class]: clean accuracy estimated from
    noisy labels by backward correction (first of ties, as choose_weights)."""
    grid = simplex_grid(len(parts), step)
    score = np.array([t_inv[labels, combine(parts, w).argmax(axis=1)].mean() for w in grid])
    return grid[int(np.flatnonzero(score >= score.max() - 1e-12)[0])]


def inverse_noise_matrix(observed: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """T̂⁻¹ (pseudo-inverse) of T̂[y, ỹ] = P(observed ỹ | true y), from cleanlab's confident joint."""
    from cleanlab.count import estimate_py_and_noise_matrices_from_probabilities

    _, noise_matrix, _, _ = estimate_py_and_noise_matrices_from_probabilities(observed, proba)
    return np.linalg.pinv(noise_matrix.T)  # cleanlab's noise_matrix[ỹ, y]


def val_issues(observed: np.ndarray, head: np.ndarray) -> np.ndarray:
    """cleanlab's label issues among the val items, from the head's probabilities (the val items
    were never in its fit): the rule `_keptval` chooses the weights on the other val items."""
    from cleanlab.filter import find_label_issues

    return find_label_issues(observed, head, n_jobs=1)


def plain_probe_parts(path: Path, a, cache: dict) -> np.ndarray:
    """The plain probe's probabilities on the run's val and test items (zeros on train items, which
    the read-out rules never score), fitted on its train features and observed labels."""
    from groups import arrays

    from lra.core.linear import linear_probe

    dataset, seed, _ = path.stem.split("-", 2)
    if (dataset, seed) not in cache:  # the features of one (dataset, seed): the runs come sorted by it
        cache.clear()
        cache[dataset, seed] = arrays(dataset, int(seed), REPO / "bench" / "out" / "accuracy" / "data")[0]
    x, tr = cache[dataset, seed], a["split"] == "train"
    out = np.zeros(a["head"].shape)
    out[~tr] = linear_probe(x[tr], a["observed"][tr].astype(int), x[~tr], a["head"].shape[1], int(seed))
    return out


def study(variant: str, plain_probe: bool = False) -> pd.DataFrame:
    rows, cache = [], {}
    for path in sorted((OUT / "arrays" / variant).glob("*.npz")):
        a = np.load(path, allow_pickle=True)
        dataset, seed, noise = path.stem.split("-", 2)
        tr, va, te = a["split"] == "train", a["split"] == "val", a["split"] == "test"
        observed = a["observed"].astype(int)
        parts = {"d": diffusion_scores(a["y0"]), "h": a["head"], "v": a["votes"]}
        r = {"dataset": dataset, "seed": int(seed), "noise": noise}

        def test_acc(ps, w):
            return float((combine([p[te] for p in ps], w).argmax(axis=1) == a["y"][te]).mean())

        for name, (which, step, tol, bag) in RULES.items():
            ps = [parts[c] for c in which]
            w = (choose_weights([p[va] for p in ps], observed[va], step, tol, bootstrap=bag, seed=int(seed))
                 if len(ps) > 1 else np.ones(1))
            r[name] = test_acc(ps, w)
        dhv = [parts[c] for c in "dhv"]
        r["equal"] = test_acc(dhv, np.ones(3) / 3)
        both = tr | va
        r["trainval"] = test_acc(dhv, choose_weights([p[both] for p in dhv], observed[both]))
        t_inv = inverse_noise_matrix(observed[tr], a["head"][tr])
        r["noise_corrected"] = test_acc(dhv, noise_corrected_weights([p[va] for p in dhv], observed[va], t_inv))
        if plain_probe:
            dhvp = dhv + [plain_probe_parts(path, a, cache)]
            r["dhvp_25_bag100"] = test_acc(dhvp, choose_weights([p[va] for p in dhvp], observed[va], 0.25,
                                                                 bootstrap=100, seed=int(seed)))
            kept = np.flatnonzero(va)[~val_issues(observed[va], a["head"][va])]
            r["dhvp_25_bag100_keptval"] = test_acc(dhvp, choose_weights([p[kept] for p in dhvp], observed[kept], 0.25,
                                                                         bootstrap=100, seed=int(seed)))
        rows.append(r)
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variant")
    p.add_argument("--plain-probe", action="store_true", help="also the plain probe as a 4th read-out part")
    args = p.parse_args()
    r = study(args.variant, args.plain_probe)
    other = OTHER + (["dhvp_25_bag100", "dhvp_25_bag100_keptval"] if args.plain_probe else [])
    b = pd.read_csv(OUT / "baselines.tsv", sep="\t").drop(columns="variant")
    j = r.merge(b, on=["dataset", "seed", "noise"])
    j["best"] = j[["knn_vote", "linear_probe", "cleanlab", "datalab_relabel"]].max(axis=1)
    g = 100 * j.groupby(["dataset", "noise"], sort=False)[list(RULES) + other + ["best"]].mean()
    pd.set_option("display.width", 250)
    print(g.round(2).to_string())
    from scipy import stats

    def paired(rule: str, base: str) -> str:
        """rule − base: the mean of the per-seed means over runs (seeds are the replications), 95 % t-interval."""
        per_seed = 100 * (j[rule] - j[base]).groupby(j["seed"]).mean()
        half = stats.t.ppf(0.975, len(per_seed) - 1) * per_seed.std(ddof=1) / np.sqrt(len(per_seed))
        return f"− {base} {per_seed.mean():+.2f} [{per_seed.mean() - half:+.2f}, {per_seed.mean() + half:+.2f}]"

    for rule in list(RULES) + other:
        d = g[rule] - g["best"]
        print(f"{rule:15s} mean {g[rule].mean():6.2f}  ≥ best − 0.5 in {(d >= -0.5).sum()}/{len(d)} cells, "
              f"worst {d.min():+.2f}, mean vs best {d.mean():+.2f}; {paired(rule, 'dhv_25')}; "
              f"{paired(rule, 'dhv_25_bag100')}  ({len(j)} runs)")


if __name__ == "__main__":
    main()
