"""SimCLR pretraining (lra.embed.simclr) on a tiny set of shape images the tests draw themselves."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch

from lra.core.errors import LraError, Stopped
from lra.embed import augment, config, simclr

from .conftest import kill_after

# 64 images of 16×16, 2 steps of 24 an epoch: a few tenths of a second an epoch on one thread
PARAMS = {"epochs": 3, "batch_size": 24, "image_size": 16, "width": 8, "projection_dim": 16, "num_workers": 0,
          "lr": 3e-3, "device": "cpu"}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> pd.DataFrame:
    """Manifest rows of 64 PNGs: four shapes (vertical bar, horizontal bar, square, dot) at random
    places; 48 train, 16 test."""
    from PIL import Image

    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(64):
        a, c = np.zeros((16, 16, 3), np.uint8), i % 4
        r, q = (int(v) for v in rng.integers(2, 6, 2))
        box = [(slice(r, r + 9), slice(q + 4, q + 6)), (slice(r + 4, r + 6), slice(q, q + 9)),
               (slice(r, r + 8), slice(q, q + 8)), (slice(r + 3, r + 5), slice(q + 3, q + 5))][c]
        a[box] = 255
        Image.fromarray(a).save(root / f"{i}.png")
        rows.append({"id": f"s{i}", "split": "train" if i < 48 else "test", "source": str(root / f"{i}.png"),
                     "label": c})
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the same order of sums in every run: identical bytes
    yield
    torch.set_num_threads(n)


def test_nt_xent_is_the_papers_loss_over_all_2b_views():
    torch.manual_seed(0)
    z1, z2, tau = torch.randn(5, 3), torch.randn(5, 3), 0.3
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    terms = []
    for i in range(10):  # -log( exp(s_ij/τ) / Σ_{k≠i} exp(s_ik/τ) ), j the other view of i's image
        j = (i + 5) % 10
        others = [k for k in range(10) if k != i]
        terms.append(-(z[i] @ z[j] / tau) + torch.logsumexp(torch.stack([z[i] @ z[k] / tau for k in others]), 0))
    assert torch.allclose(simclr.nt_xent(z1, z2, tau), torch.stack(terms).mean(), atol=1e-6)
    assert simclr.nt_xent(z1, z1, tau) < simclr.nt_xent(z1, z2, tau)  # identical views: the easy case


def test_a_few_steps_train_and_the_loss_falls(shapes, tmp_path):
    state = simclr.pretrain(shapes, tmp_path / "simclr-cnn.pt", {**PARAMS, "epochs": 4}, checkpoint_minutes=0)
    losses = [r["loss"] for r in state["history"]]
    assert len(losses) == 4 and np.isfinite(losses).all()
    assert losses[-1] < losses[0] - 0.1, losses
    assert state["images"] == 48 and state["backbone"] == "cnn" and state["image_size"] == 16
    assert not (tmp_path / "simclr-cnn.ckpt").exists()


def test_the_encoder_gives_l2_normalised_float32_rows_and_nan_for_a_bad_image(shapes, tmp_path):
    weights = tmp_path / "simclr-cnn.pt"
    simclr.pretrain(shapes, weights, {**PARAMS, "epochs": 1}, checkpoint_minutes=0)
    enc = simclr.SimCLREncoder.from_spec("simclr", weights=weights, num_workers=0)
    x = enc.encode(shapes)
    assert x.shape == (64, 4 * PARAMS["width"]) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    bad = shapes.iloc[:3].copy()
    bad.loc[bad.index[1], "source"] = str(tmp_path / "missing.png")
    skipped = []
    y = enc.encode(bad, skipped)
    assert np.isnan(y[1]).all() and np.allclose(y[[0, 2]], x[[0, 2]], atol=1e-6)
    assert [b.item_id for b in skipped] == ["s1"]
    assert enc.state()["digest"]


@pytest.mark.parametrize("n, sigterm", [(1, True), (3, True), (4, False)])
def test_a_stopped_run_rerun_gives_the_same_weight_bytes(shapes, tmp_path, monkeypatch, n, sigterm):
    ref = tmp_path / "ref" / "simclr-cnn.pt"
    simclr.pretrain(shapes, ref, PARAMS, checkpoint_minutes=0)
    out = tmp_path / "run" / "simclr-cnn.pt"
    with monkeypatch.context() as mp:
        seen = kill_after(mp, n, sigterm)
        with pytest.raises(Stopped if sigterm else SystemExit):
            simclr.pretrain(shapes, out, PARAMS, checkpoint_minutes=1e-9)  # a checkpoint at every boundary
    assert not out.exists() and out.with_suffix(".ckpt").exists()
    # boundaries: (1, 1), (1, 2), (2, 0) epoch end, (2, 1) ...
    assert (seen[-1].epoch, seen[-1].batch) == [(1, 1), (1, 2), (2, 0), (2, 1)][n - 1]
    simclr.pretrain(shapes, out, {**PARAMS, "num_workers": 1}, checkpoint_minutes=0)  # workers: speed, not result
    assert out.read_bytes() == ref.read_bytes()
    assert not out.with_suffix(".ckpt").exists()


def test_views_are_seeded_by_item_and_epoch_not_by_the_process():
    x = torch.rand(3, 16, 16)
    ops = config.operations("paper")
    first = augment.view(x, ops, augment.item_generator(0, 1, 5))
    torch.manual_seed(123)  # the global RNG plays no part
    assert torch.equal(augment.view(x, ops, augment.item_generator(0, 1, 5)), first)
    assert not torch.equal(augment.view(x, ops, augment.item_generator(0, 2, 5)), first)
    assert tuple(augment.OPS) == config.AUGMENTATIONS  # the names the config accepts are the operations
    for name in augment.OPS:  # every operation keeps shape and range
        y = augment.view(x, (name,), augment.item_generator(0, 1, 0))
        assert y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 1, name


@pytest.mark.parametrize("spec", ["simclr:resnet19", "simclr:", "simclr:cnn:x"])
def test_a_bad_backbone_is_one_error_naming_the_key_and_the_choices(spec):
    with pytest.raises(LraError) as err:
        config.backbone_of(spec)
    msg = str(err.value)
    assert msg.startswith("config key encoder:") and spec in msg
    assert all(c in msg for c in ("simclr:resnet18", "simclr:resnet34", "simclr:resnet50", "small CNN"))


def test_bad_params_fail_naming_the_key(shapes, tmp_path):
    for params, key in [({"epoch": 3}, "pretrain.epoch"), ({"augment": "flips"}, "pretrain.augment"),
                        ({"temperature": 0}, "pretrain.temperature"), ({"backbone": "vgg"}, "encoder")]:
        with pytest.raises(LraError, match=f"config key {key}"):
            simclr.pretrain(shapes, tmp_path / "w.pt", params)


def test_bad_images_stop_the_run_naming_the_row_or_are_left_out(shapes, tmp_path):
    from lra.data.images import BadImage

    broken = shapes.copy()
    (tmp_path / "broken.png").write_bytes(b"not a png")
    broken.loc[5, "source"] = str(tmp_path / "broken.png")
    with pytest.raises(BadImage, match="manifest row 5 \\(id s5\\)"):
        simclr.pretrain(broken, tmp_path / "a.pt", {**PARAMS, "epochs": 1})
    assert not list(tmp_path.glob("*a.pt*"))  # nothing half-written
    state = simclr.pretrain(broken, tmp_path / "b.pt", {**PARAMS, "epochs": 1}, bad_images="skip")
    assert state["images"] == 47 and state["skipped"] == ["s5"]


def test_defaults_follow_the_backbone_and_the_resnets_take_the_cifar_stem():
    from lra.embed import backbones

    cnn, resnet = config.SimCLRConfig.from_dict({}), config.SimCLRConfig.from_dict({"backbone": "resnet18"})
    assert (cnn.augment, cnn.temperature, cnn.epochs) == ("shapes", 0.2, 15)
    assert (resnet.augment, resnet.temperature, resnet.batch_size) == ("paper", 0.5, 512)
    assert config.SimCLRConfig.from_dict({"backbone": "resnet18", "augment": "shapes"}).augment == "shapes"
    net, dim = backbones.build("resnet18", 32)
    assert dim == 512 and net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 512)
    assert backbones.build("resnet18", 224)[0].conv1.kernel_size == (7, 7)
    assert backbones.build("resnet50", 32)[1] == 2048


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_asking_for_cuda_without_one_names_the_key(shapes, tmp_path):
    with pytest.raises(LraError, match="config key device"):
        simclr.pretrain(shapes, tmp_path / "w.pt", {**PARAMS, "device": "cuda"})


def test_the_paper_backbone_trains_on_a_cpu_and_embed_loads_it(shapes, tmp_path):
    weights = tmp_path / "simclr-resnet18.pt"
    few = shapes.iloc[:16]
    state = simclr.pretrain(few, weights, {**PARAMS, "backbone": "resnet18", "epochs": 1, "batch_size": 8})
    assert np.isfinite(state["history"][0]["loss"]) and state["config"]["augment"] == "paper"
    enc = simclr.SimCLREncoder.from_spec("simclr:resnet18", weights=weights, num_workers=0, device="auto")
    x = enc.encode(few)
    assert x.shape == (16, 512) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    with pytest.raises(LraError, match="holds a resnet18 encoder, not cnn"):
        simclr.SimCLREncoder.from_spec("simclr", weights=weights)
