"""lra.report: every figure on tiny arrays, the label-issue gallery (thumbnails, or a table for
embeddings) reading only its 48 rows, who won (the summary's columns, `lra show`, the figure over
every cell), the grid figures, all-or-nothing writes, and the Snakemake HTML report of the tiny
DAG referencing every figure."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from lra import cli, stages, workflow
from lra.core.errors import LraError
from lra.core.files import write_frame
from lra.report import figures, gallery, grid, summary
from lra.report.run import plot_run

from .conftest import folder_dataset, snakemake

PNG = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_size=(200, 100)):
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == PNG, path
    with Image.open(path) as im:
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1], im.size
    assert not list(path.parent.glob(f".{path.name}.tmp-*"))  # no temporary left behind


def test_each_figure_is_a_png(tmp_path):
    rng = np.random.default_rng(0)
    history = [{"epoch": e, "loss": 1 / e, **({"val_accuracy": 0.5 + e / 40} if e % 2 == 0 else {})} for e in range(1, 11)]
    history[5]["selected"] = True
    rounds = [{**r, "round": 1} for r in history] + [{**r, "round": 2} for r in history[:4]]
    truth, pred = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    metrics = {"accuracy": 0.9, "accuracy_stochastic": 0.85, "n_test": 60,
               "baselines": {"knn_vote": 0.8, "linear_probe": 0.7, "cleanlab": 0.75, "datalab_relabel": 0.74,
                             "clean_knn_vote": 0.95, "clean_linear_probe": 0.93}}
    drawn = {
        "training": figures.training_curve(history, 6),
        "training_no_val": figures.training_curve([{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}], None),
        "training_rounds": figures.training_curve(rounds, 3),
        "accuracy": figures.accuracy_dots(metrics),
        "accuracy_no_truth": figures.accuracy_dots({"accuracy": 0.9, "n_test": 60, "baselines": {"knn_vote": 0.8}}),
        "confusion": figures.confusion(truth, pred, ["cat", "dog", "bird"]),
        "confusion_many": figures.confusion(rng.integers(0, 40, 500), rng.integers(0, 40, 500), [f"class {i}" for i in range(40)]),
        "per_class": figures.per_class({"cat": 0.5, "dog": 1.0, "bird": None}, {"cat": 20, "dog": 40}, 0.8),
        "uncertainty": figures.uncertainty(rng.random(60), truth == pred, samples=10, num_classes=3),
        "message": figures.message("nothing to show", "Uncertainty"),
    }
    ax = drawn["training_rounds"].axes[0]
    assert [line.get_xdata()[-1] for line in ax.lines[:1]] == [14], "rounds run on one epoch axis"
    assert ax.get_legend().get_texts()[-1].get_text() == "selected: epoch 6 of round 1"
    assert "in 2 rounds" in ax.get_title()
    for name, fig in drawn.items():
        figures.save(fig, tmp_path / f"{name}.png")
        assert_png(tmp_path / f"{name}.png")


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A folder-of-PNGs manifest (3 classes, 24 train items) with a label-issue table over its
    train items and one image made unreadable after the run."""
    root = tmp_path_factory.mktemp("folder")
    csv = folder_dataset(root, n_per_class=10)
    pd.read_csv(csv).assign(clean_label=lambda d: d["label"]).to_csv(csv, index=False)  # the truth is known
    stages.data({"kind": "folder", "csv": str(csv)}, root / "manifest.parquet")
    m = pd.read_parquet(root / "manifest.parquet")
    train = m[m["split"] == "train"].reset_index(drop=True)
    given = train["label"].to_numpy().copy()
    given[:5] = (given[:5] + 1) % 3  # five truly wrong labels, ranked first
    issues = pd.DataFrame({"id": train["id"], "given_label": given, "predicted_label": train["label"],
                           "p_given": np.linspace(0, 1, len(train)), "flag": given != train["label"]})
    write_frame(issues, root / "issues.parquet")
    (root / train["source"][6]).write_bytes(b"")  # unreadable by the time the report is drawn
    return root


def test_gallery_shows_thumbnails_captioned_with_the_truth(folder_run):
    top = gallery.with_manifest(gallery.least_believed(folder_run / "issues.parquet"), folder_run / "manifest.parquet")
    assert len(top) == 21 and top["rank"].tolist() == list(range(1, 22))  # fewer train items than 48
    assert top["wrong"].tolist()[:6] == [True] * 5 + [False]
    images = gallery.thumbnails(top["source"])
    assert images[6] is None and all(im.shape[2] == 3 and max(im.shape[:2]) <= gallery.THUMB for im in images[7:])
    figures.save(gallery.gallery(top, images, ["a", "b", "c"]), folder_run / "gallery.png")
    assert_png(folder_run / "gallery.png", min_size=(1000, 400))


