"""Threads: a stage uses exactly the threads it is given (`--threads N`, a rule's {threads}), as
its libraries report and as the operating system sees it."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lra import stages
from lra.core import threads

from .conftest import REPO, clustered_parquet

TRAIN = {"epochs": 10, "min_steps": 0, "F": 1024, "T": 100, "batch_size": 1024, "eval_every": 100}


@pytest.fixture(scope="module")
def run_inputs(tmp_path_factory):
    """Manifest, labels, neighbours of 2,000 64-d items: with F = batch = 1024, training is mostly
    large matrix products, which torch splits over its threads."""
    d = tmp_path_factory.mktemp("threads")
    emb = clustered_parquet(d / "vectors.parquet", 500, 4, 64, spread=0.8, seed=1, split_p=(0.8, 0.1, 0.1))
    stages.data({"kind": "embeddings", "path": str(emb)}, d / "m.parquet")
    stages.noise(d / "m.parquet", "sym-0.2", d / "labels.parquet")
    stages.index(d / "m.parquet", [str(emb)], d / "f.faiss")
    stages.neighbors(d / "m.parquet", [str(emb)], d / "f.faiss", 5, d / "k5.parquet")
    return d, emb


def cpu_seconds_per_thread(proc: subprocess.Popen) -> dict[int, float]:
    """Poll /proc while `proc` runs: each of its threads' CPU time (user + system), last seen."""
    tick = os.sysconf("SC_CLK_TCK")
    seen: dict[int, float] = {}
    while proc.poll() is None:
        for task in Path(f"/proc/{proc.pid}/task").glob("*"):
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the thread or the process just ended
                continue
            seen[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
        time.sleep(0.05)
    return seen


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("n", [1, 2])
def test_train_runs_exactly_the_threads_it_is_given(run_inputs, tmp_path, n):
    d, emb = run_inputs
    log = tmp_path / "train.log"
    env = {k: v for k, v in os.environ.items() if k not in threads.ENV}  # nothing preset: --threads decides
    cmd = [sys.executable, "-m", "lra", "train", "--manifest", str(d / "m.parquet"), "--labels", str(d / "labels.parquet"),
           "--features", str(emb), "--neighbors", str(d / "k5.parquet"), "--params", json.dumps(TRAIN),
           "--threads", str(n), "--out", str(tmp_path / "model.pt")]
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stderr=err, env={**env, "PYTHONPATH": str(REPO)})
        cpu = cpu_seconds_per_thread(proc)
    text = log.read_text()
    assert proc.returncode == 0, text
    # Every pool, as its library reports it after the stage ran: torch, its inter-op pool,
    # OpenMP and BLAS runtimes, pyarrow.
    used = dict(re.findall(r"(\w[\w .()-]*?) (\d+)(?:,|$)", text.split("threads used: ")[-1].splitlines()[0]))
    assert {"torch", "torch inter-op", "pyarrow"} <= set(used) and any(k.startswith("openmp") for k in used)
    assert {int(v) for v in used.values()} == {n}, used
    # The OS: threads that did real work, a tenth of the busiest one's CPU time or more (here, with 2
    # threads the second had ~23 % of the first's, imports included; every other thread < 1 %).
    busiest = max(cpu.values())
    busy = [tid for tid, s in cpu.items() if s >= 0.1 * busiest]
    assert busiest > 1.0 and len(busy) == n, cpu


def test_apply_limits_pools_already_loaded_and_sets_the_environment(monkeypatch):
    import threadpoolctl

    for var in threads.ENV:
        monkeypatch.delenv(var, raising=False)
    before = threadpoolctl.threadpool_info()
    try:
        assert threads.apply(1) == 1 and threads.get() == 1
        assert all(os.environ[var] == "1" for var in threads.ENV)  # what DataLoader workers inherit
        assert {info["num_threads"] for info in threadpoolctl.threadpool_info()} == {1}
    finally:
        threadpoolctl.threadpool_limits({info["filepath"]: info["num_threads"] for info in before})
        threads._applied = None


def test_open_clip_workers_stay_within_the_threads(monkeypatch, caplog):
    from lra.embed.batched import default_workers

    monkeypatch.setattr(threads, "_applied", 4)
    assert default_workers() == 3  # one thread runs the model
    monkeypatch.setattr(threads, "_applied", 1)
    assert default_workers() == 0  # decode in the main process
    monkeypatch.setattr(threads, "_applied", 32)
    assert default_workers() == 8


def test_every_rule_passes_its_threads_and_has_a_benchmark():
    """Each rule's shell passes --threads {threads}; each rule writes logs/...bench.tsv beside its log."""
    text = "".join(p.read_text() for p in Path("workflow/rules").glob("*.smk"))
    rules = re.split(r"\nrule ", "\n" + text)[1:]
    assert len(rules) >= 9
    for rule in rules:
        name = rule.split(":")[0]
        assert "--threads {threads}" in rule and "\n    threads:" in rule, name
        log = re.search(r"log:\n\s+paths\.log\((.+)\),\n", rule).group(1)
        assert f"benchmark:\n        paths.bench({log})" in rule, name


def test_a_benchmark_file_lies_beside_its_log():
    from lra.core import paths

    for key in ("", "{dataset}", paths.DATASET_RUN):
        assert paths.bench("train", key) == paths.log("train", key).removesuffix(".log") + ".bench.tsv"
    assert paths.log("train", paths.DATASET_RUN) == "logs/{dataset}/train/{method}/{encoder}/{noise}/k{k}/seed{seed}.log"
