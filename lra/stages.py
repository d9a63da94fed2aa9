"""The stages of the DAG as functions of files: each Snakemake rule calls exactly one of these.

Each reads its inputs, calls the array-level library, and writes its outputs atomically.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from . import baselines, datasets, features, metrics, noise as noise_mod, retrieval, subsample
from .errors import LraError
from .io import (atomic_path, fixed_size_lists, load_torch, read_index, read_metadata, read_table, short_reason,
                 write_frame, write_json, write_table)
from .progress import progress

log = logging.getLogger("lra")


# --- manifest and labels ---------------------------------------------------------------------

def data(spec: dict, out, seed: int = 0) -> datasets.Manifest:
    """dataset config → manifest.parquet (id, split, source, label, clean_label)."""
    m = datasets.build(spec, seed)
    counts = m.frame["split"].value_counts().to_dict()
    log.info("dataset %s: %d items, %d classes, splits %s", m.meta["name"], len(m.frame), len(m.classes), counts)
    write_frame(m.frame, out, metadata={**m.meta, "classes": m.classes})
    return m


def load_manifest(path, feature_paths=None) -> datasets.Manifest:
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
    return datasets.Manifest(frame, meta.pop("classes"), meta)


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
    t = read_table(path, required=["id", "observed_label"], what="the label file").to_pandas()
    return t["observed_label"].to_numpy()[features.align(t["id"].astype(str).to_numpy(), np.asarray(ids, str), path)]


# --- features, index, neighbours ---------------------------------------------------------------

BAD_IMAGE_POLICIES = ("fail", "skip")


def embed(manifest, encoder: str, out, shard: int = 0, num_shards: int = 1, dtype: str = "float32",
          chunk_rows: int = 8192, bad_images: str = "fail", **options) -> dict:
    """manifest → features/{encoder}/part-{shard}.parquet for one contiguous block of rows.

    Resumable: rows are embedded `chunk_rows` at a time and each chunk is written atomically into
    `<out>.chunks/`, keyed by a fingerprint of the encoder, its result-changing options and the
    manifest. A rerun after a kill reuses every finished chunk whose key matches, then assembles
    the part file (atomically, one chunk in memory at a time) and removes the chunk folder.

    `bad_images`: `fail` stops at the first unreadable image, naming row and file; `skip` leaves
    such items out of the part, lists them (id, source, reason) in the part's metadata and in
    `part-{shard}.skipped.tsv` next to it, and the later stages drop them from the manifest.
    """
    from . import encoders

    if bad_images not in BAD_IMAGE_POLICIES:
        raise LraError(f"config key embed.options.bad_images: {bad_images!r}; use fail or skip")
    if int(chunk_rows) < 1:
        raise LraError(f"config key embed.options.chunk_rows: {chunk_rows!r}; use a positive integer")
    if not 0 <= shard < num_shards:
        raise LraError(f"lra embed: --shard {shard} is outside 0..{num_shards - 1} (--num-shards {num_shards})")
    m = load_manifest(manifest)
    if m.meta["kind"] == "embeddings":
        raise LraError(f"{manifest}: dataset kind 'embeddings' has its features already; there is nothing to embed")
    from .chunks import Chunks

    out = Path(out)
    block = np.array_split(np.arange(len(m.frame)), num_shards)[shard]
    starts = list(range(0, len(block), int(chunk_rows)))
    base = _embed_key(m.frame, encoder, {**options, "bad_images": bad_images})
    keys = [f"{base}-{i}-{_rows_digest(m.frame.iloc[block[s:s + chunk_rows]])}" for i, s in enumerate(starts)]
    chunks = Chunks(out, keys)  # also clears partial writes of a killed job
    todo = chunks.todo()
    log.info("embed %s shard %d/%d: %d rows in %d chunk(s), %d to compute", encoder, shard, num_shards,
             len(block), len(starts), len(todo))
    skip = bad_images == "skip"
    if todo:
        enc = encoders.get(encoder, **options)
        if hasattr(enc, "fit"):
            enc.fit(m.frame, [] if skip else None)
        bar = progress(total=sum(len(block[starts[i]:starts[i] + chunk_rows]) for i in todo),
                       desc=f"embed {encoder}", unit="images")
        for i in todo:
            rows = m.frame.iloc[block[starts[i]:starts[i] + chunk_rows]]
            skipped = [] if skip else None
            x = enc.encode(rows, skipped, progress=bar)
            ok = np.isfinite(x).all(axis=1)
            bad = [{"id": b.item_id, "source": b.source, "reason": b.reason} for b in skipped or []]
            if not skip and not ok.all():
                raise LraError(f"encoder {encoder} returned NaN or inf for manifest row {int(rows.index[~ok][0])}")
            features.write(rows["id"].to_numpy(str)[ok], x[ok], chunks.paths[i], "float32",
                           meta={"key": keys[i], "skipped": bad, "encoder_state": getattr(enc, "state", dict)()})
        bar.close()
    meta = _assemble(chunks.paths, out, dtype, {"encoder": encoder, "shard": shard, "num_shards": num_shards,
                                               "rows": int(len(block)), "options": _kept_options(options)})
    _write_skipped(out, meta["skipped"], skip)
    if meta["skipped"]:
        log.warning("embed: %d unreadable image(s) left out; listed in %s", len(meta["skipped"]), skipped_path(out))
    chunks.remove()
    return meta


# Options that change how fast features are made, not what they are: they do not void a chunk.
_SPEED_OPTIONS = ("batch_size", "num_workers", "device", "cache_dir")


def _kept_options(options: dict) -> dict:
    """The encoder options `lra infer` needs to rebuild the encoder (not how fast this job ran)."""
    return {k: v for k, v in options.items() if k not in ("batch_size", "num_workers", "device")}


def _embed_key(frame: pd.DataFrame, encoder: str, options: dict) -> str:
    """Fingerprint of what a chunk's features depend on beyond its own rows: the encoder, its
    result-changing options, and the manifest (fitted encoders use the whole train split)."""
    import hashlib
    import json

    h = hashlib.sha256(json.dumps([encoder, {k: v for k, v in sorted(options.items()) if k not in _SPEED_OPTIONS}],
                                  sort_keys=True, default=str).encode())
    h.update(_rows_digest(frame).encode())
    return h.hexdigest()[:16]


def _rows_digest(frame: pd.DataFrame) -> str:
    import hashlib

    hashed = pd.util.hash_pandas_object(frame[["id", "split", "source"]].astype(str), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:16]


CHUNK, CHUNK_FIX = "the embed chunk", "delete it (its chunk is recomputed on the next run)"


def _assemble(chunk_paths: list[Path], out: Path, dtype: str, meta: dict) -> dict:
    """Chunks → the part file, streamed one chunk at a time, renamed into place when complete."""
    import json

    import pyarrow.parquet as pq

    metas = [read_metadata(p, CHUNK, CHUNK_FIX) for p in chunk_paths]
    # A fitted encoder's state (pixels: the train mean/std) is the same in every chunk of the key.
    meta = {**meta, "skipped": [s for m in metas for s in m["skipped"]],
            "encoder_state": next((m["encoder_state"] for m in metas if m.get("encoder_state")), {})}
    tables = (read_table(p, what=CHUNK, fix=CHUNK_FIX) for p in chunk_paths)
    first = next(tables, None)
    if first is None:
        features.write([], np.empty((0, 1), np.float32), out, dtype, meta)
        return meta
    dim = first.schema.field("embedding").type.list_size
    schema = features.to_table([], np.empty((0, dim), np.float32), dtype).schema
    schema = schema.with_metadata({b"lra": json.dumps(meta).encode()})
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema, write_page_checksum=True) as writer:
        writer.write_table(_cast(first, schema))
        for t in tables:
            writer.write_table(_cast(t, schema))
    return meta


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A float32 chunk table in the part's schema (float16 storage when asked)."""
    return table.replace_schema_metadata(None).cast(schema.remove_metadata()).replace_schema_metadata(schema.metadata)


