"""A killed train or predict job, rerun, ends with the same bytes as an uninterrupted one.

Real `python -m lra train` processes are killed mid-run (SIGKILL: nothing saved at the kill;
SIGTERM: checkpoint, exit 143) and rerun; model.pt must equal an uninterrupted run's byte for
byte. Subprocesses run with one torch thread (as a job would with threads: 1), so every run
computes in the same order.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import torch

from lra import stages

from .conftest import REPO, clustered_parquet, kill_after, planned_rules, write_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# 200 steps, a few seconds: long enough to be killed mid-run, short for CI
PARAMS = {"epochs": 20, "min_steps": 0, "F": 32, "T": 100, "batch_size": 16, "eval_every": 7,
          "ddim_steps": 2, "warmup_epochs": 1, "device": "cpu"}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
DAG_ENV = {**ENV, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Manifest, noisy labels, features and neighbours of a small embeddings dataset."""
    root = tmp_path_factory.mktemp("resume")
    emb = clustered_parquet(root / "vectors.parquet", 60, 4, 16, spread=0.8, seed=5, split_seed=6, prefix="v")
    stages.data({"kind": "embeddings", "path": str(emb)}, root / "manifest.parquet")
    stages.noise(root / "manifest.parquet", "sym-0.3", root / "labels.parquet", seed=0)
    stages.index(root / "manifest.parquet", [str(emb)], root / "index.faiss")
    stages.neighbors(root / "manifest.parquet", [str(emb)], root / "index.faiss", 3, root / "nb.parquet", device="cpu")
    return {"manifest": root / "manifest.parquet", "labels": root / "labels.parquet", "features": emb,
            "neighbors": root / "nb.parquet"}


def lra_train(inputs, out: Path, minutes: float, params: dict = PARAMS) -> subprocess.Popen:
    import json

    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "lra", "train", "--manifest", inputs["manifest"], "--labels", inputs["labels"],
           "--features", inputs["features"], "--neighbors", inputs["neighbors"], "--out", out,
           "--params", json.dumps(params), "--checkpoint-minutes", str(minutes)]
    log = open(out.with_suffix(".log"), "a")
    return subprocess.Popen(list(map(str, cmd)), stderr=log, stdout=log, env=ENV)


def finish(proc: subprocess.Popen, timeout: float = 300) -> int:
    return proc.wait(timeout=timeout)


def wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 120):
    end = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the process ended ({proc.returncode}) before {what}"
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory) -> bytes:
    """model.pt of an uninterrupted run without checkpoints (in this process, on one thread)."""
    out = tmp_path_factory.mktemp("ref") / "model.pt"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        stages.train(inputs["manifest"], inputs["labels"], [str(inputs["features"])], inputs["neighbors"], out,
                     PARAMS, checkpoint_minutes=0)
    finally:
        torch.set_num_threads(threads)
    assert not (out.parent / "train.ckpt").exists()
    return out.read_bytes()


def test_sigkill_mid_run_then_rerun_gives_the_same_model_bytes(inputs, reference, tmp_path):
    out = tmp_path / "run" / "model.pt"
    ckpt = out.parent / "train.ckpt"
    proc = lra_train(inputs, out, minutes=0.0005)  # a checkpoint every 30 ms
    wait_for(ckpt.exists, proc, "a first checkpoint")
    first = ckpt.stat().st_mtime_ns
    wait_for(lambda: ckpt.stat().st_mtime_ns != first, proc, "a later checkpoint")
    proc.send_signal(signal.SIGKILL)  # nothing runs at the kill: only the last checkpoint survives
    assert finish(proc) == -signal.SIGKILL
    assert not out.exists() and ckpt.exists()
    assert finish(lra_train(inputs, out, minutes=0.0005)) == 0
    log = out.with_suffix(".log").read_text()
    resumed = [line for line in log.splitlines() if "resumed from checkpoint at epoch" in line]
    assert len(resumed) == 1 and " (step 0)" not in resumed[0], log[-2000:]
    assert out.read_bytes() == reference
    assert not ckpt.exists(), "the checkpoint is removed once model.pt is written"


