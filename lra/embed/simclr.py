"""SimCLR (Chen et al. 2020, arXiv 2002.05709): an encoder f_p trained on the dataset's own train
images, without labels, for `encoder: simclr[:<backbone>]`.

Each step takes B train images, makes two augmented views of each (lra.embed.augment), runs all
2B views through the encoder f and a projection head g, and minimises NT-Xent with temperature τ:
each view must pick out the other view of its image among the 2B − 1 others (paper eq. 1). After
training the head is thrown away; the encoder's pooled output h = f(x) of an un-augmented image
is the feature f_p (paper §2.1: h is the better representation, not z = g(h)).

Backbones (`simclr` = `simclr:cnn`, lra.embed.backbones): a small 7-conv CNN for a CPU, or the
paper's ResNets (`simclr:resnet18`, `resnet34`, `resnet50`, CIFAR stem at 32×32) for a GPU.

`pretrain` writes one weights file holding all that embed and `lra infer` need to rebuild the
encoder (backbone, image size, normalisation, the encoder's state dict, the config); it resumes
like train (lra.core.training): a checkpoint every few minutes and on SIGTERM, and a killed run,
rerun, ends with the same bytes as an uninterrupted one (on CPU). `SimCLREncoder` loads the file
and encodes manifest rows to L2-normalised float32 rows, like every other encoder (the batched
loop of lra.embed.batched, shared with open_clip). The hyper-parameters: lra.embed.config.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F_

from ..core import paths, threads
from ..core.chunks import file_digest
from ..core.devices import resolve_device
from ..core.errors import LraError
from ..core.files import atomic_path, load_torch, short_reason
from ..core.progress import progress
from ..core.training import Checkpoint, Position, fingerprint, lr_at, training_state
from ..data.images import open_image
from . import augment as aug
from .backbones import build
from .batched import BatchedEncoder, default_workers, image_loader, readable_batches
from .config import RUN_KEYS, SimCLRConfig, backbone_of, operations

log = logging.getLogger("lra")

FORMAT = "lra-simclr-1"  # the weights file's layout; bump when it changes


# --- the loss and the model ----------------------------------------------------------------------

def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (paper eq. 1) averaged over all 2B views: view i's positive is the other view of its
    image, its negatives the other 2B − 2 views; cosine similarities divided by τ."""
    z = F_.normalize(torch.cat([z1, z2]).float(), dim=1)
    n = len(z1)
    sim = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F_.cross_entropy(sim, positive)


