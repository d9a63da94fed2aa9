"""The combined read-out: the diffusion's ŷ_0, the linear head and the neighbour vote, mixed.

Each part is an (N, C) score in [0, 1]: the diffusion's 1 − |ŷ_0 − 1| (its own read-out,
argmin_c |y_c − 1|, is the argmax of this), the head's probabilities, the vote's shares. The
class is the argmax of Σ_p w_p·part_p, with weights on a simplex grid chosen by accuracy on the
val split's observed labels (no clean label, never the test split: under class-conditional noise
a noisy-val ranking of classifiers agrees with the clean one in expectation, arXiv 2012.04193).
"""

from __future__ import annotations

import itertools

import numpy as np


def diffusion_scores(y0: np.ndarray) -> np.ndarray:
    """1 − |ŷ_0 − 1| per class: its argmax is the paper's read-out argmin_c |y_c − 1|."""
    return 1.0 - np.abs(np.asarray(y0, np.float64) - 1.0)


def simplex_grid(parts: int, step: float = 0.25) -> np.ndarray:
    """All weight vectors of `parts` non-negative multiples of `step` summing to 1, the
    all-on-the-first-part vector first."""
    n = round(1 / step)
    rows = [c for c in itertools.product(range(n + 1), repeat=parts) if sum(c) == n]
    rows.sort(key=lambda c: (-c[0], c))
    return np.array(rows, np.float64) / n


def combine(parts: list[np.ndarray], weights) -> np.ndarray:
    return sum(w * np.asarray(p, np.float64) for w, p in zip(weights, parts))


def choose_weights(parts: list[np.ndarray], labels: np.ndarray, step: float = 0.25, tolerance: float = 0.0) -> np.ndarray:
    """The grid weights whose combined argmax agrees most with `labels`; among ties the one
    with the most weight on the first part (the diffusion), then the grid's order. With
    `tolerance` > 0: the first (most diffusion) of those within that many standard errors of the best."""
    grid = simplex_grid(len(parts), step)
    acc = np.array([(combine(parts, w).argmax(axis=1) == labels).mean() for w in grid])
    p = acc.max()
    ok = acc >= p - tolerance * np.sqrt(p * (1 - p) / max(1, len(labels))) - 1e-12
    return grid[int(np.flatnonzero(ok)[0])]
