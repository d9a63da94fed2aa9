"""What the torch image encoders (open_clip, SimCLR) share: manifest rows → preprocessed images in
DataLoader workers → the model's forward pass in batches → L2-normalised float32 rows.

A subclass sets the model, its preprocessing (PIL image → tensor) and its image size, and says how
the model turns a batch into features (`features`). The rest is here: the option checks (batch
size, precision), the DataLoader and its worker cap, fp16/bf16 autocast on CUDA, and unreadable
images, which a worker reports and the main process raises or, with a `skipped` list, leaves out.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np

from ..core import threads
from ..core.errors import LraError
from ..data.images import BadImage, open_image

log = logging.getLogger("lra")

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


class Images:
    """A torch Dataset over manifest rows: (preprocessed image, position, failure reason)."""

    def __init__(self, frame, preprocess, size: int):
        self.sources = frame["source"].tolist()
        self.rows = frame.index.tolist()
        self.ids = frame["id"].astype(str).tolist()
        self.preprocess = preprocess
        self.size = size

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int):
        import torch

        try:
            image = self.preprocess(open_image(self.sources[i], self.rows[i], self.ids[i]))
            return image, i, ""
        except BadImage as bad:  # reported by the main process, which knows the policy
            return torch.zeros(3, self.size, self.size), i, bad.reason
        except Exception as exc:  # a transform failing on a decodable but odd image
            return torch.zeros(3, self.size, self.size), i, f"cannot be preprocessed ({type(exc).__name__}: {exc})"


def image_loader(frame, preprocess, size: int, batch_size: int, workers: int, pin_memory: bool = False):
    """A DataLoader of (preprocessed images, positions, failure reasons) over `frame`'s rows, in order."""
    import torch

    return torch.utils.data.DataLoader(
        Images(frame, preprocess, size), batch_size=batch_size, shuffle=False, num_workers=workers,
        pin_memory=pin_memory, persistent_workers=False, prefetch_factor=4 if workers else None)


def readable_batches(loader, frame, skipped: list | None):
    """(images, positions, bad) of each batch of an `image_loader` over `frame`: `bad` lists the
    batch's unreadable images (their images are zeros). The first one raises `BadImage` naming its
    row and file; with a `skipped` list, each is appended to it instead."""
    rows, ids = frame.index.tolist(), frame["id"].astype(str).tolist()
    for images, pos, reasons in loader:
        pos = pos.numpy()
        bad = [j for j, r in enumerate(reasons) if r]
        for j in bad:
            err = BadImage(frame["source"].iloc[pos[j]], reasons[j], rows[pos[j]], ids[pos[j]])
            if skipped is None:
                raise err
            skipped.append(err)
        yield images, pos, bad


def default_workers() -> int:
    """DataLoader workers: the job's threads but one (the model's), at most 8. A worker decodes
    with one thread and blocks once its batches are queued, so the job keeps to its threads."""
    return max(0, min(8, threads.get() - 1))


class BatchedEncoder:
    """A torch model over batches of preprocessed images. Subclasses set `model`, `preprocess`,
    `image_size`, `name` and `label` (the progress line's word) and define `features`."""

    label = "embed"

    def __init__(self, device: str = "cpu", precision: str = "auto", batch_size: int = 256,
                 num_workers: int | None = None):
        if precision not in PRECISIONS:
            raise LraError(f"config key embed.options.precision: {precision!r}; use one of {', '.join(PRECISIONS)}")
        if int(batch_size) < 1:
            raise LraError(f"config key embed.options.batch_size: {batch_size!r}; use a positive integer")
        self.device = device
        self.precision = precision
        self.batch_size = int(batch_size)
        limit = threads.get() - 1  # one thread runs the model
        self.num_workers = default_workers() if num_workers is None else int(num_workers)
        if self.num_workers > limit:
            log.warning("embed.options.num_workers %d capped at %d: the job has %d thread(s), one runs the model; "
                        "raise embed.threads for more workers", self.num_workers, limit, limit + 1)
            self.num_workers = limit

    def features(self, images):
        """The model's features of one batch of preprocessed images on the device (a tensor)."""
        raise NotImplementedError

    def _autocast(self):
        import torch

        if not self.device.startswith("cuda"):
            return contextlib.nullcontext()
        dtype = {"auto": torch.float16, "fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)
        return torch.autocast("cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext()

    def loader(self, frame):
        """The DataLoader of preprocessed images of `frame`, in row order."""
        workers = self.num_workers if len(frame) > self.batch_size else 0  # one batch: no worker start-up
        return image_loader(frame, self.preprocess, self.image_size, self.batch_size, workers,
                            self.device.startswith("cuda"))

    def forward(self, images):
        """Forward pass of one preprocessed batch → float32 L2-normalised rows (numpy)."""
        import torch

        with torch.inference_mode(), self._autocast():
            z = self.features(images.to(self.device, non_blocking=True))
        return torch.nn.functional.normalize(z.float(), dim=-1).cpu().numpy()

    def encode(self, frame, skipped: list | None = None, progress=None) -> np.ndarray:
        """L2-normalised float32 rows of `frame`'s images. With a `skipped` list, unreadable images
        become NaN rows and are appended to it as `BadImage`; without one, the first raises."""
        from ..core.progress import progress as _progress

        out = None
        bar = progress or _progress(total=len(frame), desc=f"{self.label} {self.name}", unit="images")
        try:
            for images, pos, bad in readable_batches(self.loader(frame), frame, skipped):
                z = self.forward(images)
                if out is None:
                    out = np.empty((len(frame), z.shape[1]), np.float32)
                z[bad] = np.nan
                out[pos] = z
                bar.update(len(pos))
        finally:
            if progress is None:
                bar.close()
        return out if out is not None else np.empty((0, 1), np.float32)
