"""E_φ on pixels (train.image_network): a ResNet on tiny images trains a few steps, predict and infer
read the images, a killed train resumes to the same bytes (and the number of decoding workers or
where the pixels live never changes them), and bad choices fail before any job runs."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

from lra import infer, stages
from lra import workflow as lw
from lra.core.errors import LraError
from lra.data.stage import load_manifest
from lra.diffusion import image_network as imnet
from lra.diffusion.config import CIFAR_STEM_MAX, TrainConfig

from .conftest import folder_dataset, kill_after, planned_rules, snakemake, write_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# 2 epochs of 3 steps (15 train images, batch 4) of a resnet18 on 16×16 images: seconds on one CPU thread
TRAIN = {"epochs": 2, "min_steps": 0, "batch_size": 4, "eval_every": 1, "T": 50, "F": 16, "warmup_epochs": 0,
         "ddim_steps": 2, "device": "cpu", "image_network": "resnet18", "image_size": 16}
PREDICT = {"ddim_steps": 3, "samples": 4, "eta": 0.5, "seed": 7, "device": "cpu"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A folder dataset of 24×24 PNGs (3 classes × 8), pixels:8 features, neighbours (k = 3)."""
    root = tmp_path_factory.mktemp("imnet")
    run = root / "run"
    stages.data({"kind": "folder", "csv": str(folder_dataset(root / "data", n_per_class=8))}, run / "manifest.parquet")
    stages.noise(run / "manifest.parquet", "given", run / "labels.parquet")
    feats = [str(root / "features" / "part-00000.parquet")]
    stages.embed(run / "manifest.parquet", "pixels:8", feats[0])
    stages.index(run / "manifest.parquet", feats, root / "index.faiss")
    stages.neighbors(run / "manifest.parquet", feats, root / "index.faiss", 3, root / "nb.parquet", device="cpu")
    return {"root": root, "run": run, "manifest": run / "manifest.parquet", "labels": run / "labels.parquet",
            "features": feats, "neighbors": root / "nb.parquet"}


def _train(inputs, out, minutes: float = 0, num_workers: int = 0, **params) -> bytes:
    stages.train(inputs["manifest"], inputs["labels"], inputs["features"], inputs["neighbors"], out,
                 {**TRAIN, **params}, checkpoint_minutes=minutes, num_workers=num_workers)
    return out.read_bytes()


@pytest.fixture(scope="module")
def trained(inputs):
    """The run folder with model.pt and predictions.parquet of a resnet18 E_φ."""
    run = inputs["run"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _train(inputs, run / "model.pt")
        stages.predict(inputs["manifest"], inputs["features"], run / "model.pt", run / "predictions.parquet", PREDICT)
    finally:
        torch.set_num_threads(threads)
    return run


# --- the pieces -----------------------------------------------------------------------------------

def test_the_pad_crop_is_torchvisions_crop_and_flip_the_same_batched_or_one_at_a_time():
    x = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    dx, dy = torch.tensor([0, 8, 3, 4, 1]), torch.tensor([8, 0, 5, 4, 2])
    flip = torch.tensor([False, True, True, False, True])
    out = imnet.pad_crop_flip(x, dx, dy, flip)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))  # RandomCrop(16, padding=4): zero fill
    for b in range(5):
        crop = padded[b, :, dy[b]:dy[b] + 16, dx[b]:dx[b] + 16]
        assert torch.equal(out[b], crop.flip(-1) if flip[b] else crop)
        assert torch.equal(imnet.pad_crop_flip(x[b:b + 1], dx[b:b + 1], dy[b:b + 1], flip[b:b + 1])[0], out[b])


def test_the_denoiser_takes_images_or_their_embedding_and_features_models_are_unchanged():
    from lra.diffusion.model import Denoiser

    torch.manual_seed(0)
    plain = Denoiser(3, 8, F=16, T=10)
    assert set(plain.hparams) == {"num_classes", "feature_dim", "F", "T", "fq_dim", "feature_scale"}
    assert not any(k.startswith("embed_x.backbone") for k in plain.state_dict())
    model = Denoiser(3, 8, F=16, T=10, image_network="resnet18", image_size=16).eval()
    assert model.hparams["image_network"] == "resnet18" and model.hparams["image_size"] == 16
    y, t, fp = torch.zeros(4, 3), torch.full((4,), 5), torch.randn(4, 8)
    images = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        direct = model(y, t, fp, images)
        cached = model(y, t, fp, model.embedding(fp, images))  # E_φ once, then every DDIM step
    assert direct.shape == (4, 3) and torch.allclose(direct, cached)
    with pytest.raises(ValueError, match="pass them as fq"):
        model(y, t, fp)


def test_config_checks_the_network_name():
    with pytest.raises(LraError, match=r"train.image_network: 'resnet19'; use one of features, resnet18"):
        TrainConfig.from_dict({"image_network": "resnet19"})
    from lra.embed.backbones import CIFAR_STEM_MAX as owner

    assert CIFAR_STEM_MAX == owner  # the Snakemake side's copy of the backbones' constant


