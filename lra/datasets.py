"""Datasets → manifest: one row per item with id, split, source, label and clean_label.

Three general kinds, plus the paper's benchmarks (cifar10, cifar100, cifar10n, cifar100n,
food101n, clothing1m, webvision, animal10n; see lra.paper_datasets):
- `bundled`: a labelled image set shipped inside an installed package (scikit-learn's digits),
  split at random (stratified) into train/val/test. Its labels are clean.
- `folder`: a CSV with `path`, `label`, `split` and optional `clean_label`; images read by Pillow.
- `embeddings`: a Parquet file with `id`, `split`, `label`, optional `clean_label` and
  `embedding`; the embed stage is skipped and the file's vectors are the features.

`label` is the label as provided (possibly wrong); `clean_label` (nullable) is the true label when
known and is used for scoring and, for synthetic noise, as the label the noise is applied to.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import LraError
from .io import INPUT_FIX, iter_parquet, read_csv, read_schema, read_table

SPLITS = ("train", "val", "test")
BUNDLED = ("digits",)
DIGITS_PREFIX = "sklearn-digits:"


@dataclass
class Manifest:
    frame: pd.DataFrame  # id, split, source, label, clean_label (Int64, <NA> when unknown)
    classes: list[str]
    meta: dict  # kind, name, and for `embeddings` the features path


def build(spec: dict, seed: int = 0) -> Manifest:
    """Build the manifest of the dataset described by the config's `dataset` block."""
    kind = spec.get("kind", "bundled")
    from .paper_datasets import KINDS as PAPER_KINDS

    builders = {"bundled": _bundled, "folder": _folder, "embeddings": _embeddings, **PAPER_KINDS}
    if kind not in builders:
        raise LraError(f"config key dataset.kind: unknown kind {kind!r}; use one of {', '.join(builders)}")
    manifest = builders[kind](spec, seed)
    _check_splits(manifest, spec, seed)
    return manifest


# --- bundled -----------------------------------------------------------------------------

def _bundled(spec: dict, seed: int) -> Manifest:
    name = spec.get("name", "digits")
    if name not in BUNDLED:
        raise LraError(f"config key dataset.name: no bundled dataset {name!r}; bundled: {', '.join(BUNDLED)}")
    from sklearn.datasets import load_digits

    y = load_digits().target.astype(np.int64)
    split = stratified_split(y, spec.get("val_fraction", 0.1), spec.get("test_fraction", 0.2), seed)
    frame = pd.DataFrame(
        {
            "id": [f"digits-{i:04d}" for i in range(len(y))],
            "split": split,
            "source": [f"{DIGITS_PREFIX}{i}" for i in range(len(y))],
            "label": y,
            "clean_label": pd.array(y, dtype="Int64"),
        }
    )
    return Manifest(frame, [str(c) for c in range(10)], {"kind": "bundled", "name": name})


@functools.lru_cache(maxsize=1)
def _digit_images() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().images  # (1797, 8, 8), values 0..16


def load_digit(source: str):
    """The 8×8 digit image behind a `sklearn-digits:<row>` source, as a Pillow image."""
    from PIL import Image

    pixels = _digit_images()[int(source[len(DIGITS_PREFIX):])]
    return Image.fromarray((pixels * (255 / 16)).astype(np.uint8), mode="L")


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


# --- folder of images with a CSV ------------------------------------------------------------

