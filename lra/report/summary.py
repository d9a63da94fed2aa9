"""The summary tables: one row per run (summary.tsv), and per grid cell the mean, standard
deviation and count over seeds (summary_mean.tsv), from the runs' metrics.json files."""

from __future__ import annotations

import pandas as pd

from ..core.files import atomic_path, read_json

RUN = ["dataset", "method", "encoder", "noise", "k", "seed"]
CELL = RUN[:-1]  # a grid cell: a run without its seed
DEFAULTS = {"seed": 0, "method": "default"}  # what metrics.json of an lra that did not record them ran
ORDER = {k: i for i, k in enumerate(["knn_vote", "linear_probe", "cleanlab", "datalab_relabel"])}  # bounds last


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
    seed) of every metric column of the summary, in the summary's column order."""
    metrics = [c for c in df.columns if c not in RUN and c != "n_test"]
    groups = df.groupby(CELL, sort=True, dropna=False)
    out = groups.agg(n_seeds=("seed", "nunique"), n_test=("n_test", "first"))
    for c in metrics:
        out[f"{c}_mean"] = groups[c].mean()
        out[f"{c}_sd"] = groups[c].std(ddof=1)
    return out.reset_index()


def write_summary(metrics_paths: list[str], out, mean_out=None) -> pd.DataFrame:
    df = summary(metrics_paths)
    tables = [(df, out)] + ([(seed_means(df), mean_out)] if mean_out else [])
    for table, path in tables:
        with atomic_path(path) as tmp:
            table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    return df