def skipped_path(part) -> Path:
    """`part-00000.parquet` → `part-00000.skipped.tsv`: the unreadable images left out of it."""
    part = Path(part)
    return part.with_name(part.name.removesuffix(".parquet") + ".skipped.tsv")


def _write_skipped(out: Path, skipped: list[dict], skip: bool) -> None:
    path = skipped_path(out)
    if not skip:
        path.unlink(missing_ok=True)  # a stale list from an earlier skip run would mislead
        return
    df = pd.DataFrame(skipped, columns=["id", "source", "reason"])
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)


def index(manifest, feature_paths: list[str], out, index_type: str = "auto") -> None:
    """Train-split features → a FAISS inner-product index; vector ids = positions among train rows.

    Reads the shards batch by batch (twice when the index type needs training: once for a
    random training sample, once to add), never holding all features in memory.
    """
    import faiss

    m = load_manifest(manifest, feature_paths)
    train_ids = m.frame.loc[m.frame["split"] == "train", "id"].to_numpy(str)
    target = features.stored_positions(feature_paths, train_ids)
    n, dim = len(train_ids), features.dim(feature_paths)
    desc = retrieval.factory_string(index_type, n, dim)
    idx = retrieval.build_streamed(lambda: features.iter_wanted(feature_paths, target), n, dim, desc)
    log.info("index %s over %d train items, dim %d", desc, idx.ntotal, dim)
    with atomic_path(out) as tmp:
        faiss.write_index(idx, str(tmp))


