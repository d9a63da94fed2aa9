"""Cleaned labels to retrain on: `cleaned.csv`, the dataset in its owner's own columns with the
run's verdict applied by the `clean:` policy.

A training row (split train or val in the manifest) is **flagged** when the model's class (the
deterministic DDIM read-out, predictions' `predicted`) differs from its given label and at most
`max_p_given` of the stochastic trajectories return the given label (`p_given`, from predictions'
`class_frequencies`; without trajectories it is 1 where the model agrees, else 0). The `action`
then decides what happens to a flagged row: `relabel` writes the model's class as its label, `drop`
leaves the row out, `keep` keeps it as it is (only `flagged` says so).

- `given_label` is the label training saw: the observed label under the run's noise spec (for
  `noise: given` the dataset's own label).
- Val rows are training data in the owner's terms (a val split carved from train is `train` in
  their CSV). The model never trained on them, it only chose its epoch against their labels, so
  they are cleaned like train rows.
- Test rows are never flagged, relabelled or dropped; `p_given` is still reported for them.
- Items whose image was unreadable at embed (`embed.options.bad_images: skip`) have no prediction
  and are left out: a retrain could not read them either. They are listed in the feature shards'
  `part-N.skipped.tsv`.

Columns, per dataset kind, then `given_label`, `p_given`, `flagged`:
- folder: the input CSV's own columns in its order and rows, every cell as written (`path` as
  given, its own `split`), except `label` (and `clean_label`, if present) written as class names;
- embeddings: `id`, `split` (as in the file), `label` (and `clean_label`, if present);
- bundled and the paper's kinds: `id`, `source`, `split`, `label`.
Labels are class names wherever the dataset has names (integer datasets' names are the integers).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .core import features
from .core.errors import LraError
from .core.files import atomic_path, read_table
from .data.stage import load_manifest, load_observed
from .score.issues import frequencies, p_given

log = logging.getLogger("lra")

ACTIONS = ("relabel", "drop", "keep")
TRAINING_SPLITS = ("train", "val")


# --- the policy, on arrays ----------------------------------------------------------------------

def apply_policy(given: np.ndarray, predicted: np.ndarray, p: np.ndarray, cleanable: np.ndarray,
                 action: str = "relabel", max_p_given: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(label, keep, flagged) per row: a cleanable row is flagged when the model's class differs
    from the given one and p_given <= max_p_given; `action` relabels, drops or keeps it."""
    if action not in ACTIONS:
        raise LraError(f"config key clean.action: {action!r}; use one of {', '.join(ACTIONS)}")
    if not 0 <= float(max_p_given) <= 1:
        raise LraError(f"config key clean.max_p_given: {max_p_given!r}; use a share between 0 and 1")
    flagged = np.asarray(cleanable, bool) & (predicted != given) & (p <= max_p_given)
    label = np.where(flagged & (action == "relabel"), predicted, given)
    keep = ~(flagged & (action == "drop"))
    return label, keep, flagged


# --- the owner's columns ------------------------------------------------------------------------

def user_columns(m) -> pd.DataFrame:
    """One row per manifest row, in its order: the dataset's columns as its owner wrote them."""
    kind = m.meta["kind"]
    if kind == "folder":
        return _folder_columns(m)
    if kind == "embeddings":
        return _embeddings_columns(m)
    return m.frame[["id", "source", "split"]].assign(label="").reset_index(drop=True)


def _folder_columns(m) -> pd.DataFrame:
    from .data.datasets import read_image_csv

    csv = Path(m.meta["csv"])
    df = read_image_csv(csv, ["path", "label", "split"], "the dataset CSV (config key dataset.csv)")
    root = Path(m.meta.get("root") or csv.parent)
    same = len(df) == len(m.frame) and [str((root / p).resolve()) for p in df["path"]] == m.frame["source"].tolist()
    if not same:
        raise LraError(f"{csv}: the CSV changed since the data stage listed it; rerun from the data stage "
                       "(snakemake --cores all --forcerun data)")
    return df


def _embeddings_columns(m) -> pd.DataFrame:
    from .core.files import INPUT_FIX, read_schema
    from .data.datasets import EMBEDDINGS

    path = Path(m.meta["features"])
    names = read_schema(path, EMBEDDINGS, INPUT_FIX).names
    columns = [c for c in ("id", "split", "label", "clean_label") if c in names]
    df = read_table(path, columns, what=EMBEDDINGS, fix=INPUT_FIX).to_pandas()
    if df["id"].astype(str).tolist() != m.frame["id"].tolist():
        raise LraError(f"{path}: the file changed since the data stage listed it; rerun from the data stage "
                       "(snakemake --cores all --forcerun data)")
    return df.astype({"id": str, "split": str})


def cleaned(m, observed: np.ndarray, predictions: pd.DataFrame, action: str = "relabel",
            max_p_given: float = 0.2, keep_ids=None) -> pd.DataFrame:
    """The cleaned table: the owner's columns with the policy applied, then given_label, p_given,
    flagged. `observed` and `predictions` follow the manifest's rows; `keep_ids` (items with
    features) leaves the others out."""
    f = m.frame.reset_index(drop=True)
    names = np.asarray(m.classes, dtype=object)
    given = np.asarray(observed, np.int64)
    predicted = predictions["predicted"].to_numpy(np.int64)
    p = p_given(given, predicted, frequencies(predictions))
    cleanable = f["split"].isin(TRAINING_SPLITS).to_numpy()
    label, keep, flagged = apply_policy(given, predicted, p, cleanable, action, max_p_given)
    label = np.where(cleanable, label, f["label"].to_numpy(np.int64))  # test rows: as given
    out = user_columns(m).copy()
    out["label"] = names[label]
    if "clean_label" in out:
        clean = f["clean_label"]
        out["clean_label"] = np.where(clean.notna(), names[clean.fillna(0).to_numpy(np.int64)], "")
    out["given_label"] = names[given]
    out["p_given"] = p
    out["flagged"] = flagged
    readable = np.ones(len(f), bool) if keep_ids is None else f["id"].isin(keep_ids).to_numpy()
    keep &= readable
    log.info("clean (%s, max_p_given %s): %d of %d training rows flagged, %d of %d rows written", action,
             max_p_given, int(flagged[readable].sum()), int((cleanable & readable).sum()), int(keep.sum()), len(f))
    return out[keep].reset_index(drop=True)


# --- the stage ----------------------------------------------------------------------------------

def clean(manifest, labels, predictions, feature_paths: list[str], out, action: str = "relabel",
          max_p_given: float = 0.2) -> pd.DataFrame:
    """manifest + observed labels + predictions → cleaned.csv (see the module docstring)."""
    m = load_manifest(manifest)
    pred = read_table(predictions, required=["id", "predicted"], what="the predictions").to_pandas()
    pred_ids = pred["id"].astype(str).to_numpy()
    skipped = features.skipped_ids(feature_paths or [])
    have = ~m.frame["id"].isin(skipped).to_numpy()
    ids = m.frame["id"].to_numpy(str)
    rows = np.full(len(ids), 0)
    rows[have] = features.align(pred_ids, ids[have], predictions)
    observed = np.zeros(len(ids), np.int64)
    observed[have] = load_observed(labels, ids[have])
    table = cleaned(m, observed, pred.iloc[rows].reset_index(drop=True), action, max_p_given, keep_ids=ids[have])
    if not have.all():
        log.info("clean: %d item(s) whose image was unreadable at embed left out", int((~have).sum()))
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    return table
