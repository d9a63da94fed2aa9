"""One run's figures from its stage outputs, reading only what the figures show.

What is read, whatever the number of items: metrics.json; model.pt (for its training history;
its size does not grow with the items); the test rows of predictions.parquet and of the
manifest (a filtered scan, a few columns); the first 48 rows of label_issues.parquet and those
48 items' manifest rows and images. No other per-item data and no other image is loaded.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from ..core.files import load_torch, read_json, read_metadata, read_schema, read_table
from . import RUN_FIGURES, figures, gallery

log = logging.getLogger("lra")


def plot_run(manifest, model, predictions, metrics, issues, out_dir) -> list[Path]:
    """Write RUN_FIGURES into `out_dir`, all together or none (see `figures.staged`)."""
    meta = read_metadata(manifest, "the manifest")
    classes = [str(c) for c in meta["classes"]]
    m = read_json(metrics, "the run's metrics")
    test = test_rows(manifest, predictions)
    history = training_history(model)
    top = gallery.with_manifest(gallery.least_believed(issues), manifest)
    samples = read_metadata(predictions, "the prediction table").get("samples", 0)
    draw = {
        "training": lambda: figures.training_curve(**history),
        "accuracy": lambda: figures.accuracy_dots(m),
        "confusion": lambda: figures.confusion(test["truth"].to_numpy(), test["predicted"].to_numpy(), classes),
        "per_class": lambda: figures.per_class(m["per_class_accuracy"], class_counts(test["truth"], classes),
                                               m["accuracy"]),
        "label_issues": lambda: label_issue_figure(top, classes, meta.get("kind")),
        "uncertainty": lambda: uncertainty_figure(test, samples, len(classes)),
    }
    paths = [Path(out_dir) / f"{name}.png" for name in RUN_FIGURES]
    with figures.staged(paths) as tmps:
        for name, tmp in zip(RUN_FIGURES, tmps):
            figures.write(draw[name](), tmp)
            log.info("figure %s drawn", name)
    return paths


def test_rows(manifest, predictions) -> pd.DataFrame:
    """Test items: true label (clean_label, else the given one, as score uses), LRA's prediction,
    and the stochastic majority and entropy when predict sampled trajectories."""
    is_test = pc.field("split") == "test"
    truth = read_table(manifest, columns=["id", "label", "clean_label"], required=["id", "split", "label", "clean_label"],
                       what="the manifest", filters=is_test).to_pandas()
    truth["truth"] = truth["clean_label"].astype("Int64").fillna(truth["label"]).astype(np.int64)
    present = read_schema(predictions, "the prediction table").names
    cols = [c for c in ("id", "predicted", "majority", "entropy") if c in present]
    pred = read_table(predictions, columns=cols, required=["id", "split", "predicted"], what="the prediction table",
                      filters=is_test).to_pandas()
    # items skipped at embed (bad_images: skip) have no prediction: an inner join drops them, as score does
    return truth[["id", "truth"]].merge(pred, on="id", how="inner", validate="one_to_one")


def training_history(model) -> dict:
    """history, selected epoch and what the val split was scored on, from model.pt (a few MB
    whatever the number of items: the denoiser's size does not grow with it)."""
    state = load_torch(model, "the model")
    return {"history": state["history"], "selected": state.get("selected_epoch"),
            "select_on": state.get("train_config", {}).get("select_on", "observed")}


def class_counts(truth: pd.Series, classes: list[str]) -> dict[str, int]:
    counts = np.bincount(truth.to_numpy(), minlength=len(classes))
    return {name: int(n) for name, n in zip(classes, counts)}


def label_issue_figure(top: pd.DataFrame, classes: list[str], kind: str | None):
    if kind == "embeddings":
        return gallery.issue_table(top, classes)
    return gallery.gallery(top, gallery.thumbnails(top["source"]), classes)


def uncertainty_figure(test: pd.DataFrame, samples: int, num_classes: int):
    if "entropy" not in test:
        return figures.message("predict ran no stochastic trajectories, so there is no entropy to show:\n"
                               "set predict.samples (default 10) to see it", "Uncertainty")
    correct = (test["predicted"] == test["truth"]).to_numpy()
    return figures.uncertainty(test["entropy"].to_numpy(), correct, int(samples), num_classes)
