"""What the linear head and the neighbours say about each item, for the CARD prior and the
combined read-out (lra.diffusion.prior, lra.diffusion.readout).

`fit_guides` fits the head on the train items and measures the neighbour vote; `Guides.parts`
gives any item's head probabilities and vote from its features and its neighbours among the train
items. A train item's parts never use its own label: its head row is out of fold and its
neighbours exclude it, so the prior of a mislabelled item does not already contain its label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .head import Head, fit_head
from .prior import choose_weight, mix
from .vote import rank_weights, reliability, vote

PRIORS = ("none", "head", "mix")
READOUTS = ("diffusion", "combined")
VOTE_WEIGHTINGS = ("none", "reliability")


@dataclass
class Guides:
    head: Head
    train_labels: np.ndarray  # the labels the vote counts (observed)
    neighbor_weight: np.ndarray  # per train item: its weight as a neighbour (1, or its reliability)
    prior_weight: float  # μ = w·head + (1 − w)·vote

    def parts(self, x: np.ndarray, neighbor_rows: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """(head probabilities, vote shares) of items with features `x` and train neighbours."""
        return self.head.proba(np.asarray(x, np.float64)), self.vote(neighbor_rows, num_classes)

    def vote(self, neighbor_rows: np.ndarray, num_classes: int) -> np.ndarray:
        w = self.neighbor_weight[neighbor_rows] * rank_weights(*neighbor_rows.shape)
        return vote(self.train_labels[neighbor_rows], num_classes, w)

    def prior(self, head: np.ndarray, votes: np.ndarray) -> np.ndarray:
        return mix(head, votes, self.prior_weight)

    def train_parts(self, x: np.ndarray, neighbor_rows: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """The train items' own parts (rows as at fit): out-of-fold head rows, votes without themselves."""
        return self.head.out_of_fold(x), self.vote(neighbor_rows, num_classes)


def fit_guides(x: np.ndarray, labels: np.ndarray, neighbor_rows: np.ndarray, num_classes: int, prior: str = "mix",
               prior_weight: float = -1.0, vote_weighting: str = "none", val_x=None, val_rows=None,
               val_labels=None, seed: int = 0) -> Guides:
    """Fit the head on train features `x` and observed `labels`; weigh neighbours; choose the
    prior's head weight on the val split (`prior_weight` < 0 and prior "mix"), else use it
    ("head": 1)."""
    for key, value, allowed in (("prior", prior, PRIORS), ("vote_weighting", vote_weighting, VOTE_WEIGHTINGS)):
        if value not in allowed:
            from ..errors import LraError

            raise LraError(f"config key train.{key}: {value!r}; use {' or '.join(allowed)}")
    head = fit_head(x, labels, num_classes, seed)
    weight = reliability(labels, head.out_of_fold(x)) if vote_weighting == "reliability" else np.ones(len(labels))
    g = Guides(head, np.asarray(labels), weight.astype(np.float64), 1.0 if prior == "head" else prior_weight)
    if prior == "mix" and prior_weight < 0:
        if val_x is None or not len(val_x):
            g.prior_weight = 0.5
        else:
            h, v = g.parts(val_x, val_rows, num_classes)
            g.prior_weight = choose_weight(h, v, val_labels)
    return g
