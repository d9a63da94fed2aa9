"""What every training loop shares (the denoiser's `train`, SimCLR's `pretrain`): the learning-rate
schedule, and resuming: the loop's whole future, saved to a checkpoint file and restored on rerun.

A cluster job dies: a time limit (SLURM sends SIGTERM first), preemption, a lost node (SIGKILL,
nothing first). A loop saves a checkpoint every `minutes` and when SIGTERM/SIGINT asks it to stop
(train: `{run}/train.ckpt`, pretrain: `<weights>.ckpt`); a rerun with the same fingerprint (inputs
+ result-changing params) continues from it and ends with the same bytes as an uninterrupted run
(on CPU). A signal handler only sets a flag: the loop looks at it at step and epoch boundaries,
saves, and raises `Stopped`, so a signal never lands inside a half-taken step or a half-written
file.

The checkpoint is a plain dict (tensors, numbers, lists), extensible by key:
    {"format", "fingerprint", "train": {model, optimizer, RNG states, position, selection, history}}
plus anything a caller puts in `Checkpoint.extra` (e.g. state across training rounds), which every
save carries and `Checkpoint.loaded` gives back on a rerun. It is our own scratch file: one that is
damaged, of another format or of another fingerprint is logged and ignored, never trusted.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .chunks import digest
from .errors import LraError, Stopped
from .files import atomic_path, load_torch

FORMAT = 1  # bump when the layout changes: older checkpoints are then discarded


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up to `peak`, then cosine decay to 0 at `total` steps."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def stopped(signum: int, epoch: int, step: int, path: Path) -> Stopped:
    return Stopped(signum, f"stopped by {signal.Signals(signum).name} at epoch {epoch} (step {step}); "
                           f"checkpoint saved to {path}: rerun to resume")


def fingerprint(params: dict, *arrays) -> str:
    """Digest of what the training loop's results depend on: the result-changing params and the
    input arrays (features, labels, neighbours, ...), bytes and shapes. A checkpoint is resumed
    only under the same fingerprint."""
    return digest([FORMAT, params], *arrays)  # arrays by dtype, shape and bytes; None as null


@dataclass
class Position:
    """Where the loop is: the next step of `epoch` is batch `batch` of permutation `perm`
    (batch 0 and no perm: the epoch has not started); `losses` of the epoch's steps so far."""

    epoch: int = 1
    batch: int = 0
    step: int = 0
    perm: torch.Tensor | None = None
    losses: list = field(default_factory=list)


