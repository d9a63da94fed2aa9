"""Method presets: the config key `method` names a set of train hyper-parameters.

- `paper`: the published algorithm and hyper-parameters (Chen et al., NeurIPS 2023, the CIFAR
  command of the authors' repository: `--nepoch 200 --warmup_epochs 5`), line by line in the
  README. The reference column of every accuracy table.
- `default`: this project's method (README, "The method").

Precedence: a key the user sets under `train:` wins, then the preset, then TrainConfig's field
default. The schema gives train keys no defaults (it would fill them in and hide which keys
the user set), and config.yaml sets none, so `method: paper` alone gives the published values.
"""

from __future__ import annotations

from .errors import LraError

PAPER = {
    "T": 1000,               # cosine schedule, T = 1000
    "F": 512,                # hidden width for small data
    "epochs": 200,           # README command: --nepoch 200
    "min_steps": 0,          # no floor on the number of steps
    "batch_size": 256,
    "lr": 1e-3,              # adjust_learning_rate(lr_input=0.001)
    "warmup_epochs": 5,      # README command: --warmup_epochs 5
    "lr_decay_epochs": 1000,  # the cosine is hard-coded to reach 0 at epoch 1000 while training stops at 200
    "grad_clip": 1.0,
    "weighting": True,       # sample weight = agreement count of the drawn label, normalised over the batch
    "weight_power": 1.0,
    "own_label": True,       # k neighbour labels + the item's own label
    "eval_every": 5,         # validation every 5 epochs
    "select_tolerance": 0.0,  # argmax of val accuracy (a later check must be strictly better)
    "feature_scale": "none",  # features enter the denoiser as the encoder gives them
    "ddim_steps": 10,
}

DEFAULT = {
    **PAPER,
    "F": 256,                # a quarter of the paper's step cost; the same accuracy on digits
    "batch_size": 128,       # more steps per epoch on a small train set
    "lr_decay_epochs": None,  # anneal to zero at the last epoch actually trained
    "min_steps": 3000,       # the first round trains at least 3,000 steps (the T gates need them)
    "select_tolerance": 1.0,  # the latest val check within one standard error of the best
    "feature_scale": "unit_rms",
    "rounds": 3,             # relabel-and-retrieve: train, relabel, rebuild candidates, continue (x2)
    "round_fraction": 0.5,   # each later round: half the first round's steps (6,000 steps in all)
    "relabel_margin": 0.2,   # relabel only where the model's class clearly beats its runner-up
}

PRESETS = {"default": DEFAULT, "paper": PAPER}


def preset(method: str) -> dict:
    if method not in PRESETS:
        raise LraError(f"config key method: unknown method {method!r}; use {' or '.join(PRESETS)}")
    return dict(PRESETS[method])


def train_params(config: dict) -> dict:
    """The train hyper-parameters a run uses: the method's preset under the user's `train:` keys."""
    return {**preset(config.get("method", "default")), **(config.get("train") or {})}
