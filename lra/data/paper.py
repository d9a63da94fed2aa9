"""The paper's benchmarks as dataset kinds, each read from its documented on-disk layout.

Every loader returns a `lra.data.manifest.Manifest`: id, split (train/val/test), source (an absolute
image path, or for CIFAR a `cifar:<batch file>:<index>` record), label (the observed, noisy label
of the benchmark; clean on val/test where the benchmark gives clean labels there), clean_label
(nullable; the true label where known). Their real noise is the config's `noise: given`.

| kind | root (config key dataset.root) holds | splits |
|---|---|---|
| cifar10 / cifar100 | torchvision's `cifar-10-batches-py/` / `cifar-100-python/` | last val_fraction of train → val (45,000/5,000) |
| cifar10n / cifar100n | the same, plus `CIFAR-10_human.pt` / `CIFAR-100_human.pt` | as cifar; label = the chosen human label |
| food101n | `Food-101N_release/` (+ `food-101/` for the test split) | val carved from train |
| clothing1m | images/ + the key-value label files and key lists | official train (noisy) / val / test (clean) |
| webvision | WebVision 1.0: `info/`, `google/`, `val_images_256/` (+ ILSVRC12 val) | val carved from train; test = WebVision val or ILSVRC12 val |
| animal10n | `training/`, `testing/` (`<label>_<n>.jpg`) | val carved from train |

CIFAR images have no files: a source `cifar:<batch file>:<index>` names the pickled batch and the
row in it, decoded by `load_cifar_image`. Exporting 60,000 PNGs would double the data on disk and
cost minutes for nothing; the batch files load once per process (cached).

Model selection never uses the test split: CIFAR keeps the paper's 45,000/5,000 train/val split
(the last 5,000 training images are val, as in the published PMD noise files); Clothing1M has its
own clean val split; the others carve val from train (dataset.val_fraction, stratified).
"""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from .manifest import Manifest, dataset_name
from ..core.errors import LraError

CIFAR_PREFIX = "cifar:"

# --- CIFAR-10/100 (torchvision layout) -------------------------------------------------------

_CIFAR = {
    "cifar10": dict(folder="cifar-10-batches-py", train=[f"data_batch_{i}" for i in range(1, 6)],
                    test=["test_batch"], meta="batches.meta", names="label_names", labels="labels",
                    torchvision="CIFAR10"),
    "cifar100": dict(folder="cifar-100-python", train=["train"], test=["test"], meta="meta",
                     names="fine_label_names", labels="fine_labels", torchvision="CIFAR100"),
}


def _root(spec: dict) -> Path:
    if not spec.get("root"):
        raise LraError(f"config key dataset.root is required for kind {spec.get('kind')!r}: the dataset's folder")
    return Path(spec["root"]).expanduser().resolve()


def _need(path: Path, what: str, key: str = "dataset.root") -> Path:
    if not path.exists():
        raise LraError(f"{path}: {what} not found; check config key {key} (see docs/data.md for the layout)")
    return path


@functools.lru_cache(maxsize=8)
def _cifar_batch(path: str, key: str = "data") -> dict:
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="latin1")
    except FileNotFoundError:
        raise LraError(f"{path}: CIFAR batch file not found; check config key dataset.root") from None
    except Exception as exc:
        raise LraError(f"{path}: not a readable CIFAR python batch ({type(exc).__name__}: {exc}); "
                       "re-extract the torchvision/CIFAR archive") from None
    if not isinstance(d, dict) or key not in d:
        raise LraError(f"{path}: CIFAR file without {key!r}; re-extract the archive")
    return d


def load_cifar_image(source: str):
    """The 32×32 RGB image of a `cifar:<batch file>:<index>` source."""
    from PIL import Image

    path, _, index = source[len(CIFAR_PREFIX):].rpartition(":")
    data = _cifar_batch(path)["data"]
    row = np.asarray(data[int(index)], np.uint8).reshape(3, 32, 32).transpose(1, 2, 0)
    return Image.fromarray(np.ascontiguousarray(row))


