"""The read-out: how ŷ_0 (and, combined, the linear head and the neighbour vote) become classes.

- The paper's: an item's class is the component of ŷ_0 closest to the one-hot value 1 (method.md,
  "Inference"), `read_out`; `ranked_classes` orders every class that way.
- The combined read-out (issue 15): the diffusion's ŷ_0, the linear head and the neighbour vote,
  mixed. Each part is an (N, C) score in [0, 1]: the diffusion's 1 − |ŷ_0 − 1| (its argmax is the
  paper's read-out), the head's probabilities, the vote's shares. The class is the argmax of
  Σ_p w_p·part_p, with weights on a simplex grid chosen by accuracy on the val split's labels (the
  observed ones by default: never clean labels unless given, never the test split; under
  class-conditional noise a noisy-val ranking of classifiers agrees with the clean one in
  expectation, arXiv 2012.04193). `best_first` orders every class by the combined score.

Every place that turns ŷ_0 into classes — predict, the relabel rounds, score's top-5, infer's
ranking — uses these functions.
"""

from __future__ import annotations

import itertools

import numpy as np


def distance_to_one(y0):
    """|y_c − 1| per class: how far each component of ŷ_0 is from the one-hot value 1 (torch or
    numpy). Every read-out of lra ranks classes by it."""
    return abs(y0 - 1)


def read_out(y0):
    """Class = the component closest to the one-hot value 1 (argmin_c |y_c − 1|), a torch tensor."""
    return distance_to_one(y0).argmin(dim=1)


def ranked_classes(y0: np.ndarray) -> np.ndarray:
    """Every class, closest to one-hot 1 first (ties in class order): column 0 is `read_out`."""
    return np.argsort(distance_to_one(y0), axis=1, kind="stable")


def best_first(scores: np.ndarray) -> np.ndarray:
    """Every class, highest combined score first (ties in class order): column 0 is the combined
    read-out's class."""
    return np.argsort(-np.asarray(scores), axis=1, kind="stable")


def class_order(y0: np.ndarray | None, scores: np.ndarray | None = None) -> np.ndarray:
    """Every class, best first, as the run read its classes out: by the combined `scores` where
    it mixed them (a guided run; `y0` is then not read), else by closeness of ŷ_0 to one-hot 1."""
    return ranked_classes(y0) if scores is None else best_first(scores)


def diffusion_scores(y0: np.ndarray) -> np.ndarray:
    """1 − |ŷ_0 − 1| per class: its argmax is the paper's read-out argmin_c |y_c − 1|."""
    return 1.0 - distance_to_one(np.asarray(y0, np.float64))


def simplex_grid(parts: int, step: float = 0.25) -> np.ndarray:
    """All weight vectors of `parts` non-negative multiples of `step` summing to 1, the
    all-on-the-first-part vector first."""
    n = round(1 / step)
    rows = [c for c in itertools.product(range(n + 1), repeat=parts) if sum(c) == n]
    rows.sort(key=lambda c: (-c[0], c))
    return np.array(rows, np.float64) / n


def combine(parts: list[np.ndarray], weights) -> np.ndarray:
    return sum(w * np.asarray(p, np.float64) for w, p in zip(weights, parts))


def choose_weights(parts: list[np.ndarray], labels: np.ndarray, step: float = 0.25, tolerance: float = 0.0,
                   bootstrap: int = 0, seed: int = 0) -> np.ndarray:
    """The grid weights whose combined argmax agrees most with `labels`; among ties the one
    with the most weight on the first part (the diffusion), then the grid's order. With
    `tolerance` > 0: the first (most diffusion) of those within that many standard errors of the best.
    With `bootstrap` = B > 0: the mean of the weights chosen so on B resamples of the items (drawn
    with replacement, from `seed`), which smooths a choice that a few noisy labels could flip."""
    if bootstrap > 0:
        return np.mean([choose_weights([p[i] for p in parts], labels[i], step, tolerance)
                        for i in bootstrap_draws(len(labels), bootstrap, seed)], axis=0)
    grid = simplex_grid(len(parts), step)
    acc = np.array([(combine(parts, w).argmax(axis=1) == labels).mean() for w in grid])
    p = acc.max()
    ok = acc >= p - tolerance * np.sqrt(p * (1 - p) / max(1, len(labels))) - 1e-12
    return grid[int(np.flatnonzero(ok)[0])]


def bootstrap_draws(n: int, bootstrap: int, seed: int):
    """`bootstrap` resamples of n items (positions drawn with replacement), from `seed`: the
    resamples choose_weights bags over."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, n, n) for _ in range(bootstrap))


def split_weights(weights, parts: list[np.ndarray]) -> tuple[float, np.ndarray]:
    """(the diffusion's weight, Σ of the other parts weighted): what a trajectory's class needs
    beside its own ŷ_0."""
    return float(weights[0]), combine(parts, weights[1:])


def combined_class(y0, w: float, rest):
    """The combined read-out's class of torch ŷ_0 rows, in float64 as `combine` computes it."""
    return (w * (1.0 - distance_to_one(y0.double())) + rest.double()).argmax(dim=1)
