"""Predictions on new images with a finished run: `lra infer --run RUN --images NEW.csv --out PRED.csv`.

A run folder describes itself. `model.pt` holds the denoiser, the class names and how the run's
features were made (`encoder`: the spec, its result-changing options, its fitted state — for
`pixels` the train split's mean and standard deviation — and the storage dtype);
`predictions.parquet`'s metadata holds the predict parameters (ddim_steps, samples, eta, seed).
The denoiser conditions on an item's features alone, so new images need no neighbour labels and
no retraining: they are embedded exactly as the run's own were (same preprocessing, same
statistics, rounded through the same storage dtype) and run through DDIM. A run whose E_φ is an
image network (`train.image_network`, model.pt's `images`: network, size, normalisation) also
reads each new image's pixels as its predict stage read its own (lra.diffusion.image_network);
such a run refuses `--features`, vectors having no pixels.

Each item's stochastic trajectories are drawn from keys of its absolute image path
(`lra.diffusion.draws`), as the run's predict stage keys a folder dataset's items, so inferring
on one of the run's own images reproduces its `class_frequencies` (bit for bit with `pixels`; with
open_clip up to the floating-point effects of another batch composition).

Images are embedded and predicted in chunks (`chunk_rows`), so a CSV of millions of images needs
one chunk of features in memory; an unreadable image stops the run naming its CSV line, and no
output is left behind (written to a temporary name, renamed when complete).

Output, one row per input row in its order:
- `path`: as written in NEW.csv (relative to NEW.csv's folder); `id` with `--features`;
- `predicted`: the class name of the deterministic DDIM read-out (the paper's, and predict's
  `predicted`);
- `p_predicted`: the share of the run's `predict.samples` stochastic trajectories that return
  that class; `entropy`: of those trajectories' class frequencies (nats). Both empty when the
  run drew no trajectories (`predict.samples: 0`): no evidence is not certainty;
- `top5`: the five classes (fewer when there are fewer) closest to one-hot in the deterministic
  ŷ_0, as metrics.json's top-5 accuracy ranks them, `;`-joined; `predicted` comes first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .core import features, paths
from .core.errors import LraError
from .core.files import atomic_path, read_metadata
from .data import datasets
from .diffusion.stage import load_model

log = logging.getLogger("lra")

TOP = 5
SEPARATOR = ";"


@dataclass
class Run:
    """What a run folder holds for inference."""

    path: Path
    model: object  # the Denoiser, in eval mode
    schedule: object
    classes: list[str]
    encoder: dict | None  # spec, options, state, dtype; None: trained on a user's embeddings file
    predict: dict  # ddim_steps, samples, eta, seed
    images: dict | None = None  # E_φ on pixels: how its images are read (network, size, mean, std, ...)
    guides: tuple | None = None  # a guided run's (Guides, the FAISS index of its train items, k)


def load_run(run_dir) -> Run:
    """The model, classes, encoder record and predict parameters of a run folder."""
    run = Path(run_dir)
    if not run.is_dir():
        raise LraError(f"{run}: no such run folder (--run); a run folder is {paths.run_layout()}")
    model_path, pred_path = run / "model.pt", run / "predictions.parquet"
    for path, stage in ((model_path, "train"), (pred_path, "predict")):
        if not path.is_file():
            raise LraError(f"{run}: no {path.name} in this run folder; finish the run's {stage} stage first "
                           f"(snakemake --cores all), or point --run at a run folder ({paths.run_layout()})")
    model, schedule, state = load_model(model_path)
    if "encoder" not in state:
        raise LraError(f"{model_path}: written by an lra that did not record its encoder; retrain the run to infer "
                       "with it (after this upgrade, snakemake --cores all reruns its embed and train)")
    meta = read_metadata(pred_path, "the predictions")
    params = {"ddim_steps": int(meta.get("ddim_steps", 10)), "samples": int(meta.get("samples", 0)),
              "eta": float(meta.get("eta", 0.0)),
              # older predictions lack the seed; the workflow samples with the run's (= train) seed
              "seed": int(meta.get("seed", state["train_config"].get("seed", 0)))}
    out = Run(run, model, schedule, list(state["classes"]), state["encoder"], params, state.get("images"))
    out.guides = run_guides(out, state)
    return out


def infer(run_dir, out, images=None, feature_file=None, device: str = "auto", batch_size: int = 4096,
          chunk_rows: int = 8192) -> pd.DataFrame:
    """Predict the class of every image listed in `images` (a CSV with a `path` column), or of every
    vector in `feature_file` (a Parquet with `id`, `embedding`), with the run in `run_dir`.

    Images are embedded and predicted `chunk_rows` at a time, so memory stays one chunk of features
    whatever the CSV's length (an item's draws do not depend on its chunk)."""
    if (images is None) == (feature_file is None):
        raise LraError("lra infer: give exactly one of --images (a CSV of image paths) or --features (a Parquet)")
    run = load_run(run_dir)
    if run.images is not None and feature_file is not None:
        raise LraError(f"{run.path}: this run's E_φ is a {run.images['network']} on {run.images['size']}×"
                       f"{run.images['size']} images (train.image_network): it reads the pixels, which vectors "
                       "do not have; give the images with --images CSV")
    if images is not None:
        enc = encoder(run, device)
        rows = read_images(images)
        column, n = "path", len(rows)
        blocks = ((rows["path"].iloc[s:s + chunk_rows], rows["source"].iloc[s:s + chunk_rows],
                   embed(enc, rows.iloc[s:s + chunk_rows], run.encoder["dtype"], images))
                  for s in range(0, n, chunk_rows))
    else:
        ids, x = read_vectors(feature_file)
        column, n, blocks = "id", len(ids), [(ids, ids, x)]
    log.info("infer: %d item(s) with %s (%s), DDIM %d steps, %d trajectories", n, run.path,
             (run.encoder or {}).get("spec", "given features"), run.predict["ddim_steps"], run.predict["samples"])
    tables, done = [], 0
    with atomic_path(out) as tmp:
        for names, keys, x in blocks:
            if x.shape[1] != run.model.hparams["feature_dim"]:
                raise LraError(f"{feature_file or images}: features of {x.shape[1]} values, the run's model takes "
                               f"{run.model.hparams['feature_dim']}; use vectors from the run's own encoder")
            fq = None if run.images is None else image_condition(run, names.index, keys, device, images)
            table = predict(run, x, np.asarray(keys, str), device, batch_size, fq)
            table.insert(0, column, np.asarray(names))
            table.to_csv(tmp, mode="a", header=not done, index=False)
            tables.append(table)
            done += len(table)
            log.info("infer: %d/%d item(s) predicted", done, n)
    return pd.concat(tables, ignore_index=True)


def read_images(csv) -> pd.DataFrame:
    """NEW.csv → `path` as written and `source` (absolute), with the data stage's checks: the file
    and its `path` column exist, it has rows, every image file exists (naming the first missing
    one and its line)."""
    csv = Path(csv).expanduser().resolve()
    df = datasets.read_image_csv(csv, ["path"], "the image CSV (--images)")
    return pd.DataFrame({"path": df["path"], "source": datasets.image_paths(df["path"], csv.parent, csv)})


def encoder(run: Run, device: str = "auto"):
    """The run's image encoder, rebuilt from its record in model.pt (spec, options, fitted state)."""
    from .embed import encoders

    record = run.encoder
    if record is None:
        raise LraError(f"{run.path}: this run was trained on a precomputed embeddings file (dataset kind "
                       "embeddings): it has no image encoder. Pass vectors made the same way with "
                       "--features FILE.parquet (columns id, embedding)")
    if _random_weights(record["spec"]):
        raise LraError(f"{run.path}: the run's encoder {record['spec']} has random weights that were never "
                       "saved, so new images cannot be embedded as its own were; use a pretrained tag or a "
                       "checkpoint file as the encoder")
    options = dict(record["options"])
    if record["spec"].startswith(("open_clip:", "simclr")):
        options["device"] = device
    weights = run_weights(run) if encoders.needs_weights(record["spec"]) else None
    enc = encoders.get(record["spec"], weights, **options)
    if hasattr(enc, "load_state"):
        if not record["state"]:
            raise LraError(f"{run.path}: the run's {record['spec']} features were embedded by an lra that did not "
                           "keep the encoder's train statistics; re-embed and retrain (after this upgrade, "
                           "snakemake --cores all reruns its embed and train)")
        enc.load_state(record["state"])
    return enc


