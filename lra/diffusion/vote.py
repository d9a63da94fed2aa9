"""Neighbour votes as class distributions (the retrieval side of LRA, read as a classifier).

`vote` spreads each item's k neighbours' labels over the classes with per-neighbour weights:
by rank only (the plain kNN vote with its tie-break), times, with `vote_weighting: reliability`,
how much the head believes the neighbour's own label, out of fold (WANN, arXiv 2408.14358, weighs
neighbours by such a reliability score).
"""

from __future__ import annotations

import numpy as np


def vote(neighbor_labels: np.ndarray, num_classes: int, weights: np.ndarray | None = None) -> np.ndarray:
    """(N, C) distribution: Σ_j w_ij·one-hot(label_ij), normalised per row (uniform if all w are 0)."""
    n, k = neighbor_labels.shape
    w = np.ones((n, k)) if weights is None else np.asarray(weights, np.float64)
    out = np.zeros((n, num_classes))
    np.add.at(out, (np.repeat(np.arange(n), k), neighbor_labels.reshape(-1)), w.reshape(-1))
    total = out.sum(axis=1, keepdims=True)
    return np.where(total > 0, out / np.maximum(total, 1e-12), 1.0 / num_classes)


def rank_weights(n: int, k: int) -> np.ndarray:
    """1 + 1e-3·2^-j for the neighbour of rank j: a plain vote whose ties go to the class whose
    first vote ranks nearest, as the kNN-vote baseline breaks them (lra.score.baselines.knn_vote)."""
    return np.broadcast_to(1.0 + 1e-3 * 0.5 ** np.arange(k), (n, k)).copy()


def reliability(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per train item: the probability a model that did not see it gives its label."""
    return proba[np.arange(len(labels)), labels]
