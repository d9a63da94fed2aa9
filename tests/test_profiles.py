"""The SLURM profiles: resources live in profiles/slurm only, so no profile layered on it drops them."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESOURCE_KEYS = {"set-resources", "default-resources", "resources", "set-threads"}


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / "profiles" / name / "config.yaml").read_text())


def test_workflow_and_local_profiles_set_no_resources():
    # profiles/default is loaded automatically and overrides --profile key by key
    for name in ("default", "slurm-local"):
        assert not RESOURCE_KEYS & set(load(name)), name


def test_slurm_profile_requests_per_rule():
    p = load("slurm")
    assert p["executor"] == "slurm"
    res = p["set-resources"]
    for rule in ("pretrain", "embed", "train", "predict"):
        assert res[rule].get("gpu") == 1 or res[rule].get("gres") == "gpu:1", rule
    for rule in ("index", "neighbors", "score"):
        assert res[rule]["mem_mb"] > 0 and res[rule]["runtime"] > 0, rule
        assert "gpu" not in res[rule] and "gres" not in res[rule], rule
    assert {"mem_mb", "runtime"} <= set(p["default-resources"])
    rules = {line.split()[1].rstrip(":") for f in (ROOT / "workflow/rules").glob("*.smk")
             for line in f.read_text().splitlines() if line.startswith("rule ")}
    assert set(res) <= rules, "set-resources names only existing rules"


def test_local_cluster_profile_checks_status_with_squeue():
    p = load("slurm-local")
    assert p["slurm-status-command"] == "squeue"
    assert p["slurm-no-account"] is True


def test_slurm_profile_resubmits_and_warns_train_before_its_time_limit():
    p = load("slurm")
    assert p["slurm-requeue"] is True and p["retries"] >= 1
    for rule in ("train", "pretrain"):  # the two training loops that checkpoint on SIGTERM
        extra = p["set-resources"][rule]["slurm_extra"].strip("'\"")
        # the job's steps get SIGTERM (lra runs in the plugin's srun step); B: would signal only the batch shell
        assert extra.startswith("--signal=TERM@") and "B:" not in extra, rule
