"""The CARD prior mean f_q(x) (Han et al., arXiv 2206.07275) over label vectors.

With a prior mean μ = f_q(x) the forward process is
    y_t = sqrt(ᾱ_t)·y_0 + (1 − sqrt(ᾱ_t))·μ + sqrt(1−ᾱ_t)·ε,
i.e. y_t − μ = sqrt(ᾱ_t)·(y_0 − μ) + sqrt(1−ᾱ_t)·ε: the plain process run on the residual
y_0 − μ. Sampling starts from y_T = μ (residual 0) and the DDIM update acts on the residual, so
the sampler is the plain one shifted by μ; with μ = 0 both are the paper's process exactly. The
denoiser sees μ beside y_t, as CARD's ε_θ(x, y_t, f_φ(x), t) does.

μ is a class-probability vector per item: the noise-robust linear head (lra.diffusion.head) and
the neighbour vote (lra.diffusion.vote), mixed with a weight chosen on the noisy val split.
"""

from __future__ import annotations

import numpy as np
import torch


def q_sample(schedule, y0: torch.Tensor, mu: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """y_t = μ + sqrt(ᾱ_t)·(y_0 − μ) + sqrt(1−ᾱ_t)·ε."""
    return mu + schedule.q_sample(y0 - mu, t, eps)


def mix(head: np.ndarray, vote: np.ndarray, weight: float) -> np.ndarray:
    """μ = weight·head + (1 − weight)·vote, float32."""
    return (weight * np.asarray(head, np.float64) + (1 - weight) * np.asarray(vote, np.float64)).astype(np.float32)


def choose_weight(head: np.ndarray, vote: np.ndarray, labels: np.ndarray, grid=np.linspace(0, 1, 11)) -> float:
    """The mixing weight whose argmax agrees most with `labels` (the val split's observed labels:
    under class-conditional noise the noisy-val ranking of classifiers is the clean one's in
    expectation, arXiv 2012.04193); ties go to the weight nearest 0.5."""
    acc = np.array([(mix(head, vote, w).argmax(axis=1) == labels).mean() for w in grid])
    best = np.flatnonzero(acc >= acc.max() - 1e-12)
    return float(grid[best[np.argmin(np.abs(grid[best] - 0.5))]])
