"""Synthetic feature sets with a known truth: class clusters of controllable overlap.

Each class is a mixture of `modes` Gaussian blobs around random centres, so class boundaries
are not linear (a linear probe is not the Bayes classifier) and `spread` (the blob standard
deviation relative to the typical centre distance) sets how much classes overlap.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd


def iter_clustered(n: int = 20_000, dim: int = 64, num_classes: int = 10, spread: float = 0.35,
                   modes: int = 3, seed: int = 0, chunk_rows: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`clustered_features` block by block, `chunk_rows` items at a time: the same numbers (one
    generator, drawn in the same order), without an (n, dim) float64 draw in memory."""
    rng, centres, y, mode = _layout(n, dim, num_classes, modes, seed)
    for start in range(0, n, chunk_rows):
        rows = slice(start, min(start + chunk_rows, n))
        noise = rng.normal(size=(rows.stop - rows.start, dim))
        yield (centres[y[rows], mode[rows]] + spread * np.sqrt(2 / dim) * noise).astype(np.float32), y[rows]


def _layout(n: int, dim: int, num_classes: int, modes: int, seed: int):
    """The generator, the blob centres, and each item's class and blob: everything but the noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, modes, dim)) / np.sqrt(dim)  # unit-scale distances
    return rng, centres, rng.integers(0, num_classes, size=n), rng.integers(0, modes, size=n)


def clustered_features(n: int = 20_000, dim: int = 64, num_classes: int = 10, spread: float = 0.35,
                       modes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    blocks = list(iter_clustered(n, dim, num_classes, spread, modes, seed, chunk_rows=max(n, 1)))
    if not blocks:
        return np.empty((0, dim), np.float32), np.empty(0, np.int64)
    return blocks[0]


def embeddings_frame(x: np.ndarray, y: np.ndarray, val_fraction: float = 0.1, test_fraction: float = 0.2,
                     seed: int = 0) -> pd.DataFrame:
    """The `embeddings` dataset layout: id, split, label, clean_label, embedding."""
    from .datasets import stratified_split

    split = stratified_split(y, val_fraction, test_fraction, seed)
    return pd.DataFrame({"id": [f"s{i:06d}" for i in range(len(y))], "split": split, "label": y,
                         "clean_label": y, "embedding": list(x)})


def write_embeddings(path, n: int, dim: int = 64, num_classes: int = 10, spread: float = 0.35, modes: int = 3,
                     seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2,
                     dtype: str = "float32", chunk_rows: int = 65536) -> None:
    """An `embeddings` dataset Parquet of `iter_clustered` features, written one row group per
    block (atomically): a million 512-d items without a million-row frame in memory. Same columns
    and splits as `embeddings_frame`; the embedding is a fixed-size list of `dtype`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .datasets import stratified_split
    from ..core.files import atomic_path, fixed_size_lists

    split = stratified_split(_layout(n, dim, num_classes, modes, seed)[2], val_fraction, test_fraction, seed).astype(str)
    schema = pa.schema([("id", pa.string()), ("split", pa.string()), ("label", pa.int64()),
                        ("clean_label", pa.int64()), ("embedding", pa.list_(pa.from_numpy_dtype(np.dtype(dtype)), dim))])
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        start = 0
        for x, y in iter_clustered(n, dim, num_classes, spread, modes, seed, chunk_rows):
            rows = np.arange(start, start + len(y))
            emb = fixed_size_lists(x.astype(dtype), dim)
            writer.write_table(pa.table([pa.array([f"s{i:06d}" for i in rows]), pa.array(split[rows]),
                                         pa.array(y), pa.array(y), emb], schema=schema))
            start += len(y)

