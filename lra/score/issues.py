"""Which training labels the model does not believe: p(given label) and the label-issue table.

`p_given` is the one definition both label_issues.parquet (score) and cleaned.csv (export) use,
so the two never disagree about an item.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def p_given(given: np.ndarray, predicted: np.ndarray, frequencies: np.ndarray | None) -> np.ndarray:
    """Share of trajectories returning the given label; without trajectories 1 where the model
    agrees with it, else 0."""
    if frequencies is None:
        return (predicted == given).astype(np.float64)
    # multiples of 1/samples stored as float32: six decimals give 0.7, not 0.699999988079071, so
    # a share equal to a threshold (max_p_given 0.2) compares as equal
    return np.round(np.asarray(frequencies, np.float64)[np.arange(len(given)), given], 6)


def frequencies(pred: pd.DataFrame, rows=slice(None)) -> np.ndarray | None:
    """The stochastic trajectories' class shares of the prediction table's `rows`, or None when
    predict drew none."""
    if "class_frequencies" not in pred:
        return None
    return np.stack(pred["class_frequencies"].to_numpy()[rows])


def label_issues(ids: np.ndarray, pred: pd.DataFrame, observed: np.ndarray, train: np.ndarray) -> pd.DataFrame:
    """Train items ranked by how much the model believes their given label, least first.

    `predicted_label` is the deterministic DDIM class and `flag` marks where it differs from the
    given label; `p_given` is the share of stochastic trajectories that return the given label
    (without trajectories: 1 where the prediction agrees, else 0).
    """
    rows = np.flatnonzero(train)
    given = observed[rows]
    predicted = pred["predicted"].to_numpy()[rows]
    p = p_given(given, predicted, frequencies(pred, rows))
    df = pd.DataFrame({"id": ids[rows], "given_label": given, "predicted_label": predicted,
                       "p_given": p, "flag": predicted != given, "row": np.arange(len(rows))})
    return df.sort_values(["p_given", "flag", "row"], ascending=[True, False, True], kind="stable").reset_index(drop=True)