def test_sigterm_saves_a_checkpoint_exits_nonzero_and_the_rerun_resumes(inputs, reference, tmp_path):
    out = tmp_path / "run" / "model.pt"
    ckpt = out.parent / "train.ckpt"
    log = out.with_suffix(".log")
    proc = lra_train(inputs, out, minutes=0)  # no periodic checkpoints: only the one SIGTERM asks for
    wait_for(lambda: log.exists() and "checkpoints to" in log.read_text(), proc, "training to start")
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert finish(proc) == 128 + signal.SIGTERM
    text = log.read_text()
    assert "lra train: stopped by SIGTERM at epoch" in text and "rerun to resume" in text, text[-2000:]
    assert ckpt.exists() and not out.exists()
    assert finish(lra_train(inputs, out, minutes=0)) == 0
    assert "resumed from checkpoint at epoch" in log.read_text()
    assert out.read_bytes() == reference
    assert not ckpt.exists()


# --- in-process: the checkpoint file's rules ---------------------------------------------------

def _train(inputs, out: Path, minutes: float = 0, **params):
    stages.train(inputs["manifest"], inputs["labels"], [str(inputs["features"])], inputs["neighbors"], out,
                 {**PARAMS, "epochs": 6, "eval_every": 2, **params}, checkpoint_minutes=minutes)
    return out.read_bytes()


def test_the_checkpoint_interval_does_not_change_the_results(inputs, tmp_path):
    assert _train(inputs, tmp_path / "a" / "model.pt", minutes=1e-9) == _train(inputs, tmp_path / "b" / "model.pt")


def test_a_checkpoint_of_other_params_or_damaged_is_not_resumed(inputs, tmp_path, monkeypatch, caplog):
    out = tmp_path / "run" / "model.pt"
    with monkeypatch.context() as mp:
        kill_after(mp, 20)
        with pytest.raises(SystemExit):
            _train(inputs, out, minutes=1e-9)
    assert (out.parent / "train.ckpt").exists() and not out.exists()
    fresh = _train(inputs, tmp_path / "fresh" / "model.pt", lr=2e-3)
    with caplog.at_level(logging.INFO, logger="lra"):
        assert _train(inputs, out, lr=2e-3) == fresh
    assert "of other inputs or params; training from scratch" in caplog.text
    assert "resumed" not in caplog.text

    caplog.clear()
    (out.parent / "train.ckpt").write_bytes(b"PK\x03\x04 not a checkpoint")  # e.g. a disk filled mid-write
    out.unlink()
    with caplog.at_level(logging.INFO, logger="lra"):
        assert _train(inputs, out, lr=2e-3) == fresh
    assert "the training checkpoint is not a readable PyTorch file" in caplog.text
    assert "ignored: training from scratch" in caplog.text and "Traceback" not in caplog.text


