"""The paper configs plan (snakemake -n) with dataset roots that do not exist, and the schema
documents and checks the new dataset and embed keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def _snakemake_n(tmp_path, *args):
    exe = Path(sys.executable).with_name("snakemake")
    return subprocess.run([str(exe), "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "-n", "--quiet", "rules", *args],
                          capture_output=True, text=True, timeout=120)


# E_φ of each config: the published choice (animal10n: ours, the paper has none)
IMAGE_NETWORK = {"cifar10-pmd35": ("resnet34", 32), "cifar100-pmd35": ("resnet34", 32), "animal10n": ("resnet34", 64),
                 "food101n": ("resnet50", 224), "clothing1m": ("resnet50", 224), "webvision": ("resnet50", 224)}


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_paper_config_plans(config, tmp_path):
    cfg = yaml.safe_load(config.read_text())
    assert cfg["encoder"] == "open_clip:ViT-L-14:openai"
    assert {"cifar10-pmd35": 10, "cifar100-pmd35": 10, "food101n": 10, "clothing1m": 20, "webvision": 50,
            "animal10n": 10}[config.stem] == cfg["knn_k"]
    assert (cfg["train"]["image_network"], cfg["train"]["image_size"]) == IMAGE_NETWORK[config.stem]
    assert not Path(cfg["dataset"]["root"]).exists()  # the dry run must not need the data
    weights = cfg["train"].get("image_weights")
    if weights:  # ImageNet weights at 224: the user's local file, checked before any job runs
        r = _snakemake_n(tmp_path, "--configfile", str(config))
        assert r.returncode != 0 and f"config key train.image_weights: no file {weights!r}" in r.stdout + r.stderr
        (tmp_path / weights).parent.mkdir(parents=True)
        (tmp_path / weights).write_bytes(b"stands in for torchvision's file")
    r = _snakemake_n(tmp_path, "--configfile", str(config))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "embed" in r.stdout and "data" in r.stdout


def test_schema_rejects_a_misspelt_embed_option(tmp_path):
    from snakemake.utils import validate

    cfg = yaml.safe_load((ROOT / "configs" / "food101n.yaml").read_text())
    validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))
    assert cfg["embed"]["options"]["bad_images"] == "fail" and cfg["embed"]["options"]["chunk_rows"] == 8192
    assert cfg["dataset"]["test_set"] == "webvision"
    cfg["embed"]["options"]["batchsize"] = 3
    with pytest.raises(Exception, match="batchsize"):
        validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))


def test_every_new_schema_key_has_description_and_default():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    dataset = schema["properties"]["dataset"]["properties"]
    options = schema["properties"]["embed"]["properties"]["options"]
    assert options["additionalProperties"] is False
    for key in ("root", "download", "human_labels", "label_file", "food101_root", "test_set", "imagenet_val"):
        assert "description" in dataset[key] and "default" in dataset[key], key
    for key, prop in options["properties"].items():
        assert "description" in prop and "default" in prop, key
