"""The summary table: one row per run, from the runs' metrics.json files."""

from __future__ import annotations

import pandas as pd

from .io import atomic_path, read_json

RUN = ["dataset", "encoder", "noise", "k"]
ORDER = {k: i for i, k in enumerate(["knn_vote", "linear_probe", "cleanlab", "datalab_relabel"])}  # bounds last


def summary(metrics_paths: list[str]) -> pd.DataFrame:
    """Run identity, LRA's test accuracy (deterministic, stochastic majority, top-5), each baseline's,
    and the F1 of the wrong-label flags (ours, cleanlab's) where the true train labels are known."""
    rows = []
    for path in metrics_paths:
        m = read_json(path)
        row = {**{k: m["run"].get(k) for k in RUN}, "n_test": m["n_test"], "lra": m["accuracy"]}
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


def write_summary(metrics_paths: list[str], out) -> pd.DataFrame:
    df = summary(metrics_paths)
    with atomic_path(out) as tmp:
        df.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    return df
