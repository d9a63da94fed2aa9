"""A run's figures, drawn from small arrays with matplotlib and saved atomically.

Figures are built as `matplotlib.figure.Figure` objects, without pyplot: no display, no global
figure registry to leak, and the Agg canvas is chosen by the file format at save time.
"""

from __future__ import annotations

import contextlib

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..core.files import atomic_path
from .summary import BOUNDS, METHODS  # display names of the summary's columns

DPI = 150
FONT = 10
LRA_COLOUR, BASELINE_COLOUR = "#c0392b", "#34495e"
RIGHT, WRONG, UNKNOWN = "#1e8449", "#c0392b", "#7f8c8d"
LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "pad": 1, "alpha": 0.85}  # values stay readable over lines


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    return Figure(figsize=(width, height), layout=layout)


def write(fig: Figure, path) -> None:
    """`fig` as PNG; the format is given because temporary names carry no image suffix."""
    fig.savefig(path, format="png", dpi=DPI)


def save(fig: Figure, path) -> None:
    """Write `fig` as PNG to `path` atomically."""
    with atomic_path(path) as tmp:
        write(fig, tmp)


@contextlib.contextmanager
def staged(paths: list):
    """Temporary paths for `paths`, renamed into place together when the block succeeds; on any
    failure none of them is written and no existing figure is replaced."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_path(p)) for p in paths]


def message(text: str, title: str) -> Figure:
    """A figure that says why there is nothing to plot (a declared output must still exist)."""
    fig = new_figure(6, 2)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, fontsize=FONT + 1)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=FONT, wrap=True, transform=ax.transAxes)
    return fig


def training_curve(history: list[dict], selected: int | None, select_on: str = "observed") -> Figure:
    """Loss per epoch (left axis) and validation accuracy where it was checked (right axis);
    the selected epoch as a dashed line. Relabel rounds (records with `round`) are drawn one
    after another on a running epoch axis, each later round's start marked."""
    x = np.arange(1, len(history) + 1)  # one record per epoch, rounds in order
    loss = np.array([r["loss"] for r in history])
    checked = [i for i, r in enumerate(history) if r.get("val_accuracy") is not None]
    fig = new_figure(8, 4)
    ax = fig.add_subplot()
    lines = ax.plot(x, loss, color=BASELINE_COLOUR, lw=1.2, label="training loss")
    rounds = [r.get("round", 1) for r in history]
    ax.set_xlabel("epoch" if max(rounds, default=1) == 1 else "epoch, all rounds in a row")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("training loss (weighted ε-MSE per class)")
    if len(loss) and loss.min() > 0 and loss.max() / loss.min() > 20:
        ax.set_yscale("log")
    for i in range(1, len(rounds)):
        if rounds[i] != rounds[i - 1]:
            ax.axvline(x[i] - 0.5, color="grey", lw=0.8, ls=":")
            ax.annotate(f"round {rounds[i]}", (x[i], 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                        textcoords="offset points", fontsize=FONT - 2, color="grey")
    if checked:
        ax2 = ax.twinx()
        lines += ax2.plot(x[checked], [100 * history[i]["val_accuracy"] for i in checked],
                          color=LRA_COLOUR, lw=1.2, marker="." if len(checked) < 60 else None,
                          label=f"validation accuracy ({select_on} labels)")
        ax2.set_ylabel(f"validation accuracy (%, {select_on} labels)", color=LRA_COLOUR)
        ax2.tick_params(axis="y", colors=LRA_COLOUR)
    kept = [i for i, r in enumerate(history) if r.get("selected")]
    if kept or selected is not None:  # the last kept check is the model's (the last round's selection)
        at = x[kept[-1]] if kept else selected
        where = f"epoch {history[kept[-1]]['epoch']} of round {rounds[kept[-1]]}" if kept and max(rounds) > 1 else f"epoch {at}"
        lines.append(ax.axvline(at, color="#2e86c1", ls="--", lw=1.2, label=f"selected: {where}"))
    ax.legend(handles=lines, loc="upper center", fontsize=FONT - 1, frameon=False, ncols=len(lines),
              bbox_to_anchor=(0.5, -0.15))
    title = f"Training: {len(history)} epochs" + (f" in {max(rounds)} rounds" if max(rounds, default=1) > 1 else "")
    ax.set_title(title + ("" if checked else " (no validation split)"), fontsize=FONT + 1)
    return fig


def accuracy_dots(metrics: dict) -> Figure:
    """Test accuracy of LRA (deterministic, stochastic) and every baseline as dots with their
    values, the clean-label bounds as vertical lines when the true train labels are known."""
    scores = {"lra": metrics["accuracy"], "lra_stochastic": metrics.get("accuracy_stochastic"),
              **metrics.get("baselines", {})}
    order = sorted(scores, key=lambda k: (list(METHODS).index(k) if k in METHODS else len(METHODS), k))
    rows = [(METHODS.get(k, k), 100 * scores[k], k.startswith("lra")) for k in order
            if scores[k] is not None and k not in BOUNDS]
    bounds = [(BOUNDS[k], 100 * v) for k, v in scores.items() if k in BOUNDS and v is not None]
    fig = new_figure(8, 0.45 * len(rows) + 1.8)
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    for yi, (name, acc, ours) in zip(y, rows):
        colour = LRA_COLOUR if ours else BASELINE_COLOUR
        ax.plot([acc], [yi], "o", color=colour, ms=8)
        ax.annotate(f"{acc:.1f} %", (acc, yi), xytext=(8, 0), textcoords="offset points", va="center",
                    fontsize=FONT - 1, color=colour, bbox=LABEL_BOX)
    styles = iter(["--", ":"])
    for name, acc in bounds:
        ax.axvline(acc, color="#2e86c1", ls=next(styles, "-."), lw=1.2, label=f"{name} (bound): {acc:.1f} %")
    ax.set_yticks(y, [r[0] for r in rows], fontsize=FONT)
    values = [r[1] for r in rows] + [b[1] for b in bounds]
    lo, hi = min(values), max(values)
    pad = max(2.0, 0.1 * (hi - lo))
    ax.set_xlim(max(0, lo - pad), min(100, hi + pad) + 0.08 * (hi - lo + 2 * pad))  # room for the values
    ax.set_xlabel("test accuracy (%)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"Test accuracy on {metrics['n_test']} items: LRA beside the baselines (same features)",
                 fontsize=FONT + 1)
    if bounds:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=len(bounds), fontsize=FONT - 1, frameon=False)
    return fig


