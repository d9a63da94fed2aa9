"""Feature shards in Parquet: an `id` column and one `embedding` fixed-size-list column.

One fixed-size list column converts to a numpy matrix without copying and is far smaller and
faster to write than one column per dimension. Readers also accept a plain list column (user
files) and stream shards so no more than one shard's raw table is held at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from .errors import LraError
from .files import iter_parquet, parquet_file, read_metadata, read_schema, read_table, write_table

# Feature files are embed outputs, or for dataset.kind embeddings the user's own file.
WHAT = "the feature file"
FIX = "delete it so Snakemake rebuilds it (a file of yours, dataset.path: copy it again)"


def to_table(ids, x: np.ndarray, dtype: str = "float32") -> pa.Table:
    """An (id, embedding) table; `dtype` float16 halves the size of large feature sets."""
    x = np.ascontiguousarray(x, dtype=dtype)
    values = pa.array(x.reshape(-1))
    emb = pa.FixedSizeListArray.from_arrays(values, x.shape[1])
    return pa.table({"id": pa.array(list(ids), pa.string()), "embedding": emb})


def write(ids, x: np.ndarray, path, dtype: str = "float32", meta: dict | None = None) -> None:
    write_table(to_table(ids, x, dtype), path, metadata=meta)


def embedding_matrix(column, path="<table>", offset: int = 0) -> np.ndarray:
    """A (rows, dim) float32 matrix from a fixed-size or variable list column."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.null_count:
        row = offset + int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise LraError(f"{path} row {row}: embedding is missing (null)")
    if pa.types.is_fixed_size_list(column.type):
        dim = column.type.list_size
        flat = column.flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(len(column), dim).astype(np.float32, copy=False)
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        lengths = np.diff(column.offsets.to_numpy())
        if len(lengths) and (lengths != lengths[0]).any():
            row = offset + int(np.flatnonzero(lengths != lengths[0])[0])
            raise LraError(
                f"{path} row {row}: embedding has {lengths[row - offset]} values, row {offset} has "
                f"{lengths[0]}; every embedding needs the same length"
            )
        flat = column.flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(len(column), int(lengths[0]) if len(lengths) else 0).astype(np.float32, copy=False)
    raise LraError(f"{path}: column 'embedding' has type {column.type}; expected a list of floats")


