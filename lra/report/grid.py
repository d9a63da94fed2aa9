"""Figures over every run, from summary_mean.tsv: who won in each cell (LRA of each method beside
every baseline, always drawn), and for a grid config test accuracy against k and against the
noise spec; all as mean ± sd over the seeds of each cell."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from ..core.errors import LraError
from ..core.files import OUTPUT_FIX, read_csv
from matplotlib.lines import Line2D

from .figures import BASELINE_COLOUR, BOUNDS, FONT, LRA_COLOUR, METHODS, new_figure, staged, write
from .summary import BASELINES, CELL

AXES = {"k": "k (neighbours retrieved per item)", "noise": "noise spec"}
STYLES = {"lra": (LRA_COLOUR, "o", "-", 2.2), "lra_stochastic": (LRA_COLOUR, "s", ":", 1.5)}
NOT_ACCURACY = ("lra_top5", "issues_f1", "cleanlab_issues_f1", "lra_minus_best_baseline")  # not accuracies
BASELINE_COLOURS = ["#34495e", "#8e44ad", "#d68910", "#138d75", "#5d6d7e", "#a04000"]


def plot_grid(summary_mean, out_accuracy, out_k=None, out_noise=None) -> None:
    """The who-won figure, and with `out_k` and `out_noise` (a grid config) both sweeps: written
    together or not at all."""
    if (out_k is None) != (out_noise is None):
        raise LraError("grid-plots: give both --out-k and --out-noise, or neither")
    df = read_means(summary_mean)
    outs = [out_accuracy] + ([out_k, out_noise] if out_k is not None else [])
    with staged(outs) as tmps:
        write(who_won(df), tmps[0])
        if len(tmps) > 1:
            write(sweep(df, "k"), tmps[1])
            write(sweep(df, "noise"), tmps[2])


def read_means(path) -> pd.DataFrame:
    df = read_csv(path, "the seed-mean table", OUTPUT_FIX, sep="\t")
    missing = [c for c in [*CELL, "n_seeds", "lra_mean", "best_baseline"] if c not in df.columns]
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


# The who-won figure: one panel per cell, a row per method, LRA first.
METHOD_COLOURS = {"default": LRA_COLOUR, "paper": "#e67e22"}  # any other method: LRA_COLOUR
BOUND_STYLES = {"clean_knn_vote": "--", "clean_linear_probe": ":"}
BEST, WIN, LOSE = "#d4ac0d", "#1e8449", "#c0392b"
ROW_IN, PANEL_IN, PANEL_W = 0.3, 1.15, 5.6  # inches: a method row, a panel's title and axis, a panel's width


def lra_methods(df: pd.DataFrame) -> list[str]:
    """The methods of the table, `default` first, then `paper`, then any other."""
    return sorted(df["method"].unique(), key=lambda m: (m != "default", m != "paper", m))


def cells(df: pd.DataFrame) -> list[tuple]:
    """(dataset, encoder, noise, k) of every cell, noise specs in `noise_order`."""
    keys = ["dataset", "encoder", "noise", "k"]
    return sorted(df.groupby(keys).groups, key=lambda key: (key[0], key[1], noise_order(key[2]), key[3]))


def cell_scores(df: pd.DataFrame, key: tuple, methods: list[str], baselines: list[str]) -> dict:
    """One cell: rows [(row name, mean %, sd %, colour)], the bounds {column: %}, the gap of the
    first method's LRA to its best baseline (name, mean, sd in points)."""
    rows = df[(df["dataset"] == key[0]) & (df["encoder"] == key[1]) & (df["noise"] == key[2]) & (df["k"] == key[3])]
    by = rows.set_index("method").reindex(methods)  # baselines and bounds: the first method's that has them

    def first(column: str) -> tuple[float, float]:
        for m in methods:
            if pd.notna(by.at[m, f"{column}_mean"]):
                return 100 * by.at[m, f"{column}_mean"], 100 * by.at[m, f"{column}_sd"]
        return math.nan, math.nan

    scores = [(f"LRA ({m})", 100 * by.at[m, "lra_mean"], 100 * by.at[m, "lra_sd"], METHOD_COLOURS.get(m, LRA_COLOUR))
              for m in methods]
    scores += [(METHODS.get(b, b), *first(b), BASELINE_COLOUR) for b in baselines]
    bounds = {b: first(b)[0] for b in BOUNDS if f"{b}_mean" in df.columns}
    lead = by.loc[methods[0]]
    gap = (lead["best_baseline"], 100 * lead.get("lra_minus_best_baseline_mean", math.nan),
           100 * lead.get("lra_minus_best_baseline_sd", math.nan)) if isinstance(lead["best_baseline"], str) else None
    return {"rows": scores, "bounds": {b: v for b, v in bounds.items() if pd.notna(v)}, "gap": gap, "lead": methods[0]}