def _class_font(n: int) -> float:
    return FONT if n <= 12 else max(4.0, FONT - (n - 12) / 12)


def confusion(truth: np.ndarray, pred: np.ndarray, classes: list[str]) -> Figure:
    """Row-normalised confusion matrix of LRA's test predictions (% of each true class), with
    the counts in the cells when there are few classes."""
    C = len(classes)
    counts = np.zeros((C, C), np.int64)
    np.add.at(counts, (truth, pred), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = 100 * counts / counts.sum(axis=1, keepdims=True)
    size = min(22.0, max(6.0, 0.42 * C + 2.5))
    fig = new_figure(size + 1.2, size)
    ax = fig.add_subplot()
    im = ax.imshow(np.nan_to_num(share), cmap="Blues", vmin=0, vmax=100)
    font = _class_font(C)
    if C <= 120:
        ax.set_xticks(range(C), classes, rotation=90 if C > 10 or max(map(len, classes)) > 4 else 0, fontsize=font)
        ax.set_yticks(range(C), classes, fontsize=font)
    if C <= 20:
        for (i, j), n in np.ndenumerate(counts):
            if n:
                ax.text(j, i, str(n), ha="center", va="center", fontsize=FONT - 2,
                        color="white" if share[i, j] > 60 else "black")
    ax.set_xlabel("predicted class (LRA, deterministic)")
    ax.set_ylabel("true class")
    fig.colorbar(im, ax=ax, shrink=0.8, label="% of the true class")
    ax.set_title(f"Confusion on {len(truth)} test items" + (" (cells: counts)" if C <= 20 else ""), fontsize=FONT + 1)
    return fig


def per_class(accuracy: dict[str, float | None], counts: dict[str, int], overall: float) -> Figure:
    """Test accuracy within each true class, worst first, with the overall accuracy as a line."""
    items = sorted(((v, k) for k, v in accuracy.items() if v is not None), key=lambda t: (t[0], t[1]))
    C = len(items)
    fig = new_figure(8, min(40.0, max(3.0, 0.28 * C + 1.5)))
    ax = fig.add_subplot()
    y = np.arange(C)[::-1]
    bars = ax.barh(y, [100 * v for v, _ in items], color=BASELINE_COLOUR, height=0.7)
    if C <= 60:
        ax.bar_label(bars, [f"{100 * v:.0f} %" for v, _ in items], padding=3, fontsize=_class_font(C) - 1,
                     bbox=LABEL_BOX)
    ax.set_yticks(y, [f"{k} (n={counts.get(k, 0)})" for _, k in items], fontsize=_class_font(C))
    ax.axvline(100 * overall, color=LRA_COLOUR, ls="--", lw=1.2, label=f"all classes: {100 * overall:.1f} %")
    ax.set_xlim(0, 108)  # room for a 100 % label
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel("test accuracy within the true class (%)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=FONT - 1, frameon=False)
    ax.set_title("Per-class test accuracy of LRA, worst first", fontsize=FONT + 1)
    return fig


def uncertainty(entropy: np.ndarray, correct: np.ndarray, samples: int, num_classes: int) -> Figure:
    """Entropy of the stochastic trajectories' votes, test items the deterministic prediction got
    right against those it got wrong (each as % of its own group)."""
    top = np.log(max(2, min(samples, num_classes)))
    bins = np.linspace(0, top * 1.0001, 21)
    fig = new_figure(8, 4)
    ax = fig.add_subplot()
    for mask, name, colour in ((correct, "LRA right", RIGHT), (~correct, "LRA wrong", WRONG)):
        if mask.any():
            weights = np.full(int(mask.sum()), 100 / mask.sum())
            ax.hist(entropy[mask], bins=bins, weights=weights, color=colour, alpha=0.55,
                    label=f"{name}: {int(mask.sum())} items, mean {entropy[mask].mean():.2f} nats")
    ax.set_xlabel(f"entropy of the class votes over {samples} stochastic trajectories (nats)")
    ax.set_ylabel("% of the group's test items")
    ax.legend(fontsize=FONT - 1, frameon=False)
    ax.set_title("Uncertainty: test predictions right vs wrong", fontsize=FONT + 1)
    return fig
