"""Label retrieval: FAISS inner-product search over L2-normalised training features.

The index holds the train split only, each vector under an explicit id (its position among the
manifest's train rows), so shards may be added in any order, one batch at a time. `neighbors`
returns, for every query, the k most similar training items, and with `self_rows` removes the
query's own row wherever it appears in the result (the published code lets it leak in), so a
train item's candidates are k *other* items.

Index types are FAISS index_factory strings: `Flat` (exact), `IVF<nlist>,Flat`, `IVF<nlist>,SQ8`,
`IVF<nlist>,PQ<m>`, `HNSW<M>`; `auto` picks by the number of vectors (see `factory_string`).
Array-level entry point: `self_knn(x, k)`.
"""

from __future__ import annotations

import logging
from typing import Iterable, Iterator

import numpy as np

from ..core.errors import LraError
from ..core.progress import progress

log = logging.getLogger("lra")

EXACT_UP_TO = 200_000  # `auto` stays exact (Flat) up to here; beyond, IVF with nprobe
COMPRESS_ABOVE_BYTES = 32 * 2**30  # `auto` stores IVF vectors as SQ8 (1 byte/dim) beyond 32 GiB of float32
TRAIN_SAMPLE = 256 * 1024  # vectors k-means/PQ training sees at most
NPROBE = 32  # IVF lists visited per query (recall ~1 at nlist ~4·sqrt(N) on clustered data)
EF_SEARCH = 128  # HNSW candidate list per query
SEARCH_BATCH = 16384  # queries per FAISS call: bounds result and distance buffers


def factory_string(index_type: str, n: int, dim: int | None = None) -> str:
    """Resolve `auto` to a FAISS index_factory string by the number (and size) of vectors.

    Up to EXACT_UP_TO vectors: `Flat` (exact; brute force is fast enough on a CPU there).
    Beyond: `IVF<nlist>,Flat` with nlist ~ 4·sqrt(N) rounded to a power of two, and `SQ8`
    instead of `Flat` once the float32 vectors would exceed COMPRESS_ABOVE_BYTES.
    """
    if index_type != "auto":
        return index_type
    if n <= EXACT_UP_TO:
        return "Flat"
    nlist = auto_nlist(n)
    codec = "SQ8" if dim is not None and n * dim * 4 > COMPRESS_ABOVE_BYTES else "Flat"
    return f"IVF{nlist},{codec}"


def auto_nlist(n: int) -> int:
    """IVF lists for n vectors: ~4·sqrt(N) rounded to a power of two (a FAISS rule of thumb)."""
    return int(2 ** round(np.log2(4 * np.sqrt(max(n, 1)))))


def new_index(dim: int, desc: str):
    """An empty inner-product index of type `desc` that accepts explicit ids (add_with_ids)."""
    import faiss

    try:
        index = faiss.index_factory(dim, desc, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown"
        raise LraError(f"config key index: FAISS cannot build {desc!r} for dim {dim} ({reason}); "
                       "use Flat, IVF<nlist>,Flat, IVF<nlist>,SQ8, IVF<nlist>,PQ<m> (m divides dim) or HNSW<M>") from None
    core = faiss.downcast_index(index)
    if hasattr(core, "do_polysemous_training"):  # PQ: the Hamming-filter training is slow (~10x) and unused here
        core.do_polysemous_training = False
    if faiss.try_extract_index_ivf(index) is None:  # IVF indexes store ids natively; others need a map
        index = faiss.IndexIDMap2(index)
    return index


def train_needs(index) -> int:
    """Smallest number of training vectors the index type accepts (0 when it needs no training)."""
    import faiss

    if index.is_trained:
        return 0
    ivf = faiss.try_extract_index_ivf(index)
    need = ivf.nlist if ivf is not None else 1
    base = faiss.downcast_index(ivf if ivf is not None else getattr(index, "index", index))
    pq = getattr(base, "pq", None)
    if pq is not None:
        need = max(need, 2 ** pq.nbits)
    return need


def build_index(batches: Iterable[tuple[np.ndarray, np.ndarray]], n: int, dim: int, index_type: str = "auto",
                sample: np.ndarray | None = None, nprobe: int = NPROBE, ef_search: int = EF_SEARCH):
    """An inner-product index over `n` vectors fed as (ids, vectors) blocks, ids in 0..n-1.

    `sample` (rows L2-normalised) trains the index when its type needs training (IVF, PQ, SQ);
    `training_sample` draws one from the same blocks. No more than one block and the sample are
    held in memory at a time.
    """
    desc = factory_string(index_type, n, dim)
    index = new_index(dim, desc)
    need = train_needs(index)
    if need:
        if sample is None or len(sample) < need:
            have = 0 if sample is None else len(sample)
            raise LraError(f"config key index: {desc!r} needs at least {need} training vectors, the train split has {have}; "
                           "use fewer IVF lists, fewer PQ bits, or Flat")
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
    added = 0
    with progress(total=n, desc=f"index {desc}", unit="vectors") as bar:
        for ids, x in batches:
            index.add_with_ids(np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))
            added += len(ids)
            bar.update(len(ids))
    if added != n:
        raise LraError(f"index: {added} vectors added, {n} expected; the feature shards do not match the manifest")
    set_search_params(index, nprobe, ef_search)
    return index


