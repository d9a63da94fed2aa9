"""Image encoders f_p: images → feature vectors.

`pixels[:<size>]` resizes to size×size RGB, flattens, standardises each dimension with the
train split's mean and standard deviation, and L2-normalises: a pretrained-free baseline
encoder for small images. Retrieval and the denoiser see L2-normalised vectors either way.
"""

from __future__ import annotations

import re

import numpy as np
from tqdm import tqdm

from .errors import LraError
from .images import open_image


def slug(spec: str) -> str:
    """A path-safe name for an encoder spec: `open_clip:ViT-B-32:openai` → `open_clip-ViT-B-32-openai`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", spec).strip("-")


class PixelsEncoder:
    def __init__(self, size: int = 32):
        self.size = size
        self.mean = self.std = None

    def _raw(self, sources, rows, desc: str) -> np.ndarray:
        out = np.empty((len(sources), 3 * self.size * self.size), np.float32)
        for i, (src, row) in enumerate(tqdm(list(zip(sources, rows)), desc=desc, unit="img", mininterval=2)):
            im = open_image(src, row).resize((self.size, self.size), resample=3)  # bicubic
            out[i] = np.asarray(im, np.float32).reshape(-1) / 255.0
        return out

    def fit(self, frame) -> None:
        train = frame[frame["split"] == "train"]
        x = self._raw(train["source"].tolist(), train.index.tolist(), "pixels: train statistics")
        self.mean = x.mean(axis=0)
        self.std = x.std(axis=0) + 1e-3  # constant pixels (digit borders) must not blow up

    def encode(self, frame) -> np.ndarray:
        x = (self._raw(frame["source"].tolist(), frame.index.tolist(), "pixels: embed") - self.mean) / self.std
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def get(spec: str, **options):
    """The encoder named by a config spec."""
    name, _, rest = spec.partition(":")
    if name == "pixels":
        if rest and not rest.isdigit():
            raise LraError(f"config key encoder: {spec!r}: pixels takes an integer size, e.g. pixels:32")
        return PixelsEncoder(int(rest) if rest else 32)
    if name == "open_clip":
        from .clip import OpenClipEncoder

        return OpenClipEncoder.from_spec(rest, **options)
    raise LraError(f"config key encoder: unknown encoder {spec!r}; use pixels[:<size>] or open_clip:<model>:<pretrained>")
