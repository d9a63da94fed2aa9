"""Where a stage computes: `auto` picks CUDA when a device is visible, else the CPU."""

from __future__ import annotations

from .errors import LraError


def resolve_device(device: str | None = "auto"):
    """`auto`, `cpu`, `cuda` or `cuda:<n>` → a torch.device; asking for CUDA where none is visible
    is one clear error, not a failure deep inside torch."""
    import torch

    device = device or "auto"
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise LraError(f"config key device: {device!r}; use auto, cpu, cuda or cuda:<n>")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LraError(f"config key device: {device!r} but no CUDA device is visible; use auto or cpu")
    return torch.device(device)
