"""Reading images by manifest source: a file path, or a bundled dataset's row."""

from __future__ import annotations

from .datasets import DIGITS_PREFIX, load_digit
from .errors import LraError


def open_image(source: str, row: int | None = None):
    """The RGB Pillow image behind `source`; one clear error for an unreadable file."""
    from PIL import Image

    if source.startswith(DIGITS_PREFIX):
        return load_digit(source).convert("RGB")
    where = f"manifest row {row}: " if row is not None else ""
    try:
        with Image.open(source) as im:
            im.load()
            return im.convert("RGB")
    except FileNotFoundError:
        raise LraError(f"{where}image {source} not found; fix the path in the dataset CSV") from None
    except Exception as exc:  # Pillow raises many types for damaged files
        raise LraError(
            f"{where}image {source} cannot be read ({type(exc).__name__}: {exc}); "
            "replace the file or remove its row from the dataset CSV"
        ) from None
