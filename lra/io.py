"""Atomic file output and checked Parquet/JSON input.

Every stage writes to a temporary name beside the target and renames it into place, so an
interrupted or failed job never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import LraError


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
        pq.write_table(table, tmp)


def write_frame(df, path, metadata: dict | None = None) -> None:
    write_table(pa.Table.from_pandas(df, preserve_index=False), path, metadata)


def read_metadata(path) -> dict:
    """The JSON stored by `write_table(..., metadata=)`, or {} when there is none."""
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[b"lra"]) if b"lra" in meta else {}


def read_table(path, columns: list[str] | None = None, required: list[str] = (), filters=None) -> pa.Table:
    """Read Parquet, failing with one clear message on a missing file or column. With `filters` (a
    pyarrow expression) only the matching rows are kept, the file scanned batch by batch."""
    columns_of(path, required)
    return pq.read_table(path, columns=columns, filters=filters)


def read_head(path, n: int, columns: list[str] | None = None, required: list[str] = ()) -> pa.Table:
    """The first `n` rows of a Parquet file, decoded one batch at a time, never the whole file."""
    columns_of(path, required)
    pf = pq.ParquetFile(path)
    batches = pf.iter_batches(batch_size=n, columns=columns)
    head = next(batches, None)
    if head is None:  # no rows
        return pf.schema_arrow.empty_table().select(columns or pf.schema_arrow.names)
    return pa.Table.from_batches([head])


def columns_of(path, required=()) -> list[str]:
    """The column names of a Parquet file, failing clearly when it is missing, unreadable or
    lacks a `required` column."""
    path = Path(path)
    if not path.exists():
        raise LraError(f"{path}: file not found")
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for non-Parquet input
        raise LraError(f"{path}: not a readable Parquet file ({exc})") from None
    missing = [c for c in required if c not in schema.names]
    if missing:
        raise LraError(
            f"{path}: missing column(s) {', '.join(missing)}; it has {', '.join(schema.names)}"
        )
    return schema.names


def write_json(obj, path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path) -> dict:
    path = Path(path)
    if not path.exists():
        raise LraError(f"{path}: file not found")
    return json.loads(path.read_text())
