"""lra infer: a run folder predicts new images exactly as its own predict stage did, and bad input
gets the data stage's clear errors."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from lra import cli, infer, stages
from lra.data.stage import load_manifest
from lra.core.errors import LraError

from .conftest import folder_dataset

TRAIN = {"epochs": 2, "batch_size": 8, "eval_every": 1, "T": 50, "F": 16, "warmup_epochs": 0, "ddim_steps": 2,
         "device": "cpu"}


def _run(root, dtype="float32", spec=None, encoder="pixels:8", train=None, **options):
    """data → predict in `root/run` (a run folder: model.pt, predictions.parquet); the features as `dtype`."""
    r = root / "run"
    spec = spec or {"kind": "folder", "csv": str(folder_dataset(root / "data", n_per_class=8))}
    m = stages.data(spec, r / "manifest.parquet")
    stages.noise(r / "manifest.parquet", "given", r / "labels.parquet")
    if m.meta["kind"] == "embeddings":
        feats = [m.meta["features"]]
    else:
        feats = [str(root / "features" / "part-00000.parquet")]
        stages.embed(r / "manifest.parquet", encoder, feats[0], dtype=dtype, **options)
    stages.index(r / "manifest.parquet", feats, root / "index.faiss")
    stages.neighbors(r / "manifest.parquet", feats, root / "index.faiss", 3, root / "nb.parquet", device="cpu")
    stages.train(r / "manifest.parquet", r / "labels.parquet", feats, root / "nb.parquet", r / "model.pt",
                 {**TRAIN, **(train or {})}, index_path=root / "index.faiss")
    stages.predict(r / "manifest.parquet", feats, r / "model.pt", r / "predictions.parquet",
                   {"ddim_steps": 3, "samples": 8, "eta": 0.5, "seed": 7, "device": "cpu"}, root / "nb.parquet")
    return r


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("infer"), dtype="float16")


@pytest.fixture(scope="module")
def guided_run(tmp_path_factory):
    """A run of the default method's ingredients: the CARD prior from head and vote, the combined
    read-out with the plain probe."""
    return _run(tmp_path_factory.mktemp("guided"), train={"prior": "mix", "readout": "combined", "readout_probe": True,
                                                          "seed": 3})


def _new_csv(path, paths):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"path": paths}).to_csv(path, index=False)
    return path


def test_the_run_records_what_infer_needs(run):
    import torch

    state = torch.load(run / "model.pt", weights_only=False)
    assert state["encoder"]["spec"] == "pixels:8" and state["encoder"]["dtype"] == "float16"
    assert set(state["encoder"]["state"]) == {"mean", "std"}
    loaded = infer.load_run(run)
    assert loaded.predict == {"ddim_steps": 3, "samples": 8, "eta": 0.5, "seed": 7}
    assert loaded.classes == ["a", "b", "c"]


def test_infer_on_the_test_images_equals_the_runs_own_predictions(run, tmp_path):
    m = load_manifest(run / "manifest.parquet")
    test = m.frame[m.frame["split"] == "test"]
    # a CSV in another folder, paths relative to it, in another order than the manifest
    rel = [str(os.path.relpath(s, tmp_path / "new")) for s in test["source"][::-1]]
    out = infer.infer(run, tmp_path / "pred.csv", images=_new_csv(tmp_path / "new" / "new.csv", rel))
    written = pd.read_csv(tmp_path / "pred.csv")
    assert written.columns.tolist() == ["path", "predicted", "p_predicted", "entropy", "top5"]
    assert written["path"].tolist() == rel
    pred = pd.read_parquet(run / "predictions.parquet").set_index("id").loc[test["id"][::-1]]
    assert written["predicted"].tolist() == [m.classes[c] for c in pred["predicted"]]
    freq = np.stack(pred["class_frequencies"].to_numpy())
    assert (out["p_predicted"].to_numpy() == freq[np.arange(len(freq)), pred["predicted"]]).all()
    assert np.allclose(out["entropy"], pred["entropy"], atol=1e-6)
    assert [t.split(";")[0] for t in written["top5"]] == written["predicted"].tolist()
    assert all(sorted(t.split(";")) == ["a", "b", "c"] for t in written["top5"])  # 3 classes: top-3
    infer.infer(run, tmp_path / "chunked.csv", images=tmp_path / "new" / "new.csv", chunk_rows=4)
    assert (tmp_path / "chunked.csv").read_bytes() == (tmp_path / "pred.csv").read_bytes()


def test_open_clip_runs_infer_with_their_recorded_options(tiny_clip, tmp_path):
    """A tiny open_clip architecture registered by the model_config option, weights from a checkpoint."""
    import torch

    from lra.embed.clip import OpenClipEncoder

    from .conftest import TINY_NAME

    ckpt = tmp_path / "tiny.pt"
    torch.save({"state_dict": OpenClipEncoder.from_spec(f"{TINY_NAME}:none", num_workers=0).model.state_dict()}, ckpt)
    r = _run(tmp_path, encoder=f"open_clip:{TINY_NAME}:{ckpt}", model_config=str(tiny_clip), num_workers=0,
             batch_size=5)
    assert torch.load(r / "model.pt", weights_only=False)["encoder"]["options"] == {"model_config": str(tiny_clip)}
    m = load_manifest(r / "manifest.parquet")
    test = m.frame[m.frame["split"] == "test"]
    out = infer.infer(r, tmp_path / "pred.csv", images=_new_csv(tmp_path / "new.csv", test["source"].tolist()))
    pred = pd.read_parquet(r / "predictions.parquet").set_index("id").loc[test["id"]]
    assert out["predicted"].tolist() == [m.classes[c] for c in pred["predicted"]]
    freq = np.stack(pred["class_frequencies"].to_numpy())
    assert np.allclose(out["p_predicted"], freq[np.arange(len(freq)), pred["predicted"]])


def test_random_weights_cannot_be_rebuilt(tiny_clip, tmp_path):
    from .conftest import TINY_NAME

    r = _run(tmp_path, encoder=f"open_clip:{TINY_NAME}:none", num_workers=0)
    with pytest.raises(LraError, match="random weights that were never saved"):
        infer.infer(r, tmp_path / "pred.csv", images=_new_csv(tmp_path / "n.csv", ["x.png"]))


def test_bad_input_is_named(run, tmp_path):
    images = run.parent / "data" / "img"
    cases = [
        (lambda p: pd.DataFrame({"file": ["x.png"]}).to_csv(p, index=False), r"missing column\(s\) path"),
        (lambda p: p.write_text(""), r"the image CSV \(--images\) is an empty file"),
        (lambda p: p.write_text("path\n"), "no rows below the header"),
        (lambda p: _new_csv(p, [str(images / "a" / "0.png"), "nope/1.png"]),
         r"new.csv line 3: image 'nope/1.png' not found"),
    ]
    for i, (write, match) in enumerate(cases):
        csv = tmp_path / str(i) / "new.csv"
        csv.parent.mkdir()
        write(csv)
        with pytest.raises(LraError, match=match):
            infer.infer(run, tmp_path / "pred.csv", images=csv)
        assert not (tmp_path / "pred.csv").exists()
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    csv = _new_csv(tmp_path / "c.csv", [str(images / "a" / "0.png")] * 3 + ["broken.png"])
    with pytest.raises(LraError, match=r"c.csv line 5: image .*broken.png cannot be decoded"):
        infer.infer(run, tmp_path / "pred.csv", images=csv, chunk_rows=2)  # the second chunk fails
    with pytest.raises(LraError, match="no model.pt in this run folder"):
        infer.infer(tmp_path, tmp_path / "pred.csv", images=csv)
    assert not (tmp_path / "pred.csv").exists()


def test_the_cli_prints_one_error_line(run, tmp_path, capsys):
    csv = _new_csv(tmp_path / "n.csv", ["missing.png"])
    assert cli.main(["infer", "--run", str(run), "--images", str(csv), "--out", str(tmp_path / "p.csv")]) == 2
    assert "lra infer: error:" in capsys.readouterr().err and not (tmp_path / "p.csv").exists()
    csv = _new_csv(tmp_path / "ok.csv", [str(run.parent / "data" / "img" / "b" / "1.png")])
    assert cli.main(["infer", "--run", str(run), "--images", str(csv), "--out", str(tmp_path / "p.csv")]) == 0
    assert pd.read_csv(tmp_path / "p.csv")["predicted"].tolist()[0] in "abc"


def test_an_embeddings_run_has_no_encoder_but_infers_on_vectors(tmp_path, embeddings_file):
    r = _run(tmp_path, spec={"kind": "embeddings", "path": str(embeddings_file)})
    with pytest.raises(LraError, match="trained on a precomputed embeddings file"):
        infer.infer(r, tmp_path / "pred.csv", images=_new_csv(tmp_path / "n.csv", ["x.png"]))
    vectors = pd.read_parquet(embeddings_file)
    vectors[vectors["split"] == "test"][["id", "embedding"]].to_parquet(tmp_path / "new.parquet")
    out = infer.infer(r, tmp_path / "pred.csv", feature_file=tmp_path / "new.parquet")
    pred = pd.read_parquet(r / "predictions.parquet").set_index("id").loc[out["id"]]
    classes = load_manifest(r / "manifest.parquet").classes
    assert out["predicted"].tolist() == [classes[c] for c in pred["predicted"]]
    freq = np.stack(pred["class_frequencies"].to_numpy())
    assert (out["p_predicted"].to_numpy() == freq[np.arange(len(freq)), pred["predicted"]]).all()
    vectors[["id", "embedding"]].assign(embedding=[np.zeros(5, np.float32)] * len(vectors)).to_parquet(
        tmp_path / "short.parquet")
    with pytest.raises(LraError, match="features of 5 values, the run's model takes 32"):
        infer.infer(r, tmp_path / "p2.csv", feature_file=tmp_path / "short.parquet")


@pytest.mark.slow
def test_the_workflow_writes_cleaned_labels_and_infers_new_images(png_folder, tmp_path):
    """The tiny folder config with infer_csv: every run writes cleaned.csv and infer/<name>.csv, and
    the inferred test images equal the run's own predictions; a new infer_csv reruns infer only."""
    from .conftest import TINY, planned_rules, snakemake, write_config

    labels = pd.read_csv(png_folder)
    test = labels[labels["split"] == "test"]
    new = _new_csv(tmp_path / "new" / "test_images.csv", ["../images/" + p for p in test["path"]])
    cfg = write_config(tmp_path / "c.yaml", TINY, {"dataset": {"kind": "folder", "csv": str(png_folder), "name": "colours"},
                                                    "encoder": "pixels:4", "noise": "given", "infer_csv": str(new)})
    snakemake(tmp_path, configs=[cfg])
    run = tmp_path / "results/colours/runs/default/pixels-4/given/k3/seed0"
    cleaned = pd.read_csv(run / "cleaned.csv", dtype=str, keep_default_na=False)
    assert cleaned.columns.tolist() == labels.columns.tolist() + ["given_label", "p_given", "flagged"]
    assert cleaned["path"].tolist() == labels["path"].tolist()
    assert (cleaned.loc[labels["split"] == "test", "label"] == test["label"]).all()
    flagged = cleaned["flagged"] == "True"
    assert (cleaned.loc[flagged, "label"] != cleaned.loc[flagged, "given_label"]).all()  # relabelled (default)
    out = pd.read_csv(run / "infer" / "test_images.csv")
    m = load_manifest(tmp_path / "results/colours/manifest.parquet")
    pred = pd.read_parquet(run / "predictions.parquet").set_index("id").loc[m.frame.loc[test.index, "id"]]
    assert out["predicted"].tolist() == [m.classes[c] for c in pred["predicted"]]
    freq = np.stack(pred["class_frequencies"].to_numpy())
    assert np.allclose(out["p_predicted"], freq[np.arange(len(freq)), pred["predicted"]])
    assert "infer" in (tmp_path / "logs/colours/infer/default/pixels-4/given/k3/seed0/test_images.log").read_text()
    other = _new_csv(tmp_path / "new" / "more.csv", ["../images/" + test["path"].iloc[0]])
    plan = snakemake(tmp_path, "-n", "--config", f"infer_csv={other}", configs=[cfg])
    assert planned_rules(plan) == {"infer", "all"}


