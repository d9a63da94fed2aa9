"""`encoder: simclr` as a pipeline stage: pretrain → embed → ... → score and infer through the real
DAG on a tiny folder of images the tests draw; what reruns it and what does not; a SIGTERM'd
`lra pretrain` resumes to the same bytes; `lra infer` finds the run's weights and refuses missing
or changed ones; a bad config fails before any job; the schema's `pretrain:` keys are the dataclass's."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from lra import cli, stages
from lra.core.errors import LraError
from lra.core.files import read_metadata
from lra.embed.config import BACKBONE_DEFAULTS, RUN_KEYS, TOP_LEVEL, SimCLRConfig

from .conftest import REPO, TINY, folder_dataset, planned_rules, snakemake, write_config

# 15 train images of 16×16, 2 epochs of one step: seconds, and every stage after it as usual
PRETRAIN = {"epochs": 2, "width": 4, "image_size": 16, "batch_size": 8, "projection_dim": 8}
SIMCLR = {"encoder": "simclr", "pretrain": PRETRAIN}
RUN = "results/data/runs/default/simclr/sym-0.4/k3/seed0"
WEIGHTS = "results/data/encoders/simclr.pt"
AFTER_FEATURES = {"index", "neighbors", "train", "predict", "score", "clean", "infer", "summary", "plots",
                  "grid_plots", "all"}


@pytest.fixture(scope="module")
def simclr_run(tmp_path_factory):
    """The whole DAG with encoder simclr on a folder dataset, inferring on its own CSV."""
    work = tmp_path_factory.mktemp("simclr")
    (work / "data").mkdir()
    csv = folder_dataset(work / "data")
    cfg = write_config(work / "c.yaml", TINY, SIMCLR, {"dataset": {"kind": "folder", "csv": str(csv)},
                                                        "infer_csv": str(csv)})
    snakemake(work, configs=[cfg])
    return work, cfg, csv


def test_pretrain_embed_the_run_and_infer_follow_each_other(simclr_run):
    work, _, csv = simclr_run
    weights = work / WEIGHTS
    assert weights.is_file() and not weights.with_suffix(".ckpt").exists()
    meta = read_metadata(work / "results/data/features/simclr/part-00000.parquet")
    # the shards say how to rebuild the encoder: which weights, by digest
    assert meta["encoder"] == "simclr" and meta["encoder_state"]["weights"] == WEIGHTS
    from lra.core.chunks import file_digest

    assert meta["encoder_state"]["digest"] == file_digest(weights)
    assert (work / RUN / "metrics.json").exists()
    assert len(pd.read_csv(work / RUN / "infer/data.csv")) == len(pd.read_csv(csv))
    log = (work / "logs/data/pretrain/simclr.log").read_text()
    assert "simclr: 2/2 epochs (100%)" in log and "threads used:" in log and "\r" not in log
    assert (work / "logs/data/pretrain/simclr.bench.tsv").exists()


def test_a_pretrain_key_reruns_pretrain_and_what_follows_knn_k_and_seeds_do_not(simclr_run):
    work, cfg, _ = simclr_run
    epochs = write_config(work / "epochs.yaml", {"pretrain": {**PRETRAIN, "epochs": 3}})
    assert planned_rules(snakemake(work, "-n", configs=[cfg, epochs])) == {"pretrain", "embed"} | AFTER_FEATURES
    assert planned_rules(snakemake(work, "-n", "--config", "knn_k=4", configs=[cfg])) == \
        AFTER_FEATURES - {"index"}
    # the encoder is a dataset's, like its features: a second run seed (same split) shares it
    seeds = write_config(work / "seeds.yaml", {"seed": [0, 1]})  # the split seed: the first, 0, as before
    assert not {"pretrain", "embed", "data"} & planned_rules(snakemake(work, "-n", configs=[cfg, seeds]))
    speed = write_config(work / "speed.yaml", {"pretrain": {**PRETRAIN, "num_workers": 0, "checkpoint_minutes": 1}})
    assert planned_rules(snakemake(work, "-n", configs=[cfg, speed])) == set()


def test_infer_finds_the_runs_weights_from_elsewhere_and_refuses_missing_or_changed_ones(
        simclr_run, tmp_path, monkeypatch, capsys):
    work, _, csv = simclr_run
    weights = work / WEIGHTS
    monkeypatch.chdir(tmp_path)  # the shards recorded a path relative to the run's working directory

    def infer() -> int:
        return cli.main(["infer", "--run", str(work / RUN), "--images", str(csv), "--out", str(tmp_path / "p.csv"),
                         "--threads", "1"])

    assert infer() == 0
    assert pd.read_csv(tmp_path / "p.csv").equals(pd.read_csv(work / RUN / "infer/data.csv"))
    original, stat = weights.read_bytes(), weights.stat()
    try:
        weights.rename(tmp_path / "away.pt")
        capsys.readouterr()
        assert infer() == 2
        err = capsys.readouterr().err
        assert "weights file results/data/encoders/simclr.pt, which is missing" in err and "Traceback" not in err
        (tmp_path / "away.pt").rename(weights)
        weights.write_bytes(original + b"\0")  # another encoder, or a damaged one
        assert infer() == 2
        assert "these weights changed since the run's simclr features were embedded" in capsys.readouterr().err
    finally:
        weights.write_bytes(original)
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert planned_rules(snakemake(work, "-n", configs=[simclr_run[1]])) == set()


def _pretrain(manifest, out: Path, epochs: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "lra", "pretrain", "--manifest", manifest, "--encoder", "simclr", "--out", out,
           "--params", json.dumps({**PRETRAIN, "epochs": epochs, "device": "cpu"}), "--checkpoint-minutes", "0",
           "--num-workers", "0", "--threads", "1"]
    log = open(out.with_suffix(".log"), "a")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(list(map(str, cmd)), stderr=log, stdout=log, env=env)


def test_a_sigtermed_pretrain_exits_143_keeps_its_checkpoint_and_the_rerun_gives_the_same_bytes(tmp_path):
    (tmp_path / "data").mkdir()
    manifest = tmp_path / "manifest.parquet"
    stages.data({"kind": "folder", "csv": str(folder_dataset(tmp_path / "data"))}, manifest)
    epochs = 30  # ~0.1 s each: the signal lands mid-way
    reference = tmp_path / "ref" / "simclr.pt"
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocesses: the same order of sums, the same bytes
    try:  # uninterrupted, in this process
        stages.pretrain(manifest, "simclr", reference, {**PRETRAIN, "epochs": epochs, "device": "cpu"},
                        checkpoint_minutes=0, num_workers=0)
    finally:
        torch.set_num_threads(torch_threads)

    out = tmp_path / "run" / "simclr.pt"
    out.parent.mkdir()
    log = out.with_suffix(".log")
    proc = _pretrain(manifest, out, epochs)
    from .test_resume import wait_for

    wait_for(lambda: log.exists() and "simclr epoch 2/" in log.read_text(), proc, "two epochs")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=300) == 128 + signal.SIGTERM
    assert "lra pretrain: stopped by SIGTERM at epoch" in log.read_text()
    assert out.with_suffix(".ckpt").exists() and not out.exists()
    assert _pretrain(manifest, out, epochs).wait(timeout=300) == 0
    resumed = re.findall(r"resumed from checkpoint at epoch (\d+)", log.read_text())
    assert len(resumed) == 1 and 2 <= int(resumed[0]) < epochs
    assert out.read_bytes() == reference.read_bytes()
    assert not out.with_suffix(".ckpt").exists()


@pytest.mark.parametrize("config, message", [
    ({"encoder": "simclr:vgg"}, "config key encoder: 'simclr:vgg': unknown SimCLR backbone 'vgg'"),
    ({"encoder": ["pixels:8", "simclr:resnet"]}, "config key encoder: 'simclr:resnet': unknown SimCLR backbone"),
    ({"encoder": "simclr", "pretrain": {"epoch": 3}}, "'epoch' was unexpected"),
    ({"encoder": "simclr", "pretrain": {"augment": "flips"}}, "schema['properties']['pretrain']"),
    ({"encoder": "vgg"}, "config key encoder: unknown encoder 'vgg'"),
])
def test_a_bad_simclr_config_stops_before_any_job_naming_the_key(tmp_path, config, message):
    (tmp_path / "data").mkdir()
    csv = folder_dataset(tmp_path / "data", n_per_class=4)
    cfg = write_config(tmp_path / "c.yaml", TINY, {"dataset": {"kind": "folder", "csv": str(csv)}}, config)
    proc = snakemake(tmp_path, configs=[cfg], check=False)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_simclr_on_a_dataset_of_embeddings_stops_before_any_job(embeddings_file, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", TINY, {"dataset": {"kind": "embeddings", "path": str(embeddings_file)},
                                                   "encoder": "simclr"})
    proc = snakemake(tmp_path, configs=[cfg], check=False)
    assert proc.returncode != 0
    assert "config key encoder: simclr trains an encoder on the dataset's images" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
    stages.data({"kind": "embeddings", "path": str(embeddings_file)}, tmp_path / "m.parquet")
    with pytest.raises(LraError, match="kind 'embeddings' has no images"):  # the stage itself, from Python
        stages.pretrain(tmp_path / "m.parquet", "simclr", tmp_path / "w.pt")
    assert not (tmp_path / "w.pt").exists()


# --- the schema holds the dataclass -------------------------------------------------------------

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]["pretrain"]


def test_the_schemas_pretrain_keys_are_the_dataclasses_fields_without_defaults():
    keys = SCHEMA["properties"]
    assert set(keys) == {f.name for f in fields(SimCLRConfig)} - set(TOP_LEVEL) | set(RUN_KEYS)
    assert not [k for k, v in keys.items() if "default" in v]  # the dataclass and the backbone own them


def test_the_schema_quotes_the_cnn_and_resnet_defaults():
    """Each description ends "<cnn> / <resnet>.", read from lra.embed.config, so it cannot drift."""
    for f in fields(SimCLRConfig):
        if f.name in TOP_LEVEL or f.name in RUN_KEYS:
            continue
        found = re.search(r"(\S+) / (\S+)\.$", " ".join(SCHEMA["properties"][f.name]["description"].split()))
        assert found, f.name
        quoted = tuple(yaml.safe_load(v) for v in found.groups())
        expected = tuple(BACKBONE_DEFAULTS[b].get(f.name, f.default) for b in ("cnn", "resnet"))
        assert quoted == expected, f.name
