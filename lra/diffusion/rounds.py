"""Rounds of relabel-and-retrieve around LRA training.

Round 1 trains on the observed labels' candidates (k neighbour labels + the item's own). After
each round the model reads out every train item's class; where it contradicts the *observed*
label by a margin, that label is replaced by the model's class, the candidates are rebuilt from
the relabelled train set (same neighbours, cleaner labels), and the next round continues from
the current weights on them. Relabelling always starts from the observed labels, so a wrong
correction of one round can be undone by the next, better model.

Resumable: from round 2 on, every checkpoint the training loop saves also carries the round, its
labels, its starting weights and the history so far (`Checkpoint.extra`), so a killed job goes
on inside the round it died in and ends with the same model.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from .readout import distance_to_one
from .sample import predict
from .config import TrainConfig
from .train import candidates, image_condition, train


def confidence(y0: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The read-out class argmin_c |y_c − 1| and its margin: runner-up distance minus best distance."""
    dist = distance_to_one(y0)
    two = dist.topk(2, dim=1, largest=False).values
    return dist.argmin(dim=1).numpy(), (two[:, 1] - two[:, 0]).numpy()


def relabel(observed: np.ndarray, y0: torch.Tensor, margin: float = 0.0) -> np.ndarray:
    """The observed labels with every one the model contradicts (by at least `margin`) replaced."""
    pred, conf = confidence(y0)
    return np.where((pred != observed) & (conf >= margin), pred, observed)


def round_config(cfg: TrainConfig, r: int) -> TrainConfig:
    """Round r ≥ 1 (0-based): `round_fraction` of the first round's epochs and steps, no warm-up
    (it starts from trained weights), its own seed."""
    if r == 0:
        return cfg
    f = cfg.round_fraction
    return dataclasses.replace(cfg, epochs=max(1, math.ceil(cfg.epochs * f)), min_steps=math.ceil(cfg.min_steps * f),
                               steps=math.ceil(cfg.steps * f), warmup_epochs=0, lr_decay_epochs=None, seed=cfg.seed + r)


def train_rounds(fp: np.ndarray, observed: np.ndarray, neighbor_rows: np.ndarray, num_classes: int, cfg: TrainConfig,
                 val_fp=None, val_labels=None, log=print, checkpoint=None, images=None, val_images=None,
                 prior=None, val_prior=None):
    """`cfg.rounds` rounds of train → relabel → rebuild candidates → retrain. `images`,
    `val_images`: E_φ's images when it is an image network (lra.diffusion.train.train). `prior`,
    `val_prior`: the CARD prior mean of the train and val items (lra.diffusion.prior), the same
    every round.

    Returns (model, schedule, history, labels): the last round's selected model, every round's
    history (records carry `round`), and the train labels the last round was trained on."""
    labels, state, history, first = np.asarray(observed), None, [], 0
    saved = (checkpoint.load() and checkpoint.extra.get("rounds")) if checkpoint is not None else None
    if saved:  # killed inside a later round: start that round again as it started, then resume its loop
        first, labels, state, history = saved["round"], saved["labels"].numpy(), saved["init"], list(saved["history"])
        log(f"resuming round {first + 1} of {cfg.rounds}")
    for r in range(first, cfg.rounds):
        if checkpoint is not None and r > 0:
            checkpoint.extra["rounds"] = {"round": r, "labels": torch.as_tensor(labels), "init": state,
                                          "history": history}
        cand, agree = candidates(labels, neighbor_rows, cfg.own_label)
        model, schedule, h = train(fp, cand, agree, num_classes, round_config(cfg, r), val_fp, val_labels, log,
                                   init=state, checkpoint=checkpoint, images=images, val_images=val_images,
                                   prior=prior, val_prior=val_prior)
        history = history + [{**rec, "round": r + 1} for rec in h]
        if r + 1 < cfg.rounds:
            device = next(model.parameters()).device
            mu = None if prior is None else torch.as_tensor(prior, dtype=torch.float32, device=device)
            y0, _ = predict(model, schedule, torch.as_tensor(fp, device=device),
                            image_condition(model, images, device, cfg.amp), steps=cfg.ddim_steps, prior=mu)
            labels = relabel(observed, y0, cfg.relabel_margin)
            log(f"round {r + 1}: {int((labels != observed).sum())} of {len(labels)} train labels relabelled")
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return model, schedule, history, labels
