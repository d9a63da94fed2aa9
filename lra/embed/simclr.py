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
like train (lra.diffusion.checkpoint): a checkpoint every few minutes and on SIGTERM, and a killed
run, rerun, ends with the same bytes as an uninterrupted one (on CPU). `SimCLREncoder` loads the
file and encodes manifest rows to L2-normalised float32 rows, like every other encoder.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F_

from .. import threads
from ..chunks import file_digest
from ..clip import OpenClipEncoder, _Images, default_workers, resolve_device
from ..errors import LraError
from ..images import BadImage, open_image
from ..io import atomic_path, load_torch
from ..progress import progress
from . import augment as aug
from .backbones import BACKBONES, build

log = logging.getLogger("lra")

FORMAT = "lra-simclr-1"  # the weights file's layout; bump when it changes
# Config keys that change how fast the encoder trains, not what it learns (views are seeded per
# item, so workers cannot change them): left out of the checkpoint's fingerprint and the weights file.
SPEED_KEYS = ("num_workers",)


def backbone_of(spec: str) -> str:
    """`simclr` → cnn, `simclr:resnet18` → resnet18; anything else is one clear error."""
    name, sep, rest = spec.partition(":")
    backbone = rest if sep else "cnn"
    if name != "simclr" or backbone not in BACKBONES:
        raise LraError(f"config key encoder: {spec!r}: unknown SimCLR backbone {backbone!r}; use simclr "
                       "(a small CNN for a CPU), simclr:resnet18, simclr:resnet34 or simclr:resnet50 (for a GPU)")
    return backbone


# Defaults that depend on the backbone (a key left unset, or None, takes them):
# - cnn, for a CPU: measured on glyphs and digits (bench/results/simclr.md): the `shapes` views,
#   τ 0.2, 15 epochs of batch 128 train in ~5 min on a busy 2-core machine.
# - the ResNets, for a GPU: the paper's CIFAR-10 setup (appendix B.9) where torch allows: its
#   views, τ 0.5, batch 512, 500 epochs, 10 warm-up epochs; Adam at 1e-3 (weight decay 1e-6)
#   stands in for LARS, which torch lacks. Not measured here (no GPU).
BACKBONE_DEFAULTS = {
    "cnn": {"augment": "shapes", "temperature": 0.2, "batch_size": 128, "epochs": 15, "warmup_epochs": 1},
    "resnet": {"augment": "paper", "temperature": 0.5, "batch_size": 512, "epochs": 500, "warmup_epochs": 10},
}


