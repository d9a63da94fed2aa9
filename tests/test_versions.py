"""Code versions: an lra upgrade reruns the stages whose code changed, and what follows them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lra import versions

from .conftest import REPO, SNAKEMAKE, TINY, planned_rules, write_config

DIFFUSION = {"lra.diffusion", "lra.diffusion.train", "lra.diffusion.model", "lra.diffusion.schedule",
             "lra.diffusion.sample", "lra.diffusion.draws"}


def reached(stage, root=versions.ROOT) -> set[str]:
    return {module for module, _ in versions.closure(stage, root)}


def test_every_module_decides_a_stage_or_says_why_not():
    """A new module no stage reaches must be listed in versions.IGNORED with the reason."""
    everything = versions.modules()
    covered = set().union(*(reached(s) for s in versions.STAGES))
    assert everything - covered - set(versions.IGNORED) == set(), "add it to versions.IGNORED, saying why"
    assert set(versions.IGNORED) <= everything  # no stale entry
    assert covered & set(versions.IGNORED) == set()


def test_each_stage_covers_its_own_code_and_not_the_others():
    assert DIFFUSION <= reached("train") and {"lra.diffusion.sample", "lra.diffusion.draws"} <= reached("predict")
    for stage in ("data", "noise", "embed", "index", "neighbors", "score", "report"):
        assert not reached(stage) & DIFFUSION, stage
    assert {"lra.clip", "lra.images", "lra.encoders"} <= reached("embed")
    assert "lra.retrieval" in reached("index") and "lra.retrieval" in reached("neighbors")
    assert "lra.retrieval" not in reached("train") | reached("data")
    assert {"lra.baselines", "lra.metrics"} <= reached("score") and "lra.report" in reached("report")
    assert ("lra.stages", "_selection_labels") in versions.closure("train")  # helpers are found, not listed


@pytest.fixture
def package(tmp_path):
    shutil.copytree(REPO / "lra", tmp_path / "lra", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "lra"


def changed(root, edit) -> set[str]:
    before = {s: versions.code_version(s, root) for s in versions.STAGES}
    edit()
    versions._module.cache_clear()
    return {s for s in versions.STAGES if versions.code_version(s, root) != before[s]}


def test_comments_docstrings_log_lines_and_error_messages_rerun_nothing(package):
    path = package / "diffusion" / "train.py"
    src = path.read_text()

    def edit():
        text = src.replace('"""Training of the LRA denoiser', '"""Training (reworded) of the LRA denoiser')
        text = text.replace("# kept on the device", "# held on the device")
        text = text.replace('log(f"epoch {epoch}:', 'log(f"epoch {epoch} done:')
        text = text.replace('raise LraError(f"config key train.', 'raise LraError(f"config key: train.')
        assert text.count("\n") == src.count("\n") and text != src
        path.write_text(text + "# a comment at the end\n")

    assert changed(package, edit) == set()


def test_a_code_edit_changes_exactly_the_stages_that_run_it(package):
    train_py, retrieval_py, stages_py = package / "diffusion" / "train.py", package / "retrieval.py", package / "stages.py"
    assert changed(package, lambda: train_py.write_text(
        train_py.read_text().replace("return peak * (step + 1) / warmup", "return peak * (step + 1.0) / warmup"))) == {"train"}
    # nprobe is stored in the index: neighbors reads it from there (and reruns after index anyway)
    assert changed(package, lambda: retrieval_py.write_text(
        retrieval_py.read_text().replace("NPROBE = 32", "NPROBE = 64"))) == {"index"}
    assert changed(package, lambda: retrieval_py.write_text(
        retrieval_py.read_text().replace("SEARCH_BATCH = 16384", "SEARCH_BATCH = 8192"))) == {"neighbors"}
    assert changed(package, lambda: stages_py.write_text(stages_py.read_text().replace(
        'frame["clean_label"] = frame["clean_label"].astype("Int64")',
        'frame["clean_label"] = frame["clean_label"].astype("Int64").copy()'))) == (
        set(versions.STAGES) - {"data", "report", "infer", "plots", "grid_plots"})  # infer reads a run folder, not the manifest


def test_an_upgrade_reruns_the_changed_stage_and_what_follows_only(embeddings_file, tmp_path):
    """The tiny DAG in a copy of the repository (Snakefile, workflow, lra, config, profiles, envs); then lra/diffusion/train.py, then lra/retrieval.py
    change as in an upgrade."""
    repo, work = tmp_path / "repo", tmp_path / "work"
    for name in ("workflow", "lra", "profiles", "envs"):
        shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, repo / name)
    work.mkdir()
    cfg = write_config(work / "c.yaml", TINY, {"dataset": {"kind": "embeddings", "path": str(embeddings_file)},
                                               "noise": "sym-0.2"})

    def snakemake(*args):
        cmd = [str(SNAKEMAKE), "-s", str(repo / "Snakefile"), "-d", str(work), "--cores", "2",
               "--configfile", str(repo / "config.yaml"), str(cfg), *args]
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
        return proc

    snakemake()
    assert planned_rules(snakemake("-n")) == set()
    with open(repo / "lra/diffusion/train.py", "a") as f:
        f.write("# an upgrade's new comment\n")
    assert planned_rules(snakemake("-n")) == set()
    with open(repo / "lra/diffusion/train.py", "a") as f:
        f.write("assert TrainConfig.T > 0\n")
    assert planned_rules(snakemake("-n")) == {"train", "predict", "score", "clean_labels", "report", "plots", "all"}
    with open(repo / "lra/retrieval.py", "a") as f:
        f.write("assert NPROBE > 0\n")
    assert planned_rules(snakemake("-n")) == {"index", "neighbors", "train", "predict", "score", "clean_labels", "report",
                                              "plots", "all"}

    # Every job's log is plain lines with what the stage used; every job has its benchmark file.
    logs = sorted((work / "logs").rglob("*.log"))
    assert {p.parent.name if p.parent.name != "logs" else p.stem for p in logs} >= {"vectors", "report"}
    for log in logs:
        text = log.read_text()
        assert "\r" not in text, log
        assert log.with_name(log.stem + ".bench.tsv").exists(), log
    train_log = next((work / "logs").rglob("train/**/seed0.log")).read_text()
    assert "train: 2/2 epochs (100%)" in train_log and "torch 2, torch inter-op 2" in train_log
    assert "threads used: pyarrow 1" in (work / "logs/vectors/data.log").read_text()