def run_weights(run: Run) -> Path:
    """The weights file a simclr run's features were embedded with, checked against the digest
    they recorded: where it was read (absolute, or relative to the working directory), else the
    same path under the working directory of the run's results tree (infer run from elsewhere)."""
    from .core.chunks import file_digest

    spec, state = run.encoder["spec"], run.encoder["state"]
    if not state.get("weights") or not state.get("digest"):
        raise LraError(f"{run.path}: the run's {spec} features do not record their weights file; re-embed and "
                       "retrain (snakemake --cores all)")
    found = recorded_file(run, state["weights"], f"the run's {spec} features were embedded with the weights file",
                          "snakemake --cores all: pretrain writes it again, and the run's stages rerun on it")
    if file_digest(found) != state["digest"]:
        raise LraError(f"{found}: these weights changed since the run's {spec} features were embedded (digest "
                       f"{file_digest(found)}, the run's {state['digest']}), so new images would not be embedded "
                       "as the run's own were; restore the run's weights file, or rerun the workflow "
                       "(snakemake --cores all) to retrain the run on the new weights")
    return found


def recorded_file(run: Run, recorded, what: str, remake: str) -> Path:
    """A file a run's model records by path: where it was read (absolute, or relative to the
    working directory), else the same path under the working directory of the run's results tree
    (infer run from elsewhere). Missing: one error saying what it is and how to make it again."""
    recorded = Path(recorded)
    places = [recorded] + ([paths.workdir(run.path) / recorded] if not recorded.is_absolute() else [])
    found = next((p for p in places if p.is_file()), None)
    if found is None:
        raise LraError(f"{run.path}: {what} {recorded}, which is missing (looked for "
                       f"{' and '.join(map(str, dict.fromkeys(places)))}); restore it, or rerun the workflow ({remake})")
    return found