@dataclass
class SimCLRConfig:
    backbone: str = "cnn"  # cnn, resnet18, resnet34, resnet50 (from the encoder spec)
    image_size: int = 32  # images are resized to this square
    width: int = 32  # the small CNN's first channels (features: 4 × width); ignored by the ResNets
    projection_dim: int = 128  # output of the head g (the paper: 128)
    augment: str | list | None = None  # a set of lra.embed.augment (paper, shapes) or a list of operations
    epochs: int | None = None
    batch_size: int | None = None  # images per step (2 × batch_size views)
    temperature: float | None = None  # τ of NT-Xent
    optimizer: str = "adam"  # adam (AdamW), or sgd (momentum 0.9)
    lr: float = 1e-3  # peak learning rate: linear warm-up, then cosine decay to 0 at the last epoch
    warmup_epochs: int | None = None
    weight_decay: float = 1e-6
    device: str = "auto"  # auto (CUDA when present, else CPU), cpu, cuda, cuda:<n>
    amp: bool = True  # bf16 autocast, on CUDA only
    num_workers: int | None = None  # DataLoader workers making the views (None: the job's threads - 1)
    seed: int = 0

    def __post_init__(self):
        defaults = BACKBONE_DEFAULTS["cnn" if self.backbone == "cnn" else "resnet"]
        for key, value in defaults.items():
            if getattr(self, key) is None:
                setattr(self, key, value)

    @classmethod
    def from_dict(cls, d: dict) -> "SimCLRConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise LraError(f"config key pretrain.{unknown[0]}: unknown; known keys: {', '.join(sorted(known))}")
        cfg = cls(**d)
        cfg.check()
        return cfg

    def check(self) -> None:
        if self.backbone not in BACKBONES:
            backbone_of(f"simclr:{self.backbone}")
        aug.operations(self.augment)
        for key in ("image_size", "width", "projection_dim", "epochs", "batch_size"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise LraError(f"config key pretrain.{key}: {getattr(self, key)!r}; use a positive integer")
        if self.batch_size < 2:
            raise LraError("config key pretrain.batch_size: NT-Xent needs at least 2 images a step")
        if not isinstance(self.temperature, (int, float)) or not self.temperature > 0:
            raise LraError(f"config key pretrain.temperature: {self.temperature!r}; use a positive number "
                           "(the paper tried 0.05-1)")
        if self.optimizer not in ("adam", "sgd"):
            raise LraError(f"config key pretrain.optimizer: {self.optimizer!r}; use adam or sgd")
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise LraError(f"config key pretrain.device: {self.device!r} but no CUDA device is visible; "
                           "use auto or cpu")

    def plain(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


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

def load_pixels(source: str, size: int, row=None, item_id=None) -> torch.Tensor:
    """The image behind a manifest source as a float (3, size, size) tensor in [0, 1]."""
    im = open_image(source, row, item_id).resize((size, size), resample=3)  # bicubic, as pixels:<size>
    return torch.from_numpy(np.asarray(im, np.uint8).copy()).permute(2, 0, 1).float() / 255


class _Resize:
    """Manifest image → (3, S, S) in [0, 1], normalised when given mean and std: embed's preprocessing."""

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
        self.size, self.operations, self.seed, self.epoch = size, operations, seed, 1
        self.mean, self.std = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int):
        x = load_pixels(self.sources[i], self.size, self.rows[i], self.ids[i])
        g = aug.item_generator(self.seed, self.epoch, i)
        return tuple((aug.view(x, self.operations, g) - self.mean) / self.std for _ in range(2))


def statistics(frame, size: int, skipped: list | None, workers: int) -> tuple[list, list, np.ndarray]:
    """Per-channel mean and standard deviation of the resized images, and which rows are readable.
    Every image is decoded once here, so a bad one stops the run (or is left out, with a
    `skipped` list) before any training."""
    ok = np.ones(len(frame), bool)
    s1, s2, n = np.zeros(3), np.zeros(3), 0
    loader = torch.utils.data.DataLoader(_Images(frame, _Resize(size), size), batch_size=256,
                                         num_workers=workers if len(frame) > 256 else 0)
    ids, rows = frame["id"].astype(str).tolist(), frame.index.tolist()
    with progress(total=len(frame), desc="simclr: image statistics", unit="images") as bar:
        for x, pos, reasons in loader:
            bad = [j for j, r in enumerate(reasons) if r]
            for j in bad:
                err = BadImage(frame["source"].iloc[int(pos[j])], reasons[j], rows[pos[j]], ids[pos[j]])
                if skipped is None:
                    raise err
                skipped.append(err)
                ok[int(pos[j])] = False
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
    (lra.diffusion.checkpoint.Checkpoint), resume from its state and save at step and epoch
    boundaries. `on_epoch(epoch, model, mean, std)`: called after each epoch (benchmarks probe the
    features there). Returns (model, mean, std, history): the head is still attached; use
    `model.encoder`."""
    from ..diffusion.checkpoint import Position, training_state
    from ..diffusion.train import lr_at

    cfg.check()
    device = torch.device(resolve_device(cfg.device))
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
    views = _Views(frame, cfg.image_size, aug.operations(cfg.augment), mean, std, cfg.seed)
    use_amp = cfg.amp and device.type == "cuda"
    log(f"simclr {cfg.backbone}: {N} images, {per_epoch} steps of {B} an epoch, {cfg.epochs} epochs, "
        f"{sum(p.numel() for p in model.encoder.parameters()):,} encoder weights, on {device}, {workers} worker(s)")
    start, history, step = Position(), [], 0
    resumed = checkpoint.resume(model, opt, g, None) if checkpoint is not None else None
    if resumed is not None:
        start, history = resumed
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
    Resumable: `<out>.ckpt` beside it, every `checkpoint_minutes` and on SIGTERM (then `Stopped`);
    removed once `out` is written. `bad_images`: fail (stop at the first unreadable image) or skip."""
    from ..diffusion.checkpoint import Checkpoint, fingerprint

    if bad_images not in ("fail", "skip"):
        raise LraError(f"config key embed.options.bad_images: {bad_images!r}; use fail or skip")
    cfg = SimCLRConfig.from_dict(dict(params or {}))
    out = Path(out)
    rows = frame[frame["split"] == "train"]
    skipped = [] if bad_images == "skip" else None
    kept = {k: v for k, v in cfg.plain().items() if k not in SPEED_KEYS}
    key = fingerprint(kept, rows["id"].to_numpy(str), rows["source"].to_numpy(str))
    with Checkpoint(out.with_suffix(".ckpt"), key, checkpoint_minutes, log=log.info) as ckpt:
        model, mean, std, history = train(rows, cfg, ckpt, skipped)
    if skipped:
        log.warning("simclr: %d unreadable train image(s) left out of training", len(skipped))
    state = {"format": FORMAT, "backbone": cfg.backbone, "image_size": cfg.image_size, "dim": model.dim,
             "mean": mean, "std": std, "config": kept, "history": history,
             "images": int(len(rows) - len(skipped or [])), "skipped": [b.item_id for b in skipped or []]}
    state = json.loads(json.dumps(state))  # fresh objects: pickle memoises by identity (see stages._plain)
    state["encoder"] = {k: v.detach().cpu().clone() for k, v in model.encoder.state_dict().items()}
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)
    ckpt.remove()
    return state


