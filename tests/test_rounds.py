"""Relabel-and-retrieve rounds: what gets relabelled, how later rounds are configured, and that a
second round trains on candidates rebuilt from the relabelled train set."""

from __future__ import annotations

import numpy as np
import torch

from lra.diffusion.config import TrainConfig
from lra.diffusion.rounds import confidence, relabel, round_config, train_rounds

from .conftest import noisy_neighbourhoods


def test_confidence_is_the_read_out_class_and_its_margin_over_the_runner_up():
    y0 = torch.tensor([[0.9, 0.2, 0.0], [0.5, 0.6, 0.1]])
    cls, margin = confidence(y0)
    assert cls.tolist() == [0, 1]
    assert np.allclose(margin, [0.8 - 0.1, 0.5 - 0.4])


def test_relabel_replaces_contradicted_labels_above_the_margin_only():
    observed = np.array([0, 0, 2, 1])
    y0 = torch.tensor([[1.0, 0.0, 0.0], [0.1, 1.0, 0.0], [0.45, 0.55, 0.0], [0.0, 1.0, 0.0]])
    assert relabel(observed, y0).tolist() == [0, 1, 1, 1]
    assert relabel(observed, y0, margin=0.5).tolist() == [0, 1, 2, 1]  # item 2's margin is 0.1


def test_a_later_round_trains_a_fraction_without_warm_up_and_with_its_own_seed():
    cfg = TrainConfig(epochs=200, min_steps=4000, warmup_epochs=5, lr_decay_epochs=1000, round_fraction=0.5, seed=3)
    assert round_config(cfg, 0) is cfg
    later = round_config(cfg, 2)
    assert (later.epochs, later.min_steps, later.warmup_epochs, later.lr_decay_epochs, later.seed) == (100, 2000, 0, None, 5)


def test_rounds_relabel_the_flipped_labels_and_train_on_the_rebuilt_candidates():
    x, y, noisy, rows = noisy_neighbourhoods(60, spread=0.4)
    cfg = TrainConfig(epochs=100, F=64, T=50, batch_size=32, eval_every=5, lr=3e-3, rounds=2, round_fraction=0.5)
    logs = []
    _, _, history, labels = train_rounds(x, noisy, rows, 3, cfg, log=logs.append)
    assert [h["round"] for h in history] == [1] * 100 + [2] * 50
    assert any("relabelled" in line for line in logs)
    assert (labels != y).mean() < 0.5 * (noisy != y).mean()  # most flips undone
    one = TrainConfig(**{**cfg.__dict__, "rounds": 1})
    _, _, h1, same = train_rounds(x, noisy, rows, 3, one, log=lambda *a: None)
    assert len(h1) == 100 and (same == noisy).all()  # one round = the paper's single training
