"""Grid figures from summary_mean.tsv: test accuracy against k and against the noise spec, for
LRA and every baseline, as mean ± sd over the seeds of each grid cell."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from ..core.errors import LraError
from ..core.files import OUTPUT_FIX, read_csv
from .figures import BOUNDS, FONT, LRA_COLOUR, METHODS, new_figure, staged, write
from .summary import CELL

AXES = {"k": "k (neighbours retrieved per item)", "noise": "noise spec"}
STYLES = {"lra": (LRA_COLOUR, "o", "-", 2.2), "lra_stochastic": (LRA_COLOUR, "s", ":", 1.5)}
NOT_ACCURACY = ("lra_top5", "issues_f1", "cleanlab_issues_f1")  # summary metrics on other scales
BASELINE_COLOURS = ["#34495e", "#8e44ad", "#d68910", "#138d75", "#5d6d7e", "#a04000"]


def plot_grid(summary_mean, out_k, out_noise) -> None:
    """Both grid figures, written together or not at all."""
    df = read_means(summary_mean)
    with staged([out_k, out_noise]) as (tmp_k, tmp_noise):
        write(sweep(df, "k"), tmp_k)
        write(sweep(df, "noise"), tmp_noise)


def read_means(path) -> pd.DataFrame:
    df = read_csv(path, "the seed-mean table", OUTPUT_FIX, sep="\t")
    missing = [c for c in [*CELL, "n_seeds", "lra_mean"] if c not in df.columns]
    if missing:
        raise LraError(f"{path}: missing column(s) {', '.join(missing)}; rerun the report rule to rewrite it")
    return df


def noise_order(spec: str) -> tuple:
    """given first, then by family and rate: sym-0.2 < sym-0.4 < asym-0.2 ..."""
    m = re.fullmatch(r"([a-z]+\d?)-([0-9.]+)", spec)
    return (1, m.group(1), float(m.group(2))) if m else (0, spec, 0.0)


def sweep(df: pd.DataFrame, axis: str):
    """One panel per (dataset, method, encoder, the other axis's value); x = `axis` as evenly spaced
    categories; a line per method with ± sd error bars, the clean-label bounds dashed."""
    other = "noise" if axis == "k" else "k"
    keys = ["dataset", "method", "encoder", other]
    panels = sorted(df.groupby(keys).groups,
                    key=lambda key: (*key[:3], noise_order(key[3]) if other == "noise" else key[3]))
    values = sorted(df[axis].unique(), key=noise_order if axis == "noise" else None)
    methods = [c.removesuffix("_mean") for c in df.columns if c.endswith("_mean")]  # the summary's order
    methods = [m for m in methods if m not in NOT_ACCURACY]
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = new_figure(4.6 * cols + 2.6, 3.6 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    handles = {}
    for ax, key in zip(axes.flat, panels):
        cell = df[(df[keys] == pd.Series(key, index=keys)).all(axis=1)]
        for i, m in enumerate(methods):
            line = _method_line(ax, cell, axis, values, m, i, len(methods))
            if line is not None:
                handles.setdefault(m, line)
        ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.set_xlabel(AXES[axis])
        ax.set_title(f"{key[0]} · {key[1]} · {key[2]} · {other} {key[3]}", fontsize=FONT)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy (%)")
    seeds = df["n_seeds"]
    n = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
    fig.suptitle(f"Test accuracy vs {'k' if axis == 'k' else 'noise spec'}: mean ± sd over {n} seed(s) per point",
                 fontsize=FONT + 1)
    fig.legend([handles[m] for m in handles], [_label(m) for m in handles], loc="outside right center",
               fontsize=FONT - 1, frameon=False)
    return fig


def _label(method: str) -> str:
    return f"{BOUNDS[method]} (bound)" if method in BOUNDS else METHODS.get(method, method)


def _method_line(ax, cell: pd.DataFrame, axis: str, values: list, method: str, i: int, n: int):
    by = cell.set_index(axis)
    mean = np.array([100 * by[f"{method}_mean"].get(v, np.nan) for v in values], dtype=float)
    if np.isnan(mean).all():
        return None
    sd_col = by.get(f"{method}_sd")
    sd = np.array([100 * sd_col.get(v, np.nan) if sd_col is not None else np.nan for v in values], dtype=float)
    colour, marker, ls, lw = STYLES.get(method, (BASELINE_COLOURS[i % len(BASELINE_COLOURS)], "^", "-", 1.2))
    if method in BOUNDS:
        colour, marker, ls, lw = "#2e86c1", None, "--" if method == "clean_knn_vote" else ":", 1.2
    x = np.arange(len(values)) + 0.05 * (i - (n - 1) / 2)  # dodge: error bars side by side
    return ax.errorbar(x, mean, yerr=np.nan_to_num(sd), color=colour, marker=marker, ls=ls, lw=lw, ms=5, capsize=3)
