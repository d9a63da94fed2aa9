"""The summary table: one row per run, from the runs' metrics.json files."""

from __future__ import annotations

import pandas as pd

from .io import atomic_path, read_json

COLUMNS = ["dataset", "encoder", "noise", "k", "n_test", "lra", "knn_vote", "linear_probe"]


def summary(metrics_paths: list[str]) -> pd.DataFrame:
    rows = []
    for path in metrics_paths:
        m = read_json(path)
        row = {**m["run"], "n_test": m["n_test"], "lra": m["accuracy"], **m["baselines"]}
        if "accuracy_stochastic" in m:
            row["lra_stochastic"] = m["accuracy_stochastic"]
        if "top5_accuracy" in m:
            row["lra_top5"] = m["top5_accuracy"]
        if "label_issues" in m and "f1" in m["label_issues"]:
            row["issues_f1"] = m["label_issues"]["f1"]
        rows.append(row)
    df = pd.DataFrame(rows)
    extra = [c for c in df.columns if c not in COLUMNS]
    return df[COLUMNS + extra].sort_values(["dataset", "encoder", "noise", "k"]).reset_index(drop=True)


def write_summary(metrics_paths: list[str], out) -> pd.DataFrame:
    df = summary(metrics_paths)
    with atomic_path(out) as tmp:
        df.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    return df
