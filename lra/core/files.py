"""Atomic file output and checked input.

Every stage writes to a temporary name beside the target and renames it into place, so an
interrupted or failed job never leaves a file that looks finished.

Every file a stage reads (the user's or an earlier stage's) goes through one of the checked
readers below: a missing, empty, truncated or foreign file, or one whose bytes were damaged
after it was written, becomes one `LraError` line naming the file, what is wrong with it and how
to fix it, never a library traceback. Damage can surface late (a Parquet page read long after the
file opened), so the reading is guarded, not just the opening. Parquet files we write carry page
checksums, so damage inside them is caught rather than read as numbers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import LraError

# How to fix a damaged file, by who wrote it.
OUTPUT_FIX = "delete it so Snakemake rebuilds it (or rerun the lra stage that wrote it)"
INPUT_FIX = "re-create it or copy it again (an interrupted copy or a full disk leaves a truncated file)"


class DamagedFile(LraError):
    """A file that exists but cannot be read as what it should be."""

    def __init__(self, path, what: str, problem: str, reason: str, fix: str = OUTPUT_FIX):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {what} {problem} ({reason}); {fix}")


def fixed_size_lists(values, width: int) -> pa.FixedSizeListArray:
    """A numpy array of rows of `width` values as one Arrow list column. pyarrow converts a large
    numpy string array (from ~5 million ids: a million items' neighbour lists) in chunks, which
    `FixedSizeListArray.from_arrays` does not take: they are joined first."""
    flat = pa.array(values.reshape(-1))
    if isinstance(flat, pa.ChunkedArray):
        flat = flat.combine_chunks()
    return pa.FixedSizeListArray.from_arrays(flat, width)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_table(table: pa.Table, path, metadata: dict | None = None) -> None:
    """Write a Parquet file atomically; `metadata` is stored as JSON under the key b"lra"."""
    if metadata is not None:
        meta = dict(table.schema.metadata or {})
        meta[b"lra"] = json.dumps(metadata).encode()
        table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, write_page_checksum=True)


def write_frame(df, path, metadata: dict | None = None) -> None:
    write_table(pa.Table.from_pandas(df, preserve_index=False), path, metadata)


def write_json(obj, path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


# --- checked readers ------------------------------------------------------------------------

def short_reason(exc: BaseException | str) -> str:
    """One short line out of a library's error: its first sentence, without C++ source locations."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"^Error in .*? at \S+:\d+: (Error: '.*?' failed: )?", "", text)
    text = text.split(". ")[0].rstrip(".")
    return text if len(text) <= 160 else text[:157] + "..."


def check_file(path, what: str = "the file", fix: str = OUTPUT_FIX) -> Path:
    """`path` as a Path; an LraError when it is missing or empty (0 bytes)."""
    path = Path(path)
    if not path.exists():
        raise LraError(f"{path}: {what} not found")
    if path.is_file() and path.stat().st_size == 0:
        raise DamagedFile(path, what, "is an empty file", "0 bytes", fix)
    return path


@contextlib.contextmanager
def reading(path, what: str, kind: str, fix: str = OUTPUT_FIX) -> Iterator[None]:
    """Turn any failure of the reading inside the block into one `DamagedFile` line.

    Keep the block to library read calls: whatever fails in it is blamed on the file.
    """
    try:
        yield
    except LraError:
        raise
    except FileNotFoundError:
        raise LraError(f"{path}: {what} not found") from None
    except Exception as exc:  # readers raise many types for damaged input (ArrowInvalid, OSError, ...)
        raise DamagedFile(path, what, f"is not a readable {kind} file", short_reason(exc), fix) from None


def parquet_file(path, what: str = "the file", fix: str = OUTPUT_FIX) -> pq.ParquetFile:
    """An open Parquet file (pages checked against their checksums when they have them)."""
    path = check_file(path, what, fix)
    with reading(path, what, "Parquet", fix):
        return pq.ParquetFile(path, page_checksum_verification=True)


def iter_parquet(path, what: str = "the file", columns: list[str] | None = None, batch_size: int = 65536,
                 fix: str = OUTPUT_FIX) -> Iterator[pa.RecordBatch]:
    """Record batches of a Parquet file, each read under the damage check."""
    f = parquet_file(path, what, fix)
    with reading(path, what, "Parquet", fix):
        batches = f.iter_batches(columns=columns, batch_size=batch_size)
    while True:
        with reading(path, what, "Parquet", fix):
            batch = next(batches, None)
        if batch is None:
            return
        yield batch


def read_schema(path, what: str = "the file", fix: str = OUTPUT_FIX) -> pa.Schema:
    return parquet_file(path, what, fix).schema_arrow


def read_metadata(path, what: str = "the file", fix: str = OUTPUT_FIX) -> dict:
    """The JSON stored by `write_table(..., metadata=)`, or {} when there is none."""
    meta = read_schema(path, what, fix).metadata or {}
    if b"lra" not in meta:
        return {}
    with reading(path, what, "lra Parquet", fix):
        return json.loads(meta[b"lra"])


def read_table(path, columns: list[str] | None = None, required: list[str] = (), what: str = "the file",
               fix: str = OUTPUT_FIX, filters=None) -> pa.Table:
    """Read Parquet, failing with one clear message on a missing, damaged or foreign file or a
    missing column. With `filters` (a pyarrow expression) only the matching rows are kept, the
    file scanned batch by batch."""
    f = parquet_file(path, what, fix)
    _require(path, f.schema_arrow.names, required)
    with reading(path, what, "Parquet", fix):
        if filters is None:
            return f.read(columns=columns)
        return pq.read_table(path, columns=columns, filters=filters, page_checksum_verification=True)


def read_head(path, n: int, columns: list[str] | None = None, required: list[str] = (), what: str = "the file",
              fix: str = OUTPUT_FIX) -> pa.Table:
    """The first `n` rows of a Parquet file (fewer when it is shorter): one decoded batch, never
    the whole file."""
    schema = read_schema(path, what, fix)
    _require(path, schema.names, required)
    head = next(iter_parquet(path, what, columns, batch_size=n, fix=fix), None)
    return pa.Table.from_batches([head]) if head is not None else schema.empty_table().select(columns or schema.names)


def _require(path, names: list[str], required) -> None:
    missing = [c for c in required if c not in names]
    if missing:
        raise LraError(f"{path}: missing column(s) {', '.join(missing)}; it has {', '.join(names)}")


def read_csv(path, what: str = "the file", fix: str = INPUT_FIX, **options):
    """pandas.read_csv with the damage check: binary data, undecodable text, ragged rows, or a
    last line cut short (a truncated copy) are one clear error."""
    import pandas as pd

    path = check_file(path, what, fix)
    with open(path, "rb") as f:
        head = f.read(8192)
    if b"\0" in head:
        raise DamagedFile(path, what, "is not a text CSV file", "it holds binary data", fix)
    with reading(path, what, "CSV", fix):
        df = pd.read_csv(path, **options)
    _check_last_line(path, what, df, options.get("sep", ","), fix)
    return df


def _check_last_line(path: Path, what: str, df, sep: str, fix: str) -> None:
    """A file cut short ends without a newline: in a row with fewer fields than the header, or
    in the header itself."""
    import csv

    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 65536))
        tail = f.read()
    if tail.endswith((b"\n", b"\r")):
        return
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    fields = len(next(csv.reader([last], delimiter=sep), []))
    if len(df) == 0:
        reason = "a header and no row, without a final newline: the file looks truncated"
    elif fields < len(df.columns):
        reason = f"{fields} of {len(df.columns)} fields and no final newline: the file looks truncated"
    else:
        return
    raise DamagedFile(path, what, "ends in an incomplete row", reason, fix)


