"""The accuracy benchmark's datasets, in two groups fixed before any tuning (commit order shows it).

- dev (defaults are chosen here):
  - digits: scikit-learn's bundled 8×8 digits, 1,797 images, 10 balanced classes, encoder pixels:8
    (the embedded default of config.yaml);
  - synthetic: 3,000 × 64 Gaussian class clusters, 10 balanced classes of 3 blobs each
    (`lra.synthetic`, spread 1.4): an embeddings file, neighbours informative, classes not linear.
- heldout (run only once a change is final):
  - glyphs: the 26 capital letters rendered from the 22 DejaVu fonts on disk (Debian's
    fonts-dejavu-core), 4 random variants each (size 22-26 px, rotation ±6°, shift ±1 px, stroke
    0-1; 2,288 PNGs of 32×32), a folder dataset with encoder pixels:12: other images, 26 classes,
    and a linear probe beats the kNN vote on its features (the other way round on digits);
  - longtail: 3,000 × 96 features of 20 classes whose sizes fall geometrically from the largest
    to one tenth of it (imbalance 10), each class 2 blobs in a 12-dim latent space mapped
    through a fixed random tanh network: imbalanced, more classes, a curved feature manifold.

Every seed re-draws the data split (stratified: 10 % val, 20 % test of each class), the noise
and the training; the items themselves (pixels, vectors) are fixed per dataset.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd

GROUPS = {"dev": ("digits", "synthetic"), "heldout": ("glyphs", "longtail")}
VAL_FRACTION, TEST_FRACTION = 0.1, 0.2
FONT_GLOB = "/usr/share/fonts/truetype/dejavu/*.ttf"
LETTERS = [chr(c) for c in range(ord("A"), ord("Z") + 1)]


def pipeline_config(name: str, seed: int, root: Path) -> dict:
    """The dataset/encoder part of a pipeline config for `name` with the split drawn from `seed`."""
    root.mkdir(parents=True, exist_ok=True)
    split = {"val_fraction": VAL_FRACTION}
    if name == "digits":
        return {"dataset": {"kind": "bundled", **split, "test_fraction": TEST_FRACTION}, "encoder": "pixels:8"}
    if name == "glyphs":
        frame = glyph_images(root / "glyphs")
        csv = root / "glyphs" / f"seed{seed}.csv"
        if not csv.exists():
            frame.assign(split=_split(frame["label"].to_numpy(), seed)).to_csv(csv, index=False)
        return {"dataset": {"kind": "folder", "csv": str(csv), "name": "glyphs", "classes": LETTERS, **split},
                "encoder": "pixels:12"}
    x, y = vectors(name)
    path = root / f"{name}-seed{seed}.parquet"
    if not path.exists():
        pd.DataFrame({"id": [f"{name[0]}{i:05d}" for i in range(len(y))], "split": _split(y, seed), "label": y,
                      "clean_label": y, "embedding": list(x)}).to_parquet(path)
    return {"dataset": {"kind": "embeddings", "path": str(path), "name": name, **split}}


def _split(y: np.ndarray, seed: int) -> np.ndarray:
    from lra.data.datasets import stratified_split

    return stratified_split(y, VAL_FRACTION, TEST_FRACTION, seed)


def vectors(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The fixed feature matrix and true labels of an embeddings dataset."""
    if name == "synthetic":
        from lra.data.synthetic import clustered_features

        return clustered_features(n=3000, dim=64, num_classes=10, spread=1.4, modes=3, seed=0)
    if name == "longtail":
        return longtail_features()
    raise KeyError(name)


def longtail_features(n: int = 3000, num_classes: int = 20, imbalance: float = 10.0, latent: int = 12,
                      dim: int = 96, modes: int = 2, spread: float = 0.7, seed: int = 0):
    """Class sizes n_c ∝ imbalance^(-c/(C-1)); each class `modes` Gaussian blobs in a latent space,
    mapped to `dim` features by a fixed random two-layer tanh network, plus a little noise."""
    rng = np.random.default_rng(seed)
    share = imbalance ** (-np.arange(num_classes) / (num_classes - 1))
    sizes = np.maximum(1, np.round(n * share / share.sum())).astype(int)
    y = np.repeat(np.arange(num_classes), sizes)
    centres = rng.normal(size=(num_classes, modes, latent))
    z = centres[y, rng.integers(0, modes, len(y))] + spread * rng.normal(size=(len(y), latent))
    w1 = rng.normal(size=(latent, 64)) / np.sqrt(latent)
    w2 = rng.normal(size=(64, dim)) / 8.0
    x = np.tanh(np.tanh(z @ w1) @ w2 * 2.0) + 0.05 * rng.normal(size=(len(y), dim))
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order].astype(np.int64)


def glyph_images(folder: Path, variants: int = 4, size: int = 32, seed: int = 0) -> pd.DataFrame:
    """Render every capital letter in every DejaVu font, `variants` random affine copies each
    (size, rotation, shift, stroke); PNGs under `folder`. Returns path, label, clean_label rows."""
    from PIL import Image, ImageDraw, ImageFont

    fonts = sorted(glob.glob(FONT_GLOB))
    if not fonts:
        raise SystemExit(f"glyphs: no font matches {FONT_GLOB}; install Debian's fonts-dejavu-core "
                         "(apt-get install fonts-dejavu-core)")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for f, font_path in enumerate(fonts):
        for letter in LETTERS:
            for v in range(variants):
                path = folder / f"{letter}-{f:02d}-{v}.png"
                font = ImageFont.truetype(font_path, int(rng.integers(22, 27)))
                canvas = Image.new("L", (2 * size, 2 * size), 0)
                ImageDraw.Draw(canvas).text((size, size), letter, fill=255, font=font, anchor="mm",
                                            stroke_width=int(rng.integers(0, 2)), stroke_fill=255)
                canvas = canvas.rotate(float(rng.uniform(-6, 6)), resample=Image.BILINEAR,
                                       translate=tuple(rng.integers(-1, 2, 2).tolist()))
                if not path.exists():
                    canvas.crop((size // 2, size // 2, 3 * size // 2, 3 * size // 2)).save(path)
                rows.append({"path": path.name, "label": letter, "clean_label": letter})
    return pd.DataFrame(rows)


def arrays(name: str, seed: int, root: Path):
    """What the pipeline's train stage would see, for the array-level ablations: L2-normalised
    features of every item, its true label, its split, and the class count."""
    from lra.core import features
    from lra.data import datasets
    from lra.embed import encoders

    cfg = pipeline_config(name, seed, root)
    m = datasets.build(cfg["dataset"], seed)
    y = m.frame["clean_label"].astype(int).to_numpy()
    split = m.frame["split"].to_numpy(str)
    if cfg["dataset"]["kind"] == "embeddings":
        _, x = features.read([cfg["dataset"]["path"]], ids=m.frame["id"].to_numpy(str))
    else:
        enc = encoders.get(cfg["encoder"])
        enc.fit(m.frame)
        x = enc.encode(m.frame)
    return x.astype(np.float32), y, split, m
