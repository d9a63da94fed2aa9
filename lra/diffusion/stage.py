"""The train and predict stages on files, and the reader of the model they share with infer."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..core import features
from ..core.chunks import Chunks, digest, file_digest
from ..core.errors import LraError
from ..core.files import atomic_path, fixed_size_lists, load_torch, short_reason
from ..core.progress import progress
from ..data.manifest import Manifest
from ..data.stage import load_manifest, load_observed
from ..retrieval.stage import neighbor_rows, neighbor_rows_and_similarities
from .config import PredictConfig, TrainConfig

log = logging.getLogger("lra")


def train(manifest, labels, feature_paths: list[str], neighbors_path, out, params: dict | None = None,
          checkpoint_minutes: float = 5.0, num_workers: int | None = None, index_path=None) -> dict:
    """Candidates from neighbours + observed labels → trained denoiser (model.pt, selected on val).
    With an image network (`train.image_network`), E_φ trains on the manifest's images, decoded by
    `num_workers` DataLoader processes (None: the job's threads but one), and model.pt's `images`
    says how predict and infer must read new ones (lra.diffusion.image_network).
    With a prior or the combined read-out (`train.prior`, `train.readout`), the cleaned linear head
    and the neighbour vote are fitted first (lra.diffusion.guides) and model.pt's `guides` keeps
    them, the prior's and the read-out's weights, and where `index_path`, the retrieval index over
    the train items, lies: `lra infer` finds new items' neighbours in it.

    Resumable: saves `train.ckpt` beside `out` every `checkpoint_minutes` and on SIGTERM (then
    exits non-zero); a rerun with the same inputs and params resumes from it, and it is removed
    once `out` is written (`lra.core.training`)."""
    import torch

    from ..core.training import Checkpoint, fingerprint
    from .rounds import train_rounds
    from .train import selected_epoch

    params = dict(params or {})
    cfg = TrainConfig.from_dict(params)
    params.pop("select_on", None)  # the stage's, not the loop's: recorded beside the params as before
    m = load_manifest(manifest, feature_paths)
    f = m.frame
    train_ids = f.loc[f["split"] == "train", "id"].to_numpy(str)
    val = f[f["split"] == "val"]
    observed = load_observed(labels, train_ids)
    nb_rows = neighbor_rows(neighbors_path, train_ids, train_ids)
    x = features.load(feature_paths, np.concatenate([train_ids, val["id"].to_numpy(str)]))
    val_labels = _selection_labels(val, labels, cfg.select_on, manifest)
    n = len(train_ids)
    val_rows = val_sims = None
    if cfg.guided and len(val):
        val_rows, val_sims = neighbor_rows_and_similarities(neighbors_path, val["id"].to_numpy(str), train_ids)
    guides, parts = _fit_guides(cfg, x[:n], observed, nb_rows, x[n:], val_rows, val_labels, len(m.classes), val_sims)
    log.info("train: %d items, %d candidates each, %d classes, %d val items scored on %s labels, %d round(s)",
             len(train_ids), nb_rows.shape[1] + int(cfg.own_label), len(m.classes), len(val), cfg.select_on,
             cfg.rounds)
    images = val_images = record = None
    if cfg.on_pixels:
        from .image_network import train_images

        images, val_images, record = train_images(m, cfg, num_workers)
    pixels = {} if record is None else {"images": record}  # a features run's key and model.pt: as before
    sources = () if record is None else (f.loc[f["split"] != "test", "source"].to_numpy(str),)
    key = fingerprint({**params, "select_on": cfg.select_on, "classes": m.classes, **pixels}, x, observed, nb_rows,
                      val_labels, *sources)
    with Checkpoint(checkpoint_path(out), key, checkpoint_minutes, log=log.info) as ckpt:
        model, schedule, history, relabelled = train_rounds(
            x[:n], observed, nb_rows, len(m.classes), cfg, x[n:] if len(val) else None, val_labels, log=log.info,
            checkpoint=ckpt, images=images, val_images=val_images, prior=parts.get("prior"),
            val_prior=parts.get("val_prior"))
    if guides is not None:
        _choose_readout(guides, cfg, model, schedule, x[n:], val_images, val_labels, parts)
    changed = relabelled != observed
    state = {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
             **({} if guides is None else {"guides": _guides_record(guides, nb_rows.shape[1], train_ids, index_path)}),
             **_plain({"hparams": model.hparams, "train_config": {**params, "select_on": cfg.select_on},
                       "classes": m.classes, "history": history, "selected_epoch": selected_epoch(history),
                       "encoder": features.encoder_info(feature_paths),
                       "relabelled": {"ids": train_ids[changed].tolist(), "labels": relabelled[changed].tolist()},
                       **pixels})}
    with atomic_path(out) as tmp:
        torch.save(state, tmp)
    ckpt.remove()
    return state


def _fit_guides(cfg: TrainConfig, x, observed, nb_rows, val_x, val_rows, val_labels, C: int, val_sims=None):
    """The linear head and the neighbour vote of a guided run (None for the paper's), and the
    parts training needs: the train and val items' CARD prior means and the val items' head and
    vote (for the read-out's weights; the vote's neighbours of these similarities). A train item's
    parts never use its own label (out-of-fold head, neighbours without itself)."""
    if not cfg.guided:
        return None, {}
    from .guides import fit_guides

    has_val = val_rows is not None
    guides = fit_guides(x, observed, nb_rows, C, cfg.prior, cfg.prior_weight, cfg.vote_weighting,
                        val_x if has_val else None, val_rows, val_labels, cfg.seed,
                        probe=cfg.plain_probe, vote_temperature=cfg.vote_temperature)
    parts = {"prior": guides.mu(*guides.train_parts(x, nb_rows, C))}
    if has_val:
        parts["val_parts"] = guides.parts(val_x, val_rows, C, similarities=val_sims)
        parts["val_prior"] = guides.mu(*parts["val_parts"])
    log.info("guides: cleaned linear head (%d of %d train labels kept)%s, prior %s (head weight %.2f)",
             int(guides.head.kept.sum()), len(observed), "" if guides.probe is None else ", plain probe",
             cfg.prior, guides.prior_weight)
    return guides, parts


def _choose_readout(guides, cfg: TrainConfig, model, schedule, val_x, val_images, val_labels, parts: dict) -> None:
    """The combined read-out's weights over (ŷ_0, head, vote[, probe]), chosen on the val split's labels
    (lra.diffusion.readout.choose_weights); without a val split, or with readout: diffusion, the
    class stays the diffusion's own."""
    if cfg.readout != "combined":
        return
    if "val_parts" not in parts:
        log.warning("readout combined: no val split to choose its weights on; the class is the diffusion's own")
        return
    import torch

    from .readout import choose_weights, diffusion_scores
    from .sample import predict as sample
    from .train import image_condition

    device = next(model.parameters()).device
    prior = parts["val_prior"]
    y0, _ = sample(model, schedule, torch.as_tensor(val_x, device=device),
                   image_condition(model, val_images, device, cfg.amp), steps=cfg.ddim_steps,
                   prior=None if prior is None else torch.as_tensor(prior, device=device))
    guides.readout_weights = choose_weights([diffusion_scores(y0.numpy()), *guides.readout_parts(parts["val_parts"])],
                                            val_labels, cfg.readout_step, bootstrap=cfg.readout_bootstrap,
                                            seed=cfg.seed)
    log.info("readout combined: weights %s on (ŷ_0, head, vote%s%s)",
             "/".join(f"{w:g}" for w in guides.readout_weights),
             f" by similarity τ={guides.vote_temperature:g}" if guides.vote_temperature else "",
             "" if guides.probe is None else ", probe")


def _guides_record(guides, k: int, train_ids: np.ndarray, index_path) -> dict:
    """model.pt's `guides`: the fitted head, vote and weights (tensors and plain values), the
    neighbours per item and the train items they were fitted on (a digest: predict checks it),
    and the retrieval index `lra infer` searches for new items' neighbours."""
    import torch

    state = guides.state()
    tensors = {key: v for key, v in state.items() if torch.is_tensor(v)}
    plain = {key: v for key, v in state.items() if not torch.is_tensor(v)}
    return {**tensors, **_plain({**plain, "k": int(k), "train_ids": digest(train_ids),
                                "index": None if index_path is None else str(index_path)})}


def _plain(values: dict) -> dict:
    """The same values as fresh JSON objects. Pickle (torch.save) memoises strings by identity, so
    equal values built along different paths (CLI or Python, resumed or not) would otherwise save
    to different bytes."""
    import json

    return json.loads(json.dumps(values))


def checkpoint_path(model_path) -> Path:
    """`{run}/model.pt` → `{run}/train.ckpt`: beside the model, not a declared output (Snakemake
    deletes a failed job's outputs, and this file must outlive a killed job)."""
    return Path(model_path).with_name("train.ckpt")


def _selection_labels(val: pd.DataFrame, labels, select_on: str, manifest) -> np.ndarray | None:
    """Labels model selection scores against: observed (default) or the clean val labels."""
    if not len(val):
        return None
    if select_on == "observed":
        return load_observed(labels, val["id"].to_numpy(str))
    if select_on == "clean":
        if val["clean_label"].isna().any():
            raise LraError(f"{manifest}: train.select_on=clean needs clean_label on every val row; "
                           f"{int(val['clean_label'].isna().sum())} are missing. Use select_on: observed")
        return val["clean_label"].to_numpy(dtype=np.int64)
    raise LraError(f"config key train.select_on: {select_on!r}; use observed or clean")


def load_model(path):
    """(denoiser in eval mode, its schedule, the whole model.pt dict) of a train stage's output."""
    from .model import Denoiser
    from .schedule import CosineSchedule

    state = load_torch(path, "the model")
    if not isinstance(state, dict) or not {"hparams", "state_dict"} <= set(state):
        raise LraError(f"{path}: not a model written by lra train (no hparams/state_dict); "
                       "delete it so Snakemake retrains it")
    model = Denoiser(**state["hparams"])
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as exc:  # written by an lra whose denoiser differs from this one
        raise LraError(f"{path}: the model does not fit this lra's denoiser ({short_reason(exc)}); "
                       "delete it so Snakemake retrains it") from None
    model.eval()
    return model, CosineSchedule(state["hparams"]["T"]), state


def predict(manifest, feature_paths: list[str], model_path, out, params: dict | None = None,
            neighbors_path=None) -> Path:
    """DDIM predictions for every item: deterministic class and ŷ_0, plus, with `samples` = n,
    the vote frequencies of n stochastic trajectories, their majority class and entropy
    (`params`: PredictConfig's keys). A guided run (model.pt's `guides`) also reads the items'
    neighbours (`neighbors_path`): their head and vote give the prior mean μ the trajectories start
    from, and with the combined read-out each class (and the `scores` column) mixes ŷ_0, head and
    vote with the weights train chose.

    Resumable (`lra.core.chunks`): rows are predicted `chunk_rows` at a time (rounded up to whole
    batches, so chunking never changes a batch) into `<out>.chunks/`, each chunk keyed by the
    model file, the result-changing params and its rows' ids, draw keys and features; a rerun
    after a kill reuses the finished chunks. An item's draws depend only on its key
    (`lra.diffusion.draws`), so the result is the same bytes, interrupted or not. A run whose E_φ
    is an image network (model.pt's `images`) reads every chunk's images as train read its own,
    plain (lra.diffusion.image_network.condition)."""
    import torch

    from ..core.devices import resolve_device
    from .image_network import condition
    from .sample import predict as sample

    p = PredictConfig.from_dict(params or {})
    m = load_manifest(manifest, feature_paths)
    ids = m.frame["id"].to_numpy(str)
    splits = m.frame["split"].to_numpy(str)
    x = features.load(feature_paths, ids)
    keys = item_keys(m)
    rows = -(-max(1, int(p.chunk_rows)) // p.batch_size) * p.batch_size
    starts = range(0, max(1, len(ids)), rows)
    model, schedule, state = load_model(model_path)  # a missing or damaged model fails here, clearly
    record = state.get("images")  # E_φ on pixels: the images, read as train read them
    guide = ItemGuides.of(state, m, neighbors_path, model_path)
    base = digest(file_digest(model_path), [p.ddim_steps, p.samples, p.eta, p.seed, p.batch_size], str(x.dtype))
    chunks = Chunks(out, [digest(base, ids[s:s + rows], keys[s:s + rows], x[s:s + rows], *guide.key(s, rows))
                          for s in starts])
    todo = chunks.todo()
    log.info("predict: %d rows in %d chunk(s), %d to compute", len(ids), len(starts), len(todo))
    dev = resolve_device(p.device)
    model.to(dev)
    schedule.to(dev)
    with progress(total=sum(len(ids[starts[i]:starts[i] + rows]) for i in todo), desc="predict", unit="items") as bar:
        for i in todo:
            s = slice(starts[i], starts[i] + rows)
            fq = None if record is None else condition(model, record, m.frame.iloc[s], dev)
            parts = guide.parts(x[s], s)
            y0, votes = sample(model, schedule, torch.as_tensor(x[s], device=dev), fq, steps=p.ddim_steps,
                               batch_size=p.batch_size, samples=p.samples, eta=p.eta, seed=p.seed, keys=keys[s],
                               **guide.sampling(parts, dev))
            chunks.write(i, prediction_table(ids[s], splits[s], y0, votes, p.samples, len(m.classes),
                                             guide.scores(y0.numpy(), parts)))
            bar.update(len(ids[s]))
    chunks.assemble({"ddim_steps": p.ddim_steps, "samples": p.samples, "eta": p.eta, "seed": p.seed})
    chunks.remove()
    return Path(out)  # not the table: at a million items its pandas copy alone is gigabytes


def prediction_table(ids, splits, y0, votes, samples: int, C: int, scores: np.ndarray | None = None) -> pa.Table:
    """predictions.parquet's columns: id, split, predicted, y0, with the combined read-out its
    `scores`, and with trajectories their class_frequencies, majority and entropy."""
    from .readout import read_out
    from .sample import vote_frequencies

    predicted = read_out(y0).numpy() if scores is None else scores.argmax(axis=1)
    cols = {"id": pa.array(ids), "split": pa.array(splits),
            "predicted": pa.array(predicted),
            "y0": fixed_size_lists(y0.numpy(), C)}
    if scores is not None:
        cols["scores"] = fixed_size_lists(scores.astype(np.float32), C)
    if votes is not None:
        p, entropy = vote_frequencies(votes.numpy(), samples)
        cols["class_frequencies"] = fixed_size_lists(p, C)
        cols["majority"] = pa.array(votes.numpy().argmax(axis=1))
        cols["entropy"] = pa.array(entropy)
    return pa.table(cols)


def ranked_rows(pred, rows) -> np.ndarray:
    """Every class of predictions.parquet's `rows` (a pandas frame of it), best first, as predict
    read them out: by the `scores` column where the run mixed its read-out, else by ŷ_0."""
    from .readout import class_order

    if "scores" in pred:
        return class_order(None, np.stack(pred["scores"].to_numpy()[rows]))
    return class_order(np.stack(pred["y0"].to_numpy()[rows]))


def item_keys(m: Manifest) -> np.ndarray:
    """Keys of the per-item sampling draws: the image source, so `lra infer` on the same image
    draws the same trajectories; the id for embeddings, whose rows share one source file."""
    from .draws import item_keys as keys

    return keys(m.frame["id" if m.meta["kind"] == "embeddings" else "source"].astype(str).to_numpy())


class ItemGuides:
    """A guided run's head, vote, prior and read-out for the items predict scores, chunk by
    chunk; for a run without `guides` (the paper's) every part is absent and nothing changes."""

    def __init__(self, guides=None, neighbors=None, train_pos=None, num_classes: int = 0, similarities=None):
        self.guides, self.neighbors, self.train_pos, self.C = guides, neighbors, train_pos, num_classes
        self.similarities = similarities  # of the neighbours: the read-out's vote weighs them (vote_temperature)

    @classmethod
    def of(cls, state: dict, m: Manifest, neighbors_path, model_path) -> "ItemGuides":
        if "guides" not in state:
            return cls()
        from .guides import Guides

        record = state["guides"]
        if neighbors_path is None:
            raise LraError(f"{model_path}: a guided run (train.prior / train.readout) predicts from the items' "
                           "neighbours: pass the neighbour table (--neighbors)")
        f = m.frame
        ids, train_ids = f["id"].to_numpy(str), f.loc[f["split"] == "train", "id"].to_numpy(str)
        if digest(train_ids) != record["train_ids"]:
            raise LraError(f"{model_path}: trained on other train items than the manifest lists; rerun train "
                           "(snakemake --cores all --forcerun train)")
        train_pos = np.full(len(ids), -1, np.int64)
        train_pos[(f["split"] == "train").to_numpy()] = np.arange(len(train_ids))
        guides = Guides.from_state(record)
        if guides.vote_temperature:
            rows, sims = neighbor_rows_and_similarities(neighbors_path, ids, train_ids)
        else:
            rows, sims = neighbor_rows(neighbors_path, ids, train_ids), None
        return cls(guides, rows, train_pos, len(state["classes"]), sims)

    def key(self, start: int, rows: int) -> tuple:
        """What a chunk's predictions depend on beyond the model and its features."""
        if self.guides is None:
            return ()
        s = slice(start, start + rows)
        return (self.neighbors[s],) + (() if self.similarities is None else (self.similarities[s],))

    def parts(self, x: np.ndarray, s: slice) -> tuple | None:
        if self.guides is None:
            return None
        sims = None if self.similarities is None else self.similarities[s]
        return self.guides.parts(x, self.neighbors[s], self.C, self.train_pos[s], sims)

    def sampling(self, parts, device) -> dict:
        """The sampler's prior μ and combined read-out of the chunk's items."""
        if parts is None:
            return {}
        import torch

        from .readout import split_weights

        mu = self.guides.mu(*parts)
        out = {"prior": None if mu is None else torch.as_tensor(mu, device=device)}
        if self.guides.readout_weights is not None:
            w, rest = split_weights(self.guides.readout_weights, list(self.guides.readout_parts(parts)))
            out["readout"] = (w, torch.as_tensor(rest))
        return out

    def scores(self, y0: np.ndarray, parts) -> np.ndarray | None:
        return None if parts is None else self.guides.scores(y0, *parts)
