"""Manifests of each dataset kind, and one clear error per kind of bad input (no output left)."""

import numpy as np
import pandas as pd
import pytest

from lra import stages
from lra.data.stage import load_manifest
from lra.core.errors import LraError


def _manifest_fails(tmp_path, spec, match):
    out = tmp_path / "out" / "manifest.parquet"
    with pytest.raises(LraError, match=match):
        stages.data(spec, out)
    assert not out.exists() and not any(out.parent.glob("*")) if out.parent.exists() else True


def test_bundled_digits_split_is_stratified_and_clean(tmp_path):
    m = stages.data({"kind": "bundled", "name": "digits"}, tmp_path / "m.parquet")
    f = m.frame
    assert len(f) == 1797 and len(m.classes) == 10
    share = f.groupby("label")["split"].apply(lambda s: (s == "test").mean())
    assert share.between(0.17, 0.23).all()
    assert (f["label"] == f["clean_label"]).all()
    again = load_manifest(tmp_path / "m.parquet")
    assert again.classes == m.classes and again.frame["id"].tolist() == f["id"].tolist()


def test_folder_csv_with_class_names(png_folder, tmp_path):
    m = stages.data({"kind": "folder", "csv": str(png_folder)}, tmp_path / "m.parquet")
    assert m.classes == ["blue", "green", "red"]
    assert set(m.frame["split"]) == {"train", "val", "test"}
    assert m.frame["clean_label"].notna().all()
    assert (m.frame["label"] != m.frame["clean_label"]).sum() > 0  # the CSV's wrong labels are kept


def test_integer_labels_and_carved_val_split(tmp_path, png_folder):
    df = pd.read_csv(png_folder)
    df["label"] = df["clean_label"].map({"red": 0, "green": 1, "blue": 2})
    df = df.drop(columns="clean_label")
    df["split"] = df["split"].replace({"val": "train"})
    csv = png_folder.with_name("ints.csv")
    df.to_csv(csv, index=False)
    m = stages.data({"kind": "folder", "csv": str(csv), "val_fraction": 0.2}, tmp_path / "m.parquet")
    assert m.classes == ["0", "1", "2"]
    assert (m.frame["split"] == "val").sum() == pytest.approx(0.2 * (df["split"] == "train").sum(), abs=3)
    assert m.frame["clean_label"].isna().all()


def _bad_csv(png_folder, edit):
    df = pd.read_csv(png_folder)
    df = edit(df)
    path = png_folder.with_name("bad.csv")
    df.to_csv(path, index=False)
    return path


def test_missing_column_is_named(tmp_path, png_folder):
    csv = _bad_csv(png_folder, lambda d: d.drop(columns="split"))
    _manifest_fails(tmp_path, {"kind": "folder", "csv": str(csv)}, r"bad.csv: missing column\(s\) split")


def test_unknown_split_names_the_row(tmp_path, png_folder):
    csv = _bad_csv(png_folder, lambda d: d.assign(split=d["split"].where(d.index != 5, "training")))
    _manifest_fails(tmp_path, {"kind": "folder", "csv": str(csv)}, "line 7: unknown split 'training'; use train, val or test")


def test_label_out_of_range_names_the_row(tmp_path, png_folder):
    csv = _bad_csv(png_folder, lambda d: d.assign(label=d["label"].where(d.index != 3, "purple")))
    spec = {"kind": "folder", "csv": str(csv), "classes": ["red", "green", "blue"]}
    _manifest_fails(tmp_path, spec, "line 5: label 'purple' is out of range")


def test_integer_label_out_of_range(tmp_path, png_folder):
    def edit(d):
        d["label"] = 1
        d.loc[8, "label"] = 7
        return d.drop(columns="clean_label")

    csv = _bad_csv(png_folder, edit)
    spec = {"kind": "folder", "csv": str(csv), "classes": ["a", "b", "c"]}
    _manifest_fails(tmp_path, spec, r"line 10: label '7' is out of range \(expected 0..2\)")


def test_test_class_never_seen_in_train(tmp_path, png_folder):
    def edit(d):
        keep = (d["split"] == "test") | ((d["label"] != "blue") & (d["clean_label"] != "blue"))
        return d[keep]

    csv = _bad_csv(png_folder, edit)
    _manifest_fails(tmp_path, {"kind": "folder", "csv": str(csv)}, "test class 'blue' never appears among the train labels")


def test_missing_image_is_named(tmp_path, png_folder):
    (png_folder.parent / "red" / "003.png").unlink()
    _manifest_fails(tmp_path, {"kind": "folder", "csv": str(png_folder)}, r"image 'red/003.png' not found")


def test_unreadable_image_stops_the_embed_stage_without_output(tmp_path, png_folder):
    (png_folder.parent / "green" / "007.png").write_bytes(b"not a png")
    stages.data({"kind": "folder", "csv": str(png_folder)}, tmp_path / "m.parquet")
    out = tmp_path / "features" / "part-00000.parquet"
    with pytest.raises(LraError, match=r"manifest row 47 \(id 00000047\): image .*green/007.png cannot be decoded"):
        stages.embed(tmp_path / "m.parquet", "pixels:8", out)
    assert not out.exists() and list(out.parent.glob("*.parquet")) == []  # only the resume cache stays


def test_embeddings_parquet_manifest(tmp_path, embeddings_file):
    m = stages.data({"kind": "embeddings", "path": str(embeddings_file)}, tmp_path / "m.parquet")
    assert m.meta["features"] == str(embeddings_file)
    assert m.frame["id"].iloc[0] == "item0"
    assert m.classes == ["0", "1", "2", "3"]


def test_nan_embedding_names_the_row(tmp_path, embeddings_file):
    df = pd.read_parquet(embeddings_file)
    df.at[17, "embedding"] = np.full(32, np.nan, dtype=np.float32)
    df.to_parquet(embeddings_file)
    _manifest_fails(tmp_path, {"kind": "embeddings", "path": str(embeddings_file)}, "row 17: embedding contains NaN")


def test_unknown_bundled_dataset(tmp_path):
    _manifest_fails(tmp_path, {"kind": "bundled", "name": "mnist"}, "no bundled dataset 'mnist'")


def test_the_paper_kinds_import_no_general_loader():
    """No import circle: the paper's loaders build on lra.data.manifest alone; lra.data.datasets holds the registry."""
    import subprocess
    import sys

    code = ("import sys, lra.data.paper; assert 'lra.data.datasets' not in sys.modules; "
            "from lra.data import datasets; assert set(lra.data.paper.KINDS) < set(datasets.KINDS); "
            "assert datasets.Manifest is lra.data.manifest.Manifest")
    from pathlib import Path

    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_folder_paths_relative_to_dataset_root(tmp_path, png_folder):
    moved = tmp_path / "elsewhere" / "labels.csv"
    moved.parent.mkdir()
    moved.write_text(png_folder.read_text())
    _manifest_fails(tmp_path, {"kind": "folder", "csv": str(moved)}, r"line 2: image 'red/000.png' not found .*CSV's folder")
    m = stages.data({"kind": "folder", "csv": str(moved), "root": str(png_folder.parent)}, tmp_path / "m.parquet")
    assert m.frame["source"].iloc[0] == str(png_folder.parent / "red" / "000.png")
