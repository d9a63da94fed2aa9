"""What the linear head and the neighbours say about each item, for the CARD prior and the
combined read-out (lra.diffusion.prior, lra.diffusion.readout).

`fit_guides` fits the head on the train items and measures the neighbour vote; `Guides.parts`
gives any item's head probabilities and vote from its features and its neighbours among the train
items, and with `train.readout_probe` the plain linear probe's probabilities (no cleaning: under
noise that moves labels towards a look-alike class, PMD, it can beat the cleaned head) as a 4th
read-out part. With `train.readout_vote_temperature` the read-out's vote weighs each neighbour by
its similarity (lra.diffusion.vote.similarity_weights); the prior keeps the plain vote. A train
item's parts never use its own label: its head and probe rows are out of fold and its neighbours
exclude it, so the prior of a mislabelled item does not already contain its label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import check_choice
from .head import Head, fit_head
from .prior import choose_weight, mix
from .readout import combine, diffusion_scores
from .vote import rank_weights, reliability, similarity_weights, vote


@dataclass
class Guides:
    head: Head
    train_labels: np.ndarray  # the labels the vote counts (observed)
    neighbor_weight: np.ndarray  # per train item: its weight as a neighbour (1, or its reliability)
    prior_weight: float  # μ = w·head + (1 − w)·vote
    prior_kind: str = "mix"  # none: μ = 0 (the guides only serve the read-out)
    readout_weights: np.ndarray | None = None  # over (ŷ_0, *parts), chosen on val; None: the diffusion's read-out
    probe: Head | None = None  # the plain linear probe, the read-out's 4th part (train.readout_probe)
    vote_temperature: float = 0.0  # > 0: the read-out's vote weighs neighbours by similarity, at this τ

    def mu(self, head: np.ndarray, votes: np.ndarray, *_) -> np.ndarray | None:
        """The CARD prior mean of items with these parts (the head and the vote; the probe is the
        read-out's only), or None when the run has no prior."""
        return None if self.prior_kind == "none" else self.prior(head, votes)

    def scores(self, y0: np.ndarray, *parts: np.ndarray) -> np.ndarray | None:
        """The combined read-out's (N, C) scores of ŷ_0 and the items' `parts`, or None when the
        class is the diffusion's own."""
        if self.readout_weights is None:
            return None
        return combine([diffusion_scores(y0), *self.readout_parts(parts)], self.readout_weights)

    def readout_parts(self, parts) -> tuple[np.ndarray, ...]:
        """The read-out's parts (head, vote[, probe]) of what `parts` gave: with a vote temperature,
        the similarity-weighted vote (their last) in the plain vote's place."""
        if not self.vote_temperature:
            return tuple(parts)
        head, plain, *rest = parts
        if len(rest) != (self.probe is not None) + 1:
            raise ValueError("the read-out's vote weighs neighbours by similarity: pass parts() their similarities")
        return (head, rest[-1], *rest[:-1])

    def state(self) -> dict:
        """What model.pt keeps (tensors and numbers): enough for predict and infer to rebuild it."""
        import torch

        arrays = {**self.head.arrays(), "train_labels": self.train_labels, "neighbor_weight": self.neighbor_weight,
                  **({} if self.probe is None else self.probe.arrays("probe_"))}
        out = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
        out.update(prior_weight=float(self.prior_weight), prior_kind=self.prior_kind,
                   readout_weights=None if self.readout_weights is None else [float(w) for w in self.readout_weights],
                   vote_temperature=float(self.vote_temperature))
        return out

    @classmethod
    def from_state(cls, d: dict) -> "Guides":
        a = {k: v.numpy() if hasattr(v, "numpy") else v for k, v in d.items()}
        weights = None if a["readout_weights"] is None else np.asarray(a["readout_weights"], np.float64)
        probe = Head.from_arrays(a, "probe_") if "probe_coef" in a else None
        return cls(Head.from_arrays(a), a["train_labels"], a["neighbor_weight"], a["prior_weight"], a["prior_kind"], weights,
                   probe, a.get("vote_temperature", 0.0))  # a model.pt from before the key: the plain vote

    def parts(self, x: np.ndarray, neighbor_rows: np.ndarray, num_classes: int,
              train_pos: np.ndarray | None = None, similarities: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """(head probabilities, vote shares[, probe probabilities][, similarity-weighted vote]) of
        items with features `x` and train neighbours (of these cosine `similarities`: the last part
        is there with a vote temperature and similarities; `readout_parts` picks the read-out's).
        With `train_pos`, a train item (its position at fit, ≥ 0; −1 for any other) never uses its
        own label: its head and probe rows are out of fold, as in `train_parts`."""
        x = np.asarray(x, np.float64)
        linear = [h for h in (self.head, self.probe) if h is not None]
        head, *probe = [h.proba(x) if train_pos is None else h.scores(x, train_pos) for h in linear]
        weighted = () if not self.vote_temperature or similarities is None else (
            self.vote(neighbor_rows, num_classes, similarity_weights(similarities, self.vote_temperature)),)
        return (head, self.vote(neighbor_rows, num_classes), *probe, *weighted)

    def vote(self, neighbor_rows: np.ndarray, num_classes: int, weights: np.ndarray | None = None) -> np.ndarray:
        """The neighbours' labels spread over the classes, each neighbour weighted by its rank
        (the kNN vote's tie-break), or by `weights`, times its own weight."""
        w = rank_weights(*neighbor_rows.shape) if weights is None else weights
        return vote(self.train_labels[neighbor_rows], num_classes, self.neighbor_weight[neighbor_rows] * w)

    def prior(self, head: np.ndarray, votes: np.ndarray) -> np.ndarray:
        return mix(head, votes, self.prior_weight)

    def train_parts(self, x: np.ndarray, neighbor_rows: np.ndarray, num_classes: int) -> tuple[np.ndarray, ...]:
        """The train items' own parts (rows as at fit): out-of-fold head (and probe) rows, votes
        without themselves."""
        probe = () if self.probe is None else (self.probe.out_of_fold(x),)
        return (self.head.out_of_fold(x), self.vote(neighbor_rows, num_classes), *probe)


def fit_guides(x: np.ndarray, labels: np.ndarray, neighbor_rows: np.ndarray, num_classes: int, prior: str = "mix",
               prior_weight: float = -1.0, vote_weighting: str = "none", val_x=None, val_rows=None,
               val_labels=None, seed: int = 0, probe: bool = False, vote_temperature: float = 0.0) -> Guides:
    """Fit the head on train features `x` and observed `labels` (and with `probe`, the plain
    probe); weigh neighbours (and, for the read-out's vote, with `vote_temperature` > 0, by
    similarity); choose the prior's head weight on the val split (`prior_weight` < 0 and prior
    "mix"), else use it ("head": 1)."""
    check_choice("prior", prior)
    check_choice("vote_weighting", vote_weighting)
    head = fit_head(x, labels, num_classes, seed)
    weight = reliability(labels, head.out_of_fold(x)) if vote_weighting == "reliability" else np.ones(len(labels))
    g = Guides(head, np.asarray(labels), weight.astype(np.float64), 1.0 if prior == "head" else prior_weight, prior,
               probe=fit_head(x, labels, num_classes, seed, clean=False) if probe else None,
               vote_temperature=vote_temperature)
    if prior == "mix" and prior_weight < 0:
        if val_x is None or not len(val_x):
            g.prior_weight = 0.5
        else:
            h, v = g.parts(val_x, val_rows, num_classes)[:2]
            g.prior_weight = choose_weight(h, v, val_labels)
    return g
