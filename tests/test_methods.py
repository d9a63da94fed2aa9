"""Hyper-parameters in one place (lra.diffusion.config): `method: paper` gives exactly the published
values, user train keys override a preset, config.yaml sets no train key that would mask one, and
the schema's train and predict keys are the dataclasses' fields, its quoted values theirs."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from lra import workflow as lw
from lra.core.errors import LraError
from lra.diffusion.config import (DEFAULT, IMAGE_KEYS, IMAGE_NETWORKS, PAPER, PRESETS, RUN_KEYS, TOP_LEVEL,
                                  PredictConfig, TrainConfig, predict_params, train_params)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())


def _resolved(*configs: dict) -> dict:
    """config.yaml merged under `configs`, validated (defaults filled) as Snakemake does, then resolved."""
    from snakemake.utils import validate

    from .conftest import merge

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    for c in configs:
        cfg = merge(cfg, c)
    validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))
    return train_params(cfg["method"], cfg.get("train"))


def test_method_paper_gives_the_published_hyper_parameters():
    params = _resolved({"method": "paper"})
    assert params == {"T": 1000, "F": 512, "epochs": 200, "min_steps": 0, "batch_size": 256, "lr": 1e-3,
                      "warmup_epochs": 5, "lr_decay_epochs": 1000, "grad_clip": 1.0, "weighting": True,
                      "weight_power": 1.0, "own_label": True, "eval_every": 5, "select_tolerance": 0.0,
                      "feature_scale": "none", "ddim_steps": 10}
    assert TrainConfig.from_dict(params) == TrainConfig()  # the dataclass's defaults are the published algorithm


def test_explicit_train_keys_override_the_preset():
    params = _resolved({"method": "paper", "train": {"epochs": 3, "F": 64}})
    assert params["epochs"] == 3 and params["F"] == 64 and params["batch_size"] == 256


def test_the_plain_probe_joins_only_a_combined_read_out():
    assert TrainConfig.from_dict(DEFAULT).plain_probe
    assert not TrainConfig.from_dict({**DEFAULT, "readout": "diffusion"}).plain_probe  # nothing to mix it into
    assert not TrainConfig.from_dict(PAPER).plain_probe


def test_config_yaml_sets_no_train_key_and_default_is_the_default_preset():
    assert "train" not in yaml.safe_load((ROOT / "config.yaml").read_text())
    assert _resolved() == PRESETS["default"]


def test_an_unknown_method_names_the_key():
    with pytest.raises(LraError, match="config key method"):
        train_params("papper")
    with pytest.raises(LraError, match="config key method"):
        lw.methods({"method": ["default", "papper"]})


def test_the_run_keys_never_reach_the_tracked_params():
    assert "checkpoint_minutes" not in train_params("default", {"checkpoint_minutes": 1})
    assert lw.train_run_key({"train": {}}, "checkpoint_minutes") == RUN_KEYS["checkpoint_minutes"]


def test_the_schema_keys_are_the_config_dataclasses_fields():
    train = SCHEMA["properties"]["train"]["properties"]
    predict = SCHEMA["properties"]["predict"]["properties"]
    assert set(train) == {f.name for f in fields(TrainConfig)} - set(TOP_LEVEL) | set(RUN_KEYS)
    assert set(predict) == {f.name for f in fields(PredictConfig)} - set(TOP_LEVEL)
    assert set(PAPER) | set(DEFAULT) <= set(train)
    # no schema default: a filled-in default would hide which keys the user set, and be a second source
    assert not [k for k, v in {**train, **predict}.items() if "default" in v]


def _quoted(description: str) -> str:
    return " ".join(description.split())


def test_the_schema_quotes_the_dataclass_and_preset_values():
    """Train keys of the presets end their description with "<default> / <paper>."; predict keys say
    "Default <value>." — both read from lra.diffusion.config, so the documentation cannot drift."""
    train = SCHEMA["properties"]["train"]["properties"]
    for key in set(PAPER) | set(DEFAULT):
        found = re.search(r"(\S+) / (\S+)\.$", _quoted(train[key]["description"]))
        assert found, key
        paper = PAPER.get(key, getattr(TrainConfig, key))
        assert tuple(yaml.safe_load(v) for v in found.groups()) == (DEFAULT.get(key, paper), paper), key
    predict = SCHEMA["properties"]["predict"]["properties"]
    for f in fields(PredictConfig):
        if f.name not in TOP_LEVEL:
            quoted = re.search(r"Default (\S+)\.$", _quoted(predict[f.name]["description"]))
            assert quoted and yaml.safe_load(quoted.group(1)) == f.default, f.name


def test_the_image_keys_are_quoted_and_no_preset_sets_them():
    """E_φ's keys end their description with "Default <value>." (TrainConfig's), the schema's enum is
    IMAGE_NETWORKS, and neither preset sets one: `features` is the published E_φ over features."""
    train = SCHEMA["properties"]["train"]["properties"]
    for key in ("image_network", *IMAGE_KEYS):
        quoted = re.search(r"Default (\S+)\.$", _quoted(train[key]["description"]))
        assert quoted and yaml.safe_load(quoted.group(1)) == getattr(TrainConfig, key), key
    assert train["image_network"]["enum"] == list(IMAGE_NETWORKS) and TrainConfig.image_network == "features"
    assert not (set(PAPER) | set(DEFAULT)) & {"image_network", *IMAGE_KEYS, *RUN_KEYS}
    assert "image_network" not in _resolved({"method": "paper"}) and "num_workers" not in train_params(
        "default", {"num_workers": 3})


def test_predict_params_fill_the_dataclass_defaults():
    assert predict_params({"samples": 0}) == {"ddim_steps": 10, "samples": 0, "eta": 0.0, "batch_size": 4096,
                                              "chunk_rows": 65536}
    with pytest.raises(LraError, match="config key predict.sample"):
        predict_params({"sample": 3})