def read(paths, ids=None, normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Read (ids, features) from shards, in the order of `ids` when given.

    Features come back float32 and, with `normalize`, L2-normalised: cosine similarity is the
    metric of retrieval and the scale the denoiser is conditioned on.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    all_ids, blocks = [], []
    for path in paths:
        for batch in iter_parquet(path, WHAT, ["id", "embedding"], 65536, FIX):
            all_ids.append(np.asarray(batch.column(0).to_pylist(), dtype=object).astype(str))
            blocks.append(embedding_matrix(batch.column(1), path))
    found = np.concatenate(all_ids) if all_ids else np.empty(0, dtype=str)
    x = np.concatenate(blocks) if blocks else np.empty((0, 0), np.float32)
    if ids is not None:
        x = x[align(found, np.asarray(ids).astype(str), paths)]
        found = np.asarray(ids).astype(str)
    if normalize:
        x = l2_normalize(x)
    return found, x


def align(found: np.ndarray, wanted: np.ndarray, where) -> np.ndarray:
    """Row positions in `found` of each id in `wanted`; fails naming the first missing id."""
    order = np.argsort(found, kind="stable")
    pos = np.searchsorted(found, wanted, sorter=order)
    pos = np.minimum(pos, len(found) - 1)
    rows = order[pos] if len(found) else np.zeros(len(wanted), dtype=int)
    ok = found[rows] == wanted if len(found) else np.zeros(len(wanted), bool)
    if not ok.all():
        missing = str(wanted[~ok][0])
        where = ", ".join(map(str, where)) if isinstance(where, (list, tuple)) else where
        raise LraError(f"{where}: no row for id {missing!r} ({int((~ok).sum())} ids missing)")
    return rows


def skipped_ids(paths) -> set[str]:
    """Ids the embed stage left out of these shards (unreadable images under bad_images: skip)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return {s["id"] for path in paths for s in read_metadata(path, WHAT, FIX).get("skipped", [])}


def encoder_info(paths) -> dict | None:
    """What made these shards, so `lra infer` can embed new images the same way: the encoder spec,
    its result-changing options, its fitted state (pixels: the train mean/std) and the storage
    dtype. None for a user's embeddings file (no encoder)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    meta = read_metadata(paths[0], WHAT, FIX) if paths else {}
    if "encoder" not in meta:
        return None
    return {"spec": meta["encoder"], "options": meta.get("options", {}), "state": meta.get("encoder_state", {}),
            "dtype": stored_dtype(paths)}


def l2_normalize(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32, copy=False)


# --- streaming and compact readers (large feature sets) ----------------------------------------

def read_ids(paths) -> list[np.ndarray]:
    """The id column of each shard (one array per path), without reading any embedding."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return [np.asarray(read_table(p, ["id"], what=WHAT, fix=FIX).column(0).to_pylist(), dtype=object).astype(str)
            for p in paths]


def iter_batches(paths, batch_size: int = 65536, normalize: bool = True, dtype=np.float32):
    """Yield (ids, features) blocks shard by shard, batch by batch: at most one batch in memory.

    Features come as `dtype` (float32 by default) and, with `normalize`, L2-normalised in float32
    before any down-cast, so a float16 block is the rounding of what `read` returns.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    for path in paths:
        offset = 0
        for batch in iter_parquet(path, WHAT, ["id", "embedding"], batch_size, FIX):
            ids = np.asarray(batch.column(0).to_pylist(), dtype=object).astype(str)
            x = embedding_matrix(batch.column(1), path, offset)
            offset += len(ids)
            if normalize:
                x = l2_normalize(x)
            yield ids, x.astype(dtype, copy=False)


def stored_positions(paths, wanted, found=None) -> np.ndarray:
    """For every stored row, in file order, its position in `wanted` (-1: not asked for); every
    wanted id must be stored. `found` (the concatenated id columns) saves re-reading them."""
    if found is None:
        found = np.concatenate(read_ids(paths) or [np.empty(0, dtype=str)])
    wanted = np.asarray(wanted).astype(str)
    target = np.full(len(found), -1, dtype=np.int64)
    target[align(found, wanted, paths)] = np.arange(len(wanted))
    return target


def iter_wanted(paths, target: np.ndarray, batch_size: int = 65536, normalize: bool = True):
    """Yield (positions in `wanted`, features) of the wanted rows, batch by batch in file order,
    for a `target` from `stored_positions`."""
    start = 0
    for block_ids, x in iter_batches(paths, batch_size, normalize):
        t = target[start:start + len(block_ids)]
        start += len(block_ids)
        keep = t >= 0
        if keep.any():
            yield t[keep], x[keep]


def read_compact(paths, ids=None, dtype: str = "float16", normalize: bool = True,
                 mmap_path=None, batch_size: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Like `read`, but fills one preallocated (N, D) `dtype` matrix batch by batch.

    Peak memory is the result plus one batch (`read` holds every block in float32 and then a
    reordered copy). With `mmap_path` the matrix is a `.npy` memory map on disk instead
    (np.load(mmap_path, mmap_mode="r") reopens it), so the page cache, not the process, holds it.
    Rows follow `ids` when given (every id must be present), else file order.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found = np.concatenate(read_ids(paths) or [np.empty(0, dtype=str)])
    wanted = found if ids is None else np.asarray(ids).astype(str)
    target = stored_positions(paths, wanted, found)
    width = dim(paths)
    if mmap_path is not None:
        Path(mmap_path).parent.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(mmap_path, mode="w+", dtype=dtype, shape=(len(wanted), width))
    else:
        out = np.empty((len(wanted), width), dtype=dtype)
    for t, x in iter_wanted(paths, target, batch_size, normalize):
        out[t] = x
    if mmap_path is not None:
        out.flush()
    return wanted, out


def stored_dtype(paths) -> str:
    """float16 when the shards store half precision (embed.dtype: float16), else float32."""
    for path in paths:
        t = read_schema(path, WHAT, FIX).field("embedding").type
        return "float16" if pa.types.is_float16(t.value_type) else "float32"
    return "float32"


def load(paths, ids) -> np.ndarray:
    """The L2-normalised features of `ids`, in the precision they are stored in (float16 shards
    stay float16: 1M×768 is 1.5 GB, not 3), filled batch by batch into one matrix."""
    return read_compact(paths, ids, dtype=stored_dtype(paths))[1]


def dim(paths) -> int:
    """Embedding length from the first non-empty shard (0 when all are empty)."""
    for path in paths:
        if parquet_file(path, WHAT, FIX).metadata.num_rows:
            first = next(iter_parquet(path, WHAT, ["embedding"], 1, FIX))
            return embedding_matrix(first.column(0), path).shape[1]
    return 0