def run_guides(run: Run, state: dict):
    """A guided run's head, vote and weights, and the index its new items' neighbours are found in
    (checked: it must hold the run's train items), or None."""
    record = state.get("guides")
    if record is None:
        return None
    from .core.files import read_index
    from .diffusion.guides import Guides

    if not record.get("index"):
        raise LraError(f"{run.path}: this guided run does not record its retrieval index, which new items' "
                       "neighbours come from; retrain it (snakemake --cores all --forcerun train)")
    path = recorded_file(run, record["index"], "the run's neighbours come from the retrieval index",
                         "snakemake --cores all: the index stage builds it again")
    index = read_index(path)
    guides = Guides.from_state(record)
    if index.ntotal != len(guides.train_labels):
        raise LraError(f"{path}: the index holds {index.ntotal} items, the run was trained on "
                       f"{len(guides.train_labels)}; rerun the workflow (snakemake --cores all)")
    return guides, index, int(record["k"])


def embed(enc, rows: pd.DataFrame, dtype: str, csv) -> np.ndarray:
    """Features of `rows`' images as predict reads the run's own: encoded, rounded through the
    shards' storage dtype, L2-normalised. An unreadable image names its CSV line."""
    from .data.images import BadImage

    frame = pd.DataFrame({"id": rows.index.astype(str), "source": rows["source"]}, index=rows.index)
    try:
        x = enc.encode(frame)
    except BadImage as bad:
        line = f" line {bad.row + 2}" if bad.row is not None else ""
        raise LraError(f"{csv}{line}: image {bad.source} {bad.reason}; replace the file or remove its row") from None
    x = features.l2_normalize(np.asarray(x, np.float32).astype(dtype).astype(np.float32))  # embed → shard → load
    return x.astype(dtype, copy=False)