def test_a_guided_run_infers_its_test_images_as_predict_did(guided_run, tmp_path):
    """The head, the vote of the k nearest train items (found in the run's index), the prior and
    the combined read-out: new items get what predict gave the run's own test items."""
    import torch

    state = torch.load(guided_run / "model.pt", weights_only=False)
    assert state["hparams"]["prior"] and len(state["guides"]["readout_weights"]) == 4  # ŷ_0, head, vote, probe
    assert "probe_coef" in state["guides"]
    assert state["guides"]["k"] == 3 and state["guides"]["index"].endswith("index.faiss")
    m = load_manifest(guided_run / "manifest.parquet")
    test = m.frame[m.frame["split"] == "test"]
    out = infer.infer(guided_run, tmp_path / "pred.csv", images=_new_csv(tmp_path / "new.csv", list(test["source"])))
    pred = pd.read_parquet(guided_run / "predictions.parquet").set_index("id").loc[test["id"]]
    scores = np.stack(pred["scores"].to_numpy())
    assert (pred["predicted"].to_numpy() == scores.argmax(axis=1)).all()
    assert out["predicted"].tolist() == [m.classes[c] for c in pred["predicted"]]
    freq = np.stack(pred["class_frequencies"].to_numpy())
    assert (out["p_predicted"].to_numpy() == freq[np.arange(len(freq)), pred["predicted"]]).all()


def test_a_guided_run_needs_its_neighbours_and_its_index(guided_run, tmp_path):
    feats = [str(guided_run.parent / "features" / "part-00000.parquet")]
    with pytest.raises(LraError, match="pass the neighbour table"):
        stages.predict(guided_run / "manifest.parquet", feats, guided_run / "model.pt", tmp_path / "p.parquet")
    assert not (tmp_path / "p.parquet").exists()
    moved = tmp_path / "run"
    moved.mkdir()
    for name in ("model.pt", "predictions.parquet"):
        (moved / name).write_bytes((guided_run / name).read_bytes())
    index = guided_run.parent / "index.faiss"
    kept = index.read_bytes()
    index.unlink()
    try:
        with pytest.raises(LraError, match="retrieval index .*index.faiss, which is missing"):
            infer.load_run(moved)
    finally:
        index.write_bytes(kept)
