"""E_φ on pixels (`train.image_network: resnet18 | resnet34 | resnet50`): the paper's image network,
and the image batches it trains and predicts on.

The network. The published denoiser multiplies its first hidden layer by BN(E_φ(x)), E_φ a ResNet
run on the image whose classifier maps the pooled output to F (its `encoder_x`). Here: the backbone
of `lra.embed.backbones.build` (torchvision's ResNet; the CIFAR stem, a 3×3 stride-1 first conv
and no max-pool, at 64 pixels or less, the ImageNet stem above) and a Linear to F; the BN is the
denoiser's `norm_x`. Optionally started from torchvision's ImageNet weights in a local file
(`train.image_weights`; nothing is downloaded).

The images. Every image is read by its manifest source (`lra.data.images.open_image`: files,
sklearn digits, CIFAR records), resized (bicubic, as `pixels:<size>`) to S×S and kept as 8-bit
RGB; the network sees it normalised per channel by (mean, std): ImageNet's with ImageNet weights,
else the train split's. Training augments it as the paper does:
- S ≤ 64 (`crop: pad`): a random S×S crop of the image zero-padded by 4 pixels, and a
  horizontal flip with probability 1/2 (torchvision's RandomCrop(S, padding=4) and
  RandomHorizontalFlip, the published CIFAR transform);
- S > 64 (`crop: resized`): a random resized crop (area 8-100 %, aspect 3/4-4/3; lra.embed.augment)
  and a flip.
Val checks, predict and infer read the plain resized image.

Where the pixels live. A split whose 8-bit pixels fit in `CACHE_BYTES` is decoded once (by
DataLoader workers) into one uint8 tensor; at S ≤ 64 its batches are then cropped and flipped
with batched torch ops on the device. Otherwise DataLoader workers decode (when not cached) and
augment each step's items. Both give the same bytes: every draw of an item comes from per-item
keyed draws (`lra.diffusion.draws`, keyed by (round seed, epoch, item)), never from a global RNG or
from which worker made it, and the pad crop is the same integer indexing batched or one at a time.
So a killed and resumed train, and any number of workers, give the same model.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F_

from ..core.errors import LraError
from ..data.images import BadImage, open_image
from ..embed.backbones import CIFAR_STEM_MAX
from . import draws

log = logging.getLogger("lra")

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # what torchvision's ImageNet weights expect
IMAGENET_STD = (0.229, 0.224, 0.225)
PAD = 4  # the published CIFAR crop's zero padding
CACHE_BYTES = 4 << 30  # a split's uint8 pixels up to this are decoded once and kept in memory
DEVICE_CACHE_BYTES = 1 << 30  # ... and, on a GPU, up to this kept on the device
EVAL_BATCH = 256  # images per forward pass of E_φ at inference


# --- the network --------------------------------------------------------------------------------

def image_embedding(name: str, image_size: int, F: int) -> nn.Module:
    """E_φ: the ResNet `name` for S×S images (random weights), its pooled output mapped to F."""
    from ..embed.backbones import build

    backbone, dim = build(name, image_size)
    return nn.Sequential(OrderedDict(backbone=backbone, to_F=nn.Linear(dim, F)))


def load_imagenet_weights(model, path) -> None:
    """Start the denoiser's ResNet from torchvision's ImageNet state dict in the local file `path`
    (its classifier `fc.*` is left out: E_φ maps to F with its own Linear). A file that is not
    such a state dict, or one of another network, is one clear error naming the config key."""
    from ..core.files import load_torch

    name = model.image_network
    key = "config key train.image_weights"
    state = load_torch(path, f"the ImageNet weights ({key})", fix=f"give torchvision's ImageNet {name} weights file")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise LraError(f"{key}: {path} holds no state dict of tensors; give torchvision's ImageNet {name} weights "
                       f"(e.g. the file {name}-<hash>.pth of download.pytorch.org/models/)")
    backbone = model.embed_x.backbone
    want = backbone.state_dict()
    given = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, extra = sorted(set(want) - set(given)), sorted(set(given) - set(want))
    shapes = [k for k in set(want) & set(given) if want[k].shape != given[k].shape]
    if missing or extra or shapes:
        first = (f"no {missing[0]}" if missing else f"an unknown {extra[0]}" if extra else
                 f"{shapes[0]} of shape {tuple(given[shapes[0]].shape)}, not {tuple(want[shapes[0]].shape)}")
        raise LraError(f"{key}: {path} does not fit {name} at image_size {model.hparams['image_size']} ({first}; "
                       f"{len(missing)} missing, {len(extra)} unknown, {len(shapes)} of another shape); give "
                       f"torchvision's ImageNet {name} weights")
    backbone.load_state_dict(given)


# --- reading images -------------------------------------------------------------------------------

def decode(source: str, size: int, row=None, item_id=None) -> np.ndarray:
    """The image behind a manifest source as uint8 (3, size, size): RGB, resized bicubic."""
    im = open_image(source, row, item_id).resize((size, size), resample=3)  # bicubic, as pixels:<size>
    return np.ascontiguousarray(np.asarray(im, np.uint8).transpose(2, 0, 1))


class _Resize:
    """A Pillow image → float (3, S, S) in [0, 1]: the bytes of `decode`, divided by 255 (so
    `to_uint8` gives them back exactly)."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, im) -> torch.Tensor:
        x = np.asarray(im.resize((self.size, self.size), resample=3), np.uint8)  # bicubic, as `decode`
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).float() / 255


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images k/255 back to their bytes k (exact in float32)."""
    return (x * 255).round_().to(torch.uint8)


class _Augmented(torch.utils.data.Dataset):
    """Item i → (its augmented view of `epoch`, i, failure reason): uint8 for the pad crop, float in
    [0, 1] for the resized crop, drawn from its own keyed word, so the same in any worker. An
    unreadable image is reported to the main process, which raises it naming its row."""

    def __init__(self, images: "Images", seed: int, epoch: int):
        self.images, self.seed, self.epoch = images, seed, epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        word = draws.words(np.array([i], np.uint64), self.seed, self.epoch, 1)[:, 0]
        try:
            x = torch.from_numpy(self.images.read(i))[None]
        except BadImage as bad:
            s = self.images.size
            dtype = torch.uint8 if self.images.crop == "pad" else torch.float32
            return torch.zeros(3, s, s, dtype=dtype), i, bad.reason
        return self.images.augment(x, word)[0], i, ""


class Images:
    """The images of manifest rows `frame` (`source`, `id`; the index names the row in errors) for
    E_φ, in its order: read by source, resized to `size`, normalised by (mean, std); augmented for
    training (see the module docstring).

    `mean`/`std` None: set them with `statistics()` (the train split's). `workers`: DataLoader
    processes decoding (lra.embed.batched) and augmenting (when not cropped on the device)."""

    def __init__(self, frame, size: int, mean=None, std=None, flip: bool = True, workers: int = 0,
                 what: str = "images"):
        self.frame = frame[["source", "id"]].astype(str)
        self.sources, self.ids = self.frame["source"].tolist(), self.frame["id"].tolist()
        self.rows = frame.index.tolist()
        self.size, self.flip, self.workers, self.what = int(size), bool(flip), int(workers), what
        self.crop = "pad" if self.size <= CIFAR_STEM_MAX else "resized"
        self.mean, self.std = mean, std
        self.pixels: torch.Tensor | None = None  # uint8 (N, 3, S, S) once decoded

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def fits(self) -> bool:
        return len(self) * 3 * self.size * self.size <= CACHE_BYTES

    def read(self, i: int) -> np.ndarray:
        """Item i's uint8 (3, S, S): from memory when decoded, else from its source."""
        if self.pixels is not None:
            return self.pixels[i].cpu().numpy()
        return decode(self.sources[i], self.size, self.rows[i], self.ids[i])

    def _decoded(self, batch: int = EVAL_BATCH):
        """(positions, float batch in [0, 1]) in order, decoded by the workers (lra.embed.batched);
        a bad image stops here, naming its row."""
        from ..embed.batched import image_loader, readable_batches

        workers = self.workers if len(self) > batch else 0  # one batch: no worker start-up
        loader = image_loader(self.frame, _Resize(self.size), self.size, batch, workers)
        for x, pos, _ in readable_batches(loader, self.frame, None):
            yield torch.from_numpy(pos), x

    def load(self) -> "Images":
        """Decode every image once into memory when they fit in CACHE_BYTES (else leave them to be
        decoded as needed)."""
        if self.pixels is None and self.fits and len(self):
            s = self.size
            pixels = torch.empty(len(self), 3, s, s, dtype=torch.uint8)
            for pos, x in self._decoded():
                pixels[pos] = to_uint8(x)
            self.pixels = pixels
            log.info("%s: %d images decoded into memory at %d×%d (%.0f MiB)", self.what, len(self), s, s,
                     pixels.numel() / 2**20)
        return self

    def statistics(self) -> "Images":
        """Set mean and std to the per-channel mean and standard deviation of these images (in
        [0, 1], float64 sums), read from memory or decoded once."""
        s1, s2, n = np.zeros(3), np.zeros(3), 0
        blocks = ((None, self.pixels[i:i + 4096]) for i in range(0, len(self), 4096)) if self.pixels is not None \
            else self._decoded()
        for _, x in blocks:
            x = x.to(torch.float64) / 255 if x.dtype == torch.uint8 else to_uint8(x).to(torch.float64) / 255
            s1 += x.sum(dim=(0, 2, 3)).numpy()
            s2 += (x * x).sum(dim=(0, 2, 3)).numpy()
            n += x.shape[0] * x.shape[2] * x.shape[3]
        if n == 0:
            raise LraError(f"{self.what}: no image to compute the normalisation from")
        mean = s1 / n
        self.mean = mean.tolist()
        self.std = (np.sqrt(np.maximum(s2 / n - mean**2, 0)) + 1e-3).tolist()  # a constant channel must not blow up
        return self

    # --- tensors --------------------------------------------------------------------------------
    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (or float in [0, 1]) images → float32, normalised per channel."""
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device)[:, None, None]
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device)[:, None, None]
        return (x - mean) / std

    def augment(self, x: torch.Tensor, word: np.ndarray) -> torch.Tensor:
        """The training views of uint8 images `x` (B, 3, S, S), item b drawn from the 64-bit `word[b]`.
        Pad crop: offsets word % 9 and word // 9 % 9, flip bit word // 81 % 2; the result is uint8.
        Resized crop: a generator seeded by the word drives lra.embed.augment's crop and flip; float."""
        if self.crop == "pad":
            span = 2 * PAD + 1
            w = torch.from_numpy((word % np.uint64(span ** 2 * 2)).astype(np.int64)).to(x.device)
            return pad_crop_flip(x, w % span, w // span % span, (w // span**2 % 2 == 1) & self.flip)
        from ..embed import augment as aug

        views = []
        for b in range(x.shape[0]):
            g = torch.Generator().manual_seed(int(word[b] >> np.uint64(1)))
            v = aug.crop(x[b].float() / 255, g)
            views.append(aug.flip(v, g) if self.flip else v)
        return torch.stack(views)

    def train_batches(self, perm: torch.Tensor, first: int, last: int, B: int, seed: int, epoch: int, device):
        """The normalised, augmented image batches b = first .. last-1 of an epoch, batch b being the
        items perm[b·B:(b+1)·B], on `device`. Item i's view depends only on (seed, epoch, i)."""
        batches = [perm[b * B:(b + 1) * B] for b in range(first, last)]
        if self.pixels is not None and self.crop == "pad":  # batched on the device
            if device.type == "cuda" and self.pixels.device != device and \
                    self.pixels.numel() <= DEVICE_CACHE_BYTES:
                self.pixels = self.pixels.to(device)
            for idx in batches:
                word = draws.words(idx.numpy().astype(np.uint64), seed, epoch, 1)[:, 0]
                x = self.pixels[idx.to(self.pixels.device)].to(device, non_blocking=True)
                yield self.normalise(self.augment(x, word))
            return
        loader = torch.utils.data.DataLoader(_Augmented(self, seed, epoch), batch_sampler=[i.tolist() for i in batches],
                                             num_workers=self.workers, pin_memory=device.type == "cuda",
                                             prefetch_factor=4 if self.workers else None)
        for x, pos, reasons in loader:
            for j, reason in enumerate(reasons):
                if reason:
                    i = int(pos[j])
                    raise BadImage(self.sources[i], reason, self.rows[i], self.ids[i])
            yield self.normalise(x.to(device, non_blocking=True))

    def plain_batches(self, device, batch: int = EVAL_BATCH):
        """The plain (resized, normalised) images in order, `batch` at a time, on `device`."""
        if self.pixels is not None:
            for start in range(0, len(self), batch):
                yield self.normalise(self.pixels[start:start + batch].to(device, non_blocking=True))
            return
        for _, x in self._decoded(batch):
            yield self.normalise(x.to(device, non_blocking=True))

    def record(self) -> dict:
        """What model.pt keeps so that predict and infer read new images as these were read."""
        return {"size": self.size, "mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std],
                "crop": self.crop, "flip": self.flip}


def pad_crop_flip(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Batched RandomCrop(S, padding=PAD) + horizontal flip of uint8 (B, 3, S, S): item b is the
    S×S window at (dy[b], dx[b]) of its zero-padded image, mirrored where flip[b]. Pure indexing, so
    the same bytes batched or one at a time, on any device."""
    B, _, S, _ = x.shape
    padded = F_.pad(x, (PAD, PAD, PAD, PAD))
    ar = torch.arange(S, device=x.device)
    rows, cols = dy[:, None] + ar, dx[:, None] + ar
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    b = torch.arange(B, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def embed(model, images: Images, device, amp: bool = True, batch: int = EVAL_BATCH) -> torch.Tensor:
    """BN(E_φ(x)) of every image, plain, in eval mode: (N, F) float32 on `device`, computed `batch`
    images at a time (bf16 autocast on CUDA with `amp`). The sampler takes it as `fq`
    (Denoiser.embedding), so the ResNet runs once per item."""
    model.eval()
    use_amp = amp and device.type == "cuda"
    out = []
    for x in images.plain_batches(device, batch):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            out.append(model.embedding(None, x).float())
    F = model.hparams["F"]
    return torch.cat(out) if out else torch.empty(0, F, device=device)


# --- the stages' side ---------------------------------------------------------------------------

def workers(num_workers: int | None = None) -> int:
    """DataLoader processes: the given number, else embed's rule (the job's threads but one, at most 8)."""
    from ..embed.batched import default_workers

    return default_workers() if num_workers is None else max(0, int(num_workers))


def of_rows(frame, record: dict, num_workers: int | None = None, what: str = "images") -> Images:
    """The images of manifest rows (`source`, `id`; the index names the row), read as `record` says."""
    return Images(frame, record["size"], record["mean"], record["std"], flip=record["flip"],
                  workers=workers(num_workers), what=what)


def train_images(m, cfg, num_workers: int | None = None) -> tuple[Images, Images | None, dict]:
    """The train and val images of manifest `m` for E_φ, decoded into memory when they fit, and
    the record model.pt keeps (network, size, normalisation, crop, flip, amp, weights file)."""
    from ..core.chunks import file_digest

    if m.meta.get("kind") == "embeddings":
        raise LraError(f"config key train.image_network: {cfg.image_network} trains E_φ on the images, but this "
                       "dataset is of kind embeddings: vectors, no images to read; use train.image_network: features")
    f = m.frame
    train, val = f[f["split"] == "train"], f[f["split"] == "val"]
    n = workers(num_workers)
    images = Images(train, cfg.image_size, flip=cfg.image_flip, workers=n, what="train images").load()
    if cfg.image_weights:
        images.mean, images.std = list(IMAGENET_MEAN), list(IMAGENET_STD)
    else:
        images.statistics()
    record = {"network": cfg.image_network, **images.record(), "amp": bool(cfg.amp),
              "weights": {"path": str(cfg.image_weights), "digest": file_digest(cfg.image_weights)}
              if cfg.image_weights else None}
    val_images = of_rows(val, record, num_workers, "val images").load() if len(val) else None
    log.info("E_φ: %s on %d×%d images (%s crop%s), %d train and %d val images, %d decoding worker(s), normalised "
             "by %s", cfg.image_network, cfg.image_size, cfg.image_size, images.crop,
             " + flip" if images.flip else "", len(images), len(val), n,
             "ImageNet's mean and std" if cfg.image_weights else "the train split's mean and std")
    return images, val_images, record


def condition(model, record: dict, frame, device, num_workers: int | None = None, what: str = "images"):
    """The sampler's `fq` for manifest rows (or an image CSV's rows: `source`, `id`) of a run whose
    model.pt has the images `record`: BN(E_φ(x)) of each plain image, computed once (see `embed`)."""
    return embed(model, of_rows(frame, record, num_workers, what), device, record.get("amp", True))