def test_a_checkpoint_that_does_not_fit_the_model_changes_nothing(tmp_path):
    from lra.diffusion.model import Denoiser
    from lra.core.training import Checkpoint, Position, training_state
    from lra.diffusion.train import Selection

    def parts(F):
        torch.manual_seed(F)
        model = Denoiser(3, 4, F=F, T=10)
        return model, torch.optim.Adam(model.parameters()), torch.Generator(), Selection(10)

    Checkpoint(tmp_path / "c.ckpt", "key").save(training_state(*parts(8), [], Position(2, 0, 5)))
    logged = []
    model, opt, g, sel = parts(16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert Checkpoint(tmp_path / "c.ckpt", "key", log=logged.append).resume(model, opt, g, sel) is None
    assert "does not fit this run" in logged[-1] and "training from scratch" in logged[-1]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_kill_at_any_boundary_resumes_to_the_same_bytes(inputs, tmp_path, monkeypatch):
    reference = _train(inputs, tmp_path / "ref" / "model.pt")
    steps = int((pd.read_parquet(inputs["manifest"])["split"] == "train").sum()) // PARAMS["batch_size"]
    killed_at = []
    # first step; last step of epoch 1; epoch boundary; first step of epoch 2; after validation and selection
    for n in (1, steps, steps + 1, steps + 2, 3 * (steps + 1) + 4):
        out = tmp_path / f"kill{n}" / "model.pt"
        with monkeypatch.context() as mp:
            seen = kill_after(mp, n)
            with pytest.raises(SystemExit):
                _train(inputs, out, minutes=1e-9)
        killed_at.append((seen[-1].epoch, seen[-1].batch))
        assert _train(inputs, out) == reference, n
    assert killed_at[:4] == [(1, 1), (1, steps), (2, 0), (2, 1)]


def test_a_fixed_step_count_ending_mid_epoch_resumes_to_the_same_bytes(inputs, tmp_path, monkeypatch):
    steps = int((pd.read_parquet(inputs["manifest"])["split"] == "train").sum()) // PARAMS["batch_size"]
    fixed = {"steps": 2 * steps + steps // 2}  # the last epoch stops half-way
    reference = _train(inputs, tmp_path / "ref" / "model.pt", **fixed)
    out = tmp_path / "kill" / "model.pt"
    with monkeypatch.context() as mp:
        seen = kill_after(mp, 2 * (steps + 1) + 2)  # two steps into the last, partial epoch
        with pytest.raises(SystemExit):
            _train(inputs, out, minutes=1e-9, **fixed)
    assert (seen[-1].epoch, seen[-1].batch) == (3, 2)
    assert _train(inputs, out, **fixed) == reference


def test_a_kill_in_a_later_relabel_round_resumes_that_round_to_the_same_bytes(inputs, tmp_path, monkeypatch, caplog):
    rounds = {"rounds": 3, "round_fraction": 0.5, "relabel_margin": 0.0}  # 6 + 3 + 3 epochs
    reference = _train(inputs, tmp_path / "ref" / "model.pt", **rounds)
    steps = int((pd.read_parquet(inputs["manifest"])["split"] == "train").sum()) // PARAMS["batch_size"]
    first, second = 6 * steps + 5, 3 * steps + 2  # boundaries of rounds 1 and 2 (none after an epoch that ends a round)
    for n, round_ in ((first + 1, 2), (first + steps + 3, 2), (first + second + 2, 3)):
        out = tmp_path / f"kill{n}" / "model.pt"
        with monkeypatch.context() as mp:
            kill_after(mp, n)
            with pytest.raises(SystemExit):
                _train(inputs, out, minutes=1e-9, **rounds)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert _train(inputs, out, **rounds) == reference, n
        assert f"resuming round {round_} of 3" in caplog.text, n


# --- predict ------------------------------------------------------------------------------------

def _predict(inputs, model, out, **params):
    return stages.predict(inputs["manifest"], [str(inputs["features"])], model, out,
                          {"ddim_steps": 3, "samples": 4, "eta": 0.5, "batch_size": 8, "chunk_rows": 16,
                           "device": "cpu", **params})


def test_a_killed_predict_reuses_its_finished_chunks_and_gives_the_same_bytes(inputs, tmp_path, monkeypatch):
    from lra.diffusion import sample

    model = tmp_path / "model.pt"
    _train(inputs, model)
    _predict(inputs, model, tmp_path / "ref.parquet")
    ref = (tmp_path / "ref.parquet").read_bytes()
    _predict(inputs, model, tmp_path / "unchunked.parquet", chunk_rows=10**6)
    assert pd.read_parquet(tmp_path / "unchunked.parquet").equals(pd.read_parquet(tmp_path / "ref.parquet"))

    out = tmp_path / "pred.parquet"
    calls, original = [], sample.predict

    def dies_at_chunk_5(*args, **kwargs):
        if len(calls) == 4:
            raise SystemExit("killed")
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(sample, "predict", dies_at_chunk_5)
    with pytest.raises(SystemExit):
        _predict(inputs, model, out)
    assert not out.exists() and len(list((tmp_path / "pred.parquet.chunks").glob("chunk-*"))) == 4
    (tmp_path / "pred.parquet.chunks" / ".chunk-000004.parquet.tmp-1").write_bytes(b"partial")
    monkeypatch.setattr(sample, "predict", original)
    n_chunks = -(-240 // 16)
    calls.clear()
    monkeypatch.setattr(sample, "predict", lambda *a, **k: calls.append(1) or original(*a, **k))
    _predict(inputs, model, out)
    assert len(calls) == n_chunks - 4, "the 4 finished chunks are reused"
    assert out.read_bytes() == ref
    assert not (tmp_path / "pred.parquet.chunks").exists()
    calls.clear()
    _predict(inputs, model, tmp_path / "other.parquet", seed=1)  # other params: other keys
    assert len(calls) == n_chunks


def test_a_sigkilled_predict_process_resumes(inputs, tmp_path):
    import json

    model = tmp_path / "model.pt"
    _train(inputs, model)
    params = {"ddim_steps": 20, "samples": 32, "eta": 0.5, "batch_size": 4, "chunk_rows": 4, "device": "cpu"}
    _predict(inputs, model, tmp_path / "ref.parquet", **params)  # one torch thread, as the processes below
    out = tmp_path / "pred.parquet"
    cmd = [sys.executable, "-m", "lra", "predict", "--manifest", inputs["manifest"], "--features",
           inputs["features"], "--model", model, "--out", out, "--params", json.dumps(params)]
    proc = subprocess.Popen(list(map(str, cmd)), stderr=subprocess.DEVNULL, env=ENV)
    chunks = tmp_path / "pred.parquet.chunks"
    wait_for(lambda: len(list(chunks.glob("chunk-*"))) >= 3, proc, "three finished chunks")
    proc.send_signal(signal.SIGKILL)
    assert finish(proc) == -signal.SIGKILL and not out.exists()
    assert len(list(chunks.glob("chunk-*"))) < 60, "killed mid-run"
    assert finish(subprocess.Popen(list(map(str, cmd)), stderr=subprocess.DEVNULL, env=ENV)) == 0
    assert out.read_bytes() == (tmp_path / "ref.parquet").read_bytes()
    assert not chunks.exists()


# --- through Snakemake ----------------------------------------------------------------------------

@pytest.mark.slow
def test_rerunning_the_dag_after_a_killed_train_job_resumes_it(tmp_path, embeddings_file):
    """Snakemake runs train; its lra process gets SIGTERM (as from SLURM before a time limit); the
    job fails, the checkpoint stays; rerunning the DAG resumes and ends with the same metrics.json
    and model.pt as an uninterrupted DAG."""
    cfg = write_config(tmp_path / "cfg.yaml", {
        "dataset": {"kind": "embeddings", "path": str(embeddings_file), "name": "vec"}, "noise": "sym-0.2",
        "knn_k": 3, "train": {**{k: v for k, v in PARAMS.items() if k != "device"}, "checkpoint_minutes": 0.0005},
        "predict": {"samples": 2, "ddim_steps": 3}, "baselines": ["knn_vote"]})
    target = "results/vec/runs/default/given/sym-0.2/k3/seed0/metrics.json"
    run = tmp_path / Path(target).parent

    def dag_cmd(*args) -> list[str]:
        return [str(Path(sys.executable).with_name("snakemake")), target, "-s", str(REPO / "Snakefile"), "-d",
                str(tmp_path), "--cores", "1", "--configfile", str(REPO / "config.yaml"), str(cfg), *args]

    def dag() -> subprocess.Popen:
        with open(tmp_path / "snakemake.out", "a") as log:
            return subprocess.Popen(dag_cmd(), cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=DAG_ENV)

    assert finish(dag()) == 0, (tmp_path / "snakemake.out").read_text()[-3000:]
    reference = {f: (run / f).read_bytes() for f in ("model.pt", "metrics.json")}
    shutil.rmtree(run)  # the run again, from train on
    proc = dag()
    wait_for(lambda: (run / "train.ckpt").exists(), proc, "the train job's checkpoint")
    train_procs = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if p.cmdline()[1:4] == ["-m", "lra", "train"]]
    assert len(train_procs) == 1, "exec: lra replaced the rule's shell"
    train_procs[0].send_signal(signal.SIGTERM)
    assert finish(proc) != 0, "the job failed, so Snakemake reports it"
    assert (run / "train.ckpt").exists() and not (run / "model.pt").exists()

    assert finish(dag()) == 0, (tmp_path / "snakemake.out").read_text()[-3000:]
    train_log = (tmp_path / "logs/vec/train/default/given/sym-0.2/k3/seed0.log").read_text()
    assert "resumed from checkpoint at epoch" in train_log
    assert {f: (run / f).read_bytes() for f in reference} == reference
    assert not (run / "train.ckpt").exists()

    # the interval changes how a job runs, not what it makes: changing it reruns nothing
    other = write_config(tmp_path / "other.yaml", {"train": {"checkpoint_minutes": 30}})
    plan = subprocess.run(dag_cmd(str(other), "-n"), cwd=tmp_path, capture_output=True, text=True, env=DAG_ENV)
    assert plan.returncode == 0 and planned_rules(plan) == set(), plan.stdout[-2000:]
