"""Progress: a tqdm bar on a terminal; in a log (stderr not a terminal) plain lines, no `\\r`."""

import io
import json
import os
import subprocess
import sys

from lra.core import progress as progress_mod
from lra.core.progress import LogProgress, duration, progress

from .conftest import REPO


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _lines(total: int, desc: str, unit: str, steps: int, seconds: float, close: bool) -> list[str]:
    """The lines a LogProgress emits for `steps` updates of 1, each `seconds` apart."""
    clock, lines = Clock(), []
    bar = LogProgress(total=total, desc=desc, unit=unit, clock=clock, emit=lines.append)
    for _ in range(steps):
        clock.t += seconds
        bar.update(1)
    if close:
        bar.close()
    return lines


def test_a_line_per_tenth_of_the_work_with_time_left():
    lines = _lines(400, "train", "epochs", 400, 0.25, close=True)
    assert len(lines) == 10
    assert lines[2] == "train: 120/400 epochs (30%), 30 s elapsed, ~70 s left"
    assert lines[-1] == "train: 400/400 epochs (100%), 100 s elapsed"


def test_slow_work_gets_a_line_at_least_every_30_s():
    lines = _lines(1000, "embed", "images", 3, 31, close=False)
    assert lines == ["embed: 1/1000 images (0%), 31 s elapsed, ~8.6 h left",
                     "embed: 2/1000 images (0%), 62 s elapsed, ~8.6 h left",
                     "embed: 3/1000 images (0%), 93 s elapsed, ~8.6 h left"]


def test_fast_work_gets_its_last_line_only():
    lines = []
    items = list(LogProgress(range(7), 7, "index", "blocks", emit=lines.append))
    assert items == list(range(7))
    assert len(lines) == 1 and lines[0].startswith("index: 7/7 blocks (100%)")
    assert duration(41) == "41 s" and duration(750) == "12.5 min" and duration(11520) == "3.2 h"


def test_a_terminal_gets_tqdm_and_a_log_gets_lines(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    assert type(progress(range(3))).__name__ == "tqdm"
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert isinstance(progress(range(3)), progress_mod.LogProgress)


def test_a_stage_log_has_progress_lines_and_no_carriage_returns(tmp_path):
    """The embed stage with stderr in a file, as under Snakemake: readable lines only."""
    manifest, log = tmp_path / "m.parquet", tmp_path / "embed.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "lra", "data", "--spec", json.dumps({"kind": "bundled"}), "--out", str(manifest),
                    "--threads", "1"], check=True, env=env, capture_output=True)
    with open(log, "w") as err:
        subprocess.run([sys.executable, "-m", "lra", "embed", "--manifest", str(manifest), "--encoder", "pixels:8",
                        "--threads", "1", "--out", str(tmp_path / "part-00000.parquet")], check=True, env=env, stderr=err)
    text = log.read_text()
    assert "\r" not in text
    assert "pixels: train statistics: 1259/1259 images (100%)" in text
    assert "embed pixels:8: 1797/1797 images (100%)" in text
