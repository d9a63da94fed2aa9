"""Progress of long work: a tqdm bar on a terminal, plain lines in a log.

Snakemake sends a job's stderr to its log under logs/, where tqdm's carriage-return redraws pile
up into one unreadable line. When stderr is not a terminal (nor a notebook), progress goes to the
`lra` logger as lines instead, each tenth of the work (but not within 2 s of the last line) and at
least every 30 s, and a last line when the work is done:

    train: 120/400 epochs (30%), 41 s elapsed, ~95 s left
"""

from __future__ import annotations

import logging
import math
import sys
import time

log = logging.getLogger("lra")

STEP = 0.1  # a line per tenth of the work,
MIN_GAP_S = 2.0  # unless the last line is more recent than this (fast work: just the last line)
EVERY_S = 30.0  # and at least this often


def progress(iterable=None, total: int | None = None, desc: str = "", unit: str = "items"):
    """Wrap `iterable` (or count `update(n)` calls up to `total`) with progress reporting.

    Returns a tqdm bar on a terminal, else a `LogProgress`; both iterate, `update`, `close` and
    work as context managers."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if sys.stderr.isatty() or "ipykernel" in sys.modules:
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, mininterval=2)
    return LogProgress(iterable, total, desc, unit)


class LogProgress:
    """Progress as log lines: `desc: n/total unit (pct%), elapsed, ~left`."""

    def __init__(self, iterable=None, total: int | None = None, desc: str = "", unit: str = "items",
                 clock=time.monotonic, emit=log.info):
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.clock, self.emit = clock, emit
        self.n = self.reported = 0
        self.start = self.last = clock()
        self.next_mark = STEP
        self.closed = False

    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        due = now - self.last >= EVERY_S
        if self.total and self.n / self.total >= self.next_mark - 1e-9:
            due = due or now - self.last >= MIN_GAP_S
            self.next_mark = (math.floor(self.n / self.total / STEP + 1e-9) + 1) * STEP
        if due:
            self._line(now)

    def close(self) -> None:
        if not self.closed and self.n != self.reported:
            self._line(self.clock())
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _line(self, now: float) -> None:
        elapsed = now - self.start
        self.last, self.reported = now, self.n
        if self.total:
            text = f"{self.desc}: {self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%), {duration(elapsed)} elapsed"
            if 0 < self.n < self.total:
                text += f", ~{duration(elapsed * (self.total - self.n) / self.n)} left"
        else:
            text = f"{self.desc}: {self.n} {self.unit}, {duration(elapsed)} elapsed"
        self.emit(text)


def duration(seconds: float) -> str:
    """41 s, 12.5 min, 3.2 h."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