def read_json(path, what: str = "the file", fix: str = OUTPUT_FIX) -> dict:
    path = check_file(path, what, fix)
    with reading(path, what, "JSON", fix):
        return json.loads(path.read_text())


def read_index(path, what: str = "the FAISS index", fix: str = OUTPUT_FIX):
    """A FAISS index from disk."""
    import faiss

    path = check_file(path, what, fix)
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        text = str(exc)
        if "not recognized" in text:
            reason = "unknown index type: not a FAISS index"
        elif "read error" in text:
            reason = "the file ends early: truncated"
        else:
            reason = short_reason(exc)
        raise DamagedFile(path, what, "is not a readable FAISS index file", reason, fix) from None


ZIP_MAGIC = b"PK\x03\x04"


def load_torch(path, what: str = "the file", fix: str = OUTPUT_FIX, weights_only: bool = True):
    """torch.load on the CPU. Damage is a `DamagedFile` (an LraError): a stage stops with it; for
    a scratch file such as a training checkpoint, catch it, log it and start afresh.
    `weights_only` (the default) loads tensors and plain containers without running pickled code."""
    import torch

    path = check_file(path, what, fix)
    with open(path, "rb") as f:
        head = f.read(4)
    if head != ZIP_MAGIC and not head.startswith(b"\x80"):  # torch.save writes a zip (or a legacy pickle)
        raise DamagedFile(path, what, "is not a readable PyTorch file", "no zip or pickle header", fix)
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # zip, unpickling and storage errors of many types
        weights = "Weights only load failed" in str(exc)  # an intact file holding objects we refuse to unpickle
        reason = short_reason(exc) if weights or head != ZIP_MAGIC else "truncated or damaged zip archive"
        raise DamagedFile(path, what, "is not a readable PyTorch file", reason, fix) from None


def load_npy(path, what: str = "the file", fix: str = INPUT_FIX):
    """A numpy array from a .npy file (no pickled objects)."""
    import numpy as np

    path = check_file(path, what, fix)
    with open(path, "rb") as f:
        head = f.read(6)
    if head != b"\x93NUMPY" and head[:4] != ZIP_MAGIC:
        raise DamagedFile(path, what, "is not a readable .npy file", "no .npy header", fix)
    with reading(path, what, ".npy", fix):
        array = np.load(path, allow_pickle=False)
    if not isinstance(array, np.ndarray):  # an .npz archive
        raise DamagedFile(path, what, "is not a .npy array file", "it is an .npz archive", fix)
    return array