def training_sample(batches: Iterable[tuple[np.ndarray, np.ndarray]], n: int, size: int = TRAIN_SAMPLE,
                    seed: int = 0) -> np.ndarray:
    """A uniform random sample of min(n, size) vectors out of (ids, vectors) blocks (ids 0..n-1)."""
    size = min(n, size)
    chosen = np.zeros(n, dtype=bool)
    chosen[np.random.default_rng(seed).choice(n, size=size, replace=False)] = True
    parts = [x[chosen[ids]] for ids, x in batches]
    return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.empty((0, 0), np.float32)


def set_search_params(index, nprobe: int = NPROBE, ef_search: int = EF_SEARCH) -> None:
    """nprobe of IVF indexes and efSearch of HNSW ones (both persist through write/read_index)."""
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = nprobe
    inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else faiss.downcast_index(index)
    hnsw = getattr(inner, "hnsw", None)
    if hnsw is not None:
        hnsw.efSearch = ef_search


def gpu_available() -> bool:
    """True when this FAISS is a GPU build and sees a CUDA device."""
    try:
        import faiss
    except ImportError:
        return False
    if not hasattr(faiss, "StandardGpuResources") or not hasattr(faiss, "index_cpu_to_gpu"):
        return False
    try:
        return faiss.get_num_gpus() > 0
    except Exception:  # a GPU build without a driver
        return False


_GPU_RESOURCES = None


class MappedIndex:
    """An index searched by row number whose hits are translated to ids (what IndexIDMap does;
    FAISS cannot wrap an already filled GPU index in one)."""

    def __init__(self, index, ids: np.ndarray):
        self.index, self.ids, self.ntotal = index, np.asarray(ids, dtype=np.int64), index.ntotal

    def search(self, queries: np.ndarray, k: int):
        sims, rows = self.index.search(queries, k)
        return sims, np.where(rows >= 0, self.ids[np.maximum(rows, 0)], -1)