def test_embeddings_get_a_table_without_truth(tmp_path):
    ids = [f"item{i}" for i in range(60)]
    write_frame(pd.DataFrame({"id": ids, "split": "train", "source": "vectors.parquet", "label": 0,
                              "clean_label": pd.array([None] * 60, dtype="Int64")}), tmp_path / "m.parquet")
    write_frame(pd.DataFrame({"id": ids, "given_label": 0, "predicted_label": 1, "p_given": 0.0, "flag": True}),
                tmp_path / "issues.parquet")
    top = gallery.with_manifest(gallery.least_believed(tmp_path / "issues.parquet"), tmp_path / "m.parquet")
    assert len(top) == gallery.SIZE and top["wrong"].isna().all()
    figures.save(gallery.issue_table(top, ["x", "y"]), tmp_path / "table.png")
    assert_png(tmp_path / "table.png", min_size=(800, 1000))


def test_the_gallery_reads_its_48_rows_never_the_whole_table(tmp_path, monkeypatch):
    n = 200_000
    issues = pa.table({"id": [f"{i:08d}" for i in range(n)], "given_label": np.zeros(n, np.int64),
                       "predicted_label": np.ones(n, np.int64), "p_given": np.linspace(0, 1, n), "flag": np.ones(n, bool)})
    pq.write_table(issues, tmp_path / "issues.parquet", row_group_size=10_000)
    pq.write_table(pa.table({"id": issues["id"], "source": pa.array(["x.png"] * n),
                             "clean_label": pa.array(np.zeros(n, np.int64))}), tmp_path / "m.parquet", row_group_size=10_000)

    def whole_file(*args, **kwargs):
        raise AssertionError("read the whole file")

    monkeypatch.setattr(pq.ParquetFile, "read", whole_file)
    monkeypatch.setattr(pq.ParquetFile, "read_row_group", whole_file)
    batches = []
    real_iter = pq.ParquetFile.iter_batches
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", lambda self, *a, **k: (batches.append(b) or b for b in real_iter(self, *a, **k)))
    top = gallery.least_believed(tmp_path / "issues.parquet")
    assert [b.num_rows for b in batches] == [48]  # one batch of 48 rows decoded, nothing more
    assert top["id"].tolist() == [f"{i:08d}" for i in range(48)]
    top = gallery.with_manifest(top, tmp_path / "m.parquet")  # a filtered scan keeps only those rows
    assert top["source"].tolist() == ["x.png"] * 48 and not any(top["wrong"])


def test_grid_figures_have_error_bars_over_seeds(tmp_path):
    rows = []
    for noise in ("sym-0.2", "asym-0.4", "given"):
        for k in (5, 10, 20):
            for seed in (0, 1, 2):
                acc = 0.9 - 0.1 * (noise == "asym-0.4") - 0.001 * k + 0.01 * seed
                rows.append({"dataset": "d", "method": "default", "encoder": "e", "noise": noise, "k": k, "seed": seed, "n_test": 10,
                             "lra": acc, "lra_stochastic": acc - 0.02, "knn_vote": acc - 0.05, "linear_probe": 0.7,
                             "clean_knn_vote": 0.95})
    summary.seed_means(pd.DataFrame(rows)).to_csv(tmp_path / "mean.tsv", sep="\t", index=False)
    stages.grid_plots(tmp_path / "mean.tsv", tmp_path / "accuracy.png", tmp_path / "k.png", tmp_path / "noise.png")
    assert_png(tmp_path / "k.png", min_size=(1500, 400))
    assert_png(tmp_path / "noise.png", min_size=(1500, 400))
    assert_png(tmp_path / "accuracy.png", min_size=(2000, 1000))  # 9 cells: 3 columns of panels
    assert sorted(["sym-0.2", "asym-0.4", "given", "sym-0.1"], key=grid.noise_order) == ["given", "asym-0.4", "sym-0.1", "sym-0.2"]


