"""Each paper dataset kind on a tiny fake tree in exactly its documented on-disk layout."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from lra import stages
from lra.data.stage import load_manifest
from lra.data import datasets
from lra.embed.encoders import PixelsEncoder
from lra.core.errors import LraError
from lra.data.images import open_image

from .conftest import write_image

RNG = np.random.default_rng(0)


def _pickle(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def fake_cifar10(root, per_batch=4, n_test=6):
    folder = root / "cifar-10-batches-py"
    labels = []
    for b in range(1, 6):
        y = [(per_batch * (b - 1) + i) % 10 for i in range(per_batch)]
        labels += y
        _pickle(folder / f"data_batch_{b}", {"batch_label": f"batch {b}", "labels": y,
                                             "data": RNG.integers(0, 256, (per_batch, 3072), dtype=np.uint8)})
    _pickle(folder / "test_batch", {"labels": [i % 10 for i in range(n_test)],
                                    "data": RNG.integers(0, 256, (n_test, 3072), dtype=np.uint8)})
    _pickle(folder / "batches.meta", {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                                      "frog", "horse", "ship", "truck"]})
    return np.array(labels)


def fake_cifar100(root, n_train=30, n_test=5):
    folder = root / "cifar-100-python"
    y = [i % 15 for i in range(n_train)]
    _pickle(folder / "train", {"fine_labels": y, "coarse_labels": [0] * n_train,
                               "data": RNG.integers(0, 256, (n_train, 3072), dtype=np.uint8)})
    _pickle(folder / "test", {"fine_labels": list(range(n_test)), "coarse_labels": [0] * n_test,
                              "data": RNG.integers(0, 256, (n_test, 3072), dtype=np.uint8)})
    _pickle(folder / "meta", {"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": ["x"] * 20})
    return np.array(y)


def test_cifar10_split_sources_and_images(tmp_path):
    fake_cifar10(tmp_path)
    m = datasets.build({"kind": "cifar10", "root": str(tmp_path), "val_fraction": 0.1})
    f = m.frame
    assert len(f) == 26 and m.classes[9] == "truck" and m.meta == {"kind": "cifar10", "name": "cifar10"}
    assert f["split"].tolist() == ["train"] * 18 + ["val"] * 2 + ["test"] * 6  # the last 10 % of train is val
    assert (f["label"].to_numpy() == f["clean_label"].to_numpy(dtype=np.int64)).all()
    assert f["source"][5] == f"cifar:{tmp_path / 'cifar-10-batches-py' / 'data_batch_2'}:1"
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_2", "rb") as fh:
        raw = pickle.load(fh)["data"][1]
    im = open_image(f["source"][5])
    assert im.mode == "RGB" and im.size == (32, 32)
    assert np.array_equal(np.asarray(im), raw.reshape(3, 32, 32).transpose(1, 2, 0))
    # the embed path reads these sources too
    enc = PixelsEncoder(4)
    enc.fit(f)
    assert np.isfinite(enc.encode(f.iloc[:3])).all()


def test_cifar_missing_root_says_how_to_fix(tmp_path):
    with pytest.raises(LraError, match="cifar-10-batches-py/.*download: true"):
        datasets.build({"kind": "cifar10", "root": str(tmp_path / "none")})
    with pytest.raises(LraError, match="dataset.root is required"):
        datasets.build({"kind": "cifar100"})


def test_cifar100(tmp_path):
    y = fake_cifar100(tmp_path)
    m = datasets.build({"kind": "cifar100", "root": str(tmp_path)})
    assert len(m.classes) == 100 and (m.frame["split"] == "val").sum() == 3
    assert m.frame["label"][:30].tolist() == y.tolist()


def _human(path, d):
    torch.save({k: np.asarray(v) for k, v in d.items()}, path)


def test_cifar10n_human_label_sets(tmp_path):
    y = fake_cifar10(tmp_path)
    worse = (y + 1) % 10
    _human(tmp_path / "CIFAR-10_human.pt", {"clean_label": y, "worse_label": worse, "aggre_label": y,
                                            "random_label1": y, "random_label2": y, "random_label3": worse})
    m = datasets.build({"kind": "cifar10n", "root": str(tmp_path)})  # default: worse
    train = m.frame[m.frame["split"] != "test"]
    assert train["label"].tolist() == worse.tolist()
    assert train["clean_label"].astype(int).tolist() == y.tolist()
    assert m.meta["human_labels"] == "worse"
    m = datasets.build({"kind": "cifar10n", "root": str(tmp_path), "human_labels": "aggre"})
    assert m.frame["label"][:20].tolist() == y.tolist()
    with pytest.raises(LraError, match="not a label set of cifar10n"):
        datasets.build({"kind": "cifar10n", "root": str(tmp_path), "human_labels": "noisy"})
    _human(tmp_path / "shuffled.pt", {"clean_label": y[::-1], "worse_label": worse})
    with pytest.raises(LraError, match="not in the same .*order"):
        datasets.build({"kind": "cifar10n", "root": str(tmp_path), "label_file": str(tmp_path / "shuffled.pt")})


def test_cifar100n(tmp_path):
    y = fake_cifar100(tmp_path)
    noisy = y.copy()
    noisy[:5] = (y[:5] + 1) % 15
    _human(tmp_path / "CIFAR-100_human.pt", {"clean_label": y, "noisy_label": noisy, "noisy_coarse_label": y * 0})
    m = datasets.build({"kind": "cifar100n", "root": str(tmp_path)})
    assert m.frame["label"][:30].tolist() == noisy.tolist() and m.meta["human_labels"] == "noisy"


def test_food101n_with_food101_test(tmp_path):
    release = tmp_path / "Food-101N_release"
    classes = ["apple_pie", "baby_back_ribs", "baklava"]
    (release / "meta").mkdir(parents=True)
    (release / "meta" / "classes.txt").write_text("class_name\n" + "\n".join(classes) + "\n")
    keys = [f"{c}/{c[:3]}{i:04d}abcdef.jpg" for c in classes for i in range(3)]
    for k in keys:
        write_image(release / "images" / k, size=(16, 16))
    (release / "meta" / "imagelist.tsv").write_text("class_name/key\n" + "\n".join(keys) + "\n")
    food = tmp_path / "food-101"
    test_keys = [f"{c}/{1000 + i}" for c in classes for i in range(2)]
    for k in test_keys:
        write_image(food / "images" / f"{k}.jpg", size=(16, 16))
    (food / "meta").mkdir(parents=True)
    (food / "meta" / "test.txt").write_text("\n".join(test_keys) + "\n")
    (food / "meta" / "classes.txt").write_text("\n".join(classes) + "\n")
    m = datasets.build({"kind": "food101n", "root": str(tmp_path), "val_fraction": 0.34})
    f = m.frame
    assert m.classes == classes and len(f) == 15
    assert (f["split"] == "test").sum() == 6 and (f["split"] == "val").sum() == 3  # one per class carved
    assert f["clean_label"][f["split"] != "test"].isna().all()
    assert f["source"].iloc[-1] == str(food / "images" / "baklava" / "1001.jpg")
    assert f["label"].iloc[3] == 1
    (release / "images" / keys[4]).unlink()
    with pytest.raises(LraError, match="imagelist.tsv: image .* not found \\(1 of 9"):
        datasets.build({"kind": "food101n", "root": str(tmp_path)})


@pytest.mark.parametrize("annotations", [False, True])
def test_clothing1m(tmp_path, annotations):
    ann = tmp_path / "annotations" if annotations else tmp_path
    ann.mkdir(exist_ok=True)
    names = ["T-Shirt", "Shirt", "Knitwear", "Chiffon", "Sweater", "Hoodie", "Windbreaker", "Jacket", "Downcoat",
             "Suit", "Shawl", "Dress", "Vest", "Underwear"]
    (ann / "category_names_eng.txt").write_text("\n".join(names) + "\n")
    key = lambda i: f"images/{i % 10}/{i % 100:02d}/{1000 + i}.jpg"  # noqa: E731
    for i in range(40):
        write_image(tmp_path / key(i), size=(12, 12))
    noisy = {key(i): i % 14 for i in range(28)}
    clean = {key(i): (i + 1) % 14 for i in range(20, 40)}  # images 20..27 have both labels
    (ann / "noisy_label_kv.txt").write_text("".join(f"{k} {v}\n" for k, v in noisy.items()))
    (ann / "clean_label_kv.txt").write_text("".join(f"{k} {v}\n" for k, v in clean.items()))
    (ann / "noisy_train_key_list.txt").write_text("".join(f"{key(i)}\n" for i in range(28)))
    (ann / "clean_val_key_list.txt").write_text("".join(f"{key(i)}\n" for i in range(28, 34)))
    (ann / "clean_test_key_list.txt").write_text("".join(f"{key(i)}\n" for i in range(34, 40)))
    m = datasets.build({"kind": "clothing1m", "root": str(tmp_path)})
    f = m.frame
    assert m.classes == names
    assert f["split"].value_counts().to_dict() == {"train": 28, "val": 6, "test": 6}
    train = f[f["split"] == "train"]
    assert train["label"].tolist() == [i % 14 for i in range(28)]
    assert train["clean_label"].isna().sum() == 20 and train["clean_label"].iloc[21] == 22 % 14
    val = f[f["split"] == "val"]
    assert (val["label"].to_numpy() == val["clean_label"].to_numpy(dtype=np.int64)).all()
    assert f["source"].iloc[0] == str(tmp_path / "images/0/00/1000.jpg")
    (ann / "clean_test_key_list.txt").write_text("images/9/99/missing.jpg\n")
    with pytest.raises(LraError, match="clean_test_key_list.txt line 1: .* no label in clean_label_kv.txt"):
        datasets.build({"kind": "clothing1m", "root": str(tmp_path)})


def fake_webvision(root, n_classes=52):
    info = root / "info"
    info.mkdir(parents=True)
    wnids = [f"n{1440764 + c:08d}" for c in range(n_classes)]
    (info / "synsets.txt").write_text("".join(f"{w} class{c}, alias\n" for c, w in enumerate(wnids)))
    train, val = [], []
    for c in range(n_classes):
        for i in range(2):
            rel = f"google/q{c + 1:04d}/{c}_{i}.jpg"
            write_image(root / rel, size=(8, 8))
            train.append(f"{rel} {c}")
        write_image(root / "val_images_256" / f"val{c:05d}.jpg", size=(8, 8))
        val.append(f"val{c:05d}.jpg {c}")
    (info / "train_filelist_google.txt").write_text("\n".join(train) + "\n")
    (info / "val_filelist.txt").write_text("\n".join(val) + "\n")
    imagenet = root.parent / "imagenet_val"
    for c in range(n_classes):
        write_image(imagenet / wnids[c] / f"ILSVRC2012_val_{c:08d}.JPEG", size=(8, 8))
    return imagenet


def test_mini_webvision_first_50_classes_and_both_test_sets(tmp_path):
    imagenet = fake_webvision(tmp_path / "webvision")
    m = datasets.build({"kind": "webvision", "root": str(tmp_path / "webvision"), "val_fraction": 0.5})
    f = m.frame
    assert len(m.classes) == 50 and m.classes[3] == "class3"
    assert f["label"].max() == 49 and (f["split"] == "test").sum() == 50
    assert (f["split"] == "val").sum() == 50 and (f["split"] == "train").sum() == 50
    assert f["source"].iloc[-1].endswith("val_images_256/val00049.jpg")
    m = datasets.build({"kind": "webvision", "root": str(tmp_path / "webvision"), "test_set": "ilsvrc12",
                        "imagenet_val": str(imagenet)})
    test = m.frame[m.frame["split"] == "test"]
    assert len(test) == 50 and test["source"].iloc[7].endswith("n01440771/ILSVRC2012_val_00000007.JPEG")
    assert test["clean_label"].tolist() == list(range(50))
    with pytest.raises(LraError, match="imagenet_val is required"):
        datasets.build({"kind": "webvision", "root": str(tmp_path / "webvision"), "test_set": "ilsvrc12"})


def test_animal10n(tmp_path):
    for part, n in (("training", 3), ("testing", 1)):
        for c in range(10):
            for i in range(n):
                write_image(tmp_path / part / f"{c}_{c * 10 + i:05d}.jpg", size=(8, 8))
    m = datasets.build({"kind": "animal10n", "root": str(tmp_path), "val_fraction": 0.34})
    f = m.frame
    assert m.classes[9] == "guinea pig" and len(f) == 40
    assert f["split"].value_counts().to_dict() == {"train": 20, "val": 10, "test": 10}
    assert f.loc[f["id"] == "train-7_00071", "label"].item() == 7
    assert f["clean_label"][f["split"] == "test"].notna().all() and f["clean_label"][f["split"] != "test"].isna().all()
    write_image(tmp_path / "training" / "cat_1.jpg", size=(8, 8))
    with pytest.raises(LraError, match="cat_1.jpg: ANIMAL-10N file names start with the label"):
        datasets.build({"kind": "animal10n", "root": str(tmp_path)})


def test_data_stage_writes_the_manifest_of_a_paper_kind(tmp_path):
    fake_cifar10(tmp_path / "c")
    stages.data({"kind": "cifar10", "root": str(tmp_path / "c")}, tmp_path / "manifest.parquet")
    m = load_manifest(tmp_path / "manifest.parquet")
    assert m.meta["kind"] == "cifar10" and len(m.classes) == 10 and len(m.frame) == 26
