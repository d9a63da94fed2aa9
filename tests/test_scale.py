"""The cost-curve machinery: fixed training steps, the score stage's baseline sample, the streamed
synthetic set, and bench/scale.py (benchmark files → stages, exponents, table, plot, last line)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lra.core import linear
from lra.data import datasets, synthetic
from lra.score import subsample
from lra.diffusion.config import TrainConfig
from lra.diffusion.train import candidates, train as fit

train_mod = sys.modules["lra.diffusion.train"]  # the module (lra.diffusion.train is also the function)

from .conftest import REPO, clustered


def _bench():
    spec = importlib.util.spec_from_file_location("scale_bench", REPO / "bench" / "scale.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --- train.steps -------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [96, 400])
def test_train_steps_takes_exactly_that_many_optimizer_steps_whatever_n(n, monkeypatch):
    x, y = clustered(n // 2, 2, 8, spread=0.5)
    rows = np.argsort(-(x @ x.T), axis=1)[:, 1:4]
    cand, agree = candidates(y, rows)
    calls, lrs = [], []
    real = train_mod.optimizer_step

    def counted(*args, **kw):
        calls.append(1)
        lrs.append(args[9])  # lr
        return real(*args, **kw)

    monkeypatch.setattr(train_mod, "optimizer_step", counted)
    cfg = TrainConfig(steps=25, epochs=200, min_steps=8000, warmup_epochs=40, F=16, T=20, batch_size=32,
                      eval_every=10**6)
    _, _, history = fit(x, cand, agree, 2, cfg, x[:10], y[:10], log=lambda *a: None)
    assert len(calls) == 25  # neither epochs nor min_steps
    assert lrs[0] < lrs[4] and lrs[-1] < lrs[10]  # 5 warm-up steps (40/200 of 25), then the decay
    assert sum("val_accuracy" in r for r in history) == 1 and "val_accuracy" in history[-1]


def test_training_length_by_epochs_is_unchanged_without_steps():
    assert train_mod.training_length(TrainConfig(epochs=10, min_steps=0, warmup_epochs=2, lr_decay_epochs=None), 7) == (10, 70, 14, 70)
    assert train_mod.training_length(TrainConfig(epochs=10, min_steps=100, warmup_epochs=2, lr_decay_epochs=None), 7) == (15, 105, 14, 105)
    assert train_mod.training_length(TrainConfig(steps=100, epochs=200, warmup_epochs=5), 7) == (15, 100, 2, 100)
    assert train_mod.training_length(TrainConfig(epochs=10, warmup_epochs=2, lr_decay_epochs=50), 7) == (10, 70, 14, 350)


# --- the baselines' stratified sample -------------------------------------------------------------

def test_stratified_sample_keeps_class_shares_and_every_class():
    labels = np.repeat([0, 1, 2, 3], [6000, 3000, 990, 10])
    pos = linear.stratified(labels, 1000, seed=0)
    assert len(pos) == 1000 and (np.diff(pos) > 0).all()  # sorted, no repeats
    counts = np.bincount(labels[pos], minlength=4)
    assert counts[3] >= linear.MIN_PER_CLASS
    assert np.abs(counts - [600, 300, 99, 1]).max() <= 10  # the shares, less what the floor takes
    assert (pos == linear.stratified(labels, 1000, seed=0)).all()
    assert not (pos == linear.stratified(labels, 1000, seed=1)).all()
    assert (linear.stratified(labels, 10**6) == np.arange(len(labels))).all()


def test_fit_rows_samples_only_above_the_limit_and_says_so():
    observed = np.arange(300) % 3
    train_rows = np.arange(0, 300, 2)  # 150 train rows
    full = subsample.fit_rows(train_rows, observed, 150)
    assert not full.record["sampled"] and (full.rows == train_rows).all() and full.record["baselines"] == []
    part = subsample.fit_rows(train_rows, observed, 60, seed=4)
    assert part.record == {"sampled": True, "size": 60, "of": 150, "limit": 60, "seed": 4,
                           "stratified_on": "observed_label", "baselines": part.record["baselines"]}
    assert "linear_probe" in part.record["baselines"] and (part.rows == train_rows[part.positions]).all()
    assert subsample.fit_rows(train_rows, observed, 0).record["sampled"] is False  # 0: always all


# --- streamed synthetic embeddings ------------------------------------------------------------------

def test_streamed_synthetic_set_is_the_one_shot_set(tmp_path):
    x, y = synthetic.clustered_features(n=1000, dim=16, num_classes=5, spread=1.0)
    blocks = list(synthetic.iter_clustered(n=1000, dim=16, num_classes=5, spread=1.0, chunk_rows=77))
    assert np.array_equal(np.concatenate([b for b, _ in blocks]), x) and np.array_equal(np.concatenate([c for _, c in blocks]), y)
    path = tmp_path / "s.parquet"
    synthetic.write_embeddings(path, 1000, dim=16, num_classes=5, spread=1.0, chunk_rows=300)
    frame = synthetic.embeddings_frame(x, y)
    got = pd.read_parquet(path)
    assert (got["id"] == frame["id"]).all() and (got["split"] == frame["split"]).all()
    assert np.array_equal(np.stack(got["embedding"]), x)
    m = datasets.build({"kind": "embeddings", "path": str(path)})  # a valid dataset of the embeddings kind
    assert len(m.frame) == 1000 and len(m.classes) == 5


# --- bench/scale.py ----------------------------------------------------------------------------------

def _fake_logs(root, n, seconds_per_item, rss):
    """A logs/ tree as the DAG writes it, with times a * N^b."""
    files = {"scale/data.bench.tsv": 1.0, "scale/noise/sym-0.2/seed0.bench.tsv": 1.0,
             "scale/neighbors/given/k10.bench.tsv": 2.0, "scale/score/default/given/sym-0.2/k10/seed0.bench.tsv": 1.0,
             "summary.bench.tsv": 0.0}
    for rel, b in files.items():
        path = root / "logs" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        s = seconds_per_item * n**b
        path.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                        f"{s}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t0\t{s}\n")
        path.with_name(path.name.replace(".bench.tsv", ".log")).write_text(f"... lra x: peak RSS {rss + 7} MiB, CPU {s} s\n")


def test_benchmark_files_map_to_stages_and_exponents_fit():
    bench = _bench()
    assert bench.stage_of(REPO / "logs/ds/score/a/b/k1/seed0.bench.tsv", REPO / "logs") == "score"
    assert bench.stage_of(REPO / "logs/ds/data.bench.tsv", REPO / "logs") == "data"
    assert bench.stage_of(REPO / "logs/summary.bench.tsv", REPO / "logs") == "summary"
    table = pd.DataFrame({"stage": ["a"] * 3 + ["b"] * 3, "n": [10, 100, 1000] * 2,
                          "s": [1, 10, 100, 1, 100, 10000]})
    fits = bench.exponents(table)
    assert fits["a"] == pytest.approx(1.0) and fits["b"] == pytest.approx(2.0)


def test_scale_bench_tabulates_plots_and_ends_with_the_largest_run(tmp_path, capsys):
    bench = _bench()
    for n in (200, 400):
        _fake_logs(tmp_path / f"n{n}", n, 0.01, rss=100 + n)
        (tmp_path / f"n{n}" / "wall_seconds.txt").write_text(f"{n / 10}\n")
    bench.main(["--n", "200,400", "--out", str(tmp_path), "--reuse", "--dim", "8", "--classes", "3"])
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "largest N: 400 items end to end in 40 s, peak RSS 507 MiB"
    rows = {line.split(" | ")[0].strip("| "): line for line in out if line.startswith("| ")}
    assert list(rows)[1:6] == ["data", "noise", "neighbors", "score", "summary"]  # DAG order
    assert rows["neighbors"].endswith("| **2.00** | **2.00** |") and rows["data"].endswith("| 1.00 | 1.00 |")
    assert (tmp_path / "scale.png").stat().st_size > 10_000
    assert set(pd.read_csv(tmp_path / "scale.tsv", sep="\t")["stage"]) == {"data", "noise", "neighbors", "score", "summary"}


@pytest.mark.slow
def test_scale_bench_runs_the_whole_dag(tmp_path):
    """One tiny size through the real DAG: every stage of `rule all` leaves a benchmark file."""
    done = subprocess.run([sys.executable, str(REPO / "bench" / "scale.py"), "--n", "400", "--quick",
                           "--dim", "16", "--classes", "4", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.strip().splitlines()[-1].startswith("largest N: 400 items end to end in ")
    stages = set(pd.read_csv(tmp_path / "scale.tsv", sep="\t")["stage"])
    assert {"data", "noise", "index", "neighbors", "train", "predict", "score", "summary"} <= stages
    import json

    metrics = json.loads(next((tmp_path / "n400" / "results").rglob("metrics.json")).read_text())
    assert metrics["baseline_sample"]["sampled"] and metrics["baseline_sample"]["size"] == 100
    assert metrics["label_issues"]["cleanlab"]["n_wrong"] <= 100 and "ours_on_sample" in metrics["label_issues"]


def test_a_million_items_neighbour_ids_fit_one_list_column():
    """pyarrow converts ~5M+ numpy strings in chunks; the neighbours table of a million items
    (10M ids) failed in FixedSizeListArray.from_arrays until io.fixed_size_lists joined them."""
    from lra.core.files import fixed_size_lists

    ids = np.char.add("s", np.arange(600_000).astype("U6")).astype("U7")
    rows = np.tile(ids, 10).reshape(-1, 10)  # 6M ids: above pyarrow's chunking threshold
    assert isinstance(pa.array(rows.reshape(-1)), pa.ChunkedArray)
    lists = fixed_size_lists(rows, 10)
    assert len(lists) == 600_000 and lists[599_999].as_py() == rows[-1].tolist()