def test_grid_figures_are_asked_for_only_when_the_config_has_a_list():
    base = {"dataset": {"kind": "bundled"}, "encoder": "pixels:8", "noise": "sym-0.4", "knn_k": 10, "seed": 0}
    one = workflow.figure_files(base)
    assert len(one) == len(workflow.RUN_FIGURES) + 1 and all("/runs/" in f for f in one[:-1])
    assert one[-1] == "results/figures/accuracy.png"  # who won: always, for one run too
    grid_files = workflow.figure_files({**base, "seed": [0, 1]})
    assert "results/figures/accuracy_vs_k.png" in grid_files and "results/figures/accuracy_vs_noise.png" in grid_files
    assert len(grid_files) == 2 * len(workflow.RUN_FIGURES) + 3
    assert not workflow.is_grid({**base, "dataset": {"kind": "embeddings", "path": "v.parquet"}, "encoder": ["a", "b"]})


# A hand-made summary: cell sym-0.2 with 3 seeds of both methods, cell sym-0.4 with one seed of
# the default, each with the four baselines and the clean-label bounds.
SEEDS = {  # (noise, seed): lra default, lra paper, knn_vote, linear_probe, cleanlab, datalab_relabel
    ("sym-0.2", 0): (0.80, 0.70, 0.75, 0.82, 0.60, 0.65),
    ("sym-0.2", 1): (0.84, 0.72, 0.77, 0.80, 0.62, 0.66),
    ("sym-0.2", 2): (0.86, 0.74, 0.76, 0.84, 0.61, 0.64),
    ("sym-0.4", 0): (0.70, None, 0.66, 0.66, 0.50, 0.55),  # a tie: the first baseline of the table wins
}


def hand_made_summary() -> pd.DataFrame:
    rows = []
    for (noise, seed), (lra, paper, *base) in SEEDS.items():
        for method, acc in (("default", lra), ("paper", paper)):
            if acc is not None:
                rows.append({"dataset": "d", "method": method, "encoder": "e", "noise": noise, "k": 10, "seed": seed,
                             "n_test": 100, "lra": acc, **dict(zip(summary.BASELINES, base)),
                             "clean_knn_vote": 0.9, "clean_linear_probe": 0.92})
    return pd.DataFrame(rows)


def test_the_seed_means_say_who_won_on_a_hand_made_table():
    df = hand_made_summary()
    means = summary.seed_means(df)
    assert means.columns[-3:].tolist() == ["best_baseline", "lra_minus_best_baseline_mean", "lra_minus_best_baseline_sd"]
    cells = means.set_index(["method", "noise"])
    assert cells["best_baseline"].to_dict() == {("default", "sym-0.2"): "linear_probe", ("paper", "sym-0.2"): "linear_probe",
                                                ("default", "sym-0.4"): "knn_vote"}
    # default, sym-0.2: seed by seed 0.80-0.82, 0.84-0.80, 0.86-0.84 = -0.02, +0.04, +0.02
    assert cells.at[("default", "sym-0.2"), "lra_minus_best_baseline_mean"] == pytest.approx(0.04 / 3)
    assert cells.at[("default", "sym-0.2"), "lra_minus_best_baseline_sd"] == pytest.approx(np.std([-0.02, 0.04, 0.02], ddof=1))
    assert cells.at[("paper", "sym-0.2"), "lra_minus_best_baseline_mean"] == pytest.approx(-0.10)
    assert cells.at[("paper", "sym-0.2"), "lra_minus_best_baseline_sd"] == pytest.approx(0.02)
    assert cells.at[("default", "sym-0.4"), "lra_minus_best_baseline_mean"] == pytest.approx(0.04)
    assert np.isnan(cells.at[("default", "sym-0.4"), "lra_minus_best_baseline_sd"])  # one seed: no sd
    assert means["linear_probe_mean"].iloc[0] == pytest.approx(0.82)  # the other columns as before


