"""The stages of the DAG as functions of files: each Snakemake rule calls exactly one of these.

Each reads its inputs, calls the array-level library, and writes its outputs atomically.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from . import baselines, datasets, features, metrics, noise as noise_mod, retrieval
from .errors import LraError
from .io import atomic_path, read_json, read_metadata, read_table, write_frame, write_json, write_table

log = logging.getLogger("lra")


# --- manifest and labels ---------------------------------------------------------------------

def data(spec: dict, out, seed: int = 0) -> datasets.Manifest:
    """dataset config → manifest.parquet (id, split, source, label, clean_label)."""
    m = datasets.build(spec, seed)
    counts = m.frame["split"].value_counts().to_dict()
    log.info("dataset %s: %d items, %d classes, splits %s", m.meta["name"], len(m.frame), len(m.classes), counts)
    write_frame(m.frame, out, metadata={**m.meta, "classes": m.classes})
    return m


def load_manifest(path) -> datasets.Manifest:
    frame = read_table(path, required=["id", "split", "source", "label", "clean_label"]).to_pandas()
    frame["clean_label"] = frame["clean_label"].astype("Int64")
    meta = read_metadata(path)
    return datasets.Manifest(frame, meta.pop("classes"), meta)


def noise(manifest, spec: str, out, seed: int = 0, class_map: dict | None = None) -> np.ndarray:
    """manifest → labels/{noise}.parquet (id, observed_label)."""
    m = load_manifest(manifest)
    observed = noise_mod.observed_labels(m.frame, m.classes, spec, seed, class_map)
    truth = m.frame["clean_label"]
    known = (m.frame["split"] != "test").to_numpy() & truth.notna().to_numpy()
    rate = float((observed[known] != truth[known].astype(int)).mean()) if known.any() else None
    log.info("noise %s: realised rate on train+val %s", spec, rate)
    write_frame(pd.DataFrame({"id": m.frame["id"], "observed_label": observed}), out,
                metadata={"noise": spec, "seed": seed, "realised_rate": rate})
    return observed


def load_observed(path, ids) -> np.ndarray:
    t = read_table(path, required=["id", "observed_label"]).to_pandas()
    return t["observed_label"].to_numpy()[features.align(t["id"].astype(str).to_numpy(), np.asarray(ids, str), path)]


# --- features, index, neighbours ---------------------------------------------------------------

def embed(manifest, encoder: str, out, shard: int = 0, num_shards: int = 1, dtype: str = "float32", **options) -> None:
    """manifest → features/{encoder}/part-{shard}.parquet for one contiguous block of rows."""
    from . import encoders

    m = load_manifest(manifest)
    if m.meta["kind"] == "embeddings":
        raise LraError(f"{manifest}: dataset kind 'embeddings' has its features already; there is nothing to embed")
    enc = encoders.get(encoder, **options)
    if hasattr(enc, "fit"):
        enc.fit(m.frame)
    block = np.array_split(np.arange(len(m.frame)), num_shards)[shard]
    rows = m.frame.iloc[block]
    x = enc.encode(rows) if len(rows) else np.empty((0, 1), np.float32)
    features.write(rows["id"], x, out, dtype=dtype, meta={"encoder": encoder, "shard": shard, "num_shards": num_shards})


def _train_features(manifest: datasets.Manifest, feature_paths):
    ids = manifest.frame["id"].to_numpy(str)
    _, x = features.read(feature_paths, ids=ids)
    return x


def _train_positions(m: datasets.Manifest, feature_paths) -> tuple[np.ndarray, list[np.ndarray]]:
    """Train ids in manifest order, and for each shard the train position of each row (-1: not train)."""
    ids = m.frame["id"].to_numpy(str)
    train_ids = ids[m.frame["split"].to_numpy() == "train"]
    shard_ids = features.read_ids(feature_paths)
    found = np.concatenate(shard_ids) if shard_ids else np.empty(0, str)
    pos = np.full(len(found), -1, dtype=np.int64)
    pos[features.align(found, train_ids, feature_paths)] = np.arange(len(train_ids))
    return train_ids, np.split(pos, np.cumsum([len(s) for s in shard_ids])[:-1])


def _train_blocks(feature_paths, shard_pos, batch_size: int = 65536):
    """(train positions, normalised vectors) of the train rows, shard by shard, batch by batch."""
    start = 0
    pos = np.concatenate(shard_pos) if shard_pos else np.empty(0, np.int64)
    for block_ids, x in features.iter_batches(feature_paths, batch_size):
        p = pos[start:start + len(block_ids)]
        start += len(block_ids)
        keep = p >= 0
        if keep.any():
            yield p[keep], x[keep]


def index(manifest, feature_paths: list[str], out, index_type: str = "auto") -> None:
    """Train-split features → a FAISS inner-product index; vector ids = positions among train rows.

    Reads the shards batch by batch (twice when the index type needs training: once for a
    random training sample, once to add), never holding all features in memory.
    """
    import faiss

    m = load_manifest(manifest)
    train_ids, shard_pos = _train_positions(m, feature_paths)
    n, dim = len(train_ids), features.dim(feature_paths)
    desc = retrieval.factory_string(index_type, n, dim)
    sample = None
    if retrieval.train_needs(retrieval.new_index(dim, desc)):
        sample = retrieval.training_sample(_train_blocks(feature_paths, shard_pos), n)
    idx = retrieval.build_index(_train_blocks(feature_paths, shard_pos), n, dim, desc, sample)
    log.info("index %s over %d train items, dim %d", desc, idx.ntotal, dim)
    with atomic_path(out) as tmp:
        faiss.write_index(idx, str(tmp))


def neighbors(manifest, feature_paths: list[str], index_path, k: int, out, device: str = "auto") -> None:
    """Every item's k nearest train items (a train item never lists itself) → neighbours table.

    Queries stream shard by shard; only the (N, k) result is held, never all features.
    """
    import faiss

    m = load_manifest(manifest)
    ids = m.frame["id"].to_numpy(str)
    is_train = m.frame["split"].to_numpy() == "train"
    train_ids = ids[is_train]
    idx = faiss.read_index(str(index_path))
    if idx.ntotal != len(train_ids):
        raise LraError(f"{index_path}: index holds {idx.ntotal} items, manifest has {len(train_ids)} train items; rebuild the index")
    retrieval.check_k(idx, k, exclude_self=True)
    idx = retrieval.to_device(idx, device)
    self_pos = np.full(len(ids), -1, dtype=np.int64)
    self_pos[is_train] = np.arange(len(train_ids))
    sims = np.full((len(ids), k), np.nan, np.float32)
    rows = np.full((len(ids), k), -1, np.int64)
    done = np.zeros(len(ids), dtype=bool)
    start = 0
    shard_ids = features.read_ids(feature_paths)
    found = np.concatenate(shard_ids) if shard_ids else np.empty(0, str)
    target = np.full(len(found), -1, dtype=np.int64)  # manifest row of each stored row
    target[features.align(found, ids, feature_paths)] = np.arange(len(ids))
    for block_ids, x in features.iter_batches(feature_paths, batch_size=retrieval.SEARCH_BATCH):
        t = target[start:start + len(block_ids)]
        start += len(block_ids)
        keep = (t >= 0) & ~done[np.maximum(t, 0)]
        t = t[keep]
        sims[t], rows[t] = retrieval.neighbors(idx, x[keep], k, self_pos[t])
        done[t] = True
    if (rows < 0).any():
        bad = int(np.flatnonzero((rows < 0).any(axis=1))[0])
        raise LraError(f"{index_path}: the index found fewer than {k} neighbours for item {ids[bad]!r}; "
                       "an approximate index needs more nprobe or fewer lists (config key index), or use Flat")
    table = pa.table({
        "id": pa.array(ids),
        "neighbors": pa.FixedSizeListArray.from_arrays(pa.array(train_ids[rows].reshape(-1)), k),
        "similarities": pa.FixedSizeListArray.from_arrays(pa.array(sims.reshape(-1)), k),
    })
    write_table(table, out, metadata={"k": k})


def load_neighbors(path, ids) -> np.ndarray:
    """The (len(ids), k) neighbour id matrix for `ids`."""
    t = read_table(path, required=["id", "neighbors"])
    col = t.column("neighbors").combine_chunks()
    k = col.type.list_size
    nb = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=str).reshape(-1, k)
    return nb[features.align(np.asarray(t.column("id").to_pylist(), dtype=str), np.asarray(ids, str), path)]


# --- diffusion: train, predict ------------------------------------------------------------------

def train(manifest, labels, feature_paths: list[str], neighbors_path, out, params: dict | None = None) -> dict:
    """Candidates from neighbours + observed labels → trained denoiser (model.pt, selected on val)."""
    import torch

    from .diffusion import TrainConfig, candidates, train as fit
    from .diffusion.train import selected_epoch

    params = dict(params or {})
    select_on = params.pop("select_on", "observed")
    cfg = TrainConfig.from_dict(params)
    m = load_manifest(manifest)
    f = m.frame
    train_ids = f.loc[f["split"] == "train", "id"].to_numpy(str)
    val = f[f["split"] == "val"]
    observed = load_observed(labels, train_ids)
    nb = load_neighbors(neighbors_path, train_ids)
    nb_rows = features.align(train_ids, nb.reshape(-1), neighbors_path).reshape(nb.shape)
    cand, agree = candidates(observed, nb_rows, cfg.own_label)
    _, x = features.read(feature_paths, ids=np.concatenate([train_ids, val["id"].to_numpy(str)]))
    val_labels = _selection_labels(val, labels, select_on, manifest)
    log.info("train: %d items, %d candidates each, %d classes, %d val items scored on %s labels",
             len(train_ids), cand.shape[1], len(m.classes), len(val), select_on)
    model, _, history = fit(x[:len(train_ids)], cand, agree, len(m.classes), cfg,
                            x[len(train_ids):] if len(val) else None, val_labels, log=log.info)
    state = {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "hparams": model.hparams,
             "train_config": {**params, "select_on": select_on}, "classes": m.classes, "history": history,
             "selected_epoch": selected_epoch(history)}
    with atomic_path(out) as tmp:
        torch.save(state, tmp)
    return state


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
    import torch

    from .diffusion import CosineSchedule, Denoiser

    state = torch.load(path, map_location="cpu", weights_only=False)
    model = Denoiser(**state["hparams"])
    model.load_state_dict(state["state_dict"])
    model.eval()
    return model, CosineSchedule(state["hparams"]["T"]), state


def predict(manifest, feature_paths: list[str], model_path, out, ddim_steps: int = 10, samples: int = 0,
            eta: float = 0.0, seed: int = 0, device: str = "auto", batch_size: int = 4096) -> pd.DataFrame:
    """DDIM predictions for every item: deterministic class and ŷ_0, plus, with `samples` = n,
    the vote frequencies of n stochastic trajectories, their majority class and entropy."""
    import torch

    from .diffusion.sample import predict as sample, read_out
    from .diffusion.train import resolve_device

    m = load_manifest(manifest)
    ids = m.frame["id"].to_numpy(str)
    _, x = features.read(feature_paths, ids=ids)
    dev = resolve_device(device)
    model, schedule, _ = load_model(model_path)
    model.to(dev)
    schedule.to(dev)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    y0, votes = sample(model, schedule, torch.as_tensor(x, device=dev), steps=ddim_steps,
                       batch_size=batch_size, samples=samples, eta=eta, generator=g)
    C = len(m.classes)
    cols = {"id": pa.array(ids), "split": pa.array(m.frame["split"].to_numpy(str)),
            "predicted": pa.array(read_out(y0).numpy()),
            "y0": pa.FixedSizeListArray.from_arrays(pa.array(y0.numpy().reshape(-1)), C)}
    if votes is not None:
        p = votes.numpy() / samples
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        cols["class_frequencies"] = pa.FixedSizeListArray.from_arrays(pa.array(p.reshape(-1).astype(np.float32)), C)
        cols["majority"] = pa.array(p.argmax(axis=1))
        cols["entropy"] = pa.array(entropy.astype(np.float32))
    table = pa.table(cols)
    write_table(table, out, metadata={"ddim_steps": ddim_steps, "samples": samples, "eta": eta})
    return table.to_pandas()


# --- scoring ----------------------------------------------------------------------------------

def score(manifest, labels, feature_paths: list[str], neighbors_path, predictions, out_metrics, out_issues,
          run: dict | None = None, seed: int = 0) -> dict:
    """Test accuracy of LRA and of the baselines on the same features; the training-label issue table."""
    m = load_manifest(manifest)
    f = m.frame
    C = len(m.classes)
    pred = read_table(predictions, required=["id", "split", "predicted", "y0"]).to_pandas()
    pred = pred.iloc[features.align(pred["id"].astype(str).to_numpy(), f["id"].to_numpy(str), predictions)]
    truth = f["clean_label"].fillna(f["label"]).to_numpy(dtype=np.int64)
    observed = load_observed(labels, f["id"].to_numpy(str))
    test = (f["split"] == "test").to_numpy()
    train_mask = (f["split"] == "train").to_numpy()
    y_pred = pred["predicted"].to_numpy()
    y0 = np.stack(pred["y0"].to_numpy())
    out = {
        "run": run or {},
        "n_test": int(test.sum()),
        "n_train": int(train_mask.sum()),
        "accuracy": metrics.accuracy(y_pred[test], truth[test]),
        "per_class_accuracy": metrics.per_class_accuracy(y_pred[test], truth[test], m.classes),
        "baselines": _baselines(f, observed, truth, feature_paths, neighbors_path, C, seed),
    }
    if C >= 5:
        out["top5_accuracy"] = metrics.top_k_accuracy(-np.abs(y0[test] - 1), truth[test], 5)
    if "majority" in pred:
        out["accuracy_stochastic"] = metrics.accuracy(pred["majority"].to_numpy()[test], truth[test])
    clean_known = f["clean_label"].notna().to_numpy()
    if (train_mask & clean_known).any():
        out["train_noise_rate"] = float((observed != truth)[train_mask & clean_known].mean())
    issues = _label_issues(f, pred, observed, train_mask)
    if (train_mask & clean_known).all():
        wrong = (observed != truth)[train_mask]
        out["label_issues"] = metrics.precision_recall_f1(issues.sort_values("row")["flag"].to_numpy(), wrong)
    write_frame(issues.drop(columns="row"), out_issues)
    write_json(out, out_metrics)
    return out


def _baselines(f, observed, truth, feature_paths, neighbors_path, C, seed) -> dict:
    test = (f["split"] == "test").to_numpy()
    train = (f["split"] == "train").to_numpy()
    ids = f["id"].to_numpy(str)
    nb = load_neighbors(neighbors_path, ids[test])
    train_pos = features.align(ids[train], nb.reshape(-1), neighbors_path).reshape(nb.shape)
    knn = baselines.knn_vote(observed[train][train_pos], C)
    _, x = features.read(feature_paths, ids=np.concatenate([ids[train], ids[test]]))
    proba = baselines.linear_probe(x[:train.sum()], observed[train], x[train.sum():], C, seed)
    return {"knn_vote": metrics.accuracy(knn, truth[test]),
            "linear_probe": metrics.accuracy(proba.argmax(axis=1), truth[test])}


def _label_issues(f, pred, observed, train_mask) -> pd.DataFrame:
    """Train items ranked by how much the model believes their given label, least first."""
    rows = np.flatnonzero(train_mask)
    given = observed[rows]
    if "class_frequencies" in pred:
        p = np.stack(pred["class_frequencies"].to_numpy()[rows])
        predicted = p.argmax(axis=1)
        p_given = p[np.arange(len(rows)), given]
    else:
        predicted = pred["predicted"].to_numpy()[rows]
        p_given = (predicted == given).astype(np.float64)
    df = pd.DataFrame({"id": f["id"].to_numpy(str)[rows], "given_label": given, "predicted_label": predicted,
                       "p_given": p_given, "flag": predicted != given, "row": np.arange(len(rows))})
    return df.sort_values(["p_given", "row"], kind="stable").reset_index(drop=True)


def report(metrics_paths: list[str], out) -> pd.DataFrame:
    from .report import write_summary

    return write_summary(metrics_paths, out)
