"""Reading images by manifest source: a file path, a bundled dataset's row, or a CIFAR record.

Every image comes back as 8-bit RGB, whatever it was stored as:
- grayscale (L, 1), palette (P) and CMYK are converted by Pillow;
- images with transparency (RGBA, LA, P with a transparent colour) are composited on white, so a
  transparent background does not turn black;
- 16- and 32-bit integer images (16-bit PNG opens as I;16 or I) are rescaled to 0..255 from their
  bit depth (Pillow's own conversion clips them, turning most 16-bit images white); float (F)
  images from their value range.

An image that cannot be decoded (missing, empty, truncated, corrupt, not an image) raises
`BadImage`, an `LraError` naming the manifest row, the file and the fix. A truncated JPEG is bad
input, not a grey-padded picture: the embed stage's `bad_images` policy decides whether it stops
the run (`fail`) or is left out (`skip`).
"""

from __future__ import annotations

import os

import numpy as np

from .datasets import DIGITS_PREFIX, load_digit
from ..core.errors import LraError
from .paper import CIFAR_PREFIX  # cifar:<batch file>:<index>


class BadImage(LraError):
    """An image that cannot be read; `reason` says why, `source`/`row`/`item_id` say which."""

    def __init__(self, source: str, reason: str, row: int | None = None, item_id: str | None = None):
        self.source, self.reason, self.row, self.item_id = source, reason, row, item_id
        where = ""
        if row is not None:
            where = f"manifest row {row}" + (f" (id {item_id})" if item_id is not None else "") + ": "
        super().__init__(
            f"{where}image {source} {reason}; replace the file or remove its row from the dataset, "
            "or set embed.options.bad_images: skip to leave such images out of the features"
        )


def open_image(source: str, row: int | None = None, item_id: str | None = None):
    """The 8-bit RGB Pillow image behind `source`; `BadImage` when it cannot be read."""
    from PIL import Image

    if source.startswith(DIGITS_PREFIX):
        return load_digit(source).convert("RGB")
    if source.startswith(CIFAR_PREFIX):
        from .paper import load_cifar_image

        return load_cifar_image(source)
    try:
        size = os.path.getsize(source)
    except FileNotFoundError:
        raise BadImage(source, "not found", row, item_id) from None
    except OSError as exc:
        raise BadImage(source, f"cannot be opened ({exc.strerror or exc})", row, item_id) from None
    if size == 0:
        raise BadImage(source, "is an empty file (0 bytes)", row, item_id)
    try:
        with Image.open(source) as im:
            im.load()
            return to_rgb(im)
    except Exception as exc:  # Pillow raises many types for damaged files
        raise BadImage(source, f"cannot be decoded ({type(exc).__name__}: {exc})", row, item_id) from None


def to_rgb(im):
    """Any Pillow image → 8-bit RGB (see the module docstring for each mode)."""
    from PIL import Image

    mode = im.mode
    if mode == "RGB":
        return im.copy()  # a copy outlives the closed file
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(im)
        if mode == "F":
            lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
            a8 = ((a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)).round()
        else:
            a = a.astype(np.int64)
            if mode.startswith("I;16") or (mode == "I" and a.min() >= 0 and 255 < a.max() <= 65535):
                a8 = a >> 8  # 16-bit samples
            elif a.min() >= 0 and a.max() <= 255:
                a8 = a  # 8-bit values stored in a 32-bit image
            else:
                a8 = (a - a.min()) * 255 // max(1, int(a.max() - a.min()))
        return Image.fromarray(np.asarray(a8, np.uint8)).convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV
