"""cleaned.csv: the clean policy on arrays, the owner's columns per dataset kind, and the round
trip of a folder dataset (a new run's dataset.csv pointed at cleaned.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lra import export, stages
from lra.data.stage import load_manifest
from lra.core.errors import LraError
from lra.data.manifest import Manifest

from .conftest import folder_dataset

# six rows: given label, the model's class, p_given, split
GIVEN = np.array([0, 1, 2, 0, 1, 2])
PREDICTED = np.array([0, 2, 0, 1, 0, 1])
P = np.array([1.0, 0.1, 0.5, 0.0, 0.2, 0.0])
SPLIT = np.array(["train", "train", "train", "val", "train", "test"])


def test_relabel_flags_disagreeing_low_support_training_rows_only():
    label, keep, flagged = export.apply_policy(GIVEN, PREDICTED, P, SPLIT != "test", "relabel", 0.2)
    # row 0 agrees; row 2 disagrees with p_given 0.5 > 0.2; row 5 is test
    assert flagged.tolist() == [False, True, False, True, True, False]
    assert label.tolist() == [0, 2, 2, 1, 0, 2]
    assert keep.all()


def test_drop_leaves_flagged_rows_out_and_keep_only_flags():
    label, keep, flagged = export.apply_policy(GIVEN, PREDICTED, P, SPLIT != "test", "drop", 0.2)
    assert keep.tolist() == [True, False, True, False, False, True] and (label == GIVEN).all()
    label, keep, flagged = export.apply_policy(GIVEN, PREDICTED, P, SPLIT != "test", "keep", 0.2)
    assert keep.all() and (label == GIVEN).all() and flagged.sum() == 3


def test_max_p_given_one_flags_every_disagreement_and_bad_policy_is_named():
    _, _, flagged = export.apply_policy(GIVEN, PREDICTED, P, SPLIT != "test", "keep", 1.0)
    assert flagged.tolist() == [False, True, True, True, True, False]
    with pytest.raises(LraError, match="config key clean.action: 'fix'"):
        export.apply_policy(GIVEN, PREDICTED, P, SPLIT != "test", "fix")
    with pytest.raises(LraError, match="config key clean.max_p_given"):
        export.apply_policy(GIVEN, PREDICTED, P, SPLIT != "test", "keep", 1.5)


def test_a_float32_frequency_at_the_threshold_is_flagged():
    freq = np.array([[0.8, 0.2]], np.float32)  # float32 0.2 is 0.200000003: "at most 0.2" must hold
    p = export.p_given(np.array([1]), np.array([0]), freq)
    assert p.tolist() == [0.2]
    assert export.apply_policy(np.array([1]), np.array([0]), p, np.array([True]), "keep", 0.2)[2].tolist() == [True]


def test_p_given_without_trajectories_is_agreement():
    assert export.p_given(GIVEN, PREDICTED, None).tolist() == [1, 0, 0, 0, 0, 0]
    freq = np.eye(3)[PREDICTED] * 0.5 + 0.5 * np.eye(3)[GIVEN]
    assert export.p_given(GIVEN, PREDICTED, freq).tolist() == [1, 0.5, 0.5, 0.5, 0.5, 0.5]


def _bundled_manifest() -> Manifest:
    frame = pd.DataFrame({"id": [f"i{i}" for i in range(6)], "split": SPLIT, "source": [f"s{i}" for i in range(6)],
                          "label": [0, 1, 2, 0, 1, 1], "clean_label": pd.array([pd.NA] * 6, dtype="Int64")})
    return Manifest(frame, ["cat", "dog", "emu"], {"kind": "cifar10", "name": "x"})


def _predictions(freq=True) -> pd.DataFrame:
    out = pd.DataFrame({"id": [f"i{i}" for i in range(6)], "predicted": PREDICTED})
    if freq:
        f = np.full((6, 3), 0.0)
        f[np.arange(6), GIVEN] = P
        f[np.arange(6), PREDICTED] += 1 - P
        out["class_frequencies"] = list(f)
    return out


def test_cleaned_table_uses_class_names_and_never_touches_test_rows():
    m = _bundled_manifest()
    # the observed label of test row 5 (2, 'emu') differs from its label as given (1, 'dog')
    table = export.cleaned(m, GIVEN, _predictions(), "relabel", 0.2)
    assert table.columns.tolist() == ["id", "source", "split", "label", "given_label", "p_given", "flagged"]
    assert table["label"].tolist() == ["cat", "emu", "emu", "dog", "cat", "dog"]
    assert table["given_label"].tolist() == ["cat", "dog", "emu", "cat", "dog", "emu"]
    assert table.loc[5, "label"] == "dog" and not table.loc[5, "flagged"]
    assert np.allclose(table["p_given"], P)
    dropped = export.cleaned(m, GIVEN, _predictions(), "drop", 0.2)
    assert dropped["id"].tolist() == ["i0", "i2", "i5"]  # the test row stays, whatever the model says


def test_items_without_features_are_left_out_even_test_rows():
    """Unreadable at embed (bad_images: skip): no prediction, and a retrain could not read them."""
    table = export.cleaned(_bundled_manifest(), GIVEN, _predictions(), "keep", 0.2, keep_ids=["i0", "i1", "i2", "i3"])
    assert table["id"].tolist() == ["i0", "i1", "i2", "i3"]


def test_cleaned_table_without_trajectories_flags_on_agreement():
    table = export.cleaned(_bundled_manifest(), GIVEN, _predictions(freq=False), "keep", 0.2)
    assert table["flagged"].tolist() == [False, True, True, True, True, False]
    assert table["p_given"].tolist() == [1, 0, 0, 0, 0, 0]


def test_embeddings_kind_keeps_its_own_ids_and_splits(tmp_path):
    path = tmp_path / "v.parquet"
    pd.DataFrame({"id": ["a", "b"], "split": ["train", "test"], "label": [1, 0], "extra": [5, 6],
                  "embedding": [np.zeros(2, np.float32)] * 2}).to_parquet(path)
    frame = pd.DataFrame({"id": ["a", "b"], "split": ["val", "test"], "source": str(path), "label": [1, 0],
                          "clean_label": pd.array([pd.NA, pd.NA], dtype="Int64")})
    m = Manifest(frame, ["0", "1"], {"kind": "embeddings", "name": "v", "features": str(path)})
    pred = pd.DataFrame({"id": ["a", "b"], "predicted": [0, 1]})
    table = export.cleaned(m, np.array([1, 0]), pred, "relabel", 0.2)
    assert table.columns.tolist() == ["id", "split", "label", "given_label", "p_given", "flagged"]
    assert table["split"].tolist() == ["train", "test"]  # the carved val row is train in the owner's file
    assert table["label"].tolist() == ["0", "0"]


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A tiny folder run through predict, with two extra CSV columns, a carved val split, and
    class names listed in the config; its CSV lies apart from the run's folder."""
    root = tmp_path_factory.mktemp("clean")
    csv = folder_dataset(root / "data", n_per_class=8)
    df = pd.read_csv(csv)
    df.insert(0, "note", [f"n{i}" for i in range(len(df))])
    df["split"] = df["split"].replace({"val": "Train"})  # the owner's own spelling; val gets carved
    df["label"] = df["label"].map({"a": "0", "b": "1", "c": "2"})
    df.loc[13, "label"] = "0"  # a wrong label on a train row of class b
    df.to_csv(csv, index=False)
    r = root / "run"
    spec = {"kind": "folder", "csv": str(csv), "classes": ["apple", "banana", "cherry"], "val_fraction": 0.2}
    stages.data(spec, r / "manifest.parquet")
    stages.noise(r / "manifest.parquet", "given", r / "labels.parquet")
    feats = [str(r / "part-00000.parquet")]
    stages.embed(r / "manifest.parquet", "pixels:8", feats[0])
    stages.index(r / "manifest.parquet", feats, r / "index.faiss")
    stages.neighbors(r / "manifest.parquet", feats, r / "index.faiss", 3, r / "nb.parquet", device="cpu")
    stages.train(r / "manifest.parquet", r / "labels.parquet", feats, r / "nb.parquet", r / "model.pt",
                 {"epochs": 2, "batch_size": 8, "eval_every": 1, "T": 50, "F": 16, "warmup_epochs": 0,
                  "ddim_steps": 2, "device": "cpu"})
    stages.predict(r / "manifest.parquet", feats, r / "model.pt", r / "predictions.parquet",
                   {"ddim_steps": 2, "samples": 4, "device": "cpu"})
    return {"csv": csv, "spec": spec, "r": r, "feats": feats, "df": df}


def _clean(run, out, **policy):
    r = run["r"]
    return export.clean(r / "manifest.parquet", r / "labels.parquet", r / "predictions.parquet", run["feats"], out,
                        **policy)


def test_folder_cleaned_csv_is_the_owners_csv_with_names(folder_run):
    out = folder_run["r"] / "cleaned.csv"
    table = _clean(folder_run, out, action="keep", max_p_given=1.0)
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    df = folder_run["df"]
    assert written.columns.tolist() == df.columns.tolist() + ["given_label", "p_given", "flagged"]
    assert written["path"].tolist() == df["path"].tolist() and written["note"].tolist() == df["note"].tolist()
    assert written["split"].tolist() == df["split"].tolist()  # 'Train' as written; carved val rows stay train
    names = ["apple", "banana", "cherry"]
    assert written["label"].tolist() == [names[int(v)] for v in df["label"]]  # keep: the given labels, named
    assert written["given_label"].tolist() == written["label"].tolist()
    pred = pd.read_parquet(folder_run["r"] / "predictions.parquet")
    assert table["flagged"].tolist() == ((pred["predicted"] != pd.read_parquet(folder_run["r"] / "labels.parquet")
                                          ["observed_label"]) & (pred["split"] != "test")).tolist()


def test_folder_round_trip_trains_on_the_cleaned_labels(folder_run, tmp_path):
    """An oracle model (predicted = the image's true class) relabels the one wrong train label; a new
    run's dataset.csv pointed at cleaned.csv (dataset.root: the images' folder) reads it back."""
    r = folder_run["r"]
    pred = pd.read_parquet(r / "predictions.parquet")
    truth = np.repeat([0, 1, 2], 8)  # folder_dataset: 8 images of each class, in class order
    pred.assign(predicted=truth).to_parquet(tmp_path / "oracle.parquet")
    out = tmp_path / "cleaned.csv"
    table = export.clean(r / "manifest.parquet", r / "labels.parquet", tmp_path / "oracle.parquet",
                         folder_run["feats"], out, action="relabel", max_p_given=1.0)
    assert np.flatnonzero(table["flagged"]).tolist() == [13]
    assert table.loc[13, "label"] == "banana" and table.loc[13, "given_label"] == "apple"
    spec = {**folder_run["spec"], "csv": str(out), "root": str(folder_run["csv"].parent)}
    again = stages.data(spec, tmp_path / "m.parquet")
    first = load_manifest(r / "manifest.parquet")
    assert again.frame["source"].tolist() == first.frame["source"].tolist()
    test = (first.frame["split"] == "test").to_numpy()
    assert ((again.frame["split"] == "test").to_numpy() == test).all()  # val is carved afresh from train
    assert again.frame["label"].tolist() == truth.tolist()
    assert again.classes == first.classes


def test_a_changed_csv_is_caught(folder_run, tmp_path):
    r = folder_run["r"]
    spec = {**folder_run["spec"], "csv": str(tmp_path / "copy.csv"), "root": str(folder_run["csv"].parent)}
    folder_run["df"].to_csv(tmp_path / "copy.csv", index=False)
    stages.data(spec, tmp_path / "m.parquet")
    folder_run["df"].iloc[:-1].to_csv(tmp_path / "copy.csv", index=False)
    with pytest.raises(LraError, match="copy.csv: the CSV changed since the data stage"):
        export.clean(tmp_path / "m.parquet", r / "labels.parquet", r / "predictions.parquet", folder_run["feats"],
                     tmp_path / "cleaned.csv")
    assert not (tmp_path / "cleaned.csv").exists()
