"""Ablations on the array-level API (no Snakemake): one variant of the train hyper-parameters over
a group's datasets, seeds and noises, one row per run. Far faster than the pipeline; the chosen
default is then confirmed by bench/accuracy.py.

    python bench/ablate.py --variant paper --group dev --seeds 3      # rows to bench/out/ablate/paper.tsv
    python bench/ablate.py --baselines --group dev --seeds 3          # rows to bench/out/ablate/baselines.tsv
    python bench/ablate.py --compare default rounds3                  # paired differences, 95 % CI

Each (dataset, seed) draws its split from the seed exactly as the pipeline does; the noise,
neighbours (k = 10, the item itself excluded) and training are the pipeline's own functions.
`--baselines` scores, per run, what the pipeline's score stage reports beside LRA (kNN vote,
linear probe, CleanLearning, Datalab relabel, cleanlab's wrong-label F1, and the clean-label
bounds) with `lra.score.baselines`, so `--compare` shows where a variant stands against the best of them.
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
    # issue 15 (lra.diffusion.guides): 4,000 steps (2,000 + 1,000 + 1,000) instead of 6,000, with the
    # combined read-out (ŷ_0, head, vote), with and without the CARD prior (head and vote mixed)
    "guided": ("default", {"min_steps": 2000, "prior": "mix", "readout": "combined"}),
    "readout4k": ("default", {"min_steps": 2000, "readout": "combined"}),
    "headvote": ("default", {"no_diffusion": True}),  # no diffusion: the head and the vote, weights on val
    "paper_decay": ("paper", {"lr_decay_epochs": None}),
    "rounds3": ("default", {"rounds": 3, "min_steps": 4000, "round_fraction": 0.5}),
    "rounds3_margin": ("default", {"rounds": 3, "min_steps": 4000, "round_fraction": 0.5, "relabel_margin": 0.2}),
}


BASELINES = ["knn_vote", "linear_probe", "cleanlab", "datalab_relabel"]
BOUNDS = ["clean_knn_vote", "clean_linear_probe"]


def neighbours_of_all(x, split, k: int = 10):
    """Every item's k nearest train items (a train item never lists itself), as the pipeline's
    neighbours table: (similarities, train positions), both (N, k)."""
    tr = split == "train"
    self_rows = np.full(len(x), -1)
    self_rows[tr] = np.arange(tr.sum())
    s = x @ x[tr].T
    s[np.flatnonzero(tr), self_rows[tr]] = -np.inf
    rows = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, rows, axis=1), rows


def baseline_row(x, y, split, m, noise: str, seed: int, k: int = 10) -> dict:
    """The score stage's baselines on the same split, noise and features (test accuracy), the
    clean-label bounds, and cleanlab's wrong-label F1 on out-of-fold probabilities."""
    from lra.core.linear import linear_probe, out_of_fold_proba
    from lra.data import noise as noise_mod
    from lra.score import baselines as b, metrics

    observed = noise_mod.observed_labels(m.frame, m.classes, noise, seed, None, x)
    tr, te = split == "train", split == "test"
    C = len(m.classes)
    _, rows = neighbours_of_all(x, split, k)
    out = {"knn_vote": metrics.accuracy(b.knn_vote(observed[tr][rows[te]], C), y[te]),
           "clean_knn_vote": metrics.accuracy(b.knn_vote(y[tr][rows[te]], C), y[te])}
    fits = {"linear_probe": linear_probe, "cleanlab": b.clean_learning, "datalab_relabel": b.datalab_relabel}
    for name, fit in fits.items():
        out[name] = metrics.accuracy(fit(x[tr], observed[tr], x[te], C, seed).argmax(axis=1), y[te])
    out["clean_linear_probe"] = metrics.accuracy(linear_probe(x[tr], y[tr], x[te], C, seed).argmax(axis=1), y[te])
    flagged = b.cleanlab_issues(observed[tr], out_of_fold_proba(x[tr], observed[tr], C, seed))
    out["cleanlab_f1"] = metrics.precision_recall_f1(flagged, observed[tr] != y[tr])["f1"]
    return out


