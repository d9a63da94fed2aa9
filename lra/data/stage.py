"""The data and noise stages on files, and the readers of their outputs every later stage uses."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..core import features
from ..core.errors import LraError
from ..core.files import read_metadata, read_table, write_frame
from . import datasets, noise as noise_mod
from .manifest import Manifest

log = logging.getLogger("lra")


def data(spec: dict, out, seed: int = 0) -> Manifest:
    """dataset config → manifest.parquet (id, split, source, label, clean_label)."""
    m = datasets.build(spec, seed)
    counts = m.frame["split"].value_counts().to_dict()
    log.info("dataset %s: %d items, %d classes, splits %s", m.meta["name"], len(m.frame), len(m.classes), counts)
    write_frame(m.frame, out, metadata={**m.meta, "classes": m.classes})
    return m


def load_manifest(path, feature_paths=None) -> Manifest:
    """The manifest; given feature shards, without the items their embed left out (bad_images: skip)."""
    frame = read_table(path, required=["id", "split", "source", "label", "clean_label"], what="the manifest").to_pandas()
    frame["clean_label"] = frame["clean_label"].astype("Int64")
    meta = read_metadata(path, "the manifest")
    if feature_paths is not None:
        skipped = features.skipped_ids(feature_paths)
        if skipped:
            keep = ~frame["id"].astype(str).isin(skipped)
            log.info("%d item(s) without features (unreadable images skipped at embed) left out", int((~keep).sum()))
            frame = frame[keep.to_numpy()].reset_index(drop=True)
    return Manifest(frame, meta.pop("classes"), meta)


def noise(manifest, spec: str, out, seed: int = 0, class_map: dict | None = None,
          feature_paths: list[str] | None = None, noise_files: dict | None = None) -> np.ndarray:
    """manifest → labels/{noise}/seed{seed}.parquet (id, observed_label). PMD noise also reads features."""
    m = load_manifest(manifest, feature_paths)
    x = None
    if noise_mod.needs_features(spec):
        if not feature_paths:
            raise LraError(f"noise {spec!r} needs feature files (--features) for its clean classifier")
        _, x = features.read(feature_paths, ids=m.frame["id"].to_numpy(str))
    observed = noise_mod.observed_labels(m.frame, m.classes, spec, seed, class_map, x, noise_files)
    truth = m.frame["clean_label"]
    known = (m.frame["split"] != "test").to_numpy() & truth.notna().to_numpy()
    rate = float((observed[known] != truth[known].astype(int)).mean()) if known.any() else None
    log.info("noise %s: realised rate on train+val %s", spec, rate)
    write_frame(pd.DataFrame({"id": m.frame["id"], "observed_label": observed}), out,
                metadata={"noise": spec, "seed": seed, "realised_rate": rate})
    return observed


def load_observed(path, ids) -> np.ndarray:
    """The observed label of each of `ids`, from a noise stage's label file."""
    t = read_table(path, required=["id", "observed_label"], what="the label file").to_pandas()
    return t["observed_label"].to_numpy()[features.align(t["id"].astype(str).to_numpy(), np.asarray(ids, str), path)]
