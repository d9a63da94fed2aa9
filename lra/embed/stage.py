"""The embed family's stages on files: pretrain (a manifest's train images → a SimCLR encoder's
weights file, for `encoder: simclr`) and embed (a manifest → one feature shard, lra.core.features,
resumable chunk by chunk)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import features
from ..core.chunks import Chunks, digest, file_digest
from ..core.errors import LraError
from ..core.files import atomic_path, read_schema
from ..core.progress import progress
from ..data.stage import load_manifest
from . import encoders
from .config import RUN_KEYS, backbone_of

log = logging.getLogger("lra")

BAD_IMAGE_POLICIES = ("fail", "skip")
# Options that change how fast features are made, not what they are: `lra infer` picks its own.
SPEED_OPTIONS = ("batch_size", "num_workers", "device")
# Options that say where weights are found: infer needs them, a chunk's key does not.
LOOKUP_OPTIONS = ("cache_dir",)


def pretrain(manifest, encoder: str, out, params: dict | None = None, checkpoint_minutes: float = 5.0,
             num_workers: int | None = None, bad_images: str = "fail") -> dict:
    """The train split's images of `manifest` (no labels) → the weights file `out` of the SimCLR
    encoder `encoder` (`simclr[:<backbone>]`), which embed then reads (`weights`).

    `params`: lra.embed.config.SimCLRConfig's keys but the backbone (the spec's). `num_workers`
    (DataLoader workers making the views) and `checkpoint_minutes` change how fast it runs, not
    the weights. Resumable like train: `<out>.ckpt` every `checkpoint_minutes` and on SIGTERM,
    then exit 128 + the signal; a rerun continues and writes the same bytes (on CPU).
    `bad_images`: fail (stop at the first unreadable train image, naming it) or skip (train
    without it)."""
    from .simclr import pretrain as train_simclr

    backbone = backbone_of(encoder)
    m = load_manifest(manifest)
    if m.meta["kind"] == "embeddings":
        raise LraError(f"{manifest}: dataset kind 'embeddings' has no images to train a SimCLR encoder on; "
                       "use its vectors as they are (no encoder)")
    clashing = sorted({"backbone", *RUN_KEYS} & set(params or {}))
    if clashing:
        raise LraError(f"lra pretrain: --params sets {', '.join(clashing)}; the backbone comes from --encoder, "
                       "num_workers and checkpoint_minutes from their own options")
    run = {"backbone": backbone, "num_workers": num_workers}
    return train_simclr(m.frame, out, {**(params or {}), **run}, checkpoint_minutes, bad_images)


def embed(manifest, encoder: str, out, shard: int = 0, num_shards: int = 1, dtype: str = "float32",
          chunk_rows: int = 8192, bad_images: str = "fail", weights=None, **options) -> dict:
    """manifest → features/{encoder}/part-{shard}.parquet for one contiguous block of rows.

    Resumable: rows are embedded `chunk_rows` at a time and each chunk is written atomically into
    `<out>.chunks/` (lra.core.chunks), keyed by a fingerprint of the encoder, its result-changing
    options, the manifest and the chunk's rows. A rerun after a kill reuses every finished chunk
    whose key matches, then assembles the part file (atomically, one chunk in memory at a time)
    and removes the chunk folder.

    `bad_images`: `fail` stops at the first unreadable image, naming row and file; `skip` leaves
    such items out of the part, lists them (id, source, reason) in the part's metadata and in
    `part-{shard}.skipped.tsv` next to it, and the later stages drop them from the manifest.

    `weights`: a simclr encoder's file from the pretrain stage. Its digest is part of every
    chunk's key, and the part's metadata records it with the path (`encoder_state`), so
    `lra infer` rebuilds the same encoder and refuses weights that changed since.
    """
    if bad_images not in BAD_IMAGE_POLICIES:
        raise LraError(f"config key embed.options.bad_images: {bad_images!r}; use fail or skip")
    if int(chunk_rows) < 1:
        raise LraError(f"config key embed.options.chunk_rows: {chunk_rows!r}; use a positive integer")
    if not 0 <= shard < num_shards:
        raise LraError(f"lra embed: --shard {shard} is outside 0..{num_shards - 1} (--num-shards {num_shards})")
    m = load_manifest(manifest)
    if m.meta["kind"] == "embeddings":
        raise LraError(f"{manifest}: dataset kind 'embeddings' has its features already; there is nothing to embed")
    out = Path(out)
    block = np.array_split(np.arange(len(m.frame)), num_shards)[shard]
    starts = list(range(0, len(block), int(chunk_rows)))
    rows = [m.frame.iloc[block[s:s + chunk_rows]] for s in starts]
    if encoders.needs_weights(encoder) and (weights is None or not Path(weights).is_file()):
        raise LraError(f"lra embed: encoder {encoder} needs --weights, the weights file the pretrain stage writes"
                       + (f"; {weights} is not there" if weights is not None else ""))
    base = chunk_key(m.frame, encoder, {**options, "bad_images": bad_images},
                     file_digest(weights) if weights is not None else None)
    chunks = Chunks(out, [digest(base, i, *_identity(r)) for i, r in enumerate(rows)])  # clears partial writes
    todo = chunks.todo()
    log.info("embed %s shard %d/%d: %d rows in %d chunk(s), %d to compute", encoder, shard, num_shards,
             len(block), len(starts), len(todo))
    skip = bad_images == "skip"
    if todo:
        enc = encoders.get(encoder, weights, **options)
        if hasattr(enc, "fit"):
            enc.fit(m.frame, [] if skip else None)
        bar = progress(total=sum(len(rows[i]) for i in todo), desc=f"embed {encoder}", unit="images")
        for i in todo:
            skipped = [] if skip else None
            x = enc.encode(rows[i], skipped, progress=bar)
            ok = np.isfinite(x).all(axis=1)
            if not skip and not ok.all():
                raise LraError(f"encoder {encoder} returned NaN or inf for manifest row {int(rows[i].index[~ok][0])}")
            bad = [{"id": b.item_id, "source": b.source, "reason": b.reason} for b in skipped or []]
            chunks.write(i, features.to_table(rows[i]["id"].to_numpy(str)[ok], x[ok]),
                         {"skipped": bad, "encoder_state": getattr(enc, "state", dict)()})
        bar.close()
    metas = chunks.metadata()
    # An encoder's state (pixels: the train mean/std; simclr: its weights) is the same in every chunk of the key.
    meta = {"encoder": encoder, "shard": shard, "num_shards": num_shards, "rows": int(len(block)),
            "options": kept_options(options), "skipped": [s for c in metas for s in c["skipped"]],
            "encoder_state": next((c["encoder_state"] for c in metas if c.get("encoder_state")), {})}
    dim = read_schema(chunks.paths[0]).field("embedding").type.list_size if chunks.paths else 1
    chunks.assemble(meta, features.to_table([], np.empty((0, dim), np.float32), dtype).schema)
    _write_skipped(out, meta["skipped"], skip)
    if meta["skipped"]:
        log.warning("embed: %d unreadable image(s) left out; listed in %s", len(meta["skipped"]), skipped_path(out))
    chunks.remove()
    return meta


def kept_options(options: dict) -> dict:
    """The encoder options `lra infer` needs to rebuild the encoder (not how fast this job ran)."""
    return {k: v for k, v in options.items() if k not in SPEED_OPTIONS}


def chunk_key(frame: pd.DataFrame, encoder: str, options: dict, weights_digest: str | None = None) -> str:
    """Fingerprint of what a chunk's features depend on beyond its own rows: the encoder, its
    result-changing options, its weights when it has a file of them (simclr), and the manifest
    (fitted encoders use the whole train split)."""
    changing = {k: v for k, v in kept_options(options).items() if k not in LOOKUP_OPTIONS}
    weights = [weights_digest] if weights_digest is not None else []  # other encoders keep their keys
    return digest(encoder, changing, *weights, *_identity(frame))


def _identity(frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(frame[c].astype(str).to_numpy(str) for c in ("id", "split", "source"))


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
