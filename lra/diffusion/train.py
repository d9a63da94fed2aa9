"""Training of the LRA denoiser (method.md, "Training").

Each step, every item in the batch draws one label ŷ uniformly from its k+1 candidates (the
labels of its k retrieved neighbours and its own observed label), is diffused to y_t at an
antithetic timestep, and the denoiser regresses the noise ε. The loss of item i is weighted by
how many of its candidates agree with the drawn ŷ_i. Candidates and agreement counts are
precomputed once as (N, k+1) tensors, so a step is a handful of gathers: no kNN, no Python loop
over items.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch.nn import functional as F_

from ..core.devices import resolve_device
from ..core.progress import progress
from ..core.training import Checkpoint, Position, lr_at, training_state
from . import prior as prior_mod
from .config import TrainConfig
from .model import Denoiser
from .readout import read_out
from .sample import predict
from .schedule import CosineSchedule


def candidates(observed: np.ndarray, neighbor_rows: np.ndarray, own_label: bool = True):
    """Candidate labels (N, k[+1]) and, per candidate, how many of the row's candidates equal it."""
    cand = observed[neighbor_rows]
    if own_label:
        cand = np.concatenate([cand, observed[:, None]], axis=1)
    agree = (cand[:, :, None] == cand[:, None, :]).sum(axis=2)
    return cand.astype(np.int64), agree.astype(np.float32)


def loss_weights(agree: np.ndarray, weighting: bool = True, power: float = 1.0) -> np.ndarray:
    """Per-candidate loss weight: the number of the item's candidates that agree with it (to
    `power`), so agreeing neighbourhoods weigh more; all ones with weighting off. The loss
    normalises them over the batch."""
    return agree.astype(np.float32) ** power if weighting else np.ones_like(agree, dtype=np.float32)


