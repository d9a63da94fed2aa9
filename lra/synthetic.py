"""Synthetic feature sets with a known truth: class clusters of controllable overlap.

Each class is a mixture of `modes` Gaussian blobs around random centres, so class boundaries
are not linear (a linear probe is not the Bayes classifier) and `spread` (the blob standard
deviation relative to the typical centre distance) sets how much classes overlap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def clustered_features(n: int = 20_000, dim: int = 64, num_classes: int = 10, spread: float = 0.35,
                       modes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, modes, dim)) / np.sqrt(dim)  # unit-scale distances
    y = rng.integers(0, num_classes, size=n)
    mode = rng.integers(0, modes, size=n)
    x = centres[y, mode] + spread * np.sqrt(2 / dim) * rng.normal(size=(n, dim))
    return x.astype(np.float32), y


def embeddings_frame(x: np.ndarray, y: np.ndarray, val_fraction: float = 0.1, test_fraction: float = 0.2,
                     seed: int = 0) -> pd.DataFrame:
    """The `embeddings` dataset layout: id, split, label, clean_label, embedding."""
    from .datasets import stratified_split

    split = stratified_split(y, val_fraction, test_fraction, seed)
    return pd.DataFrame({"id": [f"s{i:06d}" for i in range(len(y))], "split": split, "label": y,
                         "clean_label": y, "embedding": list(x)})