def run_one(x, y, split, m, noise: str, seed: int, params: dict, k: int = 10, keep: Path | None = None) -> dict:
    import torch

    from lra.data import noise as noise_mod
    from lra.diffusion.config import TrainConfig
    from lra.retrieval import knn as retrieval
    from lra.diffusion.guides import fit_guides
    from lra.diffusion.readout import choose_weights, combine, diffusion_scores
    from lra.diffusion.rounds import train_rounds
    from lra.diffusion.readout import read_out
    from lra.diffusion.sample import predict

    observed = noise_mod.observed_labels(m.frame, m.classes, noise, seed, None, x)
    tr, va, te = split == "train", split == "val", split == "test"
    C = len(m.classes)
    _, rows = retrieval.self_knn(x[tr], k)
    params = dict(params)
    diffusion = not params.pop("no_diffusion", False)  # the ablation without LRA: head and vote read out alone
    cfg = TrainConfig.from_dict({**params, "seed": seed, "device": "cpu"})
    guided = cfg.prior != "none" or cfg.readout == "combined" or not diffusion
    t = time.process_time()
    prior, extra = None, {}
    if guided:  # the head, the votes and the prior: part of training, so inside the CPU clock
        all_sims, all_rows = neighbours_of_all(x, split, k)  # val/test items' neighbours among the train items
        g = fit_guides(x[tr], observed[tr], rows, C, cfg.prior, cfg.prior_weight, cfg.vote_weighting,
                       x[va], all_rows[va], observed[va], seed, probe=cfg.plain_probe,
                       vote_temperature=cfg.vote_temperature)
        guide_parts = g.parts(x, all_rows, C, similarities=all_sims)  # head, votes[, probe][, weighted votes]
        for part, own in zip(guide_parts, g.train_parts(x[tr], rows, C)):
            part[tr] = own
        head, votes = guide_parts[:2]
        if cfg.prior != "none":
            prior = torch.as_tensor(g.prior(head, votes))
            extra["prior_weight"] = g.prior_weight
        extra["head_acc"] = float((head[te].argmax(1) == y[te]).mean())
        extra["vote_acc"] = float((votes[te].argmax(1) == y[te]).mean())
    if not diffusion:
        readout = g.readout_parts(guide_parts)
        w = choose_weights([p[va] for p in readout], observed[va], cfg.readout_step,
                           bootstrap=cfg.readout_bootstrap, seed=seed)
        return _scores(combine(readout, w).argmax(axis=1), y, observed, tr, te, time.process_time() - t,
                       {**extra, "readout_weights": "/".join(f"{v:g}" for v in w)})
    model, schedule, history, _ = train_rounds(x[tr], observed[tr], rows, C, cfg, x[va], observed[va],
                                               log=lambda *a: None, prior=None if prior is None else prior[tr],
                                               val_prior=None if prior is None else prior[va])
    cpu = time.process_time() - t  # training: head, votes, prior and the rounds; not the prediction below
    y0 = predict(model, schedule, torch.as_tensor(x), prior=prior)[0]
    pred = read_out(y0).numpy()
    if guided and keep is not None:  # the read-out's inputs, to study read-out rules without retraining
        keep.parent.mkdir(parents=True, exist_ok=True)
        probe = {} if g.probe is None else {"probe": guide_parts[2].astype(np.float32)}
        weighted = {} if not g.vote_temperature else {"readout_votes": guide_parts[-1].astype(np.float32)}
        np.savez_compressed(keep, y0=y0.numpy(), head=head.astype(np.float32), votes=votes.astype(np.float32),
                            observed=observed, y=y, split=split, **probe, **weighted)
    if cfg.readout == "combined":
        extra["acc_diffusion"] = float((pred[te] == y[te]).mean())
        parts = [diffusion_scores(y0.numpy()), *g.readout_parts(guide_parts)]
        w = choose_weights([p[va] for p in parts], observed[va], cfg.readout_step, bootstrap=cfg.readout_bootstrap,
                           seed=seed)
        pred = combine(parts, w).argmax(axis=1)
        extra["readout_weights"] = "/".join(f"{v:g}" for v in w)
    return _scores(pred, y, observed, tr, te, cpu, {"epochs": len(history), **extra})


def _scores(pred, y, observed, tr, te, cpu: float, extra: dict) -> dict:
    """Test accuracy and the wrong-label F1 of the train flags (read-out class ≠ observed label)."""
    wrong, flag = observed[tr] != y[tr], pred[tr] != observed[tr]
    tp = (wrong & flag).sum()
    f1 = 2 * tp / max(1, wrong.sum() + flag.sum())
    return {"acc": float((pred[te] == y[te]).mean()), "f1": float(f1), "train_cpu_s": cpu,
            "noise_rate": float(wrong.mean()), **extra}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=sorted(VARIANTS))
    p.add_argument("--group", choices=sorted(GROUPS), default="dev")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="start at this seed (split a variant over processes)")
    p.add_argument("--only", nargs="*")
    p.add_argument("--compare", nargs=2, metavar=("BASE", "NEW"))
    p.add_argument("--baselines", action="store_true", help="score the baselines and bounds per run")
    p.add_argument("--part", default="", help="write <variant>.<part>.tsv (two processes of one variant at once); "
                                              "--compare reads the variant's parts together")
    args = p.parse_args()
    if args.compare:
        return compare(*args.compare)
    import torch

    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.baselines:
        name_, one = "baselines", lambda x, y, split, m, noise, seed: baseline_row(x, y, split, m, noise, seed)
    else:
        base, over = VARIANTS[args.variant]
        params = {**PRESETS[base], **over}
        def one(x, y, split, m, noise, seed):
            keep = OUT / "arrays" / args.variant / f"{name}-{seed}-{noise}.npz"  # name: the loop below
            return run_one(x, y, split, m, noise, seed, params, keep=keep)

        name_ = args.variant
    path = OUT / (f"{name_}.{args.part}.tsv" if args.part else f"{name_}.tsv")
    done = pd.read_csv(path, sep="\t") if path.exists() else pd.DataFrame(columns=["dataset", "seed", "noise"])
    for name in GROUPS[args.group]:
        if args.only and name not in args.only:
            continue
        for seed in range(args.first_seed, args.seeds):
            x, y, split, m = arrays(name, seed, REPO / "bench" / "out" / "accuracy" / "data")
            for noise in NOISES:
                if ((done.dataset == name) & (done.seed == seed) & (done.noise == noise)).any():
                    continue
                r = {"dataset": name, "seed": seed, "noise": noise, "variant": name_,
                     **one(x, y, split, m, noise, seed)}
                print("\t".join(str(v) for v in r.values()), flush=True)
                done = pd.concat([done, pd.DataFrame([r])], ignore_index=True)
                done.to_csv(path, sep="\t", index=False, float_format="%.4f")


