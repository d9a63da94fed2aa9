"""Image encoders f_p: images → feature vectors, and the registry of their specs (`get`).

`pixels[:<size>]` (here), `open_clip:<model>:<pretrained>` (lra.embed.clip) and
`simclr[:<backbone>]` (lra.embed.simclr, weights from the pretrain stage).

`pixels[:<size>]` resizes to size×size RGB, flattens, standardises each dimension with the
train split's mean and standard deviation, and L2-normalises: a pretrained-free baseline
encoder for small images. Retrieval and the denoiser see L2-normalised vectors either way.
"""

from __future__ import annotations

import re

import numpy as np

from ..core.errors import LraError
from ..core.progress import progress as _progress
from ..data.images import BadImage, open_image
from .config import backbone_of


def slug(spec: str) -> str:
    """A path-safe name for an encoder spec: `open_clip:ViT-B-32:openai` → `open_clip-ViT-B-32-openai`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", spec).strip("-")


class PixelsEncoder:
    """Raw pixels, standardised with train statistics. No options."""

    def __init__(self, size: int = 32):
        self.size = size
        self.mean = self.std = None

    def _raw(self, frame, skipped: list | None, bar) -> np.ndarray:
        out = np.full((len(frame), 3 * self.size * self.size), np.nan, np.float32)
        items = zip(frame["source"].tolist(), frame.index.tolist(), frame["id"].tolist())
        for i, (src, row, item_id) in enumerate(items):
            try:
                im = open_image(src, row, item_id)
            except BadImage as bad:
                if skipped is None:
                    raise
                skipped.append(bad)
            else:
                out[i] = np.asarray(im.resize((self.size, self.size), resample=3), np.float32).reshape(-1) / 255.0
            bar.update(1)
        return out

    def fit(self, frame, skipped: list | None = None, chunk_rows: int = 8192) -> None:
        """Mean and standard deviation of the train split, streamed chunk by chunk."""
        train = frame[frame["split"] == "train"]
        n, s1, s2 = 0, 0.0, 0.0
        with _progress(total=len(train), desc="pixels: train statistics", unit="images") as bar:
            for start in range(0, len(train), chunk_rows):
                x = self._raw(train.iloc[start:start + chunk_rows], skipped, bar)
                x = x[np.isfinite(x).all(axis=1)].astype(np.float64)
                n, s1, s2 = n + len(x), s1 + x.sum(axis=0), s2 + (x * x).sum(axis=0)
        if n == 0:
            raise LraError("pixels encoder: no readable train image to compute the pixel statistics from")
        self.mean = (s1 / n).astype(np.float32)
        var = np.maximum(s2 / n - (s1 / n) ** 2, 0.0)
        self.std = (np.sqrt(var) + 1e-3).astype(np.float32)  # constant pixels (digit borders) must not blow up

    def state(self) -> dict:
        """The fitted train statistics (float32, base64): stored with the features and the model,
        so `lra infer` standardises new images exactly as the run's own were."""
        return {"mean": _pack(self.mean), "std": _pack(self.std)}

    def load_state(self, state: dict) -> None:
        self.mean, self.std = _unpack(state["mean"]), _unpack(state["std"])

    def encode(self, frame, skipped: list | None = None, progress=None) -> np.ndarray:
        """L2-normalised rows; with a `skipped` list, unreadable images become NaN rows and are
        appended to it as `BadImage` errors instead of raising. `progress`: a bar to advance
        (`lra.core.progress`), else one of its own."""
        bar = progress or _progress(total=len(frame), desc="pixels: embed", unit="images")
        try:
            x = (self._raw(frame, skipped, bar) - self.mean) / self.std
        finally:
            if progress is None:
                bar.close()
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _pack(a: np.ndarray) -> str:
    import base64

    return base64.b64encode(np.ascontiguousarray(a, "<f4").tobytes()).decode("ascii")


def _unpack(text: str) -> np.ndarray:
    import base64

    return np.frombuffer(base64.b64decode(text), "<f4").astype(np.float32)


def check(spec: str) -> str:
    """The encoder's kind (pixels, open_clip, simclr), after the checks that need no model: an
    unknown kind, a pixels size that is not a number, an unknown SimCLR backbone. lra.workflow calls
    it at DAG build, so such a spec fails before any job runs."""
    name, _, rest = spec.partition(":")
    if name == "pixels":
        if rest and not rest.isdigit():
            raise LraError(f"config key encoder: {spec!r}: pixels takes an integer size, e.g. pixels:32")
    elif name == "simclr":
        backbone_of(spec)
    elif name != "open_clip":
        raise LraError(f"config key encoder: unknown encoder {spec!r}; use pixels[:<size>], "
                       "open_clip:<model>:<pretrained> or simclr[:<backbone>]")
    return name


def needs_weights(spec: str) -> bool:
    """An encoder trained on the dataset (simclr) by the pretrain stage, whose weights embed reads."""
    return spec.partition(":")[0] == "simclr"


def get(spec: str, weights=None, **options):
    """The encoder named by a config spec; `weights`: simclr's file from the pretrain stage."""
    kind = check(spec)
    if kind == "pixels":
        rest = spec.partition(":")[2]
        return PixelsEncoder(int(rest) if rest else 32)
    if kind == "simclr":
        from .simclr import SimCLREncoder

        return SimCLREncoder.from_spec(spec, weights, **options)
    from .clip import OpenClipEncoder

    return OpenClipEncoder.from_spec(spec.partition(":")[2], **options)
