"""The index and neighbors stages, and the reader of the neighbour table."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa

from ..core import features
from ..core.errors import LraError
from ..core.files import atomic_path, fixed_size_lists, read_index, read_table, write_table
from ..core.progress import progress
from ..data.stage import load_manifest
from . import knn

log = logging.getLogger("lra")


def index(manifest, feature_paths: list[str], out, index_type: str = "auto") -> None:
    """Train-split features → a FAISS inner-product index; vector ids = positions among train rows.

    Reads the shards batch by batch (twice when the index type needs training: once for a
    random training sample, once to add), never holding all features in memory.
    """
    import faiss

    m = load_manifest(manifest, feature_paths)
    train_ids = m.frame.loc[m.frame["split"] == "train", "id"].to_numpy(str)
    target = features.stored_positions(feature_paths, train_ids)
    n, dim = len(train_ids), features.dim(feature_paths)
    desc = knn.factory_string(index_type, n, dim)
    idx = knn.build_streamed(lambda: features.iter_wanted(feature_paths, target), n, dim, desc)
    log.info("index %s over %d train items, dim %d", desc, idx.ntotal, dim)
    with atomic_path(out) as tmp:
        faiss.write_index(idx, str(tmp))


def neighbors(manifest, feature_paths: list[str], index_path, k: int, out, device: str = "auto") -> None:
    """Every item's k nearest train items (a train item never lists itself) → neighbours table.

    Queries stream shard by shard; only the (N, k) result is held, never all features.
    """
    m = load_manifest(manifest, feature_paths)
    ids = m.frame["id"].to_numpy(str)
    is_train = m.frame["split"].to_numpy() == "train"
    train_ids = ids[is_train]
    idx = read_index(index_path)
    if idx.ntotal != len(train_ids):
        raise LraError(f"{index_path}: index holds {idx.ntotal} items, manifest has {len(train_ids)} train items; rebuild the index")
    knn.check_k(idx, k, exclude_self=True)
    idx = knn.to_device(idx, device)
    self_pos = np.full(len(ids), -1, dtype=np.int64)
    self_pos[is_train] = np.arange(len(train_ids))
    sims = np.full((len(ids), k), np.nan, np.float32)
    rows = np.full((len(ids), k), -1, np.int64)
    target = features.stored_positions(feature_paths, ids)  # each id maps to exactly one stored row
    with progress(total=len(ids), desc=f"neighbors k={k}", unit="items") as bar:
        for t, x in features.iter_wanted(feature_paths, target, batch_size=knn.SEARCH_BATCH):
            sims[t], rows[t] = knn.neighbors(idx, x, k, self_pos[t])
            bar.update(len(t))
    if (rows < 0).any():
        bad = int(np.flatnonzero((rows < 0).any(axis=1))[0])
        raise LraError(f"{index_path}: the index found fewer than {k} neighbours for item {ids[bad]!r}; "
                       "an approximate index needs more nprobe or fewer lists (config key index), or use Flat")
    table = pa.table({
        "id": pa.array(ids),
        "neighbors": fixed_size_lists(train_ids[rows], k),
        "similarities": fixed_size_lists(sims, k),
    })
    write_table(table, out, metadata={"k": k})


def load_neighbors(path, ids) -> np.ndarray:
    """The (len(ids), k) neighbour id matrix for `ids`."""
    return _columns(path, ids, {"neighbors": str})[0]


def neighbor_rows(path, ids, train_ids) -> np.ndarray:
    """The (len(ids), k) neighbours of `ids` as positions among `train_ids`."""
    return _positions(load_neighbors(path, ids), train_ids, path)


def neighbor_rows_and_similarities(path, ids, train_ids) -> tuple[np.ndarray, np.ndarray]:
    """`neighbor_rows` and the (len(ids), k) cosine similarities to those neighbours, nearest first,
    from one read of the table."""
    nb, sims = _columns(path, ids, {"neighbors": str, "similarities": np.float32})
    return _positions(nb, train_ids, path), sims


def _positions(nb: np.ndarray, train_ids, path) -> np.ndarray:
    return features.align(np.asarray(train_ids, str), nb.reshape(-1), path).reshape(nb.shape)


def _columns(path, ids, dtypes: dict) -> list[np.ndarray]:
    """The neighbour table's fixed-size list columns `dtypes` (name → dtype), each as a
    (len(ids), k) matrix with rows as `ids`; the table read (and its page checksums checked) once."""
    t = read_table(path, required=["id", *dtypes], what="the neighbour table")
    rows = features.align(np.asarray(t.column("id").to_pylist(), dtype=str), np.asarray(ids, str), path)
    out = []
    for name, dtype in dtypes.items():
        col = t.column(name).combine_chunks()
        values = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=dtype)
        out.append(values.reshape(-1, col.type.list_size)[rows])
    return out
