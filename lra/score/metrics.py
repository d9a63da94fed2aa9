"""Accuracy figures for metrics.json."""

from __future__ import annotations

import numpy as np


def accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    return float((np.asarray(pred) == np.asarray(truth)).mean()) if len(truth) else float("nan")


def per_class_accuracy(pred: np.ndarray, truth: np.ndarray, classes: list[str]) -> dict[str, float | None]:
    """Accuracy within each true class (None for a class absent from `truth`)."""
    out = {}
    for c, name in enumerate(classes):
        mask = truth == c
        out[name] = float((pred[mask] == c).mean()) if mask.any() else None
    return out


def top_k_accuracy(ranked: np.ndarray, truth: np.ndarray, k: int = 5) -> float:
    """Share of items whose true class is among the first k of their `ranked` classes (best first)."""
    return float((ranked[:, :k] == truth[:, None]).any(axis=1).mean())


def precision_recall_f1(flagged: np.ndarray, truly_wrong: np.ndarray) -> dict[str, float]:
    tp = float((flagged & truly_wrong).sum())
    precision = tp / max(1.0, float(flagged.sum()))
    recall = tp / max(1.0, float(truly_wrong.sum()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "n_flagged": int(flagged.sum()), "n_wrong": int(truly_wrong.sum())}