def _folder(spec: dict, seed: int) -> Manifest:
    csv = Path(_required(spec, "csv", "the CSV listing path,label,split")).expanduser().resolve()
    if not csv.exists():
        raise LraError(f"{csv}: dataset CSV not found (config key dataset.csv)")
    df = read_csv(csv, "the dataset CSV (config key dataset.csv)", INPUT_FIX, dtype=str, keep_default_na=False)
    _require_columns(df, ["path", "label", "split"], csv)
    splits = _parse_splits(df["split"], csv)
    label, clean, classes = encode_labels(df, spec.get("classes"), csv)
    paths = [str((csv.parent / p).resolve()) if p else "" for p in df["path"]]
    missing = [(i, p) for i, p in enumerate(paths) if not p or not Path(p).is_file()]
    if missing:
        i, p = missing[0]
        raise LraError(
            f"{csv} line {i + 2}: image {df['path'].iloc[i]!r} not found (looked for {p}); "
            f"{len(missing)} of {len(df)} images are missing. Paths are relative to the CSV's folder."
        )
    frame = pd.DataFrame(
        {"id": [f"{i:08d}" for i in range(len(df))], "split": splits, "source": paths,
         "label": label, "clean_label": clean}
    )
    return Manifest(frame, classes, {"kind": "folder", "name": _name(spec, csv), "csv": str(csv)})


# --- precomputed embeddings -------------------------------------------------------------------

EMBEDDINGS = "the embeddings file (config key dataset.path)"


def _embeddings(spec: dict, seed: int) -> Manifest:
    path = Path(_required(spec, "path", "the Parquet file of embeddings")).expanduser().resolve()
    if not path.exists():
        raise LraError(f"{path}: embeddings Parquet not found (config key dataset.path)")
    names = read_schema(path, EMBEDDINGS, INPUT_FIX).names
    _require_columns(pd.DataFrame(columns=names), ["id", "split", "label", "embedding"], path)
    columns = [c for c in ("id", "split", "label", "clean_label") if c in names]
    df = read_table(path, columns, what=EMBEDDINGS, fix=INPUT_FIX).to_pandas()
    df = df.astype({c: str for c in columns if c != "id"}).replace({"None": "", "nan": "", "<NA>": ""})
    _check_embeddings(path)
    ids = df["id"].astype(str)
    if ids.duplicated().any():
        raise LraError(f"{path}: id {ids[ids.duplicated()].iloc[0]!r} appears more than once; ids must be unique")
    splits = _parse_splits(df["split"], path)
    label, clean, classes = encode_labels(df, spec.get("classes"), path)
    frame = pd.DataFrame({"id": ids.values, "split": splits, "source": str(path),
                          "label": label, "clean_label": clean})
    meta = {"kind": "embeddings", "name": _name(spec, path), "features": str(path)}
    return Manifest(frame, classes, meta)


def _check_embeddings(path: Path) -> None:
    """Fail on NaN/inf or ragged vectors, naming the first bad row."""
    from .features import embedding_matrix

    offset, dim = 0, None
    for batch in iter_parquet(path, EMBEDDINGS, ["embedding"], 65536, INPUT_FIX):
        x = embedding_matrix(batch.column(0), path, offset)
        if dim is not None and x.shape[1] != dim:
            raise LraError(f"{path} row {offset}: embedding has {x.shape[1]} values, earlier rows {dim}")
        dim = x.shape[1]
        bad = ~np.isfinite(x).all(axis=1)
        if bad.any():
            row = offset + int(np.flatnonzero(bad)[0])
            raise LraError(
                f"{path} row {row}: embedding contains NaN or inf ({int(bad.sum())} such rows in this "
                f"batch); drop or re-embed those items"
            )
        offset += len(x)


# --- shared checks ---------------------------------------------------------------------------

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


def _parse_splits(col: pd.Series, path: Path) -> np.ndarray:
    values = col.astype(str).str.strip().str.lower()
    bad = ~values.isin(SPLITS)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise LraError(
            f"{path} line {row + 2}: unknown split {col.iloc[row]!r}; use train, val or test"
        )
    return values.to_numpy(dtype=object)


def _check_splits(m: Manifest, spec: dict, seed: int) -> None:
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


def _require_columns(df: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise LraError(
            f"{path}: missing column(s) {', '.join(missing)}; it has {', '.join(map(str, df.columns)) or 'none'}"
        )


def _required(spec: dict, key: str, what: str):
    if not spec.get(key):
        raise LraError(f"config key dataset.{key} is required for kind {spec.get('kind')!r}: {what}")
    return spec[key]


def _name(spec: dict, path: Path) -> str:
    return spec.get("name") or path.stem