def antithetic_timesteps(n: int, T: int, generator: torch.Generator) -> torch.Tensor:
    """Half the batch t ~ U{0..T-1}, the other half T-1-t (lower-variance loss estimates)."""
    half = torch.randint(0, T, ((n + 1) // 2,), generator=generator)
    return torch.cat([half, T - 1 - half])[:n]


def optimizer_step(step_fn, model, opt, schedule, fp, y_hat, w, t, eps, lr: float, grad_clip: float,
                   use_amp: bool = False, fq=None, mu: torch.Tensor | None = None) -> torch.Tensor:
    """One step on a batch whose labels ŷ, weights w, timesteps t and noise ε are drawn: diffuse
    one-hot(ŷ) to y_t (around the CARD prior mean μ when given), regress ε, weighted loss
    Σ w_i‖ε_i − ε̂_i‖²/C / Σ w_i, clip, Adam. `fq`: the batch's images when E_φ is an image
    network. Returns the loss, detached and left on the device."""
    num_classes = eps.shape[1]
    y0 = F_.one_hot(y_hat, num_classes).float()
    y_t = schedule.q_sample(y0, t, eps) if mu is None else prior_mod.q_sample(schedule, y0, mu, t, eps)
    for group in opt.param_groups:
        group["lr"] = lr
    with torch.autocast(fp.device.type, dtype=torch.bfloat16, enabled=use_amp):
        eps_hat = step_fn(y_t, t, fp.float(), fq, mu)  # features may be kept float16
    per_item = ((eps - eps_hat.float()) ** 2).sum(dim=1) / num_classes
    loss = (w * per_item).sum() / w.sum()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return loss.detach()


class Selection:
    """Model selection on a noisy validation accuracy: keep the *latest* checkpoint whose accuracy
    is within `tolerance` standard errors (sqrt(p(1-p)/n)) of the best so far.

    Plain argmax over ~100 checks of a few hundred noisy labels picks lucky spikes, often early
    ones: on digits with 20 % noise it kept epoch 115 of 889. Preferring the latest of the
    statistically indistinguishable checks keeps the better-trained model. tolerance 0 is the
    published code's rule: plain argmax, a check replacing the kept one only when strictly better.
    """

    def __init__(self, n_val: int, tolerance: float = 1.0):
        self.n, self.tolerance = max(1, n_val), tolerance
        self.best_acc, self.state = -1.0, None

    def offer(self, acc: float, model) -> bool:
        if self.tolerance == 0:
            if acc <= self.best_acc:
                return False
            self.best_acc = acc
        else:
            self.best_acc = max(self.best_acc, acc)
            p = self.best_acc
            if acc < p - self.tolerance * math.sqrt(p * (1 - p) / self.n):
                return False
        self.state = copy.deepcopy(model.state_dict())
        return True


def train(fp: np.ndarray, cand: np.ndarray, agree: np.ndarray, num_classes: int, cfg: TrainConfig,
          val_fp: np.ndarray | None = None, val_labels: np.ndarray | None = None, log=print,
          init: dict | None = None, checkpoint: Checkpoint | None = None, images=None, val_images=None,
          prior: np.ndarray | None = None, val_prior: np.ndarray | None = None):
    """Train a denoiser on train features `fp` with candidate labels; select a checkpoint by its
    validation accuracy against `val_labels` (observed labels unless clean ones are given), see
    `Selection`. With `checkpoint`, resume from its saved state and save at step and epoch
    boundaries (`lra.core.training`): same results, interrupted or not. `init`: a state dict to
    start from (a later relabelling round) instead of a fresh model. With an image network
    (`cfg.image_network`), `images` and `val_images` (lra.diffusion.image_network.Images, in the
    rows of `fp` and `val_fp`) are what E_φ sees: augmented views in training, plain in val checks.
    `prior`, `val_prior`: the CARD prior mean μ (N, C) of the train and val items
    (lra.diffusion.prior); None: μ = 0, the paper's process.

    Returns (model, schedule, history) with the selected weights loaded."""
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    schedule = CosineSchedule(cfg.T).to(device)
    model = Denoiser(num_classes, fp.shape[1], cfg.F, cfg.T, feature_scale=cfg.feature_scale,
                     prior=prior is not None, **image_network_args(cfg, images)).to(device)
    if init is not None:
        model.load_state_dict(init)
    elif cfg.on_pixels and cfg.image_weights:
        from .image_network import load_imagenet_weights

        load_imagenet_weights(model, cfg.image_weights)
    step_fn = torch.compile(model) if cfg.compile and device.type == "cuda" else model
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    x = torch.as_tensor(fp, device=device)
    mu = None if prior is None else torch.as_tensor(prior, dtype=torch.float32, device=device)
    cand_t = torch.as_tensor(cand)
    weight_t = torch.as_tensor(loss_weights(agree, cfg.weighting, cfg.weight_power))
    N, K = cand.shape
    B = min(cfg.batch_size, N)
    per_epoch = max(1, N // B)  # drop the ragged last batch: BatchNorm needs > 1 item
    epochs, total, warmup, horizon = training_length(cfg, per_epoch)
    if cfg.steps:
        log(f"{N} items give {per_epoch} steps per epoch: training steps={total} ({total / per_epoch:.2f} epochs)")
    elif epochs > cfg.epochs:
        log(f"{N} items give {per_epoch} steps per epoch: training {epochs} epochs to reach min_steps={cfg.min_steps}")
    use_amp = cfg.amp and device.type == "cuda"
    history, step = [], 0
    selection = Selection(0 if val_labels is None else len(val_labels), cfg.select_tolerance)
    start = Position()
    resumed = checkpoint.resume(model, opt, g, selection) if checkpoint is not None else None
    if resumed is not None:
        start, history = resumed
        step = start.step

    def snapshot(position: Position) -> dict:
        return training_state(model, opt, g, selection, history, position)

    for epoch in progress(range(start.epoch, epochs + 1), desc="train", unit="epochs"):  # resumed: those left
        model.train()
        if epoch == start.epoch and start.perm is not None:  # resuming inside this epoch
            perm, losses, first = start.perm, start.losses, start.batch
        else:
            perm, losses, first = torch.randperm(N, generator=g), [], 0
        # losses stay on the device: a per-step .item() would wait for the GPU every step
        last = min(per_epoch, total - (step - first))  # a fixed `steps` may end part-way through an epoch
        pixels = None if images is None else images.train_batches(perm, first, last, B, cfg.seed, epoch, device)
        for b in range(first, last):
            idx = perm[b * B:(b + 1) * B]
            j = torch.randint(0, K, (len(idx),), generator=g)
            y_hat, w = cand_t[idx, j], weight_t[idx, j]
            t = antithetic_timesteps(len(idx), cfg.T, g)
            eps = torch.randn(len(idx), num_classes, generator=g)
            idx, y_hat, w, t, eps = (v.to(device, non_blocking=True) for v in (idx, y_hat, w, t, eps))
            lr = lr_at(step, horizon, warmup, cfg.lr)
            fq = None if pixels is None else next(pixels)
            loss = optimizer_step(step_fn, model, opt, schedule, x[idx], y_hat, w, t, eps, lr, cfg.grad_clip, use_amp,
                                  fq, None if mu is None else mu[idx])
            losses.append(loss)
            step += 1
            if checkpoint is not None:
                checkpoint.boundary(Position(epoch, b + 1, step, perm, losses), snapshot)
        epoch_loss = 0.0
        for value in torch.stack(losses).tolist():  # one host sync per epoch, summed in step order as before
            epoch_loss += value
        record = {"epoch": epoch, "loss": epoch_loss / len(losses)}
        if val_fp is not None and (epoch % cfg.eval_every == 0 or epoch == epochs):
            acc = accuracy(model, schedule, val_fp, val_labels, cfg.ddim_steps, device, val_images, cfg.amp, val_prior)
            record["val_accuracy"] = acc
            if selection.offer(acc, model):
                record["selected"] = True
            log(f"epoch {epoch}: loss {record['loss']:.4f} val_accuracy {acc:.4f}")
        history.append(record)
        if checkpoint is not None and epoch < epochs:  # after the last epoch, finishing is quicker
            checkpoint.boundary(Position(epoch + 1, 0, step), snapshot)
    if selection.state is not None:
        model.load_state_dict(selection.state)
    model.eval()
    return model, schedule, history


def training_length(cfg: TrainConfig, per_epoch: int) -> tuple[int, int, int, int]:
    """(epochs, optimizer steps, warm-up steps, learning-rate horizon in steps). By epochs, raised
    to reach `min_steps`, the cosine reaching zero at `lr_decay_epochs` (None: the last epoch);
    with `steps`, exactly that many (the last epoch may stop part-way), a warm-up of the same share
    of them as `warmup_epochs` is of `epochs`, and the cosine spanning them."""
    if cfg.steps:
        warmup = min(cfg.steps, round(cfg.steps * cfg.warmup_epochs / cfg.epochs))
        return math.ceil(cfg.steps / per_epoch), cfg.steps, warmup, cfg.steps
    epochs = max(cfg.epochs, math.ceil(cfg.min_steps / per_epoch))
    return epochs, epochs * per_epoch, cfg.warmup_epochs * per_epoch, (cfg.lr_decay_epochs or epochs) * per_epoch


def accuracy(model, schedule, fp: np.ndarray, labels: np.ndarray, steps: int, device, images=None,
             amp: bool = True, prior=None) -> float:
    mu = None if prior is None else torch.as_tensor(prior, dtype=torch.float32, device=device)
    y0, _ = predict(model, schedule, torch.as_tensor(fp, device=device), image_condition(model, images, device, amp),
                    steps=steps, prior=mu)
    return float((read_out(y0).numpy() == labels).mean())


def image_network_args(cfg: TrainConfig, images) -> dict:
    """The Denoiser's image-network arguments: none for E_φ over the features (its model is built
    exactly as before); else the network and image size, which need the images."""
    if not cfg.on_pixels:
        return {}
    if images is None:
        from ..core.errors import LraError

        raise LraError(f"train.image_network {cfg.image_network} trains E_φ on the images: pass them (images=)")
    return {"image_network": cfg.image_network, "image_size": images.size}


def image_condition(model, images, device, amp: bool = True):
    """The `fq` the sampler passes the denoiser: None over the features; for an image network,
    BN(E_φ(x)) of every plain image, computed once (lra.diffusion.image_network.embed)."""
    if images is None:
        return None
    from .image_network import embed

    return embed(model, images, device, amp)


def selected_epoch(history: list[dict]) -> int | None:
    chosen = [r["epoch"] for r in history if r.get("selected")]
    return chosen[-1] if chosen else None
