"""Label retrieval: FAISS inner-product search over L2-normalised training features.

The index holds the train split only. `neighbors` returns, for every query, the k most similar
training items, and with `exclude_self` removes the query's own row wherever it appears in the
result (the published code lets it leak in), so a train item's candidates are k *other* items.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from .errors import LraError

EXACT_UP_TO = 200_000  # `auto` stays exact (Flat) up to here; beyond, IVF with nprobe


def factory_string(index_type: str, n: int) -> str:
    """Resolve `auto` to a FAISS index_factory string by the number of indexed vectors."""
    if index_type != "auto":
        return index_type
    if n <= EXACT_UP_TO:
        return "Flat"
    nlist = int(2 ** round(np.log2(4 * np.sqrt(n))))  # ~4·sqrt(N) lists, a FAISS rule of thumb
    return f"IVF{nlist},Flat"


def gpu_available() -> bool:
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def build_index(x: np.ndarray, index_type: str = "auto", device: str = "auto", nprobe: int = 32):
    """An inner-product FAISS index over `x` (rows L2-normalised), trained if the type needs it."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    desc = factory_string(index_type, len(x))
    try:
        index = faiss.index_factory(x.shape[1], desc, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise LraError(f"config key index: FAISS cannot build {desc!r} ({exc}); try Flat or IVF1024,Flat") from None
    if not index.is_trained:
        rng = np.random.default_rng(0)
        sample = x[rng.choice(len(x), size=min(len(x), 256 * 1024), replace=False)]
        index.train(sample)
    for start in tqdm(range(0, len(x), 262144), desc=f"index {desc}", unit="chunk", mininterval=2):
        index.add(x[start:start + 262144])
    set_search_params(index, nprobe)
    return index


def set_search_params(index, nprobe: int = 32, ef_search: int = 128) -> None:
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = nprobe
    hnsw = getattr(faiss.downcast_index(index), "hnsw", None)
    if hnsw is not None:
        hnsw.efSearch = ef_search


def to_device(index, device: str = "auto"):
    """Move an index to the GPU when asked for (or `auto` and one is there); else unchanged."""
    import faiss

    if device == "cpu" or (device == "auto" and not gpu_available()):
        return index
    if not gpu_available():
        raise LraError("config: device 'cuda' asked for, but faiss has no GPU here; install faiss-gpu or use auto")
    return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)


def search(index, queries: np.ndarray, k: int, batch_size: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, row ids) of the k best rows for each query, in bounded-memory batches."""
    n = len(queries)
    sims = np.empty((n, k), np.float32)
    rows = np.empty((n, k), np.int64)
    for start in tqdm(range(0, n, batch_size), desc=f"search k={k}", unit="batch", mininterval=2):
        q = np.ascontiguousarray(queries[start:start + batch_size], dtype=np.float32)
        sims[start:start + len(q)], rows[start:start + len(q)] = index.search(q, k)
    return sims, rows


def neighbors(index, queries: np.ndarray, k: int, self_rows: np.ndarray | None = None):
    """k nearest index rows of each query; `self_rows[i]` (the query's own row, or -1) is excluded.

    Searches k+1 when excluding, drops the query's own row wherever it ranks (ties with exact
    duplicates may put it anywhere), else the last one.
    """
    if k < 1:
        raise LraError(f"config key knn_k: k must be at least 1, got {k}")
    extra = 1 if self_rows is not None else 0
    if index.ntotal < k + extra:
        raise LraError(f"config key knn_k: k={k} needs at least {k + extra} training items, the index has {index.ntotal}")
    sims, rows = search(index, queries, k + extra)
    if self_rows is None:
        return sims, rows
    is_self = rows == self_rows[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)  # column to drop per row
    keep = np.ones_like(rows, dtype=bool)
    keep[np.arange(len(rows)), drop] = False
    return sims[keep].reshape(-1, k), rows[keep].reshape(-1, k)


def brute_force_neighbors(x: np.ndarray, queries: np.ndarray, k: int, self_rows=None):
    """Reference exact search by a dense similarity matrix (tests and benchmarks)."""
    s = queries @ x.T
    if self_rows is not None:
        s[np.arange(len(queries)), self_rows] = -np.inf
    rows = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, rows, axis=1), rows
