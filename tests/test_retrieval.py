"""Retrieval at scale: every index type against exact search, self-exclusion, streaming stages, GPU fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lra import stages
from lra.core import features
from lra.core.files import write_frame
from lra.retrieval import knn as retrieval
from lra.core.errors import LraError


def clustered(n=6000, dim=32, clusters=40, spread=0.35, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim))
    x = centers[rng.integers(0, clusters, n)] + spread * rng.normal(size=(n, dim))
    return features.l2_normalize(x.astype(np.float32))


@pytest.fixture(scope="module")
def data():
    x = clustered()
    _, exact = retrieval.brute_force_neighbors(x, x, 10, np.arange(len(x)))
    return x, exact


@pytest.mark.parametrize("index_type, min_recall", [
    ("Flat", 1.0), ("IVF64,Flat", 0.97), ("IVF64,SQ8", 0.85), ("HNSW32", 0.95), ("IVF64,PQ8", 0.15),
])
def test_index_types_recall_against_exact(data, index_type, min_recall):
    x, exact = data
    sims, rows = retrieval.self_knn(x, 10, index_type)
    assert rows.shape == (len(x), 10)
    assert retrieval.recall(rows, exact) >= min_recall
    assert not (rows == np.arange(len(x))[:, None]).any(), "an item never lists itself"
    assert (np.diff(sims, axis=1) <= 1e-6).all(), "best first"


def test_flat_is_exact_with_self_exclusion(data):
    x, exact = data
    sims, rows = retrieval.self_knn(x, 10, "Flat")
    exact_sims = np.take_along_axis(x @ x.T, exact, axis=1)
    np.testing.assert_allclose(sims, exact_sims, atol=1e-5)
    assert retrieval.recall(rows, exact) == 1.0


def test_self_excluded_among_exact_duplicates():
    x = features.l2_normalize(np.repeat(np.eye(4, dtype=np.float32), 3, axis=0))  # 4 groups of 3 equal rows
    _, rows = retrieval.self_knn(x, 2, "Flat")
    assert not (rows == np.arange(12)[:, None]).any()
    assert (rows // 3 == np.arange(12)[:, None] // 3).all(), "the two duplicates of each row"


def test_auto_chooses_by_size():
    assert retrieval.factory_string("auto", 1000, 512) == "Flat"
    assert retrieval.factory_string("auto", retrieval.EXACT_UP_TO, 768) == "Flat"
    assert retrieval.factory_string("auto", 1_000_000, 768) == "IVF4096,Flat"
    assert retrieval.factory_string("auto", 100_000_000, 768) == "IVF32768,SQ8"  # 307 GB float32 → 1 byte/dim
    assert retrieval.factory_string("HNSW32", 10, 8) == "HNSW32"


def test_bad_index_types_fail_clearly(data):
    x, _ = data
    with pytest.raises(LraError, match="config key index.*Bogus"):
        retrieval.self_knn(x, 5, "Bogus")
    with pytest.raises(LraError, match="config key index.*PQ7"):
        retrieval.self_knn(x, 5, "IVF16,PQ7")  # 7 does not divide 32
    with pytest.raises(LraError, match="needs at least 256 training vectors"):
        retrieval.self_knn(x[:100], 5, "IVF256,Flat")
    with pytest.raises(LraError, match="knn_k"):
        retrieval.self_knn(x[:5], 5, "Flat")


def test_search_batches_equal_one_batch(data):
    x, _ = data
    index = retrieval.build_index(retrieval.iter_blocks(x, 1000), len(x), x.shape[1], "Flat")
    one = retrieval.neighbors(index, x, 5, np.arange(len(x)), batch_size=len(x))
    many = retrieval.neighbors(index, x, 5, np.arange(len(x)), batch_size=333)
    np.testing.assert_array_equal(one[1], many[1])


def test_ids_follow_positions_not_insertion_order(data):
    x, _ = data
    order = np.random.default_rng(1).permutation(len(x))
    blocks = [(order[i:i + 500], x[order[i:i + 500]]) for i in range(0, len(x), 500)]
    for desc in ("Flat", "IVF32,Flat"):
        sample = retrieval.training_sample(blocks, len(x)) if desc != "Flat" else None
        index = retrieval.build_index(blocks, len(x), x.shape[1], desc, sample)
        _, rows = retrieval.neighbors(index, x[:50], 1)
        assert (rows[:, 0] == np.arange(50)).all(), desc


# --- devices ------------------------------------------------------------------------------------

def test_cpu_fallback_without_gpu(monkeypatch, data):
    x, _ = data
    monkeypatch.setattr(retrieval, "gpu_available", lambda: False)
    index = retrieval.build_index(retrieval.iter_blocks(x), len(x), x.shape[1], "Flat")
    assert retrieval.to_device(index, "auto") is index
    assert retrieval.to_device(index, "cpu") is index
    with pytest.raises(LraError, match="cuda"):
        retrieval.to_device(index, "cuda")
    _, rows = retrieval.self_knn(x, 3, "Flat", device="auto")
    assert rows.shape == (len(x), 3)


def test_gpu_copy_failure_falls_back_to_cpu(monkeypatch, data):
    import faiss

    x, _ = data
    index = retrieval.build_index(retrieval.iter_blocks(x), len(x), x.shape[1], "Flat")

    def no_gpu_version(*_):
        raise RuntimeError("Error: this index type has no GPU implementation")

    monkeypatch.setattr(retrieval, "gpu_available", lambda: True)
    monkeypatch.setattr(retrieval, "_GPU_RESOURCES", None)
    monkeypatch.setattr(faiss, "StandardGpuResources", lambda: object(), raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", no_gpu_version, raising=False)
    assert retrieval.to_device(index, "auto") is index
    assert retrieval.to_device(index, "cuda") is index


@pytest.mark.parametrize("desc", ["Flat", "IVF32,Flat"])
def test_gpu_path_keeps_ids(monkeypatch, data, desc):
    """The GPU code path with a stand-in copy (a CPU clone): same neighbours, ids mapped."""
    import faiss

    x, _ = data
    order = np.random.default_rng(3).permutation(len(x))
    blocks = [(order, x[order])]
    sample = retrieval.training_sample(blocks, len(x)) if desc != "Flat" else None
    index = retrieval.build_index(blocks, len(x), x.shape[1], desc, sample)
    copies = []

    def clone_as_if_gpu(_res, _dev, cpu_index):
        copies.append(cpu_index)
        return faiss.clone_index(cpu_index)

    monkeypatch.setattr(retrieval, "gpu_available", lambda: True)
    monkeypatch.setattr(retrieval, "_GPU_RESOURCES", None)
    monkeypatch.setattr(faiss, "StandardGpuResources", lambda: object(), raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", clone_as_if_gpu, raising=False)
    moved = retrieval.to_device(index, "cuda")
    assert moved is not index and len(copies) == 1
    np.testing.assert_array_equal(retrieval.neighbors(moved, x[:200], 5, np.arange(200))[1],
                                  retrieval.neighbors(index, x[:200], 5, np.arange(200))[1])


def test_gpu_available_is_false_on_cpu_faiss():
    import faiss

    if hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        pytest.skip("a GPU FAISS with a GPU is present")
    assert retrieval.gpu_available() is False


# --- stages: shards streamed, shards out of manifest order ----------------------------------------

def write_dataset(tmp_path, x, shards, shuffle_rows=False):
    n = len(x)
    split = np.array(["train", "val", "test"])[np.random.default_rng(0).choice(3, n, p=[0.7, 0.1, 0.2])]
    frame = pd.DataFrame({"id": [f"item-{i:05d}" for i in range(n)], "split": split,
                          "source": "synthetic", "label": np.zeros(n, np.int64),
                          "clean_label": pd.array(np.zeros(n, np.int64), dtype="Int64")})
    write_frame(frame, tmp_path / "manifest.parquet", metadata={"kind": "embeddings", "name": "t", "classes": ["a"]})
    rows = np.random.default_rng(2).permutation(n) if shuffle_rows else np.arange(n)
    paths = []
    for i, block in enumerate(np.array_split(rows, shards)):
        paths.append(str(tmp_path / f"part-{i:05d}.parquet"))
        features.write(frame["id"].to_numpy()[block], x[block] * 3.0, paths[-1])  # unnormalised on disk
    return frame, paths


@pytest.mark.parametrize("shuffle_rows", [False, True])
def test_index_and_neighbors_stages_stream_shards(tmp_path, data, shuffle_rows):
    x, _ = data
    frame, paths = write_dataset(tmp_path, x, shards=4, shuffle_rows=shuffle_rows)
    stages.index(tmp_path / "manifest.parquet", paths, tmp_path / "index.faiss", "Flat")
    stages.neighbors(tmp_path / "manifest.parquet", paths, tmp_path / "index.faiss", 5, tmp_path / "k5.parquet")

    train = (frame["split"] == "train").to_numpy()
    self_rows = np.full(len(x), -1)
    self_rows[train] = np.arange(train.sum())
    exact_sims, exact_rows = retrieval.brute_force_neighbors(x[train], x, 5, None)
    masked = x @ x[train].T
    masked[np.arange(len(x))[train], self_rows[train]] = -np.inf
    exact_rows = np.argsort(-masked, axis=1, kind="stable")[:, :5]
    t = pq.read_table(tmp_path / "k5.parquet")
    assert t.column("id").to_pylist() == frame["id"].tolist()
    got = np.asarray(t.column("neighbors").combine_chunks().flatten().to_pylist()).reshape(-1, 5)
    expected = frame["id"].to_numpy()[train][exact_rows]
    assert (got == expected).mean() > 0.999  # float ties may swap equal neighbours
    assert not (got == frame["id"].to_numpy()[:, None]).any()
    from lra.retrieval.stage import neighbor_rows, neighbor_rows_and_similarities

    ids, train_ids = frame["id"].to_numpy(str)[::-3], frame["id"].to_numpy(str)[train]  # any order of ids
    rows, sims = neighbor_rows_and_similarities(tmp_path / "k5.parquet", ids, train_ids)
    assert np.array_equal(rows, neighbor_rows(tmp_path / "k5.parquet", ids, train_ids))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    cosine = np.einsum("nd,nkd->nk", unit[::-3], unit[train][rows])  # the similarities of those very neighbours
    assert sims.dtype == np.float32 and np.all(np.diff(sims, axis=1) <= 1e-6)
    np.testing.assert_allclose(sims, cosine, atol=1e-5)


def test_index_stage_trains_ivf_from_streamed_sample(tmp_path, data):
    x, _ = data
    _, paths = write_dataset(tmp_path, x, shards=3)
    stages.index(tmp_path / "manifest.parquet", paths, tmp_path / "index.faiss", "IVF16,Flat")
    stages.neighbors(tmp_path / "manifest.parquet", paths, tmp_path / "index.faiss", 3, tmp_path / "k3.parquet")
    assert pq.read_table(tmp_path / "k3.parquet").num_rows == len(x)


# --- compact feature reader ------------------------------------------------------------------------

@pytest.mark.parametrize("mmap", [False, True])
def test_read_compact_equals_read(tmp_path, data, mmap):
    x, _ = data
    frame, paths = write_dataset(tmp_path, x, shards=3, shuffle_rows=True)
    want = frame["id"].to_numpy(str)[::-2]
    ids32, x32 = features.read(paths, ids=want)
    ids16, x16 = features.read_compact(paths, ids=want, mmap_path=tmp_path / "f.npy" if mmap else None,
                                       batch_size=700)
    assert x16.dtype == np.float16 and (ids16 == ids32).all()
    np.testing.assert_allclose(x16.astype(np.float32), x32, atol=1e-3)
    if mmap:
        assert isinstance(x16, np.memmap)
        np.testing.assert_array_equal(np.load(tmp_path / "f.npy", mmap_mode="r"), x16)
    with pytest.raises(LraError, match="no row for id"):
        features.read_compact(paths, ids=["nope"])