def neighbors(manifest, feature_paths: list[str], index_path, k: int, out, device: str = "auto") -> None:
    """Every item's k nearest train items (a train item never lists itself) → neighbours table.

    Queries stream shard by shard; only the (N, k) result is held, never all features.
    """
    m = load_manifest(manifest, feature_paths)
    ids = m.frame["id"].to_numpy(str)
    is_train = m.frame["split"].to_numpy() == "train"
    train_ids = ids[is_train]
    idx = read_index(index_path)
    if idx.ntotal != len(train_ids):
        raise LraError(f"{index_path}: index holds {idx.ntotal} items, manifest has {len(train_ids)} train items; rebuild the index")
    retrieval.check_k(idx, k, exclude_self=True)
    idx = retrieval.to_device(idx, device)
    self_pos = np.full(len(ids), -1, dtype=np.int64)
    self_pos[is_train] = np.arange(len(train_ids))
    sims = np.full((len(ids), k), np.nan, np.float32)
    rows = np.full((len(ids), k), -1, np.int64)
    target = features.stored_positions(feature_paths, ids)  # each id maps to exactly one stored row
    with progress(total=len(ids), desc=f"neighbors k={k}", unit="items") as bar:
        for t, x in features.iter_wanted(feature_paths, target, batch_size=retrieval.SEARCH_BATCH):
            sims[t], rows[t] = retrieval.neighbors(idx, x, k, self_pos[t])
            bar.update(len(t))
    if (rows < 0).any():
        bad = int(np.flatnonzero((rows < 0).any(axis=1))[0])
        raise LraError(f"{index_path}: the index found fewer than {k} neighbours for item {ids[bad]!r}; "
                       "an approximate index needs more nprobe or fewer lists (config key index), or use Flat")
    table = pa.table({
        "id": pa.array(ids),
        "neighbors": fixed_size_lists(train_ids[rows], k),
        "similarities": fixed_size_lists(sims, k),
    })
    write_table(table, out, metadata={"k": k})


def load_neighbors(path, ids) -> np.ndarray:
    """The (len(ids), k) neighbour id matrix for `ids`."""
    t = read_table(path, required=["id", "neighbors"], what="the neighbour table")
    col = t.column("neighbors").combine_chunks()
    k = col.type.list_size
    nb = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=str).reshape(-1, k)
    return nb[features.align(np.asarray(t.column("id").to_pylist(), dtype=str), np.asarray(ids, str), path)]


# --- diffusion: train, predict ------------------------------------------------------------------

