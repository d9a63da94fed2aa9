"""Datasets → manifest: one row per item with id, split, source, label and clean_label.

Three general kinds, plus the paper's benchmarks (cifar10, cifar100, cifar10n, cifar100n,
food101n, clothing1m, webvision, animal10n; see lra.data.paper):
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
from pathlib import Path

import numpy as np
import pandas as pd

from . import paper
from ..core.errors import LraError
from ..core.files import INPUT_FIX, iter_parquet, read_csv, read_schema, read_table
from .manifest import (SPLITS, Manifest, check_splits, encode_labels, dataset_name, parse_splits,
                       require_columns, required as _required, stratified_split)

__all__ = ["BUNDLED", "DIGITS_PREFIX", "KINDS", "SPLITS", "Manifest", "build", "encode_labels", "image_paths",
           "load_digit", "read_image_csv", "stratified_split"]

BUNDLED = ("digits",)
DIGITS_PREFIX = "sklearn-digits:"


def build(spec: dict, seed: int = 0) -> Manifest:
    """Build the manifest of the dataset described by the config's `dataset` block."""
    kind = spec.get("kind", "bundled")
    if kind not in KINDS:
        raise LraError(f"config key dataset.kind: unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    manifest = KINDS[kind](spec, seed)
    check_splits(manifest, spec, seed)
    return manifest


# --- bundled -----------------------------------------------------------------------------

def _bundled(spec: dict, seed: int) -> Manifest:
    name = dataset_name(spec)
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


# --- folder of images with a CSV ------------------------------------------------------------

def _folder(spec: dict, seed: int) -> Manifest:
    csv = Path(_required(spec, "csv", "the CSV listing path,label,split")).expanduser().resolve()
    df = read_image_csv(csv, ["path", "label", "split"], "the dataset CSV (config key dataset.csv)")
    root = Path(spec["root"]).expanduser().resolve() if spec.get("root") else csv.parent
    splits = parse_splits(df["split"], csv)
    label, clean, classes = encode_labels(df, spec.get("classes"), csv)
    paths = image_paths(df["path"], root, csv)
    frame = pd.DataFrame(
        {"id": [f"{i:08d}" for i in range(len(df))], "split": splits, "source": paths,
         "label": label, "clean_label": clean}
    )
    return Manifest(frame, classes, {"kind": "folder", "name": dataset_name(spec), "csv": str(csv), "root": str(root)})


def read_image_csv(csv: Path, columns: list[str], what: str) -> pd.DataFrame:
    """A user's CSV of images, every cell the string exactly as written; fails on a missing or
    damaged file, a missing column, or no rows."""
    df = read_csv(csv, what, INPUT_FIX, dtype=str, keep_default_na=False)
    require_columns(df, columns, csv)
    if not len(df):
        raise LraError(f"{csv}: no rows below the header; list at least one image")
    return df


def image_paths(paths: pd.Series, root: Path, csv: Path) -> list[str]:
    """Absolute image paths of a CSV's `path` column (relative to `root`); fails naming the first
    missing file and its CSV line."""
    out = [str((root / p).resolve()) if p else "" for p in paths]
    missing = [(i, p) for i, p in enumerate(out) if not p or not Path(p).is_file()]
    if missing:
        i, p = missing[0]
        where = "the CSV's folder" if root == csv.parent else f"{root} (config key dataset.root)"
        raise LraError(
            f"{csv} line {i + 2}: image {paths.iloc[i]!r} not found (looked for {p or 'an empty path'}); "
            f"{len(missing)} of {len(out)} images are missing. Paths are relative to {where}."
        )
    return out


# --- precomputed embeddings -------------------------------------------------------------------

EMBEDDINGS = "the embeddings file (config key dataset.path)"


def _embeddings(spec: dict, seed: int) -> Manifest:
    path = Path(_required(spec, "path", "the Parquet file of embeddings")).expanduser().resolve()
    if not path.exists():
        raise LraError(f"{path}: embeddings Parquet not found (config key dataset.path)")
    names = read_schema(path, EMBEDDINGS, INPUT_FIX).names
    require_columns(pd.DataFrame(columns=names), ["id", "split", "label", "embedding"], path)
    columns = [c for c in ("id", "split", "label", "clean_label") if c in names]
    df = read_table(path, columns, what=EMBEDDINGS, fix=INPUT_FIX).to_pandas()
    df = df.astype({c: str for c in columns if c != "id"}).replace({"None": "", "nan": "", "<NA>": ""})
    _check_embeddings(path)
    ids = df["id"].astype(str)
    if ids.duplicated().any():
        raise LraError(f"{path}: id {ids[ids.duplicated()].iloc[0]!r} appears more than once; ids must be unique")
    splits = parse_splits(df["split"], path)
    label, clean, classes = encode_labels(df, spec.get("classes"), path)
    frame = pd.DataFrame({"id": ids.values, "split": splits, "source": str(path),
                          "label": label, "clean_label": clean})
    meta = {"kind": "embeddings", "name": dataset_name(spec), "features": str(path)}
    return Manifest(frame, classes, meta)


def _check_embeddings(path: Path) -> None:
    """Fail on NaN/inf or ragged vectors, naming the first bad row."""
    from ..core.features import embedding_matrix

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


KINDS = {"bundled": _bundled, "folder": _folder, "embeddings": _embeddings, **paper.KINDS}
