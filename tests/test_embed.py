"""stages.embed: chunked, resumable after a kill, bad-image policy, output contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lra import stages
from lra.data.stage import load_manifest
from lra.core import features
from lra.embed import encoders
from lra.core.errors import LraError
from lra.core.files import read_metadata

from .conftest import TINY_NAME, folder_dataset


@pytest.fixture()
def manifest(tmp_path):
    stages.data({"kind": "bundled", "name": "digits"}, tmp_path / "manifest.parquet")
    return tmp_path / "manifest.parquet"


class Killed(Exception):
    pass


def _count_encode(monkeypatch, kill_after=None):
    """Count encode calls of every encoder; raise Killed at call number kill_after + 1."""
    calls = []
    original = encoders.PixelsEncoder.encode

    def encode(self, frame, skipped=None, **kw):
        if kill_after is not None and len(calls) == kill_after:
            raise Killed()
        calls.append(len(frame))
        return original(self, frame, skipped, **kw)

    monkeypatch.setattr(encoders.PixelsEncoder, "encode", encode)
    return calls


def test_killed_job_resumes_without_recomputing_finished_chunks(manifest, tmp_path, monkeypatch):
    out = tmp_path / "features" / "part-00001.parquet"
    with monkeypatch.context() as mp:
        calls = _count_encode(mp, kill_after=2)
        with pytest.raises(Killed):
            stages.embed(manifest, "pixels:8", out, shard=1, num_shards=2, chunk_rows=200)
    assert calls == [200, 200]
    assert not out.exists()  # nothing that looks finished
    assert sorted(p.name for p in (tmp_path / "features" / "part-00001.parquet.chunks").iterdir()) == [
        "chunk-000000.parquet", "chunk-000001.parquet"]
    calls = _count_encode(monkeypatch)
    stages.embed(manifest, "pixels:8", out, shard=1, num_shards=2, chunk_rows=200)
    assert calls == [200, 200, 98]  # 898 rows = 5 chunks: 2..4 computed, 0 and 1 reused
    assert not (tmp_path / "features" / "part-00001.parquet.chunks").exists()
    # identical to an uninterrupted run
    ref = tmp_path / "ref" / "part-00001.parquet"
    stages.embed(manifest, "pixels:8", ref, shard=1, num_shards=2, chunk_rows=200)
    ids, x = features.read(out, normalize=False)
    ref_ids, y = features.read(ref, normalize=False)
    assert np.array_equal(ids, ref_ids) and np.array_equal(x, y)
    m = load_manifest(manifest)
    assert list(ids) == m.frame["id"].iloc[np.array_split(np.arange(1797), 2)[1]].tolist()


def test_chunks_of_another_encoder_or_manifest_are_recomputed(manifest, tmp_path, monkeypatch):
    out = tmp_path / "part-00000.parquet"
    with monkeypatch.context() as mp:
        _count_encode(mp, kill_after=3)
        with pytest.raises(Killed):
            stages.embed(manifest, "pixels:8", out, chunk_rows=500)
    (out.parent / "part-00000.parquet.chunks" / ".chunk-000003.parquet.tmp-99").write_bytes(b"partial")
    (out.parent / "part-00000.parquet.chunks" / "chunk-000001.parquet").write_bytes(b"garbage")
    calls = _count_encode(monkeypatch)
    stages.embed(manifest, "pixels:6", out, chunk_rows=500)  # another encoder: nothing reusable
    assert calls == [500, 500, 500, 297]
    ids, x = features.read(out)
    assert x.shape == (1797, 3 * 36)


def test_output_contract_and_float16(manifest, tmp_path):
    out = tmp_path / "part-00000.parquet"
    meta = stages.embed(manifest, "pixels:8", out, dtype="float16", chunk_rows=700)
    schema = pq.read_schema(out)
    assert str(schema.field("id").type) == "string"
    assert str(schema.field("embedding").type) == "fixed_size_list<element: halffloat>[192]"
    assert read_metadata(out) == meta and meta["skipped"] == [] and meta["rows"] == 1797
    assert not (tmp_path / "part-00000.skipped.tsv").exists()


def test_bad_image_fail_names_row_and_file(tmp_path):
    csv = folder_dataset(tmp_path / "data", bad={5: b"not an image"})
    stages.data({"kind": "folder", "csv": str(csv)}, tmp_path / "m.parquet")
    with pytest.raises(LraError) as e:
        stages.embed(tmp_path / "m.parquet", "pixels:8", tmp_path / "f" / "part-00000.parquet")
    assert "manifest row 5 (id 00000005)" in str(e.value) and "img/a/5.png" in str(e.value)
    assert "bad_images: skip" in str(e.value)
    assert not (tmp_path / "f" / "part-00000.parquet").exists()


def test_bad_image_skip_writes_the_list(tiny_clip, tmp_path):
    csv = folder_dataset(tmp_path / "data", bad={5: b"", 12: b"\x89PNG\r\n\x1a\n truncated"})
    stages.data({"kind": "folder", "csv": str(csv)}, tmp_path / "m.parquet")
    out = tmp_path / "f" / "part-00000.parquet"
    meta = stages.embed(tmp_path / "m.parquet", f"open_clip:{TINY_NAME}:none", out, chunk_rows=10,
                        bad_images="skip", batch_size=4, num_workers=1)
    ids, x = features.read(out)
    assert len(ids) == 22 and "00000005" not in ids and "00000012" not in ids and x.shape == (22, 16)
    tsv = pd.read_csv(tmp_path / "f" / "part-00000.skipped.tsv", sep="\t", dtype=str)
    assert tsv["id"].tolist() == ["00000005", "00000012"]
    assert tsv["source"].str.endswith(("a/5.png", "b/4.png")).all()
    assert "empty file" in tsv["reason"][0] and "cannot be decoded" in tsv["reason"][1]
    assert features.skipped_ids(out) == {"00000005", "00000012"}
    assert len(meta["skipped"]) == 2


def test_bad_options_are_clear(manifest, tmp_path):
    with pytest.raises(LraError, match="bad_images"):
        stages.embed(manifest, "pixels:8", tmp_path / "p.parquet", bad_images="ignore")
    with pytest.raises(LraError, match="--shard 2"):
        stages.embed(manifest, "pixels:8", tmp_path / "p.parquet", shard=2, num_shards=2)