def to_device(index, device: str = "auto"):
    """The index on the GPU when asked for (`cuda`, or `auto` and one is there); else unchanged.

    Falls back to the CPU index, with a warning, where FAISS has no GPU version of the type
    (HNSW) or the copy fails; `cuda` without a GPU FAISS is an error.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise LraError(f"config key device: {device!r}; use auto, cpu or cuda")
    if device == "cpu":
        return index
    if not gpu_available():
        if device == "cuda":
            raise LraError("config key device: 'cuda' asked for, but FAISS sees no GPU here "
                           "(install faiss-gpu, envs/gpu.yaml, on a CUDA machine) or use auto")
        log.info("retrieval on CPU: FAISS has no GPU here")
        return index
    import faiss

    global _GPU_RESOURCES
    try:
        if _GPU_RESOURCES is None:  # one per process, kept alive as long as GPU indexes may use it
            _GPU_RESOURCES = faiss.StandardGpuResources()
        if hasattr(index, "id_map"):  # IDMap(Flat...): the inner index to the GPU, ids mapped on the host
            gpu = MappedIndex(faiss.index_cpu_to_gpu(_GPU_RESOURCES, 0, index.index),
                              faiss.vector_to_array(index.id_map))
        else:
            gpu = faiss.index_cpu_to_gpu(_GPU_RESOURCES, 0, index)
    except Exception as exc:  # e.g. HNSW has no GPU implementation
        reason = (str(exc).strip().splitlines() or ["unknown"])[-1]
        log.warning("retrieval on CPU: FAISS cannot move this index to the GPU (%s)", reason)
        return index
    log.info("retrieval on GPU 0")
    return gpu


def search(index, queries: np.ndarray, k: int, batch_size: int = SEARCH_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, ids) of the k best vectors for each query, in bounded-memory batches."""
    n = len(queries)
    sims = np.empty((n, k), np.float32)
    rows = np.empty((n, k), np.int64)
    for start in range(0, n, batch_size):
        q = np.ascontiguousarray(queries[start:start + batch_size], dtype=np.float32)
        sims[start:start + len(q)], rows[start:start + len(q)] = index.search(q, k)
    return sims, rows


def neighbors(index, queries: np.ndarray, k: int, self_rows: np.ndarray | None = None,
              batch_size: int = SEARCH_BATCH):
    """k nearest indexed vectors of each query; `self_rows[i]` (the query's own id, or -1) is excluded.

    Searches k+1 when excluding and drops the query's own id wherever it ranks (ties with exact
    duplicates may put it anywhere), else the last one. An approximate index may return fewer
    than k hits (id -1, similarity -inf) when its probed lists are nearly empty.
    """
    check_k(index, k, self_rows is not None)
    extra = 1 if self_rows is not None else 0
    sims, rows = search(index, queries, k + extra, batch_size)
    if self_rows is None:
        return sims, rows
    is_self = rows == np.asarray(self_rows)[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)  # column to drop per row
    keep = np.ones_like(rows, dtype=bool)
    keep[np.arange(len(rows)), drop] = False
    return sims[keep].reshape(-1, k), rows[keep].reshape(-1, k)


def check_k(index, k: int, exclude_self: bool) -> None:
    if k < 1:
        raise LraError(f"config key knn_k: k must be at least 1, got {k}")
    need = k + (1 if exclude_self else 0)
    if index.ntotal < need:
        raise LraError(f"config key knn_k: k={k} needs at least {need} training items, the index has {index.ntotal}")


def iter_blocks(x: np.ndarray, block: int = 262144) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, rows) blocks of an in-memory matrix, ids = row numbers."""
    for start in range(0, len(x), block):
        yield np.arange(start, min(start + block, len(x))), x[start:start + block]


def build_streamed(blocks, n: int, dim: int, desc: str, nprobe: int = NPROBE, ef_search: int = EF_SEARCH):
    """Build `desc` from `blocks()`, a fresh iterator of (ids, vectors) batches per call: one pass
    for a random training sample when the index type needs training, one pass to add."""
    sample = training_sample(blocks(), n) if train_needs(new_index(dim, desc)) else None
    return build_index(blocks(), n, dim, desc, sample, nprobe, ef_search)


def self_knn(x: np.ndarray, k: int, index_type: str = "auto", device: str = "auto",
             nprobe: int = NPROBE, ef_search: int = EF_SEARCH) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k nearest other rows of `x` (L2-normalised) by cosine similarity: (sims, rows)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, dim = x.shape
    index = build_streamed(lambda: iter_blocks(x), n, dim, factory_string(index_type, n, dim), nprobe, ef_search)
    return neighbors(to_device(index, device), x, k, np.arange(n))


def brute_force_neighbors(x: np.ndarray, queries: np.ndarray, k: int, self_rows=None):
    """Reference exact search by a dense similarity matrix (tests and benchmarks)."""
    s = queries @ x.T
    if self_rows is not None:
        s[np.arange(len(queries)), self_rows] = -np.inf
    rows = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, rows, axis=1), rows


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Recall@k: the share of the exact k neighbours (rows) that `found` also lists."""
    hits = (found[:, :, None] == exact[:, None, :]).any(axis=2).sum()
    return float(hits) / exact.size