def who_won(df: pd.DataFrame):
    """Per cell (dataset, encoder, noise, k) a panel: LRA of each method and every baseline as dots
    with ± sd error bars over seeds, their values in a column on the right, the best starred, the
    clean-label bounds as vertical lines, and LRA's gap to the best baseline above the panel.
    Panels fill 1, 2 or 3 columns (1, up to 8, more cells); each has its own accuracy range."""
    methods = lra_methods(df)
    baselines = [b for b in BASELINES if f"{b}_mean" in df.columns and df[f"{b}_mean"].notna().any()]
    keys = cells(df)
    cols = 1 if len(keys) == 1 else 2 if len(keys) <= 8 else 3
    nrows = math.ceil(len(keys) / cols)
    n_rows = len(methods) + len(baselines)
    panel_h = ROW_IN * n_rows + PANEL_IN
    fig = new_figure(PANEL_W * cols + 1.4, panel_h * nrows + 1.1)
    axes = fig.subplots(nrows, cols, squeeze=False, sharey=True)
    names = [str, "encoder {}".format, str, "k = {}".format]  # dataset, encoder, noise, k
    shared = [i for i in (0, 1, 3) if len({key[i] for key in keys}) == 1]  # said once, in the title
    for ax, key in zip(axes.flat, keys):
        _panel(ax, cell_scores(df, key, methods, baselines), n_rows)
        title = [str(key[i]) if i != 3 else f"k{key[i]}" for i in range(4) if i not in shared]
        ax.set_title(" · ".join(title), fontsize=FONT, fontweight="bold", pad=16)
    for ax in axes.flat[len(keys):]:
        ax.set_axis_off()
    for ax in axes[:, 0]:
        for label in ax.get_yticklabels():
            label.set_color(LRA_COLOUR if label.get_text().startswith("LRA") else BASELINE_COLOUR)
    seeds = df["n_seeds"]
    n = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
    bars = "no error bars: one seed" if seeds.max() == 1 else f"mean ± sd over {n} seeds"
    said = ", ".join(names[i](keys[0][i]) for i in shared)
    fig.suptitle(f"Who won: test accuracy (%) per cell, {bars}" + (f"\n{said}" if said else ""), fontsize=FONT + 1)
    handles = _legend(df)
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles) if cols > 1 else 2, fontsize=FONT - 1,
               frameon=False)
    return fig


def _panel(ax, cell: dict, n_rows: int) -> None:
    rows = cell["rows"]
    y = np.arange(n_rows)[::-1]
    means = np.array([r[1] for r in rows], dtype=float)
    best = int(np.nanargmax(means)) if not np.isnan(means).all() else None
    values = []
    for i, (yi, (name, mean, sd, colour)) in enumerate(zip(y, rows)):
        text = "–" if np.isnan(mean) else f"{mean:.1f}" + ("" if np.isnan(sd) else f" ± {sd:.1f}")
        if not np.isnan(mean):
            ax.errorbar([mean], [yi], xerr=None if np.isnan(sd) else [sd], fmt="*" if i == best else "o",
                        ms=15 if i == best else 7, color=colour, mec=BEST if i == best else colour, mew=1.2,
                        capsize=3, lw=1.4, zorder=3)
            values += [mean - np.nan_to_num(sd), mean + np.nan_to_num(sd)]
        ax.text(1.03, yi, ("★ " if i == best else "") + text, transform=ax.get_yaxis_transform(), va="center",
                fontsize=FONT - 1, color=colour, fontweight="bold" if i == best else "normal")
    for bound, acc in cell["bounds"].items():
        ax.axvline(acc, color="#2e86c1", ls=BOUND_STYLES.get(bound, "-."), lw=1.2, zorder=1)
        values.append(acc)
    ax.set_yticks(y, [r[0] for r in rows], fontsize=FONT)
    ax.set_ylim(-0.7, n_rows - 0.3)
    if values:
        lo, hi = min(values), max(values)
        pad = max(1.0, 0.06 * (hi - lo))
        ax.set_xlim(max(0.0, lo - pad), min(100.0, hi + pad))
    ax.set_xlabel("test accuracy (%)", fontsize=FONT - 1)
    ax.tick_params(axis="x", labelsize=FONT - 1)
    ax.grid(axis="x", alpha=0.3)
    if cell["gap"] is not None:
        name, gap, sd = cell["gap"]
        text = f"LRA ({cell['lead']}) − best baseline ({METHODS.get(name, name)}): " + f"{gap:+.1f}".replace("-", "−")
        text += ("" if np.isnan(sd) else f" ± {sd:.1f}") + " points"
        ax.annotate(text, (0, 1), xycoords="axes fraction", xytext=(0, 3), textcoords="offset points", ha="left",
                    va="bottom", fontsize=FONT - 1, color=WIN if gap >= 0 else LOSE)


def _legend(df: pd.DataFrame) -> list:
    handles = [Line2D([], [], marker="*", ls="", ms=12, color=BASELINE_COLOUR, mec=BEST, label="best in the cell")]
    if df["n_seeds"].max() > 1:
        handles.append(Line2D([], [], marker="o", ls="-", color="grey", label="mean ± sd over seeds"))
    for bound, name in BOUNDS.items():
        if f"{bound}_mean" in df.columns and df[f"{bound}_mean"].notna().any():
            handles.append(Line2D([], [], color="#2e86c1", ls=BOUND_STYLES.get(bound, "-."), lw=1.2,
                                  label=f"{name} (bound)"))
    return handles
