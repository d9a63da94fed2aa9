"""lra.clip.OpenClipEncoder on a tiny registered open_clip architecture: the real code path
(open_clip.create_model_and_transforms, its preprocessing, a DataLoader with workers), no download."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lra.embed import encoders
from lra.embed.clip import OpenClipEncoder
from lra.core.errors import LraError

from .conftest import TINY_NAME, write_image


def _frame(tmp_path, n=6, bad=()):
    paths = [write_image(tmp_path / f"{i}.jpg", seed=i, size=(50 + i, 40)) for i in range(n)]
    for i in bad:
        paths[i].write_bytes(b"")
    return pd.DataFrame({"id": [f"i{i}" for i in range(n)], "split": "train", "source": [str(p) for p in paths],
                         "label": 0, "clean_label": pd.array([0] * n, dtype="Int64")})


def test_random_weights_encode_normalised_rows(tiny_clip, tmp_path):
    enc = encoders.get(f"open_clip:{TINY_NAME}:none", batch_size=4, num_workers=1, device="auto")
    assert isinstance(enc, OpenClipEncoder) and enc.device == "cpu" and enc.image_size == 32
    frame = _frame(tmp_path)
    x = enc.encode(frame)
    assert x.shape == (6, 16) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    # the batch layout and worker count do not change the features, and rows stay in order
    y = encoders.get(f"open_clip:{TINY_NAME}:none", batch_size=5, num_workers=0).encode(frame.iloc[::-1])
    assert not np.allclose(x, y[::-1], atol=1e-3)  # a second random init differs ...
    y2 = enc.encode(frame.iloc[::-1])
    assert np.allclose(x, y2[::-1], atol=1e-5)  # ... the same model gives the same rows in any order


def test_uses_the_models_own_preprocessing(tiny_clip, tmp_path):
    import torch

    enc = OpenClipEncoder.from_spec(f"{TINY_NAME}:none", num_workers=0)
    from PIL import Image

    frame = _frame(tmp_path, n=2)
    with Image.open(frame["source"][0]) as im:
        manual = enc.preprocess(im.convert("RGB")).unsqueeze(0)
    with torch.no_grad():
        z = torch.nn.functional.normalize(enc.model.encode_image(manual), dim=-1).numpy()
    assert manual.shape == (1, 3, 32, 32)
    assert np.allclose(enc.encode(frame)[0], z[0], atol=1e-5)


def test_loads_a_local_checkpoint(tiny_clip, tmp_path):
    import torch

    a = OpenClipEncoder.from_spec(f"{TINY_NAME}:none", num_workers=0)
    ckpt = tmp_path / "tiny.pt"
    torch.save({"state_dict": a.model.state_dict()}, ckpt)
    b = encoders.get(f"open_clip:{TINY_NAME}:{ckpt}", num_workers=0)
    frame = _frame(tmp_path, n=3)
    assert np.allclose(a.encode(frame), b.encode(frame), atol=1e-6)
    c = OpenClipEncoder.from_spec(f"{TINY_NAME}:none", num_workers=0)
    assert not np.allclose(a.encode(frame), c.encode(frame), atol=1e-3)


def test_checkpoint_of_another_architecture_is_a_clear_error(tiny_clip, tmp_path):
    import torch

    ckpt = tmp_path / "other.pt"
    torch.save({"state_dict": {"visual.proj": torch.zeros(3, 3)}}, ckpt)
    with pytest.raises(LraError, match="could not build lra-test-tiny"):
        OpenClipEncoder.from_spec(f"{TINY_NAME}:{ckpt}")


def test_bad_specs_name_the_config_key(tiny_clip):
    with pytest.raises(LraError, match="needs <model>:<pretrained>"):
        encoders.get(f"open_clip:{TINY_NAME}")
    with pytest.raises(LraError, match="no model 'ViT-Nope'"):
        encoders.get("open_clip:ViT-Nope:openai")
    with pytest.raises(LraError, match="neither a pretrained tag of ViT-B-32"):
        encoders.get("open_clip:ViT-B-32:/no/such/checkpoint.pt")
    with pytest.raises(LraError, match="precision"):
        encoders.get(f"open_clip:{TINY_NAME}:none", precision="fp8")
    with pytest.raises(LraError, match="unknown option"):
        encoders.get(f"open_clip:{TINY_NAME}:none", batchsize=3)


def test_model_config_option_registers_an_architecture(tmp_path):
    import json

    from .conftest import TINY_CLIP

    path = tmp_path / "lra-test-from-option.json"
    path.write_text(json.dumps(TINY_CLIP))
    enc = encoders.get("open_clip:lra-test-from-option:none", model_config=str(path), num_workers=0)
    assert enc.encode(_frame(tmp_path, n=2)).shape == (2, 16)


def test_bad_images_raise_or_are_reported(tiny_clip, tmp_path):
    enc = OpenClipEncoder.from_spec(f"{TINY_NAME}:none", batch_size=2, num_workers=1)
    frame = _frame(tmp_path, n=5, bad=[3])
    with pytest.raises(LraError, match=r"manifest row 3 \(id i3\).*empty file"):
        enc.encode(frame)
    skipped = []
    x = enc.encode(frame, skipped)
    assert [s.item_id for s in skipped] == ["i3"] and "empty file" in skipped[0].reason
    assert np.isnan(x[3]).all() and np.isfinite(np.delete(x, 3, axis=0)).all()