def image_condition(run: Run, index, sources, device: str, csv):
    """BN(E_φ(x)) of new images for a run whose E_φ reads pixels: read exactly as predict reads the
    run's own (lra.diffusion.image_network.condition). An unreadable image names its CSV line."""
    from .core.devices import resolve_device
    from .data.images import BadImage
    from .diffusion.image_network import condition

    frame = pd.DataFrame({"id": np.asarray(index).astype(str), "source": np.asarray(sources, str)},
                         index=np.asarray(index))
    try:
        return condition(run.model, run.images, frame, resolve_device(device), what="the images to infer")
    except BadImage as bad:
        line = f" line {bad.row + 2}" if bad.row is not None else ""
        raise LraError(f"{csv}{line}: image {bad.source} {bad.reason}; replace the file or remove its row") from None


def _random_weights(spec: str) -> bool:
    """open_clip:<model>:none builds fresh random weights on every call (tests and benchmarks only)."""
    from .embed.clip import RANDOM

    kind, _, rest = spec.partition(":")
    return kind == "open_clip" and not rest.startswith(("local-dir:", "hf-hub:")) and \
        rest.rpartition(":")[2].lower() in RANDOM


def read_vectors(path) -> tuple[np.ndarray, np.ndarray]:
    """(ids, features) of a Parquet of vectors, as predict reads a run's feature files."""
    from .core.files import read_table

    path = Path(path).expanduser().resolve()
    read_table(path, columns=["id"], required=["id", "embedding"])  # clear errors on a bad file
    ids = np.concatenate(features.read_ids([path]) or [np.empty(0, str)])
    if not len(ids):
        raise LraError(f"{path}: no rows; give at least one vector")
    return ids, features.load([str(path)], ids)


def predict(run: Run, x: np.ndarray, keys: np.ndarray, device: str = "auto", batch_size: int = 4096,
            fq=None) -> pd.DataFrame:
    """DDIM on features `x` with the run's parameters; draws keyed like the run's own items. `fq`:
    the images' BN(E_φ(x)) when the run's E_φ reads pixels (`image_condition`)."""
    import torch

    from .core.devices import resolve_device
    from .diffusion.draws import item_keys
    from .diffusion.sample import predict as sample

    dev = resolve_device(device)
    run.model.to(dev)
    run.schedule.to(dev)
    p = run.predict
    guide, parts = new_item_guides(run, x)
    y0, votes = sample(run.model, run.schedule, torch.as_tensor(x, device=dev), fq, steps=p["ddim_steps"],
                       batch_size=batch_size, samples=p["samples"], eta=p["eta"], seed=p["seed"],
                       keys=item_keys(keys), **guide.sampling(parts, dev))
    return describe(y0.numpy(), None if votes is None else votes.numpy(), p["samples"], run.classes,
                    guide.scores(y0.numpy(), parts))


def new_item_guides(run: Run, x: np.ndarray):
    """A guided run's parts of new items, as predict computes its test items': the head's
    probabilities and the vote of their k nearest train items in the run's index."""
    from .diffusion.stage import ItemGuides

    if run.guides is None:
        return ItemGuides(), None
    from .retrieval import knn

    guides, index, k = run.guides
    none = np.full(len(x), -1, np.int64)  # no new item is a train item: search as the neighbors stage does
    sims, rows = knn.neighbors(index, np.ascontiguousarray(x, np.float32), k, none)
    guide = ItemGuides(guides, rows, none, len(run.classes), sims)
    return guide, guide.parts(x, slice(None))


def describe(y0: np.ndarray, votes: np.ndarray | None, samples: int, classes: list[str],
             scores: np.ndarray | None = None) -> pd.DataFrame:
    """predicted, p_predicted, entropy, top5 (class names) from ŷ_0 (or the combined read-out's
    `scores`) and the trajectories' votes."""
    from .diffusion.readout import class_order
    from .diffusion.sample import vote_frequencies  # the shares and entropy predict stores

    names = np.asarray(classes, dtype=object)
    order = class_order(y0, scores)
    predicted = order[:, 0]
    out = pd.DataFrame({"predicted": names[predicted]})
    if votes is not None and samples:
        freq, entropy = vote_frequencies(votes, samples)
        out["p_predicted"], out["entropy"] = freq[np.arange(len(freq)), predicted], entropy
    else:
        out["p_predicted"] = out["entropy"] = np.nan
    out["top5"] = [SEPARATOR.join(names[row[:TOP]]) for row in order]
    return out
