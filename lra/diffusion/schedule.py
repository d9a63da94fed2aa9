"""The cosine noise schedule (Nichol & Dhariwal 2021) and the forward process q(y_t | y_0)."""

from __future__ import annotations

import math

import torch


class CosineSchedule:
    """ᾱ_t = g(t+1)/g(0) for t = 0..T-1, g(u) = cos²(((u/T)+s)/(1+s)·π/2), β_t clipped at 0.999."""

    def __init__(self, T: int = 1000, s: float = 0.008, max_beta: float = 0.999):
        self.T = T
        u = torch.arange(T + 1, dtype=torch.float64)
        g = torch.cos(((u / T) + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - g[1:] / g[:-1]).clamp(max=max_beta)
        self.betas = betas
        self.alpha_bar = torch.cumprod(1 - betas, dim=0)  # equals g(t+1)/g(0) where unclipped
        self.sqrt_alpha_bar = self.alpha_bar.sqrt()
        self.sqrt_one_minus_alpha_bar = (1 - self.alpha_bar).sqrt()

    def to(self, device, dtype=torch.float32) -> "CosineSchedule":
        for name in ("betas", "alpha_bar", "sqrt_alpha_bar", "sqrt_one_minus_alpha_bar"):
            setattr(self, name, getattr(self, name).to(device=device, dtype=dtype))
        return self

    def q_sample(self, y0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """y_t = sqrt(ᾱ_t)·y_0 + sqrt(1-ᾱ_t)·ε."""
        return self.sqrt_alpha_bar[t, None] * y0 + self.sqrt_one_minus_alpha_bar[t, None] * eps


def ddim_timesteps(T: int = 1000, S: int = 10) -> list[int]:
    """The S uniform DDIM steps, largest first: T=1000, S=10 → 901, 801, …, 1.

    The grid needs a stride of at least 2 (S ≤ T/2); a first step at t = T-1, where ᾱ ≈ 0,
    would divide the prediction of y_0 by ~0.
    """
    if not 1 <= S <= T // 2:
        from ..core.errors import LraError

        raise LraError(f"config key ddim_steps: {S} steps need T ≥ {2 * S} (T={T}); use at most {T // 2}")
    stride = T // S
    return [T - stride * (i + 1) + 1 for i in range(S)]
