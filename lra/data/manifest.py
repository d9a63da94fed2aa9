"""The manifest every dataset kind builds, and the checks they share.

A `Manifest` has one row per item: id, split (train/val/test), source (where the image is),
label (as provided, possibly wrong) and clean_label (nullable: the true label when known).
This module imports no loader: `lra.data.datasets` (the general kinds and the registry of every
kind) and `lra.data.paper` (the paper's benchmarks) both build on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import LraError

SPLITS = ("train", "val", "test")


@dataclass
class Manifest:
    frame: pd.DataFrame  # id, split, source, label, clean_label (Int64, <NA> when unknown)
    classes: list[str]
    meta: dict  # kind, name, and for `folder` the CSV, for `embeddings` the features path


def stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """Assign each item to train/val/test, the same fractions within every class."""
    rng = np.random.default_rng(seed)
    split = np.full(len(y), "train", dtype=object)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * len(idx)))
        n_val = int(round(val_fraction * len(idx)))
        split[idx[:n_test]] = "test"
        split[idx[n_test:n_test + n_val]] = "val"
    return split


def encode_labels(df: pd.DataFrame, classes: list | None, path: Path):
    """Map `label` and optional `clean_label` (class names or integers) to class indices."""
    clean_col = df["clean_label"] if "clean_label" in df else pd.Series([""] * len(df))
    raw = pd.concat([df["label"], clean_col]).astype(str).str.strip()
    present = raw[raw != ""]
    if (df["label"].astype(str).str.strip() == "").any():
        row = int(np.flatnonzero(df["label"].astype(str).str.strip() == "")[0])
        raise LraError(f"{path} line {row + 2}: empty label; every row needs a label")
    integer = present.str.fullmatch(r"-?\d+").all()
    if classes is not None:
        classes = [str(c) for c in classes]
    if integer:
        values = present.astype(int)
        n = len(classes) if classes is not None else int(values.max()) + 1
        names = classes if classes is not None else [str(c) for c in range(n)]
        lookup = {str(c): c for c in range(n)}
    else:
        names = classes if classes is not None else sorted(present.unique())
        lookup = {c: i for i, c in enumerate(names)}

    def convert(col: pd.Series, column: str) -> pd.Series:
        out = []
        for row, value in enumerate(col.astype(str).str.strip()):
            if value == "":
                out.append(pd.NA)
            elif value in lookup:
                out.append(lookup[value])
            else:
                allowed = f"0..{len(names) - 1}" if integer else f"one of the {len(names)} classes"
                raise LraError(
                    f"{path} line {row + 2}: {column} {value!r} is out of range (expected {allowed}); "
                    "fix the row or list every class under config key dataset.classes"
                )
        return pd.array(out, dtype="Int64")

    label = np.asarray(convert(df["label"], "label"), dtype=np.int64)
    clean = convert(clean_col, "clean_label")
    return label, clean, names


def parse_splits(col: pd.Series, path: Path) -> np.ndarray:
    values = col.astype(str).str.strip().str.lower()
    bad = ~values.isin(SPLITS)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise LraError(
            f"{path} line {row + 2}: unknown split {col.iloc[row]!r}; use train, val or test"
        )
    return values.to_numpy(dtype=object)


def check_splits(m: Manifest, spec: dict, seed: int) -> None:
    """Every split present (carving val from train if needed); test classes seen in train."""
    f = m.frame
    if (f["split"] == "val").sum() == 0:
        train = np.flatnonzero(f["split"] == "train")
        carved = stratified_split(f["label"].to_numpy()[train], spec.get("val_fraction", 0.1), 0.0, seed)
        f.loc[train[carved == "val"], "split"] = "val"
    where = m.meta.get("csv") or m.meta.get("features") or m.meta["name"]
    for split in ("train", "test"):
        if (f["split"] == split).sum() == 0:
            raise LraError(f"{where}: no rows with split={split}; mark some rows {split}")
    seen = set(f.loc[f["split"] == "train", "label"])
    test = f[f["split"] == "test"]
    truth = test["clean_label"].fillna(test["label"]).astype(int)
    unseen = sorted(set(truth) - seen)
    if unseen:
        row = int(test.index[truth.isin(unseen)][0])
        raise LraError(
            f"{where} line {row + 2}: test class {m.classes[unseen[0]]!r} never appears among the train "
            f"labels ({len(unseen)} such class(es)); add train rows of it or drop those test rows"
        )


def require_columns(df: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise LraError(
            f"{path}: missing column(s) {', '.join(missing)}; it has {', '.join(map(str, df.columns)) or 'none'}"
        )


def required(spec: dict, key: str, what: str):
    if not spec.get(key):
        raise LraError(f"config key dataset.{key} is required for kind {spec.get('kind')!r}: {what}")
    return spec[key]


def dataset_name(spec: dict) -> str:
    """The dataset's name, its folder under results/: `dataset.name`, else the bundled set's name
    (digits), a paper benchmark's kind (cifar10, clothing1m, ...), or the stem of the folder CSV
    or embeddings file."""
    if spec.get("name"):
        return spec["name"]
    kind = spec.get("kind", "bundled")
    if kind == "bundled":
        return "digits"
    if kind not in ("folder", "embeddings"):
        return kind
    path = spec.get("csv") or spec.get("path")
    if not path:
        raise LraError("config key dataset.name: give the dataset a name (it becomes results/<name>/)")
    return Path(path).stem