class SimCLR(nn.Module):
    """Encoder f (a backbone, pooled) and projection head g (Linear, BN, ReLU, Linear; paper §2.1)."""

    def __init__(self, backbone: str, image_size: int, width: int = 32, projection_dim: int = 128):
        super().__init__()
        self.encoder, self.dim = build(backbone, image_size, width)
        self.head = nn.Sequential(nn.Linear(self.dim, self.dim, bias=False), nn.BatchNorm1d(self.dim),
                                  nn.ReLU(inplace=True), nn.Linear(self.dim, projection_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


# --- images ------------------------------------------------------------------------------------

class Resize:
    """Manifest image → (3, S, S) in [0, 1] (bicubic, as pixels:<size>), normalised when given mean
    and std: the views' start, and embed's preprocessing."""

    def __init__(self, size: int, mean=None, std=None):
        self.size, self.mean, self.std = size, mean, std

    def __call__(self, im) -> torch.Tensor:
        x = torch.from_numpy(np.asarray(im.resize((self.size, self.size), resample=3), np.uint8).copy())
        x = x.permute(2, 0, 1).float() / 255
        if self.mean is not None:
            x = (x - torch.tensor(self.mean)[:, None, None]) / torch.tensor(self.std)[:, None, None]
        return x


class _Views(torch.utils.data.Dataset):
    """Item i → its two normalised views in the current `epoch`, seeded by (seed, epoch, i)."""

    def __init__(self, frame, size: int, operations: tuple, mean, std, seed: int):
        self.sources, self.rows = frame["source"].tolist(), frame.index.tolist()
        self.ids = frame["id"].astype(str).tolist()
        self.resize, self.operations, self.seed, self.epoch = Resize(size), operations, seed, 1
        self.mean, self.std = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int):
        x = self.resize(open_image(self.sources[i], self.rows[i], self.ids[i]))
        g = aug.item_generator(self.seed, self.epoch, i)
        return tuple((aug.view(x, self.operations, g) - self.mean) / self.std for _ in range(2))


def statistics(frame, size: int, skipped: list | None, workers: int) -> tuple[list, list, np.ndarray]:
    """Per-channel mean and standard deviation of the resized images, and which rows are readable.
    Every image is decoded once here, so a bad one stops the run (or is left out, with a
    `skipped` list) before any training."""
    ok = np.ones(len(frame), bool)
    s1, s2, n = np.zeros(3), np.zeros(3), 0
    loader = image_loader(frame, Resize(size), size, 256, workers if len(frame) > 256 else 0)
    with progress(total=len(frame), desc="simclr: image statistics", unit="images") as bar:
        for x, pos, bad in readable_batches(loader, frame, skipped):
            ok[pos[bad]] = False
            good = x[[j for j in range(len(pos)) if j not in bad]].double()
            s1 += good.sum(dim=(0, 2, 3)).numpy()
            s2 += (good * good).sum(dim=(0, 2, 3)).numpy()
            n += good.shape[0] * size * size
            bar.update(len(pos))
    if n == 0:
        raise LraError("simclr: no readable train image to train the encoder on")
    mean = s1 / n
    std = np.sqrt(np.maximum(s2 / n - mean ** 2, 0)) + 1e-3  # a constant channel must not blow up
    return mean.tolist(), std.tolist(), ok


# --- training ----------------------------------------------------------------------------------

def train(frame, cfg: SimCLRConfig, checkpoint=None, skipped: list | None = None, log=log.info, on_epoch=None):
    """SimCLR on the images of `frame` (manifest rows; labels are never read). With `checkpoint`
    (lra.core.training.Checkpoint), resume from its state and save at step and epoch
    boundaries. `on_epoch(epoch, model, mean, std)`: called after each epoch (benchmarks probe the
    features there). Returns (model, mean, std, history): the head is still attached; use
    `model.encoder`."""
    cfg.check()
    device = resolve_device(cfg.device)
    workers = default_workers() if cfg.num_workers is None else max(0, min(int(cfg.num_workers), threads.get() - 1))
    mean, std, ok = statistics(frame, cfg.image_size, skipped, workers)
    frame = frame[ok]
    N = len(frame)
    B = min(cfg.batch_size, N)
    if B < 2:
        raise LraError(f"simclr: {N} readable train image(s); NT-Xent needs at least 2")
    per_epoch = N // B  # drop the ragged last batch: BatchNorm and NT-Xent need full batches
    total, warmup = cfg.epochs * per_epoch, min(cfg.warmup_epochs, cfg.epochs) * per_epoch
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    model = SimCLR(cfg.backbone, cfg.image_size, cfg.width, cfg.projection_dim).to(device)
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    views = _Views(frame, cfg.image_size, operations(cfg.augment), mean, std, cfg.seed)
    use_amp = cfg.amp and device.type == "cuda"
    log(f"simclr {cfg.backbone}: {N} images, {per_epoch} steps of {B} an epoch, {cfg.epochs} epochs, "
        f"{sum(p.numel() for p in model.encoder.parameters()):,} encoder weights, on {device}, {workers} worker(s)")
    resumed = checkpoint.resume(model, opt, g, None) if checkpoint is not None else None
    start, history = resumed or (Position(), [])  # where the loop is: a checkpoint's place, or the start
    step = start.step

    def snapshot(position: Position) -> dict:
        return training_state(model, opt, g, None, history, position)

    for epoch in progress(range(start.epoch, cfg.epochs + 1), desc="simclr", unit="epochs"):
        model.train()
        began, cpu = time.monotonic(), time.process_time()
        if epoch == start.epoch and start.perm is not None:  # resuming inside this epoch
            perm, losses, first = start.perm, start.losses, start.batch
        else:
            perm, losses, first = torch.randperm(N, generator=g), [], 0
        views.epoch = epoch  # before the loader forks its workers
        batches = [perm[b * B:(b + 1) * B].tolist() for b in range(first, per_epoch)]
        loader = torch.utils.data.DataLoader(views, batch_sampler=batches, num_workers=workers,
                                             pin_memory=device.type == "cuda", generator=torch.Generator(),
                                             prefetch_factor=4 if workers else None)
        for b, (v1, v2) in enumerate(loader, start=first):
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, warmup, cfg.lr)
            x = torch.cat([v1, v2]).to(device, non_blocking=True)  # one pass: BatchNorm sees all 2B views
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                z = model(x)
            loss = nt_xent(z[:len(v1)], z[len(v1):], cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            step += 1
            if checkpoint is not None:
                checkpoint.boundary(Position(epoch, b + 1, step, perm, losses), snapshot)
        epoch_loss = float(torch.stack(losses).sum()) / len(losses)
        history.append({"epoch": epoch, "loss": epoch_loss})  # no times: the weights file must not depend on them
        log(f"simclr epoch {epoch}/{cfg.epochs}: loss {epoch_loss:.4f}, {time.monotonic() - began:.1f} s wall, "
            f"{time.process_time() - cpu:.1f} s CPU (this process)")
        if on_epoch is not None:
            on_epoch(epoch, model, mean, std)
        if checkpoint is not None and epoch < cfg.epochs:
            checkpoint.boundary(Position(epoch + 1, 0, step), snapshot)
    model.eval()
    return model, mean, std, history


def pretrain(frame, out, params: dict | None = None, checkpoint_minutes: float = 5.0,
             bad_images: str = "fail") -> dict:
    """Train SimCLR on the train split of manifest `frame` → the weights file `out` (atomic).
    `params`: SimCLRConfig's keys (lra.embed.config). Resumable: `<out>.ckpt` beside it, every
    `checkpoint_minutes` and on SIGTERM (then `Stopped`); removed once `out` is written.
    `bad_images`: fail (stop at the first unreadable image) or skip."""
    if bad_images not in ("fail", "skip"):
        raise LraError(f"config key embed.options.bad_images: {bad_images!r}; use fail or skip")
    cfg = SimCLRConfig.from_dict(dict(params or {}))
    out = Path(out)
    rows = frame[frame["split"] == "train"]
    skipped = [] if bad_images == "skip" else None
    kept = {k: v for k, v in cfg.plain().items() if k not in RUN_KEYS}
    key = fingerprint(kept, rows["id"].to_numpy(str), rows["source"].to_numpy(str))
    with Checkpoint(out.with_suffix(".ckpt"), key, checkpoint_minutes, log=log.info) as ckpt:
        model, mean, std, history = train(rows, cfg, ckpt, skipped)
    if skipped:
        log.warning("simclr: %d unreadable train image(s) left out of training", len(skipped))
    state = {"format": FORMAT, "backbone": cfg.backbone, "image_size": cfg.image_size, "dim": model.dim,
             "mean": mean, "std": std, "config": kept, "history": history,
             "images": int(len(rows) - len(skipped or [])), "skipped": [b.item_id for b in skipped or []]}
    state = json.loads(json.dumps(state))  # fresh objects: pickle memoises by identity (lra.diffusion.stage._plain)
    state["encoder"] = {k: v.detach().cpu().clone() for k, v in model.encoder.state_dict().items()}
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)
    ckpt.remove()
    return state


