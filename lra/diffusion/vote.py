"""Neighbour votes as class distributions (the retrieval side of LRA, read as a classifier).

`vote` spreads each item's k neighbours' labels over the classes with per-neighbour weights:
by rank only (the plain kNN vote with its tie-break), times, with `vote_weighting: reliability`,
how much the head believes the neighbour's own label, out of fold (WANN, arXiv 2408.14358, weighs
neighbours by such a reliability score). The combined read-out's vote (`readout_vote_temperature`)
weighs them by similarity instead, `similarity_weights`: the plain vote's tie-break of 10⁻³ carries
the nearest neighbour's class, and any other part mixed in at a weight above it overrides that.
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


def similarity_weights(similarities: np.ndarray, temperature: float) -> np.ndarray:
    """exp(−(s_1 − s_j)/τ) for the neighbour of cosine similarity s_j, s_1 the item's nearest: 1 for
    the nearest, less the further a neighbour is from the item than its nearest (τ = `temperature`)."""
    s = np.asarray(similarities, np.float64)
    return np.exp(-(s[:, :1] - s) / temperature)
