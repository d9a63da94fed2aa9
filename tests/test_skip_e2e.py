"""bad_images: skip end to end on a tiny folder dataset: the unreadable items are left out of the
features and every later stage drops them cleanly (no 'no row for id' errors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lra import stages
from lra.core import features
from lra.core.errors import LraError

from .conftest import folder_dataset


def test_skipped_images_are_dropped_by_every_later_stage(tmp_path):
    csv = folder_dataset(tmp_path / "data", n_per_class=10, bad={0: b"", 7: b"garbage", 25: b"\xff\xd8\xff"})
    r = tmp_path / "results"
    stages.data({"kind": "folder", "csv": str(csv)}, r / "manifest.parquet")
    stages.noise(r / "manifest.parquet", "sym-0.2", r / "labels.parquet", seed=0)
    part = r / "features" / "part-00000.parquet"
    stages.embed(r / "manifest.parquet", "pixels:8", part, bad_images="skip", chunk_rows=8)
    feats = [str(part)]
    assert features.skipped_ids(feats) == {"00000000", "00000007", "00000025"}
    stages.index(r / "manifest.parquet", feats, r / "index.faiss")
    stages.neighbors(r / "manifest.parquet", feats, r / "index.faiss", 3, r / "nb.parquet", device="cpu")
    stages.train(r / "manifest.parquet", r / "labels.parquet", feats, r / "nb.parquet", r / "model.pt",
                 {"epochs": 2, "batch_size": 8, "eval_every": 1, "T": 50, "F": 16, "warmup_epochs": 0,
                  "ddim_steps": 2, "device": "cpu"})
    pred = pd.read_parquet(stages.predict(r / "manifest.parquet", feats, r / "model.pt", r / "pred.parquet",
                                          {"ddim_steps": 2, "samples": 2, "device": "cpu"}))
    out = stages.score(r / "manifest.parquet", r / "labels.parquet", feats, r / "nb.parquet", r / "pred.parquet",
                       r / "metrics.json", r / "issues.parquet")
    manifest = pd.read_parquet(r / "manifest.parquet")
    kept = manifest[~manifest["id"].isin(["00000000", "00000007", "00000025"])]
    assert sorted(pred["id"]) == sorted(kept["id"])
    nb = pd.read_parquet(r / "nb.parquet")
    assert not set(np.concatenate(nb["neighbors"].to_numpy())) & {"00000000", "00000007", "00000025"}
    assert out["n_train"] == int((kept["split"] == "train").sum()) and out["n_test"] == int((kept["split"] == "test").sum())
    assert 0 <= out["accuracy"] <= 1


def test_missing_features_without_a_skip_record_still_fail(tmp_path):
    csv = folder_dataset(tmp_path / "data", n_per_class=6)
    r = tmp_path / "results"
    stages.data({"kind": "folder", "csv": str(csv)}, r / "manifest.parquet")
    part = r / "part-00000.parquet"
    stages.embed(r / "manifest.parquet", "pixels:8", part, num_shards=2)  # shard 0 only: half the ids
    with pytest.raises(LraError, match="no row for id"):
        stages.index(r / "manifest.parquet", [str(part)], r / "index.faiss")