# --- the encoder f_p ---------------------------------------------------------------------------

def load_weights(path) -> tuple[nn.Module, dict]:
    """A weights file of `pretrain` → (encoder in eval mode, the file's other entries)."""
    fix = "delete it; the pretrain stage makes it again"
    state = load_torch(path, "the SimCLR weights file", fix=fix)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise LraError(f"{path}: not a SimCLR weights file of this version ({FORMAT}); {fix}")
    encoder, _ = build(state["backbone"], state["image_size"], state["config"]["width"])
    try:
        encoder.load_state_dict(state["encoder"])
    except RuntimeError as exc:  # written by an lra whose backbone differs from this one
        raise LraError(f"{path}: the weights do not fit this lra's {state['backbone']} ({short_reason(exc)}); "
                       f"{fix}") from None
    return encoder.eval(), {k: v for k, v in state.items() if k != "encoder"}


class SimCLREncoder(BatchedEncoder):
    """`simclr[:<backbone>]` with weights from `pretrain`: resize, normalise as in training,
    encoder f, L2-normalise (lra.embed.batched: DataLoader workers, bad images, CUDA autocast)."""

    label = "embed"

    def __init__(self, weights, device: str | None = "auto", precision: str = "auto", batch_size: int = 256,
                 num_workers: int | None = None):
        super().__init__(str(resolve_device(device)), precision, batch_size, num_workers)
        encoder, info = load_weights(weights)
        self.weights, self.info = Path(weights), info
        self.model = encoder.to(self.device)
        self.image_size = info["image_size"]
        self.preprocess = Resize(self.image_size, info["mean"], info["std"])
        self.name = f"simclr:{info['backbone']}"

    @classmethod
    def from_spec(cls, spec: str, weights=None, model_config=None, cache_dir=None, **options) -> "SimCLREncoder":
        """`simclr[:<backbone>]` and the pretrain stage's weights file. Takes the embed options
        device, precision, batch_size, num_workers; open_clip's model_config and cache_dir are
        not its own (a grid's encoders share embed.options) and are ignored."""
        backbone = backbone_of(spec)
        unknown = sorted(set(options) - {"device", "precision", "batch_size", "num_workers"})
        if unknown:
            raise LraError(f"config key embed.options: unknown option(s) {', '.join(unknown)} for simclr; "
                           "it takes batch_size, num_workers, precision, device")
        if weights is None or not Path(weights).is_file():
            raise LraError(f"encoder {spec}: no SimCLR weights file {weights!r}; the pretrain stage makes it "
                           f"(lra pretrain; in the workflow {paths.ENCODER})")
        enc = cls(weights, **options)
        if enc.info["backbone"] != backbone:
            raise LraError(f"encoder {spec}: {weights} holds a {enc.info['backbone']} encoder, not {backbone}")
        return enc

    def features(self, images):
        return self.model(images)

    def state(self) -> dict:
        """Which weights made the features: where they were read (as given) and their digest, so
        `lra infer` rebuilds the same encoder and refuses weights that changed since."""
        return {"weights": str(self.weights), "digest": file_digest(self.weights)}
