"""Code versions: an lra upgrade reruns the stages whose code changed, and what follows them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lra.core import versions
from lra.stages import STAGES, code_version

from .conftest import REPO, SNAKEMAKE, TINY, planned_rules, write_config

DIFFUSION = {"lra.diffusion.train", "lra.diffusion.model", "lra.diffusion.schedule", "lra.diffusion.sample",
             "lra.diffusion.draws", "lra.core.training", "lra.diffusion.rounds"}


def reached(stage, root=versions.ROOT) -> set[str]:
    return {module for module, _ in versions.closure(STAGES[stage].target, root)}


def code_versions(root) -> dict[str, str]:
    return {s: versions.code_version(STAGES[s].target, root) for s in STAGES}


def test_every_module_decides_a_stage_or_says_why_not():
    """A new module no stage reaches must be listed in versions.IGNORED with the reason."""
    everything = versions.modules()
    covered = set().union(*(reached(s) for s in STAGES))
    assert everything - covered - set(versions.IGNORED) == set(), "add it to versions.IGNORED, saying why"
    assert set(versions.IGNORED) <= everything  # no stale entry
    assert covered & set(versions.IGNORED) == set()


def test_each_stage_covers_its_own_code_and_not_the_others():
    assert DIFFUSION <= reached("train") and {"lra.diffusion.sample", "lra.diffusion.draws"} <= reached("predict")
    for stage in ("data", "noise", "embed", "index", "neighbors", "score", "summary"):
        assert not reached(stage) & DIFFUSION, stage
    assert "lra.diffusion.readout" in reached("score")  # top-5 ranks classes as predict reads them out
    assert {"lra.embed.clip", "lra.data.images", "lra.embed.encoders", "lra.embed.simclr"} <= reached("embed")
    # SimCLR's training is pretrain's own: embed only loads its weights, train never sees it
    assert {"lra.embed.augment", "lra.embed.backbones", "lra.core.training"} <= reached("pretrain")
    assert not {"lra.embed.augment", "lra.core.training"} & reached("embed")
    assert "lra.embed.simclr" not in reached("train")
    # E_φ on pixels (lra.diffusion.image_network) shares the backbones and augment's crop and flip, nothing more
    views = {name for module, name in versions.closure(STAGES["train"].target) if module == "lra.embed.augment"}
    assert {"crop", "flip"} <= views and not {"colour", "grey", "affine", "stroke", "view"} & views
    simclr = {name for module, name in versions.closure(STAGES["embed"].target) if module == "lra.embed.simclr"}
    assert "SimCLREncoder" in simclr and not {"train", "pretrain", "nt_xent"} & simclr
    assert "lra.retrieval.knn" in reached("index") and "lra.retrieval.knn" in reached("neighbors")
    assert "lra.retrieval.knn" not in reached("train") | reached("data")
    assert {"lra.score.baselines", "lra.score.metrics"} <= reached("score") and "lra.report.summary" in reached("summary")
    target = STAGES["train"].target
    assert ("lra.diffusion.stage", "_selection_labels") in versions.closure(target)  # helpers are found, not listed


def test_the_cli_lists_every_stage_with_its_version(capsys):
    from lra import cli

    assert cli.main(["versions"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(STAGES)
    assert lines[list(STAGES).index("train")].split()[1] == code_version("train")


@pytest.fixture
def package(tmp_path):
    shutil.copytree(REPO / "lra", tmp_path / "lra", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "lra"


def changed(root, edit) -> set[str]:
    before = code_versions(root)
    edit()
    versions._module.cache_clear()
    after = code_versions(root)
    return {s for s in STAGES if after[s] != before[s]}


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
    train_py, knn_py, data_py = package / "diffusion" / "train.py", package / "retrieval" / "knn.py", \
        package / "data" / "stage.py"
    training_py = package / "core" / "training.py"
    assert changed(package, lambda: train_py.write_text(
        train_py.read_text().replace("torch.cat([half, T - 1 - half])", "torch.cat([half, (T - 1) - half])"))) == {"train"}
    assert changed(package, lambda: training_py.write_text(  # the schedule every training loop follows
        training_py.read_text().replace("return peak * (step + 1) / warmup", "return peak * (step + 1.0) / warmup"))) == {
        "train", "pretrain"}
    # nprobe is stored in the index: neighbors reads it from there (and reruns after index anyway)
    assert changed(package, lambda: knn_py.write_text(
        knn_py.read_text().replace("NPROBE = 32", "NPROBE = 64"))) == {"index"}
    # infer searches a guided run's index for new items' neighbours as the neighbors stage does
    assert changed(package, lambda: knn_py.write_text(
        knn_py.read_text().replace("SEARCH_BATCH = 16384", "SEARCH_BATCH = 8192"))) == {"neighbors", "infer"}
    assert changed(package, lambda: data_py.write_text(data_py.read_text().replace(
        'frame["clean_label"] = frame["clean_label"].astype("Int64")',
        'frame["clean_label"] = frame["clean_label"].astype("Int64").copy()'))) == (
        set(STAGES) - {"data", "summary", "infer", "plots", "grid_plots"})  # infer reads a run folder, not the manifest


def test_an_upgrade_reruns_the_changed_stage_and_what_follows_only(embeddings_file, tmp_path):
    """The tiny DAG in a copy of the repository (Snakefile, workflow, lra, config, profiles, envs); then lra/diffusion/train.py, then lra/retrieval/knn.py
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
    assert planned_rules(snakemake("-n")) == {"train", "predict", "score", "clean", "summary", "plots", "grid_plots",
                                              "all"}
    with open(repo / "lra/retrieval/knn.py", "a") as f:
        f.write("assert NPROBE > 0\n")
    assert planned_rules(snakemake("-n")) == {"index", "neighbors", "train", "predict", "score", "clean", "summary",
                                              "plots", "grid_plots", "all"}

    # Every job's log is plain lines with what the stage used; every job has its benchmark file.
    logs = sorted((work / "logs").rglob("*.log"))
    assert {p.parent.name if p.parent.name != "logs" else p.stem for p in logs} >= {"vectors", "summary"}
    for log in logs:
        text = log.read_text()
        assert "\r" not in text, log
        assert log.with_name(log.stem + ".bench.tsv").exists(), log
    train_log = next((work / "logs").rglob("train/**/seed0.log")).read_text()
    assert "train: 2/2 epochs (100%)" in train_log and "torch 2, torch inter-op 2" in train_log
    assert "threads used: pyarrow 1" in (work / "logs/vectors/data.log").read_text()
