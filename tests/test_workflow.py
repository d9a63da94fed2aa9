"""End-to-end runs of the Snakemake DAG on tiny configs, in temporary working directories."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from .conftest import TINY, planned_rules, snakemake, write_config

pytestmark = pytest.mark.slow

UPSTREAM = {"data", "embed", "index", "noise"}


def test_the_dag_writes_every_stage_and_a_summary_row_per_run(default_run):
    work, _ = default_run
    digits = work / "results" / "digits"
    assert (digits / "manifest.parquet").exists()
    assert (digits / "features" / "pixels-8" / "part-00000.parquet").exists()
    assert (digits / "index" / "pixels-8.faiss").exists()
    assert (digits / "neighbors" / "pixels-8" / "k3.parquet").exists()
    summary = pd.read_csv(work / "results" / "summary.tsv", sep="\t")
    assert sorted(summary["noise"]) == ["asym-0.3", "sym-0.4"]
    for noise in ("sym-0.4", "asym-0.3"):
        run = digits / "runs" / "default" / "pixels-8" / noise / "k3" / "seed0"
        m = json.loads((run / "metrics.json").read_text())
        assert m["n_test"] == 359 and 0 <= m["accuracy"] <= 1
        assert m["baselines"]["knn_vote"] > 0.5  # real retrieval on real features
        assert len(m["per_class_accuracy"]) == 10
        assert abs(m["train_noise_rate"] - float(noise.split("-")[1])) < 0.02
        assert {"cleanlab", "datalab_relabel", "clean_knn_vote", "clean_linear_probe"} <= set(m["baselines"])
        assert set(m["label_issues"]) >= {"precision", "recall", "f1", "cleanlab"}
        issues = pd.read_parquet(run / "label_issues.parquet")
        assert len(issues) == m["n_train"] and issues["p_given"].is_monotonic_increasing
        pred = pd.read_parquet(run / "predictions.parquet")
        assert len(pred) == 1797 and set(pred["split"]) == {"train", "val", "test"}
        freq = np.stack(pred["class_frequencies"].to_numpy())
        assert freq.shape == (1797, 10) and np.allclose(freq.sum(axis=1), 1)
        assert set(np.unique(freq * 2)) <= {0, 1, 2}  # 2 trajectories: frequencies 0, 1/2 or 1
        assert (pred["majority"].to_numpy() == freq.argmax(axis=1)).all()
        assert pred["entropy"].between(0, np.log(2) + 1e-6).all()
    assert any((work / "logs" / "digits").rglob("train/default/*/*/k3/seed0.log"))


def test_a_second_configfile_merges_over_the_first(default_run):
    work, _ = default_run
    state = torch.load(work / "results/digits/runs/default/pixels-8/sym-0.4/k3/seed0/model.pt", weights_only=False)
    assert state["train_config"]["epochs"] == 2  # from the tiny config
    assert state["train_config"]["lr"] == 0.001  # schema default kept
    assert state["hparams"]["feature_dim"] == 3 * 8 * 8  # encoder pixels:8 from config.yaml


def test_a_new_k_reruns_neighbours_and_what_follows_only(default_run):
    work, cfg = default_run
    plan = snakemake(work, "-n", "--config", "knn_k=5", configs=[cfg])
    assert planned_rules(plan) == {"neighbors", "train", "predict", "score", "clean", "summary", "plots",
                                   "grid_plots", "all"}
    manifest = work / "results/digits/manifest.parquet"
    before = manifest.stat().st_mtime_ns
    snakemake(work, "--config", "knn_k=5", configs=[cfg])
    assert manifest.stat().st_mtime_ns == before
    assert (work / "results/digits/runs/default/pixels-8/sym-0.4/k5/seed0/metrics.json").exists()
    assert planned_rules(snakemake(work, "-n", "--config", "knn_k=5", configs=[cfg])) == set()


def test_the_paper_method_runs_beside_the_default_and_the_summary_shows_both(default_run, tmp_path):
    """`--config method=paper` writes results/<dataset>/runs/paper/...: the default's runs stay as
    they are, and a grid over both methods tabulates both."""
    work, cfg = tmp_path / "work", default_run[1]
    shutil.copytree(default_run[0], work)  # the shared run stays as the other tests expect it
    default_model = work / "results/digits/runs/default/pixels-8/sym-0.4/k3/seed0/model.pt"
    before = (default_model.stat().st_mtime_ns, default_model.read_bytes())
    one = write_config(tmp_path / "one.yaml", {**TINY, "noise": "sym-0.4"})
    snakemake(work, "--config", "method=paper", configs=[cfg, one])
    assert (default_model.stat().st_mtime_ns, default_model.read_bytes()) == before
    paper = torch.load(work / "results/digits/runs/paper/pixels-8/sym-0.4/k3/seed0/model.pt", weights_only=False)
    assert paper["train_config"]["lr_decay_epochs"] == 1000 and paper["train_config"]["epochs"] == 2
    both = planned_rules(snakemake(work, "-n", "--config", "method=[default,paper]", configs=[cfg, one]))
    assert both == {"summary", "grid_plots", "all"}  # every run of both methods exists: only the tables are new
    snakemake(work, "--config", "method=[default,paper]", configs=[cfg, one])
    summary = pd.read_csv(work / "results/summary.tsv", sep="\t")
    assert summary[["method", "noise"]].values.tolist() == [["default", "sym-0.4"], ["paper", "sym-0.4"]]
    assert (work / "logs/digits/train/paper/pixels-8/sym-0.4/k3/seed0.log").exists()


def test_same_config_and_seed_give_the_same_metrics(default_run, tmp_path):
    work, _ = default_run
    cfg = write_config(tmp_path / "tiny.yaml", {**TINY, "noise": "sym-0.4"})
    snakemake(tmp_path, configs=[cfg])
    rel = "results/digits/runs/default/pixels-8/sym-0.4/k3/seed0/metrics.json"
    assert json.loads((tmp_path / rel).read_text()) == json.loads((work / rel).read_text())


def test_folder_of_pngs_runs_end_to_end_with_given_labels(png_folder, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", TINY, {"dataset": {"kind": "folder", "csv": str(png_folder), "name": "colours"},
                                                    "encoder": "pixels:4", "noise": "given"})
    snakemake(tmp_path, configs=[cfg])
    m = json.loads((tmp_path / "results/colours/runs/default/pixels-4/given/k3/seed0/metrics.json").read_text())
    assert m["n_test"] == 30
    assert m["train_noise_rate"] > 0.05  # the CSV's own wrong labels
    assert m["baselines"]["knn_vote"] > 0.6  # well above chance (1/3): real retrieval
    edited = pd.read_csv(png_folder)
    edited.loc[edited["split"] == "train", "label"] = edited.loc[edited["split"] == "train", "clean_label"]
    edited.to_csv(png_folder, index=False)  # the user fixes the CSV's labels: the data stage reruns
    assert "data" in planned_rules(snakemake(tmp_path, "-n", configs=[cfg]))


def test_embeddings_parquet_runs_a_grid_of_noises_and_seeds(embeddings_file, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", TINY, {"dataset": {"kind": "embeddings", "path": str(embeddings_file)},
                                                    "noise": ["sym-0.2", "pmd-0.3"], "seed": [0, 1]})
    snakemake(tmp_path, configs=[cfg])
    flips = {}
    for noise, rate in (("sym-0.2", 0.2), ("pmd-0.3", 0.3)):
        for seed in (0, 1):
            m = json.loads((tmp_path / f"results/vectors/runs/default/given/{noise}/k3/seed{seed}/metrics.json").read_text())
            assert m["run"]["seed"] == seed
            assert abs(m["train_noise_rate"] - rate) < 0.03
            labels = pd.read_parquet(tmp_path / f"results/vectors/labels/{noise}/seed{seed}.parquet")
            flips[noise, seed] = labels["observed_label"].to_numpy()
    assert (flips["sym-0.2", 0] != flips["sym-0.2", 1]).any()  # each seed draws its own noise
    assert not (tmp_path / "results/vectors/features").exists()  # nothing embedded
    summary = pd.read_csv(tmp_path / "results/summary.tsv", sep="\t")
    assert sorted(zip(summary["noise"], summary["seed"])) == [("pmd-0.3", 0), ("pmd-0.3", 1), ("sym-0.2", 0), ("sym-0.2", 1)]
    mean = pd.read_csv(tmp_path / "results/summary_mean.tsv", sep="\t")
    assert mean["noise"].tolist() == ["pmd-0.3", "sym-0.2"] and (mean["n_seeds"] == 2).all()
    for _, cell in mean.iterrows():
        runs = summary[summary["noise"] == cell["noise"]]["lra"]
        assert cell["lra_mean"] == pytest.approx(runs.mean(), abs=1e-4)
        assert cell["lra_sd"] == pytest.approx(runs.std(ddof=1), abs=1e-4)


def test_a_misspelt_config_key_stops_before_any_job(tmp_path):
    proc = snakemake(tmp_path, "--config", "knn=20", check=False)
    assert proc.returncode != 0
    assert "'knn' was unexpected" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_bad_input_fails_the_stage_with_one_message_and_no_output(png_folder, tmp_path):
    pd.read_csv(png_folder).drop(columns="label").to_csv(png_folder, index=False)
    cfg = write_config(tmp_path / "c.yaml", TINY, {"dataset": {"kind": "folder", "csv": str(png_folder), "name": "x"}})
    proc = snakemake(tmp_path, configs=[cfg], check=False)
    assert proc.returncode != 0
    assert "labels.csv: missing column(s) label" in proc.stdout + proc.stderr
    assert "Traceback" not in (tmp_path / "logs/x/data.log").read_text()
    assert not (tmp_path / "results/x/manifest.parquet").exists()
