"""The train items the score stage's baselines fit on: all of them up to a size, beyond it a
stratified random sample (config key `baseline_sample`).

Cross-validated logistic regression, CleanLearning and Datalab cost far more than linear time
in the number of items (lbfgs passes over all of them, Datalab builds a kNN graph), so at a
million items they would dominate the whole DAG. A sample keeps each observed class's share
(and at least lra.core.linear.MIN_PER_CLASS items of every class, so each cross-validation fold sees it), is
drawn from the run's seed, and keeps the manifest order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.linear import stratified

@dataclass
class FitRows:
    rows: np.ndarray  # manifest rows the baselines fit on, in manifest order
    positions: np.ndarray  # the same items as positions among the train rows
    record: dict  # what metrics.json says about it


def fit_rows(train_rows: np.ndarray, observed: np.ndarray, limit: int, seed: int = 0) -> FitRows:
    """All train rows when there are at most `limit` (0: no limit); else a stratified sample of
    `limit` of them on their observed labels (the labels the baselines learn from)."""
    n = len(train_rows)
    sampled = 0 < limit < n
    positions = stratified(observed[train_rows], limit, seed) if sampled else np.arange(n)
    record = {"sampled": bool(sampled), "size": int(len(positions)), "of": int(n), "limit": int(limit),
              "seed": int(seed), "stratified_on": "observed_label",
              "baselines": ["linear_probe", "cleanlab", "datalab_relabel", "clean_linear_probe",
                            "label_issues.cleanlab"] if sampled else []}
    return FitRows(train_rows[positions], positions, record)
