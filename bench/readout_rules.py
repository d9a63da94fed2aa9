"""Read-out rules studied on saved runs, without retraining: the arrays `bench/ablate.py` keeps per
run (ŷ_0, head, vote, labels, split under bench/out/ablate/arrays/<variant>/) are read out by each
rule, the weights always chosen on observed (noisy) labels, and scored on the test split.

    python bench/readout_rules.py guided        # per-cell test accuracy of every rule, vs the best baseline
    python bench/readout_rules.py guided --plain-probe   # also the plain probe as a 4th part (refits it per run)
    python bench/readout_rules.py guided --round4        # round 4's candidates against the default's rule
    python bench/readout_rules.py guided --round4 dhvp_stack --only digits glyphs   # some rules, datasets
    python bench/readout_rules.py guided --round5        # round 5's candidate and the clean-val reference
    python bench/readout_rules.py guided --disagreements # where probe and vote disagree: clean vs noisy val
    python bench/readout_rules.py guided --round6        # round 6's candidates (bench/readout_round6.py)
    python bench/readout_rules.py guided --round7        # round 7's vote by similarity (bench/readout_round7.py)

Rules: a grid choice on val (`dhv_25`: the three parts, step 0.25, the rule of issue 15's first
round), its bootstrap mean (`_bagB`: the mean of the weights chosen on B resamples of val, seeded
by the run's seed, as `train.readout_bootstrap` does), fixed equal weights, the choice on train and
val together (the train items' parts are out of fold, but their ŷ_0 is the diffusion's own fit),
and a noise-corrected choice: each val item scores T̂⁻¹[ỹ, class] (backward correction, an
unbiased estimate of clean accuracy when T̂ is right), T̂ from cleanlab's confident joint of the
head's out-of-fold probabilities on the train items. With --plain-probe: `dhvp_25_bag100`, the
plain linear probe (`probe_parts`: on val and test items the `linear_probe` baseline, on train
items out of fold, as the pipeline keeps it) as a 4th part beside ŷ_0, head and vote, bagged as
the default is: the default's own rule since round 3 (`train.readout_probe`); and
`dhvp_25_bag100_keptval`, the same with the weights chosen on the val items cleanlab does not
flag (from the head's probabilities). With --round4, over the same four
parts (the plain probe out of fold on train items, as the pipeline keeps it): stacking by the
noisy-val log score, the grid choice on train and val items together, the noise-corrected choice
on val or on train and val, and a choice that leans to the cleaned head within one standard error
(`candidate_rules`); all measured against the default's `dhvp_25_bag100`, and all dropped. With
--round5 (same parts): the two-stage choice (`two_stage_weights`: the mix of head, vote and probe
on train and val items, then ŷ_0's share on val; dropped) and, as a reference a user can have, the
default's rule on the val items' clean labels (`dhvp_cleanval_bag100`: `train.select_on: clean`).
`--round4 dhvp_guard_bag100`: the default's weights unless one part alone beats their mix on val
(`guarded_weights`, measured after round 5's held-out run; dropped).
With --round6: the candidates of bench/readout_round6.py (the mode or a majority of the bagged
choices instead of their mean, small weights cut, a single part unless a mix is clearly better,
calibrated parts); all dropped. With --round7: the vote part weighted by neighbour similarity at
several temperatures (bench/readout_round7.py); τ = 0.1 kept (`train.readout_vote_temperature`).
With --disagreements: on the val items where the plain probe and the vote disagree, each one's
accuracy against the clean and against the observed labels, and how often a flipped label is
the probe's or the vote's class (`disagreements`): why noisy-val choices fail under PMD noise.
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

from lra.diffusion.readout import bootstrap_draws, choose_weights, combine, diffusion_scores, simplex_grid  # noqa: E402

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


def probe_parts(path: Path, a, cache: dict) -> np.ndarray:
    """The plain probe's probabilities on every item as the pipeline computes them: train items out
    of fold, val and test items from the probe fitted on all train items (the `linear_probe`
    baseline). Kept arrays since round 3 store them; older ones are refitted here."""
    if "probe" in a.files:
        return a["probe"].astype(np.float64)
    from lra.diffusion.head import fit_head

    dataset, seed, _ = path.stem.split("-", 2)
    x, tr = features_of(dataset, seed, cache), a["split"] == "train"
    head = fit_head(x[tr], a["observed"][tr].astype(int), a["head"].shape[1], int(seed), clean=False)
    return head.scores(x, np.where(tr, np.cumsum(tr) - 1, -1))


def features_of(dataset: str, seed: str, cache: dict) -> np.ndarray:
    """The features of one (dataset, seed), cached: the runs come sorted by it."""
    from groups import arrays

    if (dataset, seed) not in cache:
        cache.clear()
        cache[dataset, seed] = arrays(dataset, int(seed), REPO / "bench" / "out" / "accuracy" / "data")[0]
    return cache[dataset, seed]


def bagged(choose, n: int, bootstrap: int, seed: int) -> np.ndarray:
    """The mean of choose(items) over `bootstrap` resamples of n items, drawn as choose_weights
    draws its own (the grid rules bag there; this is for the noise-corrected choice)."""
    return np.mean([choose(i) for i in bootstrap_draws(n, bootstrap, seed)], axis=0)


def stacking_weights(parts: list[np.ndarray], labels: np.ndarray, iterations: int = 200) -> np.ndarray:
    """The mixture weights that maximise the log score Σ_i log Σ_p w_p q_p(label_i) of the parts as
    distributions (each row clipped at 0 and normalised; stacking of predictive distributions), by
    EM from equal weights. The objective is concave in w: no grid, no resampling."""
    q = np.stack([np.clip(p, 0, None) for p in parts])  # (P, n, C)
    q = q / np.maximum(q.sum(axis=2, keepdims=True), 1e-12)
    at_label = q[:, np.arange(len(labels)), labels] + 1e-6  # (P, n)
    w = np.full(len(parts), 1 / len(parts))
    for _ in range(iterations):
        share = w[:, None] * at_label
        w = (share / share.sum(axis=0)).mean(axis=1)
    return w


def candidate_rules(parts: dict, observed, tr, va, t_inv, seed: int, clean: np.ndarray) -> dict:
    """Rounds 4 and 5's candidates, each a function giving a weight vector over the parts d, h, v, p
    (in that order). Round 4's: stacking (the log score of the parts as a mixture of distributions on val);
    the grid choice on train and val items together (every part of a train item is out of fold,
    or learnt from its neighbours' labels, never its own); noise-corrected (on val, or on train and
    val); and, among the weights within one standard error of the best on val, the one with the
    most weight on the cleaned head. The grid choices bagged (100 resamples). Round 5's: the
    two-stage choice, and the default's rule on the val items' `clean` labels (a reference, not a
    rule for noisy data: what `train.select_on: clean` gives a user who has checked their val)."""
    dhvp = [parts[c] for c in "dhvp"]
    tv = np.flatnonzero(tr | va)
    vi = np.flatnonzero(va)

    def on(items):
        return [p[items] for p in dhvp]

    hdvp = [1, 0, 2, 3]  # the head first: choose_weights' ties and tolerance favour the first part
    return {
        "dhvp_stack": lambda: stacking_weights(on(vi), observed[vi]),
        "dhvp_tv_bag100": lambda: choose_weights(on(tv), observed[tv], bootstrap=100, seed=seed),
        "dhvp_nc_bag100": lambda: bagged(lambda i: noise_corrected_weights(on(vi[i]), observed[vi[i]], t_inv),
                                         len(vi), 100, seed),
        "dhvp_nc_tv_bag100": lambda: bagged(lambda i: noise_corrected_weights(on(tv[i]), observed[tv[i]], t_inv),
                                            len(tv), 100, seed),
        "dhvp_cleanval_bag100": lambda: default_weights(dhvp, clean, va, seed),  # a reference
        "dhvp_guard_bag100": lambda: guarded_weights(dhvp, observed, va, seed),
        "dhvp_2stage_bag100": lambda: two_stage_weights(dhvp, observed, tr, va, seed),
        "dhvp_headtol1_bag100": lambda: choose_weights([on(vi)[j] for j in hdvp], observed[vi], tolerance=1.0,
                                                       bootstrap=100, seed=seed)[np.argsort(hdvp)],
    }


def two_stage_weights(parts: list[np.ndarray], observed: np.ndarray, tr: np.ndarray, va: np.ndarray,
                      seed: int) -> np.ndarray:
    """Round 5's candidate: the mix of head, vote and probe (parts[1:]) chosen on the train and val
    items together — every one of these three parts is out of fold or self-excluded on a train item,
    so the choice sees ~8× the items of val alone —, then the diffusion's share against that mix
    chosen on val only (ŷ_0 has fitted the train items' labels). Both grid choices bagged (100)."""
    tv = tr | va
    rest = choose_weights([p[tv] for p in parts[1:]], observed[tv], 0.25, bootstrap=100, seed=seed)
    mix = combine(parts[1:], rest)
    w = choose_weights([parts[0][va], mix[va]], observed[va], 0.25, bootstrap=100, seed=seed)
    return np.concatenate([[w[0]], w[1] * rest])


def guarded_weights(parts: list[np.ndarray], observed: np.ndarray, va: np.ndarray, seed: int) -> np.ndarray:
    """A lead measured after round 5's held-out run (vowels: the vote 6-10 points above the
    default): the default's bagged weights, unless one part alone agrees with more val labels
    than their mix does; then that part alone."""
    w = default_weights(parts, observed, va, seed)
    mixed = (combine([p[va] for p in parts], w).argmax(axis=1) == observed[va]).mean()
    alone = [(p[va].argmax(axis=1) == observed[va]).mean() for p in parts]
    return np.eye(len(parts))[int(np.argmax(alone))] if max(alone) > mixed else w


def default_weights(parts: list[np.ndarray], observed: np.ndarray, va: np.ndarray, seed: int) -> np.ndarray:
    """The default's weights since round 3 (`dhvp_25_bag100`): the four parts ŷ_0, head, vote,
    plain probe, grid step 0.25, bagged over 100 resamples of the val items."""
    return choose_weights([p[va] for p in parts], observed[va], 0.25, bootstrap=100, seed=seed)


def rules_of(round4: bool) -> dict:
    """The grid rules to score: with round 4's candidates only the two references of the old ones."""
    return {k: RULES[k] for k in ("dhv_25", "dhv_25_bag100")} if round4 else RULES


ROUND4 = ["dhvp_stack", "dhvp_tv_bag100", "dhvp_nc_bag100", "dhvp_nc_tv_bag100", "dhvp_headtol1_bag100"]
ROUND5 = ["dhvp_2stage_bag100", "dhvp_cleanval_bag100"]
ROUND7 = ["dhvp_plain_bag100", "dhvp_sim0.05_bag100", "dhvp_sim0.1_bag100", "dhvp_sim0.2_bag100",
          "dhvp_sim0.3_bag100", "dhvp_simspread_bag100"]
ROUND6 = ["dhvp_25_mode100", "dhvp_25_predbag100", "dhvp_25_trim10_bag100", "dhvp_vertex", "dhvp_switch1",
          "dhvp_switch1_bag100", "dhvp_cal_bag100", "dhvp_callog_bag100"]


def disagreements(probe: np.ndarray, vote: np.ndarray, observed: np.ndarray, clean: np.ndarray) -> dict:
    """On the items where the probe's and the vote's classes differ (share of all items): each
    one's accuracy against the clean and the observed labels; and among the flipped items, how
    often the observed label is the probe's class and how often the vote's. Under class-conditional
    noise the two rankings agree in expectation; where flips follow a linear model's runner-up
    (PMD), the observed labels can rank them the other way round."""
    p, v = probe.argmax(axis=1), vote.argmax(axis=1)
    d, flipped = p != v, observed != clean
    return {"disagree": d.mean(), "probe_clean": (p[d] == clean[d]).mean(), "vote_clean": (v[d] == clean[d]).mean(),
            "probe_observed": (p[d] == observed[d]).mean(), "vote_observed": (v[d] == observed[d]).mean(),
            "flip_is_probe": (observed[flipped] == p[flipped]).mean(),
            "flip_is_vote": (observed[flipped] == v[flipped]).mean()}


def kept_runs(variant: str, only=()):
    """(path, dataset, seed, noise, arrays) of every kept run of `variant` (of the `only` datasets)."""
    for path in sorted((OUT / "arrays" / variant).glob("*.npz")):
        dataset, seed, noise = path.stem.split("-", 2)
        if not only or dataset in only:
            yield path, dataset, seed, noise, np.load(path, allow_pickle=True)


def disagreement_study(variant: str, only=()) -> pd.DataFrame:
    """`disagreements` on the val items of every kept run, per dataset and noise (mean over seeds, %)."""
    rows, cache = [], {}
    for path, dataset, _, noise, a in kept_runs(variant, only):
        va = a["split"] == "val"
        r = disagreements(probe_parts(path, a, cache)[va], a["votes"][va], a["observed"][va].astype(int), a["y"][va])
        rows.append({"dataset": dataset, "noise": noise, **r})
    return 100 * pd.DataFrame(rows).groupby(["noise", "dataset"]).mean()


def study(variant: str, plain_probe: bool = False, round4=(), only=(), round6: bool = False,
          round7: bool = False) -> pd.DataFrame:
    rows, cache = [], {}
    for path, dataset, seed, noise, a in kept_runs(variant, only):
        tr, va, te = a["split"] == "train", a["split"] == "val", a["split"] == "test"
        observed = a["observed"].astype(int)
        parts = {"d": diffusion_scores(a["y0"]), "h": a["head"], "v": a["votes"]}
        r = {"dataset": dataset, "seed": int(seed), "noise": noise}

        def test_acc(ps, w):
            return float((combine([p[te] for p in ps], w).argmax(axis=1) == a["y"][te]).mean())

        for name, (which, step, tol, bag) in rules_of(bool(round4)).items():
            ps = [parts[c] for c in which]
            w = (choose_weights([p[va] for p in ps], observed[va], step, tol, bootstrap=bag, seed=int(seed))
                 if len(ps) > 1 else np.ones(1))
            r[name] = test_acc(ps, w)
        dhv = [parts[c] for c in "dhv"]
        t_inv = inverse_noise_matrix(observed[tr], a["head"][tr])
        if not round4:
            r["equal"] = test_acc(dhv, np.ones(3) / 3)
            both = tr | va
            r["trainval"] = test_acc(dhv, choose_weights([p[both] for p in dhv], observed[both]))
            r["noise_corrected"] = test_acc(dhv, noise_corrected_weights([p[va] for p in dhv], observed[va], t_inv))
        if plain_probe:
            dhvp = dhv + [probe_parts(path, a, cache)]
            r["dhvp_25_bag100"] = test_acc(dhvp, default_weights(dhvp, observed, va, int(seed)))
            kept = np.flatnonzero(va)[~val_issues(observed[va], a["head"][va])]
            r["dhvp_25_bag100_keptval"] = test_acc(dhvp, choose_weights([p[kept] for p in dhvp], observed[kept], 0.25,
                                                                         bootstrap=100, seed=int(seed)))
        if round4:
            parts["p"] = probe_parts(path, a, cache)
            dhvp = [parts[c] for c in "dhvp"]
            r["dhvp_25_bag100"] = test_acc(dhvp, default_weights(dhvp, observed, va, int(seed)))
            for name, weights in candidate_rules(parts, observed, tr, va, t_inv, int(seed), a["y"]).items():
                if name in round4:
                    r[name] = test_acc(dhvp, weights())
        if round6:
            import readout_round6

            for name, classes in readout_round6.rules(dhvp, observed, va, int(seed)).items():
                r[name] = float((classes()[te] == a["y"][te]).mean())
        if round7:
            import readout_round7
            from ablate import neighbours_of_all

            sims, nb = neighbours_of_all(features_of(dataset, seed, cache), a["split"], readout_round7.K)
            votes = readout_round7.neighbour_votes(sims, nb, observed[tr], a["head"].shape[1])
            for name, classes in readout_round7.rules(parts, votes, observed, va, int(seed), default_weights).items():
                r[name] = float((classes()[te] == a["y"][te]).mean())
        rows.append(r)
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variant")
    p.add_argument("--plain-probe", action="store_true", help="also the plain probe as a 4th read-out part")
    p.add_argument("--round4", nargs="*", default=None, metavar="RULE",
                   help="round 4's candidate weight rules over the 4 parts (all of ROUND4 without names)")
    p.add_argument("--round5", action="store_true", help="round 5's candidate and the clean-val reference")
    p.add_argument("--round6", action="store_true", help="round 6's candidates (bench/readout_round6.py)")
    p.add_argument("--round7", action="store_true", help="round 7's vote by similarity (bench/readout_round7.py)")
    p.add_argument("--disagreements", action="store_true", help="probe against vote where they disagree, on val")
    p.add_argument("--only", nargs="*", default=(), help="these datasets only")
    args = p.parse_args()
    if args.disagreements:
        print(disagreement_study(args.variant, args.only).round(1).to_string())
        return
    round4 = ROUND7 if args.round7 else ROUND6 if args.round6 else ROUND5 if args.round5 else [] if args.round4 is None else (args.round4 or ROUND4)
    r = study(args.variant, args.plain_probe, round4, args.only, args.round6, args.round7)
    other = ((["dhvp_25_bag100"] + round4) if round4 else
             OTHER + (["dhvp_25_bag100", "dhvp_25_bag100_keptval"] if args.plain_probe else []))
    b = pd.read_csv(OUT / "baselines.tsv", sep="\t").drop(columns="variant")
    j = r.merge(b, on=["dataset", "seed", "noise"])
    j["best"] = j[["knn_vote", "linear_probe", "cleanlab", "datalab_relabel"]].max(axis=1)
    names = list(rules_of(bool(round4))) + other
    g = 100 * j.groupby(["dataset", "noise"], sort=False)[names + ["best"]].mean()
    pd.set_option("display.width", 250)
    print(g.round(2).to_string())
    from scipy import stats

    def paired(rule: str, base: str) -> str:
        """rule − base: the mean of the per-seed means over runs (seeds are the replications), 95 % t-interval."""
        per_seed = 100 * (j[rule] - j[base]).groupby(j["seed"]).mean()
        half = stats.t.ppf(0.975, len(per_seed) - 1) * per_seed.std(ddof=1) / np.sqrt(len(per_seed))
        return f"− {base} {per_seed.mean():+.2f} [{per_seed.mean() - half:+.2f}, {per_seed.mean() + half:+.2f}]"

    reference = "dhvp_25_bag100" if round4 else "dhv_25"  # the default of the round
    for rule in names:
        d = g[rule] - g["best"]
        print(f"{rule:15s} mean {g[rule].mean():6.2f}  ≥ best − 0.5 in {(d >= -0.5).sum()}/{len(d)} cells, "
              f"worst {d.min():+.2f}, mean vs best {d.mean():+.2f}; {paired(rule, reference)}; "
              f"{paired(rule, 'dhv_25_bag100')}  ({len(j)} runs)")


if __name__ == "__main__":
    main()