def test_lra_show_prints_who_won_and_the_seed_means(tmp_path, capsys):
    df = hand_made_summary()
    df.to_csv(tmp_path / "summary.tsv", sep="\t", index=False)
    summary.seed_means(df).to_csv(tmp_path / "summary_mean.tsv", sep="\t", index=False, float_format="%.4f")
    assert cli.main(["show", "--who-won", str(tmp_path / "summary_mean.tsv")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1] == "dataset d, encoder e, k 10" and max(map(len, lines)) <= 100
    assert lines[2].split() == ["method", "noise", "seeds", "LRA", "%", "best", "baseline", "best", "%", "LRA", "-",
                                "best", "clean", "bound", "%"]
    assert lines[3].split() == ["default", "sym-0.2", "3", "83.3", "±", "3.1", "linear", "probe", "82.0", "±", "2.0",
                                "+1.3", "±", "3.1", "92.0"]
    assert lines[4].split() == ["default", "sym-0.4", "1", "70.0", "kNN", "vote", "66.0", "+4.0", "92.0"]  # one seed
    assert cli.main(["show", "--who-won", str(tmp_path / "summary.tsv")]) == 0  # from the runs: the same view
    assert capsys.readouterr().out == out
    assert cli.main(["show", str(tmp_path / "summary_mean.tsv")]) == 0
    out = capsys.readouterr().out
    assert "0.8333 ± 0.0306" in out and "linear_probe" in out and "+0.0133 ± 0.0306" in out
    assert cli.main(["show", str(tmp_path / "summary.tsv")]) == 0
    assert "0.8000" in capsys.readouterr().out  # summary.tsv: one row per run, as before


def errorbars(fig) -> list:
    """The error-bar containers of every panel that have horizontal bars."""
    return [c for ax in fig.axes for c in ax.containers if getattr(c, "has_xerr", False)]


def test_who_won_is_drawn_for_one_run_and_for_a_grid_of_seeds_and_methods(tmp_path):
    one = summary.seed_means(hand_made_summary().query("noise == 'sym-0.4'"))
    fig = grid.who_won(one)
    assert len([ax for ax in fig.axes if ax.axison]) == 1 and not errorbars(fig)  # one seed: dots, no bars
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "★ 70.0" in texts and "LRA (default) − best baseline (kNN vote): +4.0 points" in texts
    figures.save(fig, tmp_path / "one.png")
    assert_png(tmp_path / "one.png", min_size=(900, 400))

    rng = np.random.default_rng(0)
    rows = []
    for noise in ("sym-0.2", "sym-0.4", "asym-0.3"):
        for k in (5, 10):
            for seed in range(3):
                base = dict(zip(summary.BASELINES, 0.7 + 0.1 * rng.random(4)))
                for method, lift in (("default", 0.05), ("paper", -0.02)):
                    rows.append({"dataset": "d", "method": method, "encoder": "e", "noise": noise, "k": k, "seed": seed,
                                 "n_test": 100, "lra": 0.75 + lift + 0.02 * rng.random(), **base, "clean_knn_vote": 0.9})
    means = summary.seed_means(pd.DataFrame(rows))
    fig = grid.who_won(means)
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(panels) == 6 and len(errorbars(fig)) == 6 * 6  # LRA ×2 and 4 baselines per cell, each with bars
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["LRA (default)", "LRA (paper)", "kNN vote",
                                                                   "linear probe", "CleanLearning", "Datalab + relabel"]
    assert "3 seeds" in fig.get_suptitle()
    assert sum(t.get_text().startswith("★") for ax in panels for t in ax.texts) == 6  # one best per cell
    figures.save(fig, tmp_path / "grid.png")
    assert_png(tmp_path / "grid.png", min_size=(1500, 1400))  # 2 columns of 3 panels


def test_the_grid_figures_are_written_together_or_not_at_all(tmp_path, monkeypatch):
    summary.seed_means(hand_made_summary()).to_csv(tmp_path / "mean.tsv", sep="\t", index=False)
    outs = [tmp_path / "figures" / f"{n}.png" for n in ("accuracy", "k", "noise")]
    outs[0].parent.mkdir()
    outs[0].write_bytes(b"old")

    def broken(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(grid, "sweep", broken)  # drawn after who won
    with pytest.raises(RuntimeError):
        grid.plot_grid(tmp_path / "mean.tsv", *outs)
    assert sorted(p.name for p in outs[0].parent.iterdir()) == ["accuracy.png"]  # no new figure, no temporary
    assert outs[0].read_bytes() == b"old"
    monkeypatch.undo()
    grid.plot_grid(tmp_path / "mean.tsv", outs[0])  # a config without a grid: who won alone
    assert_png(outs[0])
    with pytest.raises(LraError, match="both --out-k and --out-noise"):
        grid.plot_grid(tmp_path / "mean.tsv", outs[0], outs[1])


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    """The digits manifest with made-up stage outputs: enough for plot_run, without training."""
    r = tmp_path_factory.mktemp("run")
    stages.data({"kind": "bundled"}, r / "manifest.parquet")
    m = pd.read_parquet(r / "manifest.parquet")
    rng = np.random.default_rng(0)
    pred = np.where(rng.random(len(m)) < 0.8, m["label"], rng.integers(0, 10, len(m)))
    write_frame(pd.DataFrame({"id": m["id"], "split": m["split"], "predicted": pred, "majority": pred,
                              "entropy": rng.random(len(m)).astype(np.float32)}), r / "pred.parquet",
                metadata={"samples": 10})
    train = m[m["split"] == "train"]
    write_frame(pd.DataFrame({"id": train["id"], "given_label": train["label"], "predicted_label": pred[train.index],
                              "p_given": rng.random(len(train)), "flag": False}), r / "issues.parquet")
    test = (m["split"] == "test").to_numpy()
    per_class = {str(c): float((pred[test] == c)[m["label"][test] == c].mean()) for c in range(10)}
    (r / "metrics.json").write_text(json.dumps({"accuracy": 0.8, "n_test": int(test.sum()), "per_class_accuracy": per_class,
                                                "baselines": {"knn_vote": 0.7}}))
    torch.save({"history": [{"epoch": 1, "loss": 1.0, "val_accuracy": 0.5, "selected": True}], "selected_epoch": 1,
                "train_config": {"select_on": "observed"}}, r / "model.pt")
    return r


def run_args(r):
    return [r / "manifest.parquet", r / "model.pt", r / "pred.parquet", r / "metrics.json", r / "issues.parquet"]


def test_plot_run_writes_every_figure(fake_run):
    paths = plot_run(*run_args(fake_run), fake_run / "figures")
    assert [p.stem for p in paths] == list(workflow.RUN_FIGURES)
    for p in paths:
        assert_png(p)


def test_a_failing_figure_leaves_no_figure_of_the_run_behind(fake_run, tmp_path, monkeypatch):
    out = tmp_path / "figures"
    out.mkdir()
    (out / "training.png").write_bytes(b"old")

    def broken(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(figures, "uncertainty", broken)  # the last figure of the run
    with pytest.raises(RuntimeError):
        plot_run(*run_args(fake_run), out)
    assert sorted(p.name for p in out.iterdir()) == ["training.png"]  # no new figure, no temporary
    assert (out / "training.png").read_bytes() == b"old"


def test_the_cli_names_a_missing_input(fake_run, tmp_path, capsys):
    args = [str(a) for a in run_args(fake_run)]
    args[3] = str(tmp_path / "nope.json")
    code = cli.main(["plots", "--manifest", args[0], "--model", args[1], "--predictions", args[2], "--metrics", args[3],
                     "--issues", args[4], "--out-dir", str(tmp_path / "f")])
    assert code == 2 and "nope.json: the run's metrics not found" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()


def report_results(html: str) -> tuple[dict, dict]:
    """The report app's `results` (path → name, labels, caption, data URI) and `categories`."""
    decode = json.JSONDecoder().raw_decode
    return tuple(decode(html, html.index(f"var {name} = {{") + len(f"var {name} = "))[0] for name in ("results", "categories"))


@pytest.mark.slow
def test_the_html_report_of_the_tiny_dag_shows_every_figure(default_run, tmp_path):
    work, cfg = default_run  # the tiny DAG over two noise specs: a grid, so the grid figures too
    snakemake(work, "--report", str(tmp_path / "report.html"), configs=[cfg])
    results, categories = report_results((tmp_path / "report.html").read_text())
    grid_figures = [f"results/figures/{n}.png" for n in workflow.GRID_FIGURES]
    assert sorted(list(categories["Grid of runs"].values())[0]) == sorted(grid_figures)
    assert list(categories["Who won"].values())[0] == ["results/figures/accuracy.png"]
    expected = ["results/figures/accuracy.png", *grid_figures]
    for noise in ("sym-0.4", "asym-0.3"):
        run = f"results/digits/runs/default/pixels-8/{noise}/k3/seed0/figures"
        figures_of_run = [f"{run}/{n}.png" for n in workflow.RUN_FIGURES]
        assert sorted(p.name for p in (work / run).iterdir()) == sorted(f"{n}.png" for n in workflow.RUN_FIGURES)
        assert sorted(list(categories[f"digits default pixels-8 {noise} k3 seed0"].values())[0]) == sorted(figures_of_run)
        expected += figures_of_run
    for path in expected:
        data = (work / path).read_bytes()
        assert len(data) > 0
        assert_png(work / path)
        uri = results[path]["data_uri"]  # referenced, embedded whole, captioned
        assert uri.startswith("data:image/png") and base64.b64decode(uri.split("base64,", 1)[1]) == data
        assert results[path]["caption"].strip() and results[path]["labels"]["figure"]
    assert "results/summary.tsv" in results and "results/summary_mean.tsv" in results