def training_state(model, optimizer, generator: torch.Generator, selection, history: list[dict],
                   position: Position) -> dict:
    """The training loop's state as a dict of CPU tensors and plain values. `selection` (the
    denoiser's model selection) may be None: a loop that keeps its last weights (SimCLR)."""
    return {
        "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "optimizer": _to_cpu(optimizer.state_dict()),
        "rng": {"generator": generator.get_state(), "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []},
        "position": {"epoch": position.epoch, "batch": position.batch, "step": position.step,
                     "perm": position.perm,
                     "losses": torch.stack(position.losses).cpu() if position.losses else None},
        "selection": None if selection is None else {"best_acc": selection.best_acc, "state": _to_cpu(selection.state)},
        "history": [dict(r) for r in history],
    }


def restore_training(state: dict, model, optimizer, generator: torch.Generator, selection) -> tuple[Position, list]:
    """Load `training_state`'s dict into freshly built objects; returns (position, history).
    Reads every part and checks the model's tensor names and shapes before changing anything, so a
    state that does not fit raises KeyError or ValueError and leaves the objects as they were."""
    weights, moments, rng, kept, p = (state[k] for k in ("model", "optimizer", "rng", "selection", "position"))
    history = list(state["history"])
    current = model.state_dict()
    if set(weights) != set(current) or any(weights[k].shape != current[k].shape for k in current):
        raise ValueError("its model does not match this configuration")
    if len(moments["param_groups"]) != len(optimizer.param_groups):
        raise ValueError("its optimizer does not match this configuration")
    device = next(model.parameters()).device
    model.load_state_dict(weights)
    optimizer.load_state_dict(moments)  # moves the moments to the parameters' device
    generator.set_state(rng["generator"])
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    if selection is not None:
        selection.best_acc = kept["best_acc"]
        selection.state = None if kept["state"] is None else {k: v.to(device) for k, v in kept["state"].items()}
    losses = [] if p["losses"] is None else list(p["losses"].to(device).unbind())
    return Position(p["epoch"], p["batch"], p["step"], p["perm"], losses), history


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


class Checkpoint:
    """One run's checkpoint file: loaded once, saved at boundaries when due or asked to stop.

    Use as a context manager around training: inside it SIGTERM and SIGINT only ask the loop to
    stop at its next boundary (a second SIGINT interrupts at once). `minutes` = 0 saves only when
    stopping. Saving never touches the training state, so the interval cannot change results.
    """

    STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, path, fingerprint: str, minutes: float = 5.0, log=print):
        self.path, self.fingerprint, self.log = Path(path), fingerprint, log
        self.interval = float(minutes) * 60
        self.extra: dict = {}  # more state to carry in every save (e.g. training rounds)
        self.loaded: dict | None = None
        self._read = False
        self._resumed = False
        self.stop_signal: int | None = None
        self._last_save = time.monotonic()
        self._saved_at: tuple | None = None  # (epoch, batch) of the last save or load
        self._previous: dict = {}

    # --- signals ------------------------------------------------------------------------------
    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in self.STOP_SIGNALS:
                self._previous[s] = signal.signal(s, self._request_stop)
        every = f"every {self.interval / 60:g} min and " if self.interval > 0 else ""
        self.log(f"checkpoints to {self.path}: {every}on SIGTERM")
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()
        return False

    def _request_stop(self, signum, frame):
        if self.stop_signal == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.stop_signal = self.stop_signal or signum

    # --- files --------------------------------------------------------------------------------
    def load(self) -> dict | None:
        """The saved dict when it exists, is readable and has this run's fingerprint; else None,
        with a log line saying why it is not used. Read once; later calls give the same answer."""
        if self._read:
            return self.loaded
        self._read = True
        for stale in self.path.parent.glob(f".{self.path.name}.tmp-*"):  # a write cut short by SIGKILL
            stale.unlink(missing_ok=True)
        if not self.path.exists():
            return None
        try:
            state = load_torch(self.path, "the training checkpoint", fix="ignored: training from scratch")
            ok = isinstance(state, dict) and state.get("format") == FORMAT
        except LraError as exc:  # damaged or foreign: our own scratch file, so just start over
            self.log(str(exc))
            return None
        if not ok or state.get("fingerprint") != self.fingerprint:
            self.log(f"checkpoint {self.path} is of other inputs or params; training from scratch")
            return None
        self.loaded = state
        self.extra = dict(state.get("extra", {}))
        return state

    def resume(self, model, optimizer, generator: torch.Generator, selection) -> tuple[Position, list] | None:
        """Restore the loaded training-loop state into the loop's objects and log where it resumes;
        None (train from scratch) without one, or when it does not fit. Only once: a later `train`
        call (a next round) starts afresh."""
        state = None if self._resumed else (self.load() or {}).get("train")
        self._resumed = True
        if state is None:
            return None
        try:
            position, history = restore_training(state, model, optimizer, generator, selection)
        except (KeyError, TypeError, ValueError) as exc:
            self.log(f"checkpoint {self.path} does not fit this run ({exc}); training from scratch")
            return None
        self._saved_at = (position.epoch, position.batch)
        self.log(f"resumed from checkpoint at epoch {position.epoch} (step {position.step})")
        return position, history

    def save(self, train_state: dict) -> None:
        """Write atomically (a kill mid-write leaves the previous checkpoint) and durably."""
        start = time.monotonic()
        state = {"format": FORMAT, "fingerprint": self.fingerprint, "train": train_state, "extra": self.extra}
        with atomic_path(self.path) as tmp:
            with open(tmp, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
        self._last_save = time.monotonic()
        p = train_state["position"]
        self.log(f"checkpoint saved at epoch {p['epoch']} (step {p['step']}) in {self._last_save - start:.2f} s")

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    # --- the loop's hook ----------------------------------------------------------------------
    def boundary(self, position: Position, make_state) -> None:
        """At a step or epoch boundary: save `make_state(position)` when the interval is up or a
        stop was asked for (unless this very position is saved already); then, when stopping,
        raise `Stopped`."""
        due = self.interval > 0 and time.monotonic() - self._last_save >= self.interval
        where = (position.epoch, position.batch)
        if (due or self.stop_signal) and self._saved_at != where:
            self.save(make_state(position))
            self._saved_at = where
        if self.stop_signal:
            raise stopped(self.stop_signal, position.epoch, position.step, self.path)
