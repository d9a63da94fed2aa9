"""DDIM sampling over label vectors (the class read-out is `lra.diffusion.readout`)."""

from __future__ import annotations

import numpy as np
import torch

from . import draws
from .readout import combined_class, read_out
from .schedule import CosineSchedule, ddim_timesteps


def ddim_step(y_t, eps_hat, alpha_bar_t, alpha_bar_prev, eta: float = 0.0, noise=None):
    """One DDIM update: ŷ_0 = (y_t − sqrt(1−ᾱ_t) ε̂)/sqrt(ᾱ_t);
    y_prev = sqrt(ᾱ_prev) ŷ_0 + sqrt(1−ᾱ_prev−σ²) ε̂ + σ z, σ = η·sqrt((1−ᾱ_prev)/(1−ᾱ_t)·(1−ᾱ_t/ᾱ_prev)).
    Returns (y_prev, ŷ_0)."""
    y0_hat = (y_t - (1 - alpha_bar_t).sqrt() * eps_hat) / alpha_bar_t.sqrt()
    sigma = eta * ((1 - alpha_bar_prev) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_prev)).clamp(min=0).sqrt()
    y_prev = alpha_bar_prev.sqrt() * y0_hat + (1 - alpha_bar_prev - sigma**2).clamp(min=0).sqrt() * eps_hat
    if eta > 0:
        y_prev = y_prev + sigma * (torch.randn_like(y_t) if noise is None else noise)
    return y_prev, y0_hat


@torch.no_grad()
def ddim_sample(model, schedule: CosineSchedule, fp, fq=None, steps: int = 10, eta: float = 0.0, y_T=None,
                step_noise=None, prior=None):
    """Run DDIM from y_T (zeros, the prior mean, when None) to ŷ_0 for a batch of items.
    With eta > 0, `step_noise(i)` gives the noise z of step i (default: torch's global generator).
    With a CARD `prior` μ (lra.diffusion.prior) the steps act on the residual y − μ: y_T and the
    returned ŷ_0 are then residuals shifted by μ (y_T = None starts at y = μ)."""
    n, C = fp.shape[0], model.hparams["num_classes"]
    y = torch.zeros(n, C, device=fp.device) if y_T is None else y_T
    taus = ddim_timesteps(schedule.T, steps)
    one = torch.ones((), device=fp.device)
    for i, tau in enumerate(taus):
        t = torch.full((n,), tau, dtype=torch.long, device=fp.device)
        eps_hat = model(y, t, fp, fq) if prior is None else model(prior + y, t, fp, fq, prior)
        prev = schedule.alpha_bar[taus[i + 1]] if i + 1 < len(taus) else one
        noise = step_noise(i) if eta > 0 and step_noise is not None else None
        y, y0_hat = ddim_step(y, eps_hat, schedule.alpha_bar[tau], prev, eta, noise)
    return y0_hat if prior is None else prior + y0_hat


@torch.no_grad()
def predict(model, schedule, fp, fq=None, steps: int = 10, batch_size: int = 4096,
            samples: int = 0, eta: float = 0.0, seed: int = 0, keys: np.ndarray | None = None, prior=None,
            readout=None):
    """Deterministic ŷ_0 (from y = 0) for every row; with `samples` = n > 0 also the
    class-vote counts of n stochastic trajectories from y_T ~ N(0, I). With a CARD `prior` μ
    (N, C), every trajectory starts around μ instead of 0 (lra.diffusion.prior). With a combined
    `readout` (w, rest): each trajectory's class is argmax w·(1 − |ŷ_0 − 1|) + rest, rest (N, C) the
    weighted head and vote of its item (lra.diffusion.readout.split_weights); else argmin |ŷ_0 − 1|.

    The draws of row i depend only on (seed, keys[i]) (`lra.diffusion.draws`; keys default to
    the row positions), so an item's votes do not depend on its batch or on the other rows.
    Returns (y0 [N, C], votes [N, C] or None)."""
    model.eval()
    C = model.hparams["num_classes"]
    keys = np.arange(fp.shape[0], dtype=np.uint64) if keys is None else np.asarray(keys, np.uint64)
    y0_all, votes_all = [], []
    for start in range(0, fp.shape[0], batch_size):
        b_fp = fp[start:start + batch_size].float()  # features may be kept float16
        b_fq = None if fq is None else fq[start:start + batch_size].float()
        b_mu = None if prior is None else prior[start:start + batch_size].float()
        y0_all.append(ddim_sample(model, schedule, b_fp, b_fq, steps, prior=b_mu).cpu())
        if samples:
            n = b_fp.shape[0]
            b_keys = keys[start:start + batch_size]

            def trajectory_noise(stream: int) -> torch.Tensor:
                # (n, samples·C) per-item draws → rows ordered like .repeat(samples, 1): sample-major
                z = draws.normal(b_keys, seed, stream, samples * C).reshape(n, samples, C).transpose(1, 0, 2)
                return torch.from_numpy(np.ascontiguousarray(z).reshape(samples * n, C)).to(fp.device)

            rep_fp = b_fp.repeat(samples, 1)
            rep_fq = None if b_fq is None else b_fq.repeat(samples, 1)
            rep_mu = None if b_mu is None else b_mu.repeat(samples, 1)
            y0 = ddim_sample(model, schedule, rep_fp, rep_fq, steps, eta, trajectory_noise(0),
                             step_noise=lambda i: trajectory_noise(i + 1), prior=rep_mu)
            if readout is None:
                cls = read_out(y0)
            else:
                rest = readout[1][start:start + batch_size].to(y0.device).repeat(samples, 1)
                cls = combined_class(y0, readout[0], rest)
            cls = cls.view(samples, n)
            votes_all.append(torch.nn.functional.one_hot(cls, C).sum(0).cpu())
    y0 = torch.cat(y0_all)
    return y0, (torch.cat(votes_all) if samples else None)


def vote_frequencies(votes: np.ndarray, samples: int, block: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Each item's share of trajectories per class and the entropy of those shares, float32,
    computed in float64 a block of rows at a time: at a million items and 100 classes the
    float64 temporaries of one pass would be gigabytes."""
    freq = np.empty(votes.shape, np.float32)
    entropy = np.empty(len(votes), np.float32)
    for start in range(0, len(votes), block):
        p = votes[start:start + block] / samples
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy[start:start + block] = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        freq[start:start + block] = p
    return freq, entropy
