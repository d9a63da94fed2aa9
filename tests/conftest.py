"""Shared fixtures: tiny datasets and images made on the fly, a tiny open_clip architecture
(random weights, no download), and a runner for the Snakemake DAG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

# Torch trains inside this process too: idle OpenMP threads sleep instead of spinning (what `lra`
# does for its stages, lra.threads). On a loaded shared machine the toy training test took 130 s
# with spinning threads and 16 s without.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

# A DAG small enough for CI: a few epochs of a narrow denoiser, few sampling trajectories.
TINY = {
    "knn_k": 3,
    "train": {"epochs": 2, "min_steps": 0, "F": 32, "T": 100, "eval_every": 1, "batch_size": 64},
    "predict": {"samples": 2},
}


GRID = {**TINY, "noise": ["sym-0.4", "asym-0.3"]}


@pytest.fixture(scope="session")
def default_run(tmp_path_factory):
    """The embedded default's DAG (digits, pixels) with tiny training, over a grid of two noises:
    one run shared by the workflow and report tests."""
    work = tmp_path_factory.mktemp("default")
    cfg = write_config(work / "tiny.yaml", GRID)
    snakemake(work, configs=[cfg])
    return work, cfg


def clustered(n_per_class: int, num_classes: int, dim: int, spread: float, seed: int = 0):
    """Gaussian class clusters around random unit centres: features with a known true label."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, dim))
    y = np.repeat(np.arange(num_classes), n_per_class)
    x = centres[y] + spread * rng.normal(size=(len(y), dim))
    return x.astype(np.float32), y


def clustered_parquet(path: Path, n_per_class: int, num_classes: int, dim: int, spread: float, seed: int,
                      split_p=(0.7, 0.1, 0.2), split_seed: int = 0, prefix: str = "i") -> Path:
    """An embeddings-kind Parquet of `clustered` items (id, split, label, clean_label, embedding),
    the split drawn with probabilities `split_p` for train/val/test."""
    x, y = clustered(n_per_class, num_classes, dim, spread, seed)
    split = np.random.default_rng(split_seed).choice(["train", "val", "test"], size=len(y), p=list(split_p))
    pd.DataFrame({"id": [f"{prefix}{i}" for i in range(len(y))], "split": split, "label": y, "clean_label": y,
                  "embedding": list(x)}).to_parquet(path)
    return path


def noisy_neighbourhoods(n_per_class: int, spread: float, flip: float = 0.3, k: int = 5):
    """3 unit-norm clusters, labels flipped c → c+1 with probability `flip`, and each item's k
    nearest other rows: the inputs of candidate building and training."""
    x, y = clustered(n_per_class, 3, 16, spread=spread)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    noisy = np.where(np.random.default_rng(0).random(len(y)) < flip, (y + 1) % 3, y)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    return x, y, noisy, np.argsort(-sims, axis=1)[:, :k]


def write_config(path: Path, *overrides: dict) -> Path:
    cfg: dict = {}
    for o in overrides:
        cfg = merge(cfg, o)
    path.write_text(yaml.safe_dump(cfg))
    return path


def merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def snakemake(workdir: Path, *args: str, configs: list[Path] = (), check: bool = True) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile with `workdir` as working directory; config.yaml first."""
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
           "--configfile", str(REPO / "config.yaml"), *map(str, configs), *args]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def planned_rules(proc: subprocess.CompletedProcess) -> set[str]:
    """Rule names from a dry run's job-stats table."""
    text = proc.stdout + proc.stderr
    block = text.split("Job stats:")[1] if "Job stats:" in text else ""
    rules = set()
    for line in block.splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        rules.add(parts[0])
    rules.discard("total")
    return rules


@pytest.fixture
def png_folder(tmp_path: Path) -> Path:
    """A folder of PNGs (3 colour classes) with a CSV, made outside the project: 20% labels wrong."""
    from PIL import Image

    rng = np.random.default_rng(1)
    root = tmp_path / "images"
    rows = []
    colours = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}
    names = list(colours)
    for c, name in enumerate(names):
        for i in range(40):
            pixels = np.clip(np.array(colours[name]) + rng.normal(0, 40, (12, 12, 3)), 0, 255).astype(np.uint8)
            rel = f"{name}/{i:03d}.png"
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / rel)
            split = "test" if i < 10 else ("val" if i < 14 else "train")
            label = name
            if split == "train" and rng.random() < 0.2:
                label = names[(c + 1) % 3]
            rows.append({"path": rel, "label": label, "split": split, "clean_label": name})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    return root / "labels.csv"


@pytest.fixture
def embeddings_file(tmp_path: Path) -> Path:
    """An embeddings Parquet (4 classes, 32-dim), made outside the project, with clean labels."""
    return clustered_parquet(tmp_path / "vectors.parquet", 60, 4, 32, spread=0.6, seed=2, split_seed=3, prefix="item")

TINY_CLIP = {
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
    path.write_text(json.dumps(TINY_CLIP))
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


def kill_after(monkeypatch, n: int, sigterm: bool = False) -> list:
    """Stop a training loop (train or SimCLR pretrain) at its n-th checkpoint boundary: a SIGKILL-like
    death (nothing saved at the kill), or with `sigterm` a SIGTERM through the checkpoint's stop flag
    (saved there, `Stopped`). Returns the boundary positions seen."""
    import signal

    from lra.core import training

    original, seen = training.Checkpoint.boundary, []

    def boundary(self, position, make_state):
        seen.append(position)
        if sigterm and len(seen) == n:
            self.stop_signal = signal.SIGTERM
        original(self, position, make_state)
        if len(seen) == n:
            raise SystemExit("killed")

    monkeypatch.setattr(training.Checkpoint, "boundary", boundary)
    return seen


@pytest.fixture
def one_torch_thread():
    """In-process training computes like the one-thread subprocesses it is compared with; the
    session's setting is restored."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