def _cifar_tables(kind: str, root: Path, download: bool):
    info = _CIFAR[kind]
    folder = root / info["folder"]
    if download and not folder.exists():
        import torchvision

        dataset = getattr(torchvision.datasets, info["torchvision"])
        try:
            for train in (True, False):
                dataset(str(root), train=train, download=True)
        except Exception as exc:
            raise LraError(f"{root}: downloading {info['torchvision']} failed ({exc}); download it elsewhere and "
                           f"copy {info['folder']}/ there, then set dataset.download: false") from None
    _need(folder, f"{info['folder']}/ (torchvision layout; set dataset.download: true to fetch it)")
    meta = _cifar_batch(str(_need(folder / info["meta"], "CIFAR meta file")), info["names"])
    classes = [str(c) for c in meta[info["names"]]]
    out = {}
    for split in ("train", "test"):
        sources, labels = [], []
        for name in info[split]:
            path = _need(folder / name, f"CIFAR batch {name}")
            d = _cifar_batch(str(path))
            sources += [f"{CIFAR_PREFIX}{path}:{i}" for i in range(len(d["data"]))]
            labels += list(d[info["labels"]])
        out[split] = (sources, np.asarray(labels, np.int64))
    return out, classes


def _cifar_frame(tables, noisy_train: np.ndarray | None, val_fraction: float) -> pd.DataFrame:
    (tr_src, tr_y), (te_src, te_y) = tables["train"], tables["test"]
    n_val = int(round(val_fraction * len(tr_y)))
    split = np.array(["train"] * (len(tr_y) - n_val) + ["val"] * n_val + ["test"] * len(te_y), dtype=object)
    clean = np.concatenate([tr_y, te_y])
    label = clean.copy()
    if noisy_train is not None:
        label[:len(tr_y)] = noisy_train
    return pd.DataFrame({
        "id": [f"train-{i:05d}" for i in range(len(tr_y))] + [f"test-{i:05d}" for i in range(len(te_y))],
        "split": split, "source": tr_src + te_src, "label": label, "clean_label": pd.array(clean, dtype="Int64"),
    })


def cifar(spec: dict, seed: int) -> Manifest:
    kind = spec["kind"]
    tables, classes = _cifar_tables(kind, _root(spec), bool(spec.get("download", False)))
    frame = _cifar_frame(tables, None, spec.get("val_fraction", 0.1))
    return Manifest(frame, classes, {"kind": kind, "name": dataset_name(spec)})


# --- CIFAR-10N / CIFAR-100N (human labels over CIFAR's train set) ------------------------------

HUMAN_LABELS = {
    "cifar10n": {"aggre": "aggre_label", "random1": "random_label1", "random2": "random_label2",
                 "random3": "random_label3", "worse": "worse_label"},
    "cifar100n": {"noisy": "noisy_label"},
}
_HUMAN_FILE = {"cifar10n": "CIFAR-10_human.pt", "cifar100n": "CIFAR-100_human.pt"}


def load_human_labels(path: Path) -> dict:
    """The CIFAR-N label file: a torch-saved dict of numpy arrays, loaded without running code."""
    import torch

    numpy_globals = [np.ndarray, np.dtype, np._core.multiarray._reconstruct,
                     (np._core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct")]
    numpy_globals += [type(np.dtype(t)) for t in ("int64", "int32", "uint8", "float64")]
    try:
        with torch.serialization.safe_globals(numpy_globals):
            d = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise LraError(f"{path}: CIFAR-N label file not found (config key dataset.label_file)") from None
    except Exception as exc:
        raise LraError(f"{path}: not a readable CIFAR-N label file ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(d, dict):
        raise LraError(f"{path}: expected a dict of label arrays, found {type(d).__name__}")
    return {k: np.asarray(v).astype(np.int64) for k, v in d.items()}


def cifar_n(spec: dict, seed: int) -> Manifest:
    kind = spec["kind"]
    base = kind[:-1]  # cifar10n → cifar10
    root = _root(spec)
    tables, classes = _cifar_tables(base, root, bool(spec.get("download", False)))
    choice = spec.get("human_labels") or ("worse" if kind == "cifar10n" else "noisy")
    if choice not in HUMAN_LABELS[kind]:
        raise LraError(f"config key dataset.human_labels: {choice!r} is not a label set of {kind}; "
                       f"use one of {', '.join(HUMAN_LABELS[kind])}")
    path = Path(spec.get("label_file") or root / _HUMAN_FILE[kind]).expanduser().resolve()
    labels = load_human_labels(path)
    key = HUMAN_LABELS[kind][choice]
    if key not in labels:
        raise LraError(f"{path}: no key {key!r} (has {', '.join(labels)}); is this the {_HUMAN_FILE[kind]} file?")
    noisy, truth = labels[key], tables["train"][1]
    if len(noisy) != len(truth):
        raise LraError(f"{path}: {key} has {len(noisy)} labels, CIFAR's train set {len(truth)} images")
    if "clean_label" in labels and not np.array_equal(labels["clean_label"], truth):
        row = int(np.flatnonzero(labels["clean_label"] != truth)[0])
        raise LraError(f"{path}: clean_label differs from CIFAR's own label at train image {row}; "
                       "the label file and the CIFAR copy are not in the same (torchvision) order")
    if noisy.min() < 0 or noisy.max() >= len(classes):
        raise LraError(f"{path}: {key} has values outside 0..{len(classes) - 1}")
    frame = _cifar_frame(tables, noisy, spec.get("val_fraction", 0.1))
    return Manifest(frame, classes, {"kind": kind, "name": dataset_name(spec), "human_labels": choice})


# --- shared: image lists ------------------------------------------------------------------

def _read_lines(path: Path) -> list[str]:
    from ..core.files import INPUT_FIX, reading

    with reading(path, "the list file", "text", INPUT_FIX):
        text = _need(path, "list file").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def _check_files(paths: list[str], listed_in: Path) -> None:
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise LraError(f"{listed_in}: image {missing[0]} not found ({len(missing)} of {len(paths)} listed images "
                       "are missing); check config key dataset.root and that the archive is fully extracted")


def _frame(ids, split, sources, label, clean) -> pd.DataFrame:
    return pd.DataFrame({"id": list(ids), "split": np.asarray(split, dtype=object), "source": list(sources),
                         "label": np.asarray(label, np.int64), "clean_label": pd.array(clean, dtype="Int64")})


# --- Food-101N (+ Food-101 test) -------------------------------------------------------------

def food101n(spec: dict, seed: int) -> Manifest:
    """Train: Food-101N's imagelist.tsv (~310k web images, labels from their folder, noisy).
    Test: Food-101's meta/test.txt (25,250 clean images) under dataset.food101_root."""
    root = _root(spec)
    release = root / "Food-101N_release" if (root / "Food-101N_release").is_dir() else root
    classes_txt = _read_lines(release / "meta" / "classes.txt")
    classes = classes_txt[1:] if classes_txt and classes_txt[0] == "class_name" else classes_txt
    index = {c: i for i, c in enumerate(classes)}
    listing = release / "meta" / "imagelist.tsv"
    keys = _read_lines(listing)
    keys = keys[1:] if keys and keys[0].startswith("class_name") else keys
    tr_src, tr_y = [], []
    for n, key in enumerate(keys):
        cls = key.split("/")[0]
        if cls not in index:
            raise LraError(f"{listing} line {n + 2}: class {cls!r} is not in meta/classes.txt")
        tr_src.append(str(release / "images" / key))
        tr_y.append(index[cls])
    _check_files(tr_src, listing)
    food = Path(spec.get("food101_root") or root / "food-101").expanduser().resolve()
    test_list = _need(food / "meta" / "test.txt", "Food-101 meta/test.txt", "dataset.food101_root")
    te_src, te_y = [], []
    for n, key in enumerate(_read_lines(test_list)):
        cls = key.split("/")[0]
        if cls not in index:
            raise LraError(f"{test_list} line {n + 1}: class {cls!r} is not a Food-101N class")
        te_src.append(str(food / "images" / f"{key}.jpg"))
        te_y.append(index[cls])
    _check_files(te_src, test_list)
    frame = _frame([f"train-{i:06d}" for i in range(len(tr_y))] + [f"test-{i:05d}" for i in range(len(te_y))],
                   ["train"] * len(tr_y) + ["test"] * len(te_y), tr_src + te_src, tr_y + te_y,
                   [pd.NA] * len(tr_y) + te_y)
    return Manifest(frame, classes, {"kind": "food101n", "name": dataset_name(spec)})


# --- Clothing1M --------------------------------------------------------------------------------

CLOTHING1M_CLASSES = ["T-Shirt", "Shirt", "Knitwear", "Chiffon", "Sweater", "Hoodie", "Windbreaker", "Jacket",
                      "Downcoat", "Suit", "Shawl", "Dress", "Vest", "Underwear"]


def _kv(path: Path) -> dict[str, int]:
    out = {}
    for n, line in enumerate(_read_lines(path)):
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise LraError(f"{path} line {n + 1}: expected '<image key> <label>', found {line!r}")
        out[parts[0]] = int(parts[1])
    return out


def clothing1m(spec: dict, seed: int) -> Manifest:
    """Train: noisy_train_key_list (1M, noisy labels; clean_label where clean_label_kv has one).
    Val / test: clean_val_key_list / clean_test_key_list with their clean labels."""
    root = _root(spec)
    ann = root / "annotations" if (root / "annotations" / "noisy_label_kv.txt").exists() else root
    noisy, clean = _kv(ann / "noisy_label_kv.txt"), _kv(ann / "clean_label_kv.txt")
    names = ann / "category_names_eng.txt"
    classes = _read_lines(names) if names.exists() else CLOTHING1M_CLASSES
    ids, split, src, label, truth = [], [], [], [], []
    for part, file, table in (("train", "noisy_train_key_list.txt", noisy), ("val", "clean_val_key_list.txt", clean),
                              ("test", "clean_test_key_list.txt", clean)):
        listing = ann / file
        for n, key in enumerate(_read_lines(listing)):
            if key not in table:
                which = "noisy_label_kv.txt" if table is noisy else "clean_label_kv.txt"
                raise LraError(f"{listing} line {n + 1}: {key} has no label in {which}")
            ids.append(f"{part}-{n:07d}")
            split.append(part)
            src.append(str(root / key))
            label.append(table[key])
            truth.append(clean.get(key, pd.NA))
    _check_files(src, ann)
    frame = _frame(ids, split, src, label, truth)
    bad = frame["label"].to_numpy() >= len(classes)
    if bad.any():
        raise LraError(f"{ann}: label {int(frame['label'][bad].iloc[0])} outside 0..{len(classes) - 1}")
    return Manifest(frame, classes, {"kind": "clothing1m", "name": dataset_name(spec)})


# --- mini-WebVision (first 50 classes, Google subset) + ILSVRC12 val ---------------------------

WEBVISION_CLASSES = 50


def webvision(spec: dict, seed: int) -> Manifest:
    """Train: info/train_filelist_google.txt rows with label < 50 (noisy web labels).
    Test (dataset.test_set): webvision = info/val_filelist.txt rows with label < 50 (images in
    val_images_256/); ilsvrc12 = the ILSVRC12 val images of those 50 classes under
    dataset.imagenet_val/<wnid>/ (the wnids from info/synsets.txt)."""
    root = _root(spec)
    n_classes = WEBVISION_CLASSES
    synsets_file = root / "info" / "synsets.txt"
    wnids, classes = [], []
    if synsets_file.exists():
        for line in _read_lines(synsets_file)[:n_classes]:
            wnid, _, words = line.partition(" ")
            wnids.append(wnid)
            classes.append(words.split(",")[0].strip() or wnid)
    else:
        classes = [str(c) for c in range(n_classes)]
    if len(set(classes)) != len(classes):  # two synsets can share a first word
        classes = [f"{w} {c}" if classes.count(c) > 1 else c for w, c in zip(wnids or classes, classes)]

    def listed(path: Path, prefix: Path):
        src, y = [], []
        for n, line in enumerate(_read_lines(path)):
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                raise LraError(f"{path} line {n + 1}: expected '<image path> <label>', found {line!r}")
            if int(parts[1]) < n_classes:
                src.append(str(prefix / parts[0]))
                y.append(int(parts[1]))
        return src, y

    train_list = root / "info" / "train_filelist_google.txt"
    tr_src, tr_y = listed(train_list, root)
    _check_files(tr_src, train_list)
    test_set = spec.get("test_set", "webvision")
    if test_set == "webvision":
        test_list = root / "info" / "val_filelist.txt"
        te_src, te_y = listed(test_list, root / "val_images_256")
        _check_files(te_src, test_list)
    elif test_set == "ilsvrc12":
        if not spec.get("imagenet_val"):
            raise LraError("config key dataset.imagenet_val is required for test_set ilsvrc12: the ILSVRC12 "
                           "validation folder with one subfolder per wnid")
        val = _need(Path(spec["imagenet_val"]).expanduser().resolve(), "ILSVRC12 val folder", "dataset.imagenet_val")
        te_src, te_y = [], []
        for c in range(n_classes):
            folder = val / wnids[c] if wnids and (val / wnids[c]).is_dir() else val / str(c)
            _need(folder, f"folder of class {c} ({wnids[c] if wnids else c})", "dataset.imagenet_val")
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
            te_src += [str(p) for p in files]
            te_y += [c] * len(files)
    else:
        raise LraError(f"config key dataset.test_set: {test_set!r}; use webvision or ilsvrc12")
    frame = _frame([f"train-{i:06d}" for i in range(len(tr_y))] + [f"test-{i:05d}" for i in range(len(te_y))],
                   ["train"] * len(tr_y) + ["test"] * len(te_y), tr_src + te_src, tr_y + te_y,
                   [pd.NA] * len(tr_y) + te_y)
    return Manifest(frame, classes, {"kind": "webvision", "name": dataset_name(spec),
                                     "test_set": test_set})


# --- ANIMAL-10N ------------------------------------------------------------------------------

ANIMAL10N_CLASSES = ["cat", "lynx", "wolf", "coyote", "cheetah", "jaguar", "chimpanzee", "orangutan",
                     "hamster", "guinea pig"]


def animal10n(spec: dict, seed: int) -> Manifest:
    """training/ (50,000, noisy) and testing/ (5,000, clean) images named `<label>_<n>.jpg`."""
    root = _root(spec)
    if not (root / "training").is_dir() and (root / "raw_image" / "training").is_dir():
        root = root / "raw_image"
    ids, split, src, label = [], [], [], []
    for part, folder in (("train", "training"), ("test", "testing")):
        files = sorted(p for p in _need(root / folder, f"{folder}/ folder").iterdir() if p.suffix.lower() in (".jpg", ".png"))
        for p in files:
            head = p.name.split("_")[0]
            if not head.isdigit() or int(head) >= len(ANIMAL10N_CLASSES):
                raise LraError(f"{p}: ANIMAL-10N file names start with the label 0..9 and '_', e.g. 3_00012.jpg")
            ids.append(f"{part}-{p.stem}")
            split.append(part)
            src.append(str(p))
            label.append(int(head))
    test = np.asarray(split) == "test"
    clean = [y if t else pd.NA for y, t in zip(label, test)]
    frame = _frame(ids, split, src, label, clean)
    return Manifest(frame, list(ANIMAL10N_CLASSES), {"kind": "animal10n", "name": dataset_name(spec)})


KINDS = {"cifar10": cifar, "cifar100": cifar, "cifar10n": cifar_n, "cifar100n": cifar_n, "food101n": food101n,
         "clothing1m": clothing1m, "webvision": webvision, "animal10n": animal10n}
