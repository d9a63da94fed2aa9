"""open_clip image encoder f_p: `open_clip:<model>:<pretrained>`.

`<pretrained>` is an open_clip pretrained tag (`ViT-L-14:openai`, `ViT-B-32:laion2b_s34b_b79k`;
downloaded once into the Hugging Face cache, or found there offline), a path to a local
checkpoint file (`ViT-L-14:/models/clip-vit-l-14.safetensors`), or `none` for random weights
(tests and benchmarks only). `<model>` is an open_clip architecture name, or one registered from a
JSON file with the `model_config` option. `open_clip:local-dir:<folder>` loads an open_clip
folder (open_clip_config.json plus weights).

Images go through the model's own evaluation preprocessing in DataLoader workers; the forward pass
runs under fp16/bf16 autocast on CUDA. Rows come back float32 and L2-normalised.

Options (config `embed.options`): batch_size, num_workers (null: the job's threads - 1, at most 8),
precision (auto: fp16 on CUDA, fp32 on CPU; fp32, fp16, bf16), device (auto, cpu, cuda, cuda:N),
model_config (a JSON architecture file), cache_dir (where tagged weights are cached).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np

from ..core import threads
from ..core.devices import resolve_device
from ..core.errors import LraError
from ..data.images import BadImage, open_image

log = logging.getLogger("lra")

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
RANDOM = ("none", "random")


class _Images:
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


class OpenClipEncoder:
    def __init__(self, model, preprocess, name: str, device: str = "cpu", precision: str = "auto",
                 batch_size: int = 256, num_workers: int | None = None):
        if precision not in PRECISIONS:
            raise LraError(f"config key embed.options.precision: {precision!r}; use one of {', '.join(PRECISIONS)}")
        if int(batch_size) < 1:
            raise LraError(f"config key embed.options.batch_size: {batch_size!r}; use a positive integer")
        self.model, self.preprocess, self.name = model, preprocess, name
        self.device = device
        self.precision = precision
        self.batch_size = int(batch_size)
        limit = threads.get() - 1  # one thread runs the model
        self.num_workers = default_workers() if num_workers is None else int(num_workers)
        if self.num_workers > limit:
            log.warning("embed.options.num_workers %d capped at %d: the job has %d thread(s), one runs the model; "
                        "raise embed.threads for more workers", self.num_workers, limit, limit + 1)
            self.num_workers = limit
        size = getattr(model.visual, "image_size", 224)
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)

    @classmethod
    def from_spec(cls, rest: str, batch_size: int = 256, num_workers: int | None = None, precision: str = "auto",
                  device: str | None = "auto", model_config: str | None = None, cache_dir: str | None = None,
                  **unknown) -> "OpenClipEncoder":
        """`<model>:<pretrained tag | checkpoint path | none>` → a ready encoder (weights loaded)."""
        if unknown:
            raise LraError(
                f"config key embed.options: unknown option(s) {', '.join(sorted(unknown))} for open_clip; "
                "it takes batch_size, num_workers, precision, device, model_config, cache_dir"
            )
        import open_clip

        model_name, pretrained = _parse(rest)
        if model_config:
            path = Path(model_config).expanduser()
            if not path.is_file():
                raise LraError(f"config key embed.options.model_config: {path} not found; give an open_clip model JSON")
            open_clip.add_model_config(path)
        dev = str(resolve_device(device))  # open_clip and DataLoader take the name
        if not model_name.startswith(("local-dir:", "hf-hub:")):
            if open_clip.get_model_config(model_name) is None:
                raise LraError(
                    f"config key encoder: open_clip has no model {model_name!r}; use one of open_clip.list_models() "
                    "(e.g. ViT-B-32, ViT-L-14) or register a JSON architecture with embed.options.model_config"
                )
            if pretrained is not None and not Path(pretrained).expanduser().is_file():
                tags = open_clip.list_pretrained_tags_by_model(model_name)
                if pretrained not in tags:
                    raise LraError(
                        f"config key encoder: {pretrained!r} is neither a pretrained tag of {model_name} "
                        f"({', '.join(tags) or 'it has none'}) nor an existing checkpoint file; "
                        f"use open_clip:{model_name}:<tag>, a checkpoint path, or none for random weights"
                    )
            if pretrained is not None and Path(pretrained).expanduser().is_file():
                pretrained = str(Path(pretrained).expanduser().resolve())
        if pretrained is None and not model_name.startswith(("local-dir:", "hf-hub:")):
            log.warning("open_clip %s with random weights (pretrained 'none'): features are for testing only", model_name)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=pretrained, device=dev, cache_dir=cache_dir)
        except Exception as exc:  # download failures, checkpoints of another architecture, ...
            raise LraError(
                f"config key encoder: open_clip could not build {model_name} with weights {pretrained!r} "
                f"({type(exc).__name__}: {exc}). Offline, tagged weights must already be in the cache "
                "(embed.options.cache_dir or the Hugging Face cache); else give a local checkpoint path"
            ) from None
        model.eval()
        return cls(model, preprocess, f"{model_name}:{pretrained}", dev, precision, batch_size, num_workers)

    def _autocast(self):
        import torch

        if not self.device.startswith("cuda"):
            return contextlib.nullcontext()
        dtype = {"auto": torch.float16, "fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)
        return torch.autocast("cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext()

    def loader(self, frame):
        """The DataLoader of preprocessed images of `frame`, in row order."""
        import torch

        workers = self.num_workers if len(frame) > self.batch_size else 0  # one batch: no worker start-up
        return torch.utils.data.DataLoader(
            _Images(frame, self.preprocess, self.image_size), batch_size=self.batch_size, shuffle=False,
            num_workers=workers, pin_memory=self.device.startswith("cuda"),
            persistent_workers=False, prefetch_factor=4 if workers else None)

    def forward(self, images):
        """Model forward of one preprocessed batch → float32 L2-normalised rows (numpy)."""
        import torch

        with torch.inference_mode(), self._autocast():
            z = self.model.encode_image(images.to(self.device, non_blocking=True))
        z = z.float()
        return torch.nn.functional.normalize(z, dim=-1).cpu().numpy()

    def encode(self, frame, skipped: list | None = None, progress=None) -> np.ndarray:
        """L2-normalised float32 rows of `frame`'s images. With a `skipped` list, unreadable images
        become NaN rows and are appended to it as `BadImage`; without one, the first raises."""
        from ..core.progress import progress as _progress

        out = None
        bar = progress or _progress(total=len(frame), desc=f"open_clip {self.name}", unit="images")
        rows, ids = frame.index.tolist(), frame["id"].astype(str).tolist()
        try:
            for images, pos, reasons in self.loader(frame):
                pos = pos.numpy()
                bad = [j for j, r in enumerate(reasons) if r]
                for j in bad:
                    err = BadImage(frame["source"].iloc[pos[j]], reasons[j], rows[pos[j]], ids[pos[j]])
                    if skipped is None:
                        raise err
                    skipped.append(err)
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


def _parse(rest: str) -> tuple[str, str | None]:
    """`<model>:<pretrained>` → (model, pretrained or None for random weights)."""
    for schema in ("local-dir:", "hf-hub:"):
        if rest.startswith(schema):
            return rest, None
    model, sep, pretrained = rest.partition(":")
    if not model or not sep or not pretrained:
        raise LraError(
            f"config key encoder: open_clip:{rest!r} needs <model>:<pretrained>, e.g. open_clip:ViT-L-14:openai, "
            "open_clip:ViT-B-32:/path/to/checkpoint.pt, or open_clip:<model>:none for random weights"
        )
    return model, (None if pretrained.lower() in RANDOM else pretrained)


def default_workers() -> int:
    """DataLoader workers: the job's threads but one (the model's), at most 8. A worker decodes
    with one thread and blocks once its batches are queued, so the job keeps to its threads."""
    return max(0, min(8, threads.get() - 1))
