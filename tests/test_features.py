import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lra.core import features
from lra.core.errors import LraError


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_parquet_round_trip_keeps_ids_and_vectors(tmp_path, dtype):
    x = np.random.default_rng(0).normal(size=(50, 12)).astype(np.float32)
    ids = [f"i{j}" for j in range(50)]
    features.write(ids, x, tmp_path / "f.parquet", dtype=dtype)
    table = pa.parquet.read_table(tmp_path / "f.parquet")
    assert pa.types.is_fixed_size_list(table.schema.field("embedding").type)
    got_ids, got = features.read(tmp_path / "f.parquet", normalize=False)
    assert got_ids.tolist() == ids
    np.testing.assert_allclose(got, x, rtol=1e-3 if dtype == "float16" else 0, atol=1e-2 if dtype == "float16" else 0)


def test_read_orders_rows_by_the_ids_asked_for_across_shards(tmp_path):
    x = np.eye(6, dtype=np.float32)
    features.write(["a", "b", "c"], x[:3], tmp_path / "p0.parquet")
    features.write(["d", "e", "f"], x[3:], tmp_path / "p1.parquet")
    ids, got = features.read([tmp_path / "p0.parquet", tmp_path / "p1.parquet"], ids=["f", "a", "d"])
    assert ids.tolist() == ["f", "a", "d"]
    assert got.argmax(axis=1).tolist() == [5, 0, 3]
    with pytest.raises(LraError, match="no row for id 'zz'"):
        features.read([tmp_path / "p0.parquet"], ids=["a", "zz"])


def test_plain_list_columns_from_users_are_read_and_normalised(tmp_path):
    df = pd.DataFrame({"id": ["a", "b"], "embedding": [[3.0, 4.0], [0.0, 2.0]]})
    df.to_parquet(tmp_path / "u.parquet")
    _, x = features.read(tmp_path / "u.parquet")
    np.testing.assert_allclose(x, [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)


def test_ragged_vectors_are_named_by_row(tmp_path):
    pd.DataFrame({"id": ["a", "b"], "embedding": [[1.0, 2.0], [1.0]]}).to_parquet(tmp_path / "r.parquet")
    with pytest.raises(LraError, match="row 1: embedding has 1 values"):
        features.read(tmp_path / "r.parquet")


def test_load_keeps_float16_shards_in_half_precision(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    ids = [f"i{j}" for j in range(20)]
    features.write(ids, x, tmp_path / "h.parquet", dtype="float16")
    features.write(ids, x, tmp_path / "s.parquet", dtype="float32")
    half = features.load([tmp_path / "h.parquet"], ids[::-1])
    full = features.load([tmp_path / "s.parquet"], ids[::-1])
    assert half.dtype == np.float16 and full.dtype == np.float32
    np.testing.assert_allclose(half, features.l2_normalize(x[::-1]), atol=2e-3)
    np.testing.assert_allclose(full, features.l2_normalize(x[::-1]), atol=1e-6)


def test_training_and_prediction_accept_float16_features():
    import torch

    from lra.diffusion.config import TrainConfig
    from lra.diffusion.train import candidates, train
    from lra.diffusion.sample import predict

    from .conftest import clustered

    x, y = clustered(30, 2, 8, spread=0.5)
    x = features.l2_normalize(x)
    rows = np.argsort(-(x @ x.T), axis=1)[:, 1:4]
    cand, agree = candidates(y, rows)
    cfg = TrainConfig(epochs=2, F=16, T=50, batch_size=16)
    model, sch, _ = train(x.astype(np.float16), cand, agree, 2, cfg, x[:10].astype(np.float16), y[:10], log=lambda *a: None)
    y0, _ = predict(model, sch, torch.as_tensor(x.astype(np.float16)), steps=5)
    assert y0.dtype == torch.float32 and torch.isfinite(y0).all()