def test_imagenet_weights_load_from_a_local_file_and_another_networks_are_named(tmp_path):
    import torchvision

    from lra.diffusion.model import Denoiser

    model = Denoiser(3, 8, F=16, T=10, image_network="resnet18", image_size=96)
    weights = torchvision.models.resnet18(weights=None).state_dict()  # the layout of torchvision's file
    torch.save(weights, tmp_path / "resnet18.pth")
    imnet.load_imagenet_weights(model, tmp_path / "resnet18.pth")
    assert torch.equal(model.embed_x.backbone.conv1.weight, weights["conv1.weight"])
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), tmp_path / "resnet34.pth")
    with pytest.raises(LraError, match=r"config key train.image_weights: .*resnet34.pth does not fit resnet18 .*"
                                       r"an unknown layer1.2"):
        imnet.load_imagenet_weights(model, tmp_path / "resnet34.pth")
    (tmp_path / "junk.pth").write_bytes(b"not weights")
    with pytest.raises(LraError, match=r"config key train.image_weights"):
        imnet.load_imagenet_weights(model, tmp_path / "junk.pth")


# --- train, predict, infer ------------------------------------------------------------------------

def test_a_few_steps_of_a_resnet_e_phi_train_and_model_pt_says_how_to_read_images(trained):
    state = torch.load(trained / "model.pt", weights_only=False)
    assert all(np.isfinite(r["loss"]) for r in state["history"]) and len(state["history"]) == 2
    assert state["hparams"]["image_network"] == "resnet18" and state["hparams"]["image_size"] == 16
    rec = state["images"]
    assert rec["network"] == "resnet18" and rec["size"] == 16 and rec["crop"] == "pad" and rec["flip"] is True
    assert len(rec["mean"]) == len(rec["std"]) == 3 and rec["weights"] is None
    assert any(k.startswith("embed_x.backbone.layer4") for k in state["state_dict"])
    pred = pd.read_parquet(trained / "predictions.parquet")
    assert len(pred) == 24 and pred["predicted"].between(0, 2).all()


def test_infer_reads_new_images_as_predict_read_the_runs_own(trained, tmp_path):
    m = load_manifest(trained / "manifest.parquet")
    test = m.frame[m.frame["split"] == "test"]
    rel = [str(os.path.relpath(s, tmp_path)) for s in test["source"][::-1]]
    pd.DataFrame({"path": rel}).to_csv(tmp_path / "new.csv", index=False)
    out = infer.infer(trained, tmp_path / "pred.csv", images=tmp_path / "new.csv", device="cpu")
    pred = pd.read_parquet(trained / "predictions.parquet").set_index("id").loc[test["id"][::-1]]
    assert out["predicted"].tolist() == [m.classes[c] for c in pred["predicted"]]
    freq = np.stack(pred["class_frequencies"].to_numpy())
    assert np.allclose(out["p_predicted"], freq[np.arange(len(freq)), pred["predicted"]])
    # vectors alone cannot feed a network that reads pixels
    with pytest.raises(LraError, match=r"E_φ is a resnet18 on 16×16 images .* give the images with --images"):
        infer.infer(trained, tmp_path / "v.csv", feature_file=trained.parent / "features" / "part-00000.parquet")


def test_a_bad_image_at_infer_names_its_csv_line(trained, tmp_path):
    m = load_manifest(trained / "manifest.parquet")
    good = m.frame["source"].iloc[0]
    (tmp_path / "broken.png").write_bytes(b"not a png")
    pd.DataFrame({"path": [good, str(tmp_path / "broken.png")]}).to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(LraError, match=r"new.csv line 3: image .*broken.png cannot be decoded"):
        infer.infer(trained, tmp_path / "out.csv", images=tmp_path / "new.csv", device="cpu")


# --- determinism ----------------------------------------------------------------------------------

def test_a_killed_train_resumes_to_the_same_bytes_and_workers_or_memory_change_nothing(inputs, trained, tmp_path,
                                                                                          monkeypatch):
    reference = (trained / "model.pt").read_bytes()
    for n in (2, 4):  # mid-epoch (batch 2 of 3); the first epoch's end (after its val check)
        out = tmp_path / f"kill{n}" / "model.pt"
        with monkeypatch.context() as mp:
            seen = kill_after(mp, n)
            with pytest.raises(SystemExit):
                _train(inputs, out, minutes=1e-9)
        assert (out.parent / "train.ckpt").exists() and not out.exists()
        assert _train(inputs, out) == reference, (seen[-1].epoch, seen[-1].batch)
    # one decoding worker, and no pixels kept in memory (decoded and augmented by the worker each step)
    assert _train(inputs, tmp_path / "worker" / "model.pt", num_workers=1) == reference
    monkeypatch.setattr(imnet, "CACHE_BYTES", 0)
    assert _train(inputs, tmp_path / "stream" / "model.pt", num_workers=1) == reference


def test_relabel_rounds_run_the_image_network_too(inputs, tmp_path):
    out = tmp_path / "rounds" / "model.pt"
    _train(inputs, out, rounds=2, round_fraction=0.5, relabel_margin=0.0, image_flip=False)
    state = torch.load(out, weights_only=False)
    assert {r["round"] for r in state["history"]} == {1, 2} and state["images"]["flip"] is False


