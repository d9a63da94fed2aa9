"""The read-out of LRA diffusion: an item's class is the component of ŷ_0 closest to the one-hot
value 1 (method.md, "Inference"). Every place that turns ŷ_0 into classes — predict, the relabel
rounds, score's top-5, infer's ranking — uses these functions.
"""

from __future__ import annotations

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
