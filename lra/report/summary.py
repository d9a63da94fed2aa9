"""The summary tables: one row per run (summary.tsv), and per grid cell the mean, standard
deviation and count over seeds, and who won (summary_mean.tsv), from the runs' metrics.json
files; and the views of them that `lra show` prints."""

from __future__ import annotations

import pandas as pd

from ..core.errors import LraError
from ..core.files import OUTPUT_FIX, atomic_path, read_csv, read_json

RUN = ["dataset", "method", "encoder", "noise", "k", "seed"]
CELL = RUN[:-1]  # a grid cell: a run without its seed
DEFAULTS = {"seed": 0, "method": "default"}  # what metrics.json of an lra that did not record them ran
BASELINES = ("knn_vote", "linear_probe", "cleanlab", "datalab_relabel")  # what a user could run instead of LRA
ORDER = {k: i for i, k in enumerate(BASELINES)}  # the clean-label bounds (clean_knn_vote, ...) last
# Display names of the summary's method columns, in the summary's order: LRA, the baselines,
# then the clean-label bounds (drawn as lines: they are not methods a user could run).
METHODS = {
    "lra": "LRA (deterministic)",
    "lra_stochastic": "LRA (stochastic)",
    "knn_vote": "kNN vote",
    "linear_probe": "linear probe",
    "cleanlab": "CleanLearning",
    "datalab_relabel": "Datalab + relabel",
}
BOUNDS = {"clean_knn_vote": "clean-label kNN vote", "clean_linear_probe": "clean-label linear probe"}


def summary(metrics_paths: list[str]) -> pd.DataFrame:
    """Run identity, LRA's test accuracy (deterministic, stochastic majority, top-5), each baseline's,
    and the F1 of the wrong-label flags (ours, cleanlab's) where the true train labels are known."""
    rows = []
    for path in metrics_paths:
        m = read_json(path, "the run metrics")
        row = {**{k: m["run"].get(k, DEFAULTS.get(k)) for k in RUN}, "n_test": m["n_test"], "lra": m["accuracy"]}
        if "accuracy_stochastic" in m:
            row["lra_stochastic"] = m["accuracy_stochastic"]
        if "top5_accuracy" in m:
            row["lra_top5"] = m["top5_accuracy"]
        row.update({k: m["baselines"][k] for k in sorted(m["baselines"], key=lambda k: (ORDER.get(k, len(ORDER)), k))})
        if "label_issues" in m:
            row["issues_f1"] = m["label_issues"]["f1"]
            row["cleanlab_issues_f1"] = m["label_issues"]["cleanlab"]["f1"]
        rows.append(row)
    return pd.DataFrame(rows).sort_values(RUN).reset_index(drop=True)


def seed_means(df: pd.DataFrame) -> pd.DataFrame:
    """Per grid cell: `n_seeds`, then `<metric>_mean` and `<metric>_sd` (sample sd, empty for one
    seed) of every metric column of the summary, in the summary's column order; then who won
    (`winner`)."""
    metrics = [c for c in df.columns if c not in RUN and c != "n_test"]
    groups = df.groupby(CELL, sort=True, dropna=False)
    out = groups.agg(n_seeds=("seed", "nunique"), n_test=("n_test", "first"))
    for c in metrics:
        out[f"{c}_mean"] = groups[c].mean()
        out[f"{c}_sd"] = groups[c].std(ddof=1)
    return winner(df, out.reset_index())


def winner(df: pd.DataFrame, means: pd.DataFrame) -> pd.DataFrame:
    """`means` with three columns added: `best_baseline`, the baseline of the highest mean test
    accuracy in the cell (the first in BASELINES on a tie; empty when the cell has none), and
    `lra_minus_best_baseline_mean`, `_sd`: LRA's accuracy minus that baseline's, seed by seed
    (paired: the same seed's noise draw), then mean and sample sd over the seeds."""
    present = [b for b in BASELINES if f"{b}_mean" in means.columns]
    scores = means[[f"{b}_mean" for b in present]].set_axis(present, axis=1)
    scored = scores.notna().any(axis=1)
    best = pd.Series(None, index=means.index, dtype=object)
    best[scored] = scores[scored].idxmax(axis=1)
    runs = df.merge(means[CELL].assign(best_baseline=best), on=CELL, how="left")
    gap = pd.Series(float("nan"), index=runs.index)
    for b in present:
        chosen = runs["best_baseline"] == b
        gap[chosen] = runs.loc[chosen, "lra"] - runs.loc[chosen, b]
    groups = gap.groupby([runs[c] for c in CELL], sort=True, dropna=False)
    stats = pd.DataFrame({"lra_minus_best_baseline_mean": groups.mean(),
                          "lra_minus_best_baseline_sd": groups.std(ddof=1)}).reset_index()
    return means.assign(best_baseline=best).merge(stats, on=CELL, how="left", validate="one_to_one")


