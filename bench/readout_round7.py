"""Round 7's read-out candidates (issue 15), scored by `bench/readout_rules.py guided --round7`.

Round 6 found vowels' misses in the vote's ties: the plain vote counts its k neighbours alike and
breaks ties by the nearest neighbour's class at a weight of 10⁻³ (`rank_weights`), so any other
part mixed in above that overrides the nearest neighbour (3 % of weight on the weak parts cost
vowels sym-0.2 five points against the vote alone). Round 7 changes the part, not the rule: the
vote weighs each neighbour by its cosine similarity, exp(−(s_1 − s_j)/τ)
(lra.diffusion.vote.similarity_weights), at a few fixed τ and at a per-run scale (τ = the median
over the run's items of s_1 − s_k), and the default's rule (the four parts, grid step 0.25, bagged
over 100 resamples of val) reads out ŷ_0, head, this vote and the plain probe.

The kept arrays hold no neighbours, so each run's are found again from its features (exact
cosine, a train item never its own neighbour: bench/ablate.py's `neighbours_of_all`). Where
similarities tie, the order can differ from the pipeline's FAISS search (dna's binary features,
sprites' padded pictures): the recomputed plain vote is `dhvp_plain_bag100`, the reference each
candidate is paired with beside the kept default.
"""

from __future__ import annotations

import numpy as np

from lra.diffusion.readout import combine
from lra.diffusion.vote import rank_weights, similarity_weights, vote

TEMPERATURES = (0.05, 0.1, 0.2, 0.3)  # τ in cosine units
K = 10  # the kept runs' k (bench/ablate.py)


def neighbour_votes(similarities: np.ndarray, rows: np.ndarray, train_labels: np.ndarray,
                    num_classes: int) -> dict:
    """Every item's vote over its neighbours (`rows`, positions among the train items, nearest
    first) under each weighting: name → (N, C) shares."""
    labels = train_labels[rows]
    spread = float(np.median(similarities[:, 0] - similarities[:, -1]))  # a typical item's s_1 − s_k
    weights = {"plain": rank_weights(*rows.shape),
               **{f"sim{t:g}": similarity_weights(similarities, t) for t in TEMPERATURES},
               "simspread": similarity_weights(similarities, max(spread, 1e-6))}
    return {name: vote(labels, num_classes, w) for name, w in weights.items()}


def rules(parts: dict, votes: dict, observed: np.ndarray, va: np.ndarray, seed: int, default_weights) -> dict:
    """Round 7's candidates: name → every item's class, by the default's rule over ŷ_0, head, the
    vote of each weighting and the plain probe (`parts` holds d, h and p)."""
    def classes(v):
        ps = [parts["d"], parts["h"], v, parts["p"]]
        return combine(ps, default_weights(ps, observed, va, seed)).argmax(axis=1)

    return {f"dhvp_{name}_bag100": (lambda v=v: classes(v)) for name, v in votes.items()}
