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

import logging
from pathlib import Path

from ..core.devices import resolve_device
from ..core.errors import LraError
from .batched import BatchedEncoder

log = logging.getLogger("lra")

RANDOM = ("none", "random")


class OpenClipEncoder(BatchedEncoder):
    label = "open_clip"

    def __init__(self, model, preprocess, name: str, device: str = "cpu", precision: str = "auto",
                 batch_size: int = 256, num_workers: int | None = None):
        super().__init__(device, precision, batch_size, num_workers)
        self.model, self.preprocess, self.name = model, preprocess, name
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

    def features(self, images):
        return self.model.encode_image(images)


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
