"""Shared fixtures: a tiny open_clip architecture (random weights, no download) and image writers."""

from __future__ import annotations

import json

import numpy as np
import pytest

TINY = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 1, "layers": 1},
}
TINY_NAME = "lra-test-tiny"


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """Path of a JSON architecture `lra-test-tiny` (a real open_clip CLIP config, 16-d output),
    registered with open_clip so `open_clip:lra-test-tiny:none` builds it."""
    import open_clip

    path = tmp_path_factory.mktemp("clip") / f"{TINY_NAME}.json"
    path.write_text(json.dumps(TINY))
    open_clip.add_model_config(path)
    return path


def write_image(path, seed: int = 0, size=(40, 36), mode: str = "RGB"):
    """A random-content image file (format from the suffix)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    im = Image.fromarray(a).convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def folder_dataset(root, n_per_class: int = 8, classes=("a", "b", "c"), bad: dict | None = None):
    """A folder-kind dataset: images whose colour encodes the class, a CSV with path,label,split.
    `bad` maps a row number to raw bytes written instead of an image."""
    import pandas as pd
    from PIL import Image

    rows = []
    colours = {c: np.array(v) for c, v in zip(classes, [(220, 30, 30), (30, 220, 30), (30, 30, 220), (200, 200, 30)])}
    rng = np.random.default_rng(0)
    for c in classes:
        for i in range(n_per_class):
            split = "test" if i < 2 else ("val" if i < 3 else "train")
            rel = f"img/{c}/{i}.png"
            a = np.clip(colours[c] + rng.normal(0, 25, size=(24, 24, 3)), 0, 255).astype(np.uint8)
            (root / "img" / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(a).save(root / rel)
            rows.append({"path": rel, "label": c, "split": split})
    for row, data in (bad or {}).items():
        (root / rows[row]["path"]).write_bytes(data)
    csv = root / "data.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv
