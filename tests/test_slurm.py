"""The DAG on a real SLURM cluster (one node, this machine) against a local run of the same config.

Every job must run as a SLURM job (its id from the plugin's log under .snakemake/slurm_logs,
its state COMPLETED in scontrol), GPU rules must ask SLURM for a GPU, and metrics.json and
summary.tsv must equal the local run's byte for byte. tests/slurm/start.sh installs (apt-get,
as root) and starts munged, slurmctld and slurmd; stop.sh stops what it started, also on failure.
Enabled by LRA_TEST_SLURM=1 (`make test-slurm`); skipped otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = """\
knn_k: [3]
train: {epochs: 2, min_steps: 0, F: 32, T: 100, eval_every: 1}
predict: {samples: 2}
"""
GPU_RULES = {"embed", "train", "predict"}
STAGES = {"data", "embed", "index", "neighbors", "noise", "train", "predict", "score", "clean", "plots"}
OUTPUTS = ["results/summary.tsv", "results/digits/runs/default/pixels-8/sym-0.4/k3/seed0/metrics.json"]

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(os.environ.get("LRA_TEST_SLURM") != "1",
                       reason="SLURM test off: `make test-slurm` (LRA_TEST_SLURM=1) starts a local SLURM "
                              "cluster; needs root or slurm-wlm + munge installed"),
]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running one-node cluster: the environment to reach it; stopped afterwards."""
    if os.geteuid() != 0 and not shutil.which("slurmctld"):
        pytest.skip("SLURM test needs root (to install slurm-wlm and munge) or SLURM installed")
    state = tmp_path_factory.mktemp("slurm-state")
    env = {**os.environ, "SLURM_CONF": str(state / "slurm.conf"), "PATH": f"/usr/sbin:/sbin:{os.environ['PATH']}"}
    try:
        subprocess.run([ROOT / "tests/slurm/start.sh", state], check=True, env=env, timeout=600)
        yield env
    finally:
        subprocess.run([ROOT / "tests/slurm/stop.sh", state], env=env, timeout=120)


def snakemake(workdir: Path, *args, env=None) -> float:
    """Run the tiny DAG in `workdir`; its seconds. Output goes to workdir/snakemake.out."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tiny.yaml").write_text(TINY)
    cmd = [sys.executable, "-m", "snakemake", "-s", ROOT / "Snakefile", "-d", workdir,
           "--configfile", ROOT / "config.yaml", workdir / "tiny.yaml", *args]
    start = time.monotonic()
    with open(workdir / "snakemake.out", "w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=1800).returncode
    if rc:
        pytest.fail(f"snakemake failed ({rc}) in {workdir}:\n" + (workdir / "snakemake.out").read_text()[-4000:])
    return time.monotonic() - start


def jobs_run(workdir: Path) -> Counter:
    """Jobs per rule from a run's snakemake output (`localrule x:` when run in the main process)."""
    text = (workdir / "snakemake.out").read_text()
    return Counter(re.findall(r"^(?:local)?rule (\w+):$", text, flags=re.M))


def slurm_jobs(workdir: Path) -> list[tuple[str, str]]:
    """(rule, SLURM job id) of every job the plugin submitted: .snakemake/slurm_logs/rule_<rule>/.../<id>.log."""
    logs = workdir / ".snakemake/slurm_logs"
    return sorted((p.relative_to(logs).parts[0].removeprefix("rule_"), p.stem) for p in logs.rglob("*.log"))


def test_dag_on_slurm_equals_local(slurm, tmp_path):
    local_s = snakemake(tmp_path / "local", "--cores", "2")
    slurm_s = snakemake(tmp_path / "slurm", "--profile", ROOT / "profiles/slurm",
                        "--profile", ROOT / "profiles/slurm-local", env=slurm)

    jobs = slurm_jobs(tmp_path / "slurm")
    local_jobs = jobs_run(tmp_path / "local")
    assert local_jobs.pop("all") == 1 and STAGES <= set(local_jobs), local_jobs
    assert set(local_jobs.values()) == {1}, f"one job per rule for one run: {local_jobs}"
    assert Counter(rule for rule, _ in jobs) == local_jobs, "each job of the local run is one SLURM job"
    main = (tmp_path / "slurm/snakemake.out").read_text()
    assert re.findall(r"^localrule (\w+):$", main, flags=re.M) == ["all"], "only the target rule runs outside SLURM"
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", main)
    assert sorted(submitted) == sorted(jobid for _, jobid in jobs)
    for rule, jobid in jobs:
        info = subprocess.run(["scontrol", "show", "job", jobid], capture_output=True, text=True, env=slurm).stdout
        assert "JobState=COMPLETED" in info, f"{rule} job {jobid}:\n{info}"
        assert ("gres:gpu:1" in info) == (rule in GPU_RULES), f"{rule} job {jobid} GPU request:\n{info}"
    for path in OUTPUTS:
        assert (tmp_path / "slurm" / path).read_bytes() == (tmp_path / "local" / path).read_bytes(), path

    print(f"\nSLURM test: {len(jobs)} SLURM jobs " + ", ".join(f"{r}={j}" for r, j in jobs)
          + f"; local run {local_s:.0f} s, SLURM run {slurm_s:.0f} s")
