"""Damaged files: every file a stage reads (the user's or an earlier stage's) that is truncated,
empty, foreign or garbled stops the stage with one line naming the file, what is wrong and the
fix; exit status 2, no traceback, no output left behind."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lra import cli, stages
from lra.core import features
from lra.core.files import DamagedFile, load_torch

from .conftest import REPO, clustered_parquet, folder_dataset

TRAIN = {"epochs": 1, "min_steps": 0, "F": 16, "T": 50, "batch_size": 32, "eval_every": 1}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One small run's files, made by the stage functions: every kind of file a stage reads."""
    d = tmp_path_factory.mktemp("run")
    emb = clustered_parquet(d / "vectors.parquet", 30, 4, 16, spread=0.5, seed=5, split_p=(0.6, 0.2, 0.2))
    f = {"embeddings": emb, "manifest": d / "manifest.parquet", "labels": d / "labels.parquet",
         "features": d / "part-00000.parquet", "index": d / "f.faiss", "neighbors": d / "k3.parquet",
         "model": d / "model.pt", "predictions": d / "pred.parquet", "metrics": d / "metrics.json",
         "summary": d / "summary.tsv", "noise_file": d / "noise.npy"}
    m = stages.data({"kind": "embeddings", "path": str(emb)}, f["manifest"])
    stages.noise(f["manifest"], "sym-0.2", f["labels"])
    ids, feats = features.read([emb])
    features.write(ids, feats, f["features"])  # an embed output: written by lra, with page checksums
    shards = [str(f["features"])]
    stages.index(f["manifest"], shards, f["index"])
    stages.neighbors(f["manifest"], shards, f["index"], 3, f["neighbors"])
    stages.train(f["manifest"], f["labels"], shards, f["neighbors"], f["model"], TRAIN)
    stages.predict(f["manifest"], shards, f["model"], f["predictions"], {"samples": 0})
    stages.score(f["manifest"], f["labels"], shards, f["neighbors"], f["predictions"], f["metrics"],
                 d / "issues.parquet", baseline_names=["knn_vote"])
    stages.summary([str(f["metrics"])], f["summary"])
    np.save(f["noise_file"], m.frame["label"].to_numpy())
    f["csv"] = folder_dataset(d / "folder")
    return f


def commands(f, out):
    """Per damaged file: the CLI call of a stage that reads it."""
    shards = ["--features", str(f["features"])]
    common = ["--manifest", str(f["manifest"])]
    return {
        "embeddings": ["data", "--spec", json.dumps({"kind": "embeddings", "path": str(f["embeddings"])}), "--out", out],
        "csv": ["data", "--spec", json.dumps({"kind": "folder", "csv": str(f["csv"])}), "--out", out],
        "manifest": ["noise", *common, "--spec", "sym-0.2", "--out", out],
        "noise_file": ["noise", *common, "--spec", "file-x", "--noise-files", json.dumps({"x": str(f["noise_file"])}),
                       "--out", out],
        "features": ["index", *common, *shards, "--out", out],
        "index": ["neighbors", *common, *shards, "--index", str(f["index"]), "-k", "3", "--out", out],
        "labels": ["train", *common, *shards, "--labels", str(f["labels"]), "--neighbors", str(f["neighbors"]),
                   "--params", json.dumps(TRAIN), "--out", out],
        "neighbors": ["train", *common, *shards, "--labels", str(f["labels"]), "--neighbors", str(f["neighbors"]),
                      "--params", json.dumps(TRAIN), "--out", out],
        "model": ["predict", *common, *shards, "--model", str(f["model"]), "--out", out],
        "predictions": ["score", *common, *shards, "--labels", str(f["labels"]), "--neighbors", str(f["neighbors"]),
                        "--predictions", str(f["predictions"]), "--baselines", "knn_vote", "--metrics", out,
                        "--issues", out + ".issues.parquet"],
        "metrics": ["summary", str(f["metrics"]), "--out", out],
        "summary": ["show", str(f["summary"])],
    }


def damaged(data: bytes, how: str, kind: str, files) -> bytes:
    """`data` (a real file's bytes) damaged the way files get damaged."""
    if how == "truncated":  # an interrupted copy or a full disk; a CSV cut mid-row
        cut = len(data) // 2
        while kind == "csv" and data[cut - 1:cut] == b"\n":
            cut -= 1
        return data[:cut]
    if how == "empty":
        return b""
    if how == "garbage":
        return np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes()
    if how == "foreign":  # a file of another format under the expected name
        parquet = kind in ("embeddings", "noise_file", *OURS)
        return files["csv"].read_bytes() if parquet else files["labels"].read_bytes()
    if how == "corrupt":  # bytes garbled inside a file whose ends are intact
        mid = len(data) // 3
        return data[:mid] + bytes(b ^ 0x5A for b in data[mid:mid + 64]) + data[mid + 64:]
    raise ValueError(how)