# --- the encoder f_p ---------------------------------------------------------------------------

def load_weights(path) -> tuple[nn.Module, dict]:
    """A weights file of `pretrain` → (encoder in eval mode, the file's other entries)."""
    state = load_torch(path, "the SimCLR weights file", fix="delete it; the pretrain stage makes it again")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise LraError(f"{path}: not a SimCLR weights file of this version ({FORMAT}); "
                       "delete it and rerun the pretrain stage")
    encoder, _ = build(state["backbone"], state["image_size"], state["config"]["width"])
    encoder.load_state_dict(state["encoder"])
    return encoder.eval(), {k: v for k, v in state.items() if k != "encoder"}


class SimCLREncoder(OpenClipEncoder):
    """`simclr[:<backbone>]` with weights from `pretrain`: resize, normalise as in training,
    encoder f, L2-normalise. Shares OpenClipEncoder's batched DataLoader loop, bad-image handling
    and CUDA autocast; only the model and its preprocessing differ."""

    def __init__(self, weights, device: str = "auto", precision: str = "auto", batch_size: int = 256,
                 num_workers: int | None = None):
        encoder, info = load_weights(weights)
        dev = resolve_device(device)
        self.weights, self.info = Path(weights), info
        self.model = encoder.to(dev)
        self.image_size = info["image_size"]
        self.preprocess = _Resize(self.image_size, info["mean"], info["std"])
        self.name = f"simclr:{info['backbone']}"
        self.device = dev
        self._check(precision, batch_size, num_workers)

    def _check(self, precision, batch_size, num_workers) -> None:
        """OpenClipEncoder's option checks and worker cap, without its open_clip model lookups."""
        if precision not in ("auto", "fp32", "fp16", "bf16"):
            raise LraError(f"config key embed.options.precision: {precision!r}; use one of auto, fp32, fp16, bf16")
        if int(batch_size) < 1:
            raise LraError(f"config key embed.options.batch_size: {batch_size!r}; use a positive integer")
        self.precision, self.batch_size = precision, int(batch_size)
        self.num_workers = min(default_workers() if num_workers is None else int(num_workers), threads.get() - 1)

    @classmethod
    def from_spec(cls, spec: str, weights=None, **options) -> "SimCLREncoder":
        """`simclr[:<backbone>]` and the embed option `weights` (the pretrain stage's file)."""
        backbone = backbone_of(spec)
        unknown = sorted(set(options) - {"device", "precision", "batch_size", "num_workers"})
        if unknown:
            raise LraError(f"config key embed.options: unknown option(s) {', '.join(unknown)} for simclr; "
                           "it takes weights, batch_size, num_workers, precision, device")
        if weights is None or not Path(weights).is_file():
            raise LraError(f"encoder {spec}: no SimCLR weights file {weights!r}; the pretrain stage makes it "
                           "(results/<dataset>/encoders/simclr-<backbone>.pt)")
        enc = cls(weights, **options)
        if enc.info["backbone"] != backbone:
            raise LraError(f"encoder {spec}: {weights} holds a {enc.info['backbone']} encoder, not {backbone}")
        return enc

    def forward(self, images) -> np.ndarray:
        with torch.inference_mode(), self._autocast():
            h = self.model(images.to(self.device, non_blocking=True))
        return F_.normalize(h.float(), dim=-1).cpu().numpy()

    def encode(self, frame, skipped: list | None = None, progress=None) -> np.ndarray:
        """L2-normalised float32 rows of `frame`'s images (NaN rows for skipped bad images)."""
        from ..progress import progress as _progress

        bar = progress or _progress(total=len(frame), desc=f"embed {self.name}", unit="images")
        try:
            return super().encode(frame, skipped, bar)
        finally:
            if progress is None:
                bar.close()

    def state(self) -> dict:
        """Which weights made the features (their digest): `lra infer` can check it has the same."""
        return {"weights": str(self.weights), "digest": file_digest(self.weights)}
