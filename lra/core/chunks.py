"""A stage output written in row chunks, so a killed job's rerun redoes only unfinished chunks.

Chunk i goes atomically to `<out>.chunks/chunk-<i>.parquet` with a key in its metadata: a digest
of everything its rows depend on. A rerun reuses a chunk only under the same key (a damaged or
stale one is recomputed), then streams the chunks into `out` (renamed into place when complete)
and removes the folder. The folder is not a declared Snakemake output, so it outlives a failed
job. The embed stage (feature shards, cast to their storage dtype) and predict both use them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .files import atomic_path, read_metadata, read_schema, read_table, write_table


def digest(*parts) -> str:
    """A short hex digest of JSON-able values and numpy arrays (dtype, shape and bytes)."""
    h = hashlib.blake2b(digest_size=12)
    for p in parts:
        if isinstance(p, np.ndarray):
            p = np.ascontiguousarray(p)
            h.update(f"{p.dtype.str}{p.shape}".encode())
            h.update(memoryview(p).cast("B") if p.dtype != object else json.dumps(p.tolist()).encode())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()


def file_digest(path) -> str:
    h = hashlib.blake2b(digest_size=12)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Chunks:
    """The chunk files of `out`, one per key."""

    def __init__(self, out, keys: list[str]):
        self.out = Path(out)
        self.dir = self.out.with_name(self.out.name + ".chunks")
        self.keys = keys
        self.paths = [self.dir / f"chunk-{i:06d}.parquet" for i in range(len(keys))]
        for stale in self.dir.glob(".chunk-*.tmp-*"):  # partial writes of a killed job
            stale.unlink(missing_ok=True)

    def todo(self) -> list[int]:
        """Chunks without a finished file of their key."""
        return [i for i in range(len(self.keys)) if not self._done(i)]

    def _done(self, i: int) -> bool:
        if not self.paths[i].exists():
            return False
        try:
            if read_metadata(self.paths[i]).get("key") != self.keys[i]:
                return False
            read_table(self.paths[i])  # every page against its checksum
            return True
        except Exception:  # a damaged file is recomputed, not trusted
            return False

    def write(self, i: int, table: pa.Table, meta: dict | None = None) -> None:
        """Chunk i, keyed; `meta`: more of the chunk's own metadata (`metadata()` reads it back)."""
        write_table(table, self.paths[i], metadata={"key": self.keys[i], **(meta or {})})

    def metadata(self) -> list[dict]:
        """Each chunk's metadata, in order."""
        return [read_metadata(p) for p in self.paths]

    def assemble(self, metadata: dict, schema: pa.Schema | None = None) -> None:
        """Stream the chunks, in order, into `out` with `metadata` (one chunk in memory at a time);
        with `schema`, each chunk is cast to it (e.g. float32 chunks into float16 storage)."""
        cast = schema is not None
        if schema is None:
            schema = read_schema(self.paths[0]) if self.paths else pa.schema([])
        schema = schema.remove_metadata().with_metadata({b"lra": json.dumps(metadata).encode()})
        with atomic_path(self.out) as tmp, pq.ParquetWriter(tmp, schema, write_page_checksum=True) as writer:
            for p in self.paths:
                table = read_table(p).replace_schema_metadata(None)
                writer.write_table((table.cast(schema.remove_metadata()) if cast else table)
                                   .replace_schema_metadata(schema.metadata))

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
