"""Method presets: `method: paper` gives exactly the published hyper-parameters, user train keys
override a preset, and config.yaml sets no train key that would mask one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lra.diffusion import TrainConfig
from lra.errors import LraError
from lra.methods import PRESETS, train_params

ROOT = Path(__file__).resolve().parents[1]


def _resolved(*configs: dict) -> dict:
    """config.yaml merged under `configs`, validated (defaults filled) as Snakemake does, then resolved."""
    from snakemake.utils import validate

    from .conftest import merge

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    for c in configs:
        cfg = merge(cfg, c)
    validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))
    return train_params(cfg)


def test_method_paper_gives_the_published_hyper_parameters():
    params = _resolved({"method": "paper"})
    assert params == {"T": 1000, "F": 512, "epochs": 200, "min_steps": 0, "batch_size": 256, "lr": 1e-3,
                      "warmup_epochs": 5, "lr_decay_epochs": 1000, "grad_clip": 1.0, "weighting": True,
                      "weight_power": 1.0, "own_label": True, "eval_every": 5, "select_tolerance": 0.0,
                      "feature_scale": "none", "ddim_steps": 10}
    TrainConfig.from_dict(params)  # every preset key is a train hyper-parameter


def test_explicit_train_keys_override_the_preset():
    params = _resolved({"method": "paper", "train": {"epochs": 3, "F": 64}})
    assert params["epochs"] == 3 and params["F"] == 64 and params["batch_size"] == 256


def test_config_yaml_sets_no_train_key_and_default_is_the_default_preset():
    assert "train" not in yaml.safe_load((ROOT / "config.yaml").read_text())
    assert _resolved() == PRESETS["default"]


def test_an_unknown_method_names_the_key():
    with pytest.raises(LraError, match="config key method"):
        train_params({"method": "papper"})