OURS = ["manifest", "labels", "features", "neighbors", "predictions"]  # Parquet with page checksums
CASES = [(kind, how) for kind in ["embeddings", "csv", "noise_file", "index", "model", "metrics", "summary", *OURS]
         for how in ["truncated", "empty", "garbage", "foreign"]] + [(kind, "corrupt") for kind in OURS]


@pytest.mark.parametrize("kind,how", CASES)
def test_a_damaged_file_is_one_line_naming_it(files, kind, how, tmp_path, capsys):
    path = files[kind]
    good = path.read_bytes()
    out = str(tmp_path / "out")
    try:
        path.write_bytes(damaged(good, how, kind, files))
        argv = commands(files, out)[kind]
        rc = cli.main(argv)
    finally:
        path.write_bytes(good)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"lra {argv[0]}: error: {path}: "), err
    if how in ("empty", "garbage", "foreign", "corrupt") or kind != "csv":
        assert any(w in lines[0] for w in ("not a readable", "empty file", "not a text CSV", "incomplete row")), lines[0]
    assert any(fix in lines[0] for fix in ("Snakemake rebuilds it", "copy it again")), lines[0]
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file


def test_the_cli_process_exits_2_without_a_traceback(files, tmp_path):
    """The issue's case, as a user meets it: an embeddings file that is not Parquet."""
    bad = tmp_path / "vectors.parquet"
    bad.write_text("id,split,label,embedding\n")
    out = tmp_path / "m.parquet"
    proc = subprocess.run([sys.executable, "-m", "lra", "data", "--spec", json.dumps({"kind": "embeddings", "path": str(bad)}),
                           "--out", str(out)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"lra data: error: {bad}: the embeddings file (config key dataset.path) is not a readable Parquet file "
        "(Parquet magic bytes not found in footer); re-create it or copy it again "
        "(an interrupted copy or a full disk leaves a truncated file)")
    assert "Traceback" not in proc.stderr and not out.exists()


def test_a_model_from_another_denoiser_says_retrain(files, tmp_path, capsys):
    import torch

    state = torch.load(files["model"], weights_only=True)
    state["state_dict"] = {k: v[..., :1] if v.ndim else v for k, v in state["state_dict"].items()}
    other = tmp_path / "model.pt"
    torch.save(state, other)
    argv = commands({**files, "model": other}, str(tmp_path / "pred.parquet"))["model"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{other}: the model does not fit this lra's denoiser" in err and "retrains it" in err


def test_a_damaged_checkpoint_is_an_lra_error_the_trainer_can_catch(tmp_path):
    """`io.load_torch` for scratch files such as train.ckpt: damage is a DamagedFile to log and ignore."""
    import torch

    ckpt = tmp_path / "train.ckpt"
    torch.save({"epoch": 3, "state": torch.zeros(100)}, ckpt)
    assert load_torch(ckpt, "the train checkpoint")["epoch"] == 3
    ckpt.write_bytes(ckpt.read_bytes()[:300])
    with pytest.raises(DamagedFile, match="train.ckpt: the train checkpoint is not a readable PyTorch file "
                                          r"\(truncated or damaged zip archive\)"):
        load_torch(ckpt, "the train checkpoint")


def test_no_stage_reads_a_file_around_the_checked_readers():
    """Every stage reader goes through lra.core.files: no direct pyarrow/pandas/faiss/torch file reads remain."""
    import re
    from pathlib import Path

    pattern = re.compile(r"pq\.(read_table|read_schema|ParquetFile|read_metadata)\(|pd\.read_csv\(|"
                         r"faiss\.read_index\(|torch\.load\(|np\.load\(")
    allowed = {"files.py", "paper.py"}  # the checked readers; CIFAR files have their own checks
    hits = [f"{p.name}:{i + 1}" for p in Path(stages.__file__).parent.rglob("*.py") if p.name not in allowed
            for i, line in enumerate(p.read_text().splitlines()) if pattern.search(line) and "np.load(mmap_path" not in line]
    assert hits == []