def train(manifest, labels, feature_paths: list[str], neighbors_path, out, params: dict | None = None,
          checkpoint_minutes: float = 5.0) -> dict:
    """Candidates from neighbours + observed labels → trained denoiser (model.pt, selected on val).

    Resumable: saves `train.ckpt` beside `out` every `checkpoint_minutes` and on SIGTERM (then
    exits non-zero); a rerun with the same inputs and params resumes from it, and it is removed
    once `out` is written (`lra.diffusion.checkpoint`)."""
    import torch

    from .diffusion import TrainConfig
    from .diffusion.checkpoint import Checkpoint, fingerprint
    from .diffusion.rounds import train_rounds
    from .diffusion.train import selected_epoch

    params = dict(params or {})
    select_on = params.pop("select_on", "observed")
    cfg = TrainConfig.from_dict(params)
    m = load_manifest(manifest, feature_paths)
    f = m.frame
    train_ids = f.loc[f["split"] == "train", "id"].to_numpy(str)
    val = f[f["split"] == "val"]
    observed = load_observed(labels, train_ids)
    nb = load_neighbors(neighbors_path, train_ids)
    nb_rows = features.align(train_ids, nb.reshape(-1), neighbors_path).reshape(nb.shape)
    x = features.load(feature_paths, np.concatenate([train_ids, val["id"].to_numpy(str)]))
    val_labels = _selection_labels(val, labels, select_on, manifest)
    log.info("train: %d items, %d candidates each, %d classes, %d val items scored on %s labels, %d round(s)",
             len(train_ids), nb_rows.shape[1] + int(cfg.own_label), len(m.classes), len(val), select_on, cfg.rounds)
    key = fingerprint({**params, "select_on": select_on, "classes": m.classes}, x, observed, nb_rows, val_labels)
    with Checkpoint(checkpoint_path(out), key, checkpoint_minutes, log=log.info) as ckpt:
        model, _, history, relabelled = train_rounds(x[:len(train_ids)], observed, nb_rows, len(m.classes), cfg,
                                                     x[len(train_ids):] if len(val) else None, val_labels,
                                                     log=log.info, checkpoint=ckpt)
    changed = relabelled != observed
    state = {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
             **_plain({"hparams": model.hparams, "train_config": {**params, "select_on": select_on},
                       "classes": m.classes, "history": history, "selected_epoch": selected_epoch(history),
                       "encoder": features.encoder_info(feature_paths),
                       "relabelled": {"ids": train_ids[changed].tolist(), "labels": relabelled[changed].tolist()}})}
    with atomic_path(out) as tmp:
        torch.save(state, tmp)
    ckpt.remove()
    return state


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
    from .diffusion import CosineSchedule, Denoiser

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