def test_above_64_pixels_imagenet_weights_and_a_resized_crop_made_by_workers(inputs, tmp_path):
    """The ImageNet stem at 72 px: E_φ starts from a (stand-in) torchvision weights file, images are
    normalised by ImageNet's statistics, and the random resized crops, made in DataLoader workers
    from keyed draws, give the same model whatever the number of workers."""
    import torchvision

    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "resnet18.pth")
    big = {"image_size": 72, "image_weights": str(tmp_path / "resnet18.pth"), "epochs": 1}
    reference = _train(inputs, tmp_path / "a" / "model.pt", **big)
    state = torch.load(tmp_path / "a" / "model.pt", weights_only=False)
    rec = state["images"]
    assert rec["crop"] == "resized" and rec["mean"] == list(imnet.IMAGENET_MEAN) and rec["weights"]["digest"]
    assert _train(inputs, tmp_path / "b" / "model.pt", num_workers=1, **big) == reference
    images = imnet.Images(load_manifest(inputs["manifest"]).frame.iloc[:4], 72, rec["mean"], rec["std"])
    x = torch.randint(0, 256, (4, 3, 72, 72), dtype=torch.uint8)
    views = images.augment(x, np.arange(4, dtype=np.uint64) * np.uint64(7919))
    assert views.dtype == torch.float32 and views.shape == (4, 3, 72, 72)
    assert torch.equal(views, images.augment(x, np.arange(4, dtype=np.uint64) * np.uint64(7919)))


def test_an_image_gone_since_embed_stops_train_naming_its_row(tmp_path):
    root = tmp_path
    csv = folder_dataset(root / "data", n_per_class=4)
    stages.data({"kind": "folder", "csv": str(csv)}, root / "manifest.parquet")
    stages.noise(root / "manifest.parquet", "given", root / "labels.parquet")
    feats = [str(root / "part-00000.parquet")]
    stages.embed(root / "manifest.parquet", "pixels:8", feats[0])
    stages.index(root / "manifest.parquet", feats, root / "index.faiss")
    stages.neighbors(root / "manifest.parquet", feats, root / "index.faiss", 2, root / "nb.parquet", device="cpu")
    frame = load_manifest(root / "manifest.parquet").frame
    row = int(np.flatnonzero(frame["split"] == "train")[1])
    os.remove(frame["source"].iloc[row])
    with pytest.raises(LraError, match=rf"manifest row {row} \(id {frame['id'].iloc[row]}\): image .* not found"):
        stages.train(root / "manifest.parquet", root / "labels.parquet", feats, root / "nb.parquet",
                     root / "model.pt", TRAIN, num_workers=0)


# --- before any job runs --------------------------------------------------------------------------

def test_bad_choices_fail_when_the_dag_is_built(tmp_path):
    folder = {"dataset": {"kind": "folder", "csv": "x.csv"}}
    with pytest.raises(LraError, match="train.image_network: 'resnet19'; use one of features, resnet18, resnet34"):
        lw.check_image_network({**folder, "train": {"image_network": "resnet19"}})
    with pytest.raises(LraError, match="resnet18 trains E_φ on the images, but dataset.kind embeddings"):
        lw.check_image_network({"dataset": {"kind": "embeddings"}, "train": {"image_network": "resnet18"}})
    with pytest.raises(LraError, match="train.image_size: only an image network reads it"):
        lw.check_image_network({**folder, "train": {"image_size": 64}})
    with pytest.raises(LraError, match="train.image_weights: ImageNet weights fit the ImageNet stem"):
        lw.check_image_network({**folder, "train": {"image_network": "resnet50", "image_weights": "w.pth"}})
    with pytest.raises(LraError, match="train.image_weights: no file 'nowhere.pth'"):
        lw.check_image_network({**folder, "train": {"image_network": "resnet50", "image_size": 224,
                                                    "image_weights": "nowhere.pth"}})
    lw.check_image_network({**folder, "train": {"image_network": "resnet34", "image_size": 32}})
    assert lw.image_weights({"train": {"image_weights": "w.pth"}}) == ["w.pth"] and lw.image_weights({}) == []


@pytest.mark.parametrize("case", ["bad-name", "embeddings"])
def test_a_bad_network_or_an_images_less_dataset_stops_the_dry_run_with_one_message(case, tmp_path, embeddings_file):
    config = {"bad-name": {"train": {"image_network": "resnet19"}},
              "embeddings": {"dataset": {"kind": "embeddings", "path": str(embeddings_file)},
                             "train": {"image_network": "resnet18"}}}[case]
    proc = snakemake(tmp_path, "-n", configs=[write_config(tmp_path / "c.yaml", config)], check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and planned_rules(proc) == set()
    if case == "bad-name":  # the schema names the key and the choices
        assert "resnet19" in text and "image_network" in text and "resnet34" in text
    else:
        assert "config key train.image_network: resnet18 trains E_φ on the images, but dataset.kind embeddings" in text