def write_summary(metrics_paths: list[str], out, mean_out=None) -> pd.DataFrame:
    df = summary(metrics_paths)
    tables = [(df, out)] + ([(seed_means(df), mean_out)] if mean_out else [])
    for table, path in tables:
        with atomic_path(path) as tmp:
            table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    return df


def is_means(df: pd.DataFrame) -> bool:
    """A summary_mean-style table (one row per cell, `<metric>_mean` and `_sd`), not summary.tsv."""
    return "n_seeds" in df.columns


def _pm(mean, sd, fmt: str) -> str:
    """`mean ± sd` (`mean` alone for one seed, empty when there is no mean)."""
    if pd.isna(mean):
        return ""
    return fmt.format(mean) + ("" if pd.isna(sd) else " ± " + fmt.format(sd).lstrip("+"))


def mean_sd_view(means: pd.DataFrame) -> pd.DataFrame:
    """summary_mean.tsv as `lra show` prints it: every `<metric>_mean`, `<metric>_sd` pair as one
    `<metric>` column of `mean ± sd` strings, in the file's order and units."""
    out = {}
    for c in means.columns:
        if c.endswith("_mean"):
            m = c.removesuffix("_mean")
            fmt = "{:+.4f}" if m == "lra_minus_best_baseline" else "{:.4f}"
            out[m] = [_pm(a, b, fmt) for a, b in zip(means[c], means.get(f"{m}_sd", [None] * len(means)))]
        elif not c.endswith("_sd"):
            out[c] = means[c]
    return pd.DataFrame(out).fillna("")


def who_won(means: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """The compact view `make run` ends with: per cell LRA's test accuracy, the best baseline and
    its accuracy, LRA minus it, in percent as mean ± sd over seeds, and the best clean-label bound
    where known. Key columns (and `n_seeds`) with one value in the whole table move to a heading:
    (heading, table)."""
    keys = [c for c in CELL if c in means.columns]
    constant = [c for c in keys if means[c].nunique(dropna=False) == 1]
    heading = [f"{c} {means[c].iloc[0]}" for c in constant]
    out = means[[c for c in keys if c not in constant]].copy()
    if means["n_seeds"].nunique() == 1:
        n = means["n_seeds"].iloc[0]
        heading.append(f"{n} seed{'' if n == 1 else 's'} per cell")
    else:
        out["seeds"] = means["n_seeds"]
    out["LRA %"] = _percent(means, "lra")
    best = means["best_baseline"]
    out["best baseline"] = [METHODS.get(b, b) if isinstance(b, str) else "none scored" for b in best]
    out["best %"] = [_percent(means.iloc[[i]], b)[0] if isinstance(b, str) else "" for i, b in enumerate(best)]
    if "lra_minus_best_baseline_mean" in means.columns:
        out["LRA - best"] = _percent(means, "lra_minus_best_baseline", "{:+.1f}")
    bounds = [f"{b}_mean" for b in BOUNDS if f"{b}_mean" in means.columns]
    if bounds and means[bounds].notna().any().any():
        out["clean bound %"] = [f"{100 * v:.1f}" if pd.notna(v) else "" for v in means[bounds].max(axis=1)]
    return ", ".join(heading), out.reset_index(drop=True)


def _percent(means: pd.DataFrame, metric: str, fmt: str = "{:.1f}") -> list[str]:
    sd = means[f"{metric}_sd"] if f"{metric}_sd" in means.columns else [None] * len(means)
    return [_pm(100 * a, None if pd.isna(b) else 100 * b, fmt) for a, b in zip(means[f"{metric}_mean"], sd)]


def show(path, who: bool = False) -> str:
    """What `lra show` prints: summary.tsv aligned; a summary_mean table as `mean ± sd`; with
    `who`, the compact who-won view (of summary.tsv's seed means when given summary.tsv)."""
    df = read_csv(path, "the summary table", OUTPUT_FIX, sep="\t")
    if who:
        if is_means(df) and "best_baseline" not in df.columns:
            raise LraError(f"{path}: no best_baseline column (written by an older lra); rerun snakemake, whose "
                           "summary rule rewrites it, or pass summary.tsv")
        heading, table = who_won(df if is_means(df) else seed_means(df))
        lines = ["Who won: test accuracy (%), mean ± sd over seeds; LRA - best: paired by seed, in points"]
        lines += [heading] if heading else []
        return "\n".join(lines + [table.to_string(index=False)])
    if is_means(df):
        return mean_sd_view(df).to_string(index=False, line_width=100)
    return df.to_string(index=False, float_format="%.4f")