def predict(manifest, feature_paths: list[str], model_path, out, ddim_steps: int = 10, samples: int = 0,
            eta: float = 0.0, seed: int = 0, device: str = "auto", batch_size: int = 4096,
            chunk_rows: int = 65536) -> Path:
    """DDIM predictions for every item: deterministic class and ŷ_0, plus, with `samples` = n,
    the vote frequencies of n stochastic trajectories, their majority class and entropy.

    Resumable (`lra.chunks`): rows are predicted `chunk_rows` at a time (rounded up to whole
    batches, so chunking never changes a batch) into `<out>.chunks/`, each chunk keyed by the
    model file, the result-changing params and its rows' ids, draw keys and features; a rerun
    after a kill reuses the finished chunks. An item's draws depend only on its key
    (`lra.diffusion.draws`), so the result is the same bytes, interrupted or not."""
    import torch

    from .chunks import Chunks, digest, file_digest
    from .diffusion.sample import predict as sample
    from .diffusion.train import resolve_device

    m = load_manifest(manifest, feature_paths)
    ids = m.frame["id"].to_numpy(str)
    splits = m.frame["split"].to_numpy(str)
    x = features.load(feature_paths, ids)
    keys = item_keys(m)
    rows = -(-max(1, int(chunk_rows)) // batch_size) * batch_size
    starts = range(0, max(1, len(ids)), rows)
    model, schedule, _ = load_model(model_path)  # a missing or damaged model fails here, clearly
    base = digest(file_digest(model_path), [ddim_steps, samples, eta, seed, batch_size], str(x.dtype))
    chunks = Chunks(out, [digest(base, ids[s:s + rows], keys[s:s + rows], x[s:s + rows]) for s in starts])
    todo = chunks.todo()
    log.info("predict: %d rows in %d chunk(s), %d to compute", len(ids), len(starts), len(todo))
    dev = resolve_device(device)
    model.to(dev)
    schedule.to(dev)
    with progress(total=sum(len(ids[starts[i]:starts[i] + rows]) for i in todo), desc="predict", unit="items") as bar:
        for i in todo:
            s = slice(starts[i], starts[i] + rows)
            y0, votes = sample(model, schedule, torch.as_tensor(x[s], device=dev), steps=ddim_steps,
                               batch_size=batch_size, samples=samples, eta=eta, seed=seed, keys=keys[s])
            chunks.write(i, _prediction_table(ids[s], splits[s], y0, votes, samples, len(m.classes)))
            bar.update(len(ids[s]))
    chunks.assemble({"ddim_steps": ddim_steps, "samples": samples, "eta": eta, "seed": seed})
    chunks.remove()
    return Path(out)  # not the table: at a million items its pandas copy alone is gigabytes


def _prediction_table(ids, splits, y0, votes, samples: int, C: int) -> pa.Table:
    from .diffusion.sample import read_out, vote_frequencies

    cols = {"id": pa.array(ids), "split": pa.array(splits),
            "predicted": pa.array(read_out(y0).numpy()),
            "y0": fixed_size_lists(y0.numpy(), C)}
    if votes is not None:
        p, entropy = vote_frequencies(votes.numpy(), samples)
        cols["class_frequencies"] = fixed_size_lists(p, C)
        cols["majority"] = pa.array(votes.numpy().argmax(axis=1))
        cols["entropy"] = pa.array(entropy)
    return pa.table(cols)


def item_keys(m: datasets.Manifest) -> np.ndarray:
    """Keys of the per-item sampling draws: the image source, so `lra infer` on the same image
    draws the same trajectories; the id for embeddings, whose rows share one source file."""
    from .diffusion.draws import item_keys as keys

    return keys(m.frame["id" if m.meta["kind"] == "embeddings" else "source"].astype(str).to_numpy())


# --- scoring ----------------------------------------------------------------------------------

BASELINES = ("knn_vote", "linear_probe", "cleanlab", "datalab_relabel")


def score(manifest, labels, feature_paths: list[str], neighbors_path, predictions, out_metrics, out_issues,
          run: dict | None = None, seed: int = 0, baseline_names=BASELINES, baseline_sample: int = 50_000) -> dict:
    """Test accuracy of LRA and of the baselines on the same features; the training-label issue table.

    The fitted baselines learn from all train items up to `baseline_sample` of them, beyond that
    from a stratified sample (`lra.subsample`; metrics.json's `baseline_sample` says which), and
    are scored on the whole test split. Only the features of those items and of the test split
    are read, once, in the precision stored."""
    m = load_manifest(manifest, feature_paths)
    f = m.frame
    pred = read_table(predictions, required=["id", "split", "predicted", "y0"], what="the prediction table").to_pandas()
    pred = pred.iloc[features.align(pred["id"].astype(str).to_numpy(), f["id"].to_numpy(str), predictions)]
    truth = f["clean_label"].fillna(f["label"]).to_numpy(dtype=np.int64)
    observed = load_observed(labels, f["id"].to_numpy(str))
    test = (f["split"] == "test").to_numpy()
    train = (f["split"] == "train").to_numpy()
    y_pred = pred["predicted"].to_numpy()
    out = {
        "run": run or {},
        "n_test": int(test.sum()),
        "n_train": int(train.sum()),
        "accuracy": metrics.accuracy(y_pred[test], truth[test]),
        "per_class_accuracy": metrics.per_class_accuracy(y_pred[test], truth[test], m.classes),
    }
    if len(m.classes) >= 5:
        y0 = np.stack(pred["y0"].to_numpy()[test])
        out["top5_accuracy"] = metrics.top_k_accuracy(-np.abs(y0 - 1), truth[test], 5)
    if "majority" in pred:
        out["accuracy_stochastic"] = metrics.accuracy(pred["majority"].to_numpy()[test], truth[test])
    clean_train = train & f["clean_label"].notna().to_numpy()
    if clean_train.any():
        out["train_noise_rate"] = float((observed != truth)[clean_train].mean())
    ids = f["id"].to_numpy(str)
    fit = subsample.fit_rows(np.flatnonzero(train), observed, baseline_sample, seed)
    out["baseline_sample"] = fit.record
    if fit.record["sampled"]:
        log.info("score: baselines fit on a stratified sample of %d of %d train items", len(fit.rows), train.sum())
    x = features.load(feature_paths, ids[np.concatenate([fit.rows, np.flatnonzero(test)])])  # the one copy
    x_fit, x_test = x[:len(fit.rows)], x[len(fit.rows):]
    out["baselines"] = _baselines(x_fit, x_test, fit.rows, ids, train, test, observed, truth, neighbors_path,
                                  len(m.classes), seed, baseline_names, clean_known=clean_train.sum() == train.sum())
    issues = _label_issues(ids, pred, observed, train)
    if clean_train.sum() == train.sum():
        wrong = observed != truth
        ours = issues.sort_values("row")["flag"].to_numpy()
        # cleanlab needs out-of-fold probabilities of every item it scores: the fit rows (a sample at scale)
        oof = baselines.out_of_fold_proba(x_fit, observed[fit.rows], len(m.classes), seed)
        flagged = baselines.cleanlab_issues(observed[fit.rows], oof)
        out["label_issues"] = {**metrics.precision_recall_f1(ours, wrong[train]),
                               "cleanlab": metrics.precision_recall_f1(flagged, wrong[fit.rows])}
        if fit.record["sampled"]:  # ours on the very items cleanlab scored
            out["label_issues"]["ours_on_sample"] = metrics.precision_recall_f1(ours[fit.positions], wrong[fit.rows])
    write_frame(issues.drop(columns="row"), out_issues)
    write_json(out, out_metrics)
    return out


def _baselines(x_fit, x_test, fit_rows, ids, train, test, observed, truth, neighbors_path, C, seed, names,
               clean_known) -> dict:
    """Test accuracy of each named baseline on the same features; with clean train labels also
    the clean-label linear probe and kNN vote, the upper bounds of learning from these features.
    The fitted ones learn from the `fit_rows` (features `x_fit`); the kNN votes use every train item."""
    unknown = set(names) - set(BASELINES)
    if unknown:
        raise LraError(f"config key baselines: unknown {sorted(unknown)}; choose from {', '.join(BASELINES)}")
    nb = load_neighbors(neighbors_path, ids[test])
    train_pos = features.align(ids[train], nb.reshape(-1), neighbors_path).reshape(nb.shape)
    fits = {"linear_probe": baselines.linear_probe, "cleanlab": baselines.clean_learning,
            "datalab_relabel": baselines.datalab_relabel}
    out = {}
    for name in names:
        if name == "knn_vote":
            pred = baselines.knn_vote(observed[train][train_pos], C)
        else:
            pred = fits[name](x_fit, observed[fit_rows], x_test, C, seed).argmax(axis=1)
        out[name] = metrics.accuracy(pred, truth[test])
    if clean_known:
        out["clean_knn_vote"] = metrics.accuracy(baselines.knn_vote(truth[train][train_pos], C), truth[test])
        clean = baselines.linear_probe(x_fit, truth[fit_rows], x_test, C, seed)
        out["clean_linear_probe"] = metrics.accuracy(clean.argmax(axis=1), truth[test])
    return out


def _label_issues(ids, pred, observed, train) -> pd.DataFrame:
    """Train items ranked by how much the model believes their given label, least first.

    `predicted_label` is the deterministic DDIM class and `flag` marks where it differs from the
    given label; `p_given` is the share of stochastic trajectories that return the given label
    (without trajectories: 1 where the prediction agrees, else 0).
    """
    rows = np.flatnonzero(train)
    given = observed[rows]
    predicted = pred["predicted"].to_numpy()[rows]
    if "class_frequencies" in pred:
        p_given = np.stack(pred["class_frequencies"].to_numpy()[rows])[np.arange(len(rows)), given]
    else:
        p_given = (predicted == given).astype(np.float64)
    df = pd.DataFrame({"id": ids[rows], "given_label": given, "predicted_label": predicted,
                       "p_given": p_given, "flag": predicted != given, "row": np.arange(len(rows))})
    return df.sort_values(["p_given", "flag", "row"], ascending=[True, False, True], kind="stable").reset_index(drop=True)


# --- cleaned labels and new images: their own modules, called from here -------------------------

def clean(manifest, labels, predictions, feature_paths: list[str], out, action: str = "relabel",
          max_p_given: float = 0.2) -> pd.DataFrame:
    """predictions → cleaned.csv, the dataset in its owner's columns with the clean policy applied."""
    from . import export

    return export.clean(manifest, labels, predictions, feature_paths, out, action, max_p_given)


def infer(run_dir, out, images=None, feature_file=None, device: str = "auto", batch_size: int = 4096) -> pd.DataFrame:
    """A run folder + a CSV of new images (or a Parquet of vectors) → path, predicted, p_predicted, entropy, top5."""
    from . import infer as new_images

    return new_images.infer(run_dir, out, images, feature_file, device, batch_size)


def report(metrics_paths: list[str], out, mean_out=None) -> pd.DataFrame:
    """metrics.json files → summary.tsv (a row per run) and summary_mean.tsv (mean ± sd over seeds)."""
    from .report import write_summary

    return write_summary(metrics_paths, out, mean_out)


def plots(manifest, model, predictions, metrics, issues, out_dir) -> list:
    """A run's outputs → its figures in `out_dir` (training, accuracy, confusion, per-class,
    label-issue gallery, uncertainty), reading only the rows the figures show."""
    from .report.run import plot_run

    return plot_run(manifest, model, predictions, metrics, issues, out_dir)


def grid_plots(summary_mean, out_k, out_noise) -> None:
    """summary_mean.tsv → accuracy vs k and vs noise spec (mean ± sd over seeds)."""
    from .report.grid import plot_grid

    plot_grid(summary_mean, out_k, out_noise)