def rows_of(variant: str) -> pd.DataFrame:
    """A variant's rows: <variant>.tsv and its parts <variant>.<part>.tsv, one row per run."""
    paths = sorted(OUT.glob(f"{variant}.tsv")) + sorted(OUT.glob(f"{variant}.*.tsv"))
    rows = pd.concat([pd.read_csv(p, sep="\t") for p in paths], ignore_index=True)
    return rows.drop_duplicates(["dataset", "seed", "noise"], keep="last")


def compare(base: str, new: str) -> None:
    """Paired differences new − base per cell and overall (t-interval over seeds of the cell means)."""
    from accuracy import t_interval

    a, b = rows_of(base), rows_of(new)
    j = a.merge(b, on=["dataset", "seed", "noise"], suffixes=("_a", "_b"))
    j["d"] = 100 * (j.acc_b - j.acc_a)
    bl = OUT / "baselines.tsv"
    if bl.exists():
        j = j.merge(pd.read_csv(bl, sep="\t").drop(columns="variant"), on=["dataset", "seed", "noise"], how="left")
    has = "knn_vote" in j
    print(f"{'dataset':10s} {'noise':9s} {base:>6.6s} → {new:6.6s}  {'diff [95 % CI]':24s}  F1 a → b"
          + ("  (cleanlab)  best baseline        new−best  clean bound  new−clean" if has else ""))
    cells = []
    for (ds, noise), g in j.groupby(["dataset", "noise"], sort=False):
        mean, lo, hi = t_interval(g.d.to_numpy())
        line = (f"{ds:10s} {noise:9s} {100 * g.acc_a.mean():6.2f} → {100 * g.acc_b.mean():6.2f}  "
                f"{mean:+6.2f} [{lo:+6.2f}, {hi:+6.2f}]  {g.f1_a.mean():.3f} → {g.f1_b.mean():.3f}")
        if has:
            means = {c: 100 * g[c].mean() for c in BASELINES + BOUNDS}
            best = max(BASELINES, key=means.get)
            clean = max(means[c] for c in BOUNDS)
            vs_best, vs_clean = 100 * g.acc_b.mean() - means[best], 100 * g.acc_b.mean() - clean
            cells.append((vs_best, vs_clean, g.f1_b.mean() - g.cleanlab_f1.mean()))
            line += (f"  ({g.cleanlab_f1.mean():.3f})  {best:15s} {means[best]:6.2f}  {vs_best:+6.2f}  "
                     f"{clean:6.2f}  {vs_clean:+6.2f}")
        print(line + f"  n={len(g)}")
    mean, lo, hi = t_interval(j.groupby("seed").d.mean().to_numpy())
    cpu = j.train_cpu_s_b.sum() / j.train_cpu_s_a.sum()
    print(f"{new} − {base}: {mean:+.2f} points, 95 % CI [{lo:+.2f}, {hi:+.2f}] over {j.seed.nunique()} seeds, "
          f"{len(j)} runs; train CPU {cpu:.2f}×")
    if cells:
        c = np.array(cells)
        print(f"{new}: ≥ best baseline − 0.5 in {(c[:, 0] >= -0.5).sum()}/{len(c)} cells (worst {c[:, 0].min():+.2f}); "
              f"within 2.0 of the clean bound in {(c[:, 1] >= -2.0).sum()}/{len(c)}; "
              f"F1 ≥ cleanlab's in {(c[:, 2] >= 0).sum()}/{len(c)} (worst {c[:, 2].min():+.3f})")


if __name__ == "__main__":
    main()
