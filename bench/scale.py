"""Cost curve: each stage's wall time and peak memory from 10,000 to 1,000,000 items.

Runs the whole DAG (`snakemake`, every rule `rule all` asks for) on synthetic embeddings-kind
data at each N: d = 512, 100 classes of 3 Gaussian blobs (`lra.data.synthetic`), 20 % symmetric
noise, training a fixed number of optimizer steps (`train.steps`) so the curve measures the
pipeline, not epochs. Per stage it tabulates wall seconds and peak RSS from Snakemake's
`benchmark:` files (`logs/**/*.bench.tsv`, mapped to stages by the first path part after the
dataset), draws both against N on log-log axes (PNG), and fits each stage's exponent b of
time ~ N^b (least squares on log time vs log N).

    python bench/scale.py                        # N = 10k, 100k, 1M
    python bench/scale.py --n 10000,100000       # just those sizes
    python bench/scale.py --n 2000,4000 --quick  # a smoke run (seconds): tiny model, few steps

The data files are made once per size under <out>/data/ (their generation is not the pipeline
and is not timed in the table); each size's run starts from empty results/ and logs/ in
<out>/n<N>/. The last line is `largest N: <N> items end to end in <s> s, peak RSS <MiB> MiB`.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# The DAG's stages in their order; any other stage a benchmark file names goes after them.
ORDER = ["data", "noise", "embed", "index", "neighbors", "train", "predict", "score", "clean", "infer", "plots", "summary", "grid_plots"]
SUPER_LINEAR = 1.2  # exponents above this are called out

# Bench settings (docs/scale.md, "Cost curve"): sized so the 1M run fits an hour on 2 cores.
SETTINGS = {
    "noise": "sym-0.2",
    "knn_k": 10,
    "seed": 0,
    "threads": 2,
    "index": "auto",
    # 8,000 steps whatever N in one round (`rounds: 1`; the default's relabel rounds add two
    # deterministic passes over the train split, docs/scale.md "Cost curve"); one val check, at the end
    # (eval_every counts epochs), so validation is one pass over the val split (10 % of N) at every N.
    "train": {"steps": 8000, "rounds": 1, "F": 256, "batch_size": 256, "eval_every": 1_000_000},
    # deterministic DDIM plus one stochastic trajectory per item: 2 × 10 denoiser passes per item.
    "predict": {"samples": 1, "batch_size": 4096},
}
# --quick: the same DAG at toy cost; a baseline sample of 100 exercises the sampled score path.
QUICK = {"train": {"steps": 50, "F": 16, "T": 100, "batch_size": 64, "eval_every": 1_000_000},
         "predict": {"samples": 1, "ddim_steps": 3}, "baseline_sample": 100}


def dataset(out: Path, n: int, dim: int, classes: int, spread: float) -> Path:
    """The embeddings Parquet of size n (made once, streamed in row groups)."""
    from lra.data.synthetic import write_embeddings

    path = out / "data" / f"clustered-n{n}-d{dim}-c{classes}-s{spread}.parquet"
    if not path.exists():
        t = time.perf_counter()
        write_embeddings(path, n, dim=dim, num_classes=classes, spread=spread, seed=0)
        print(f"made {path.name} in {time.perf_counter() - t:.0f} s (not part of the pipeline)", file=sys.stderr)
    return path


def run_dag(workdir: Path, config: dict, cores: int) -> float:
    """Run the whole DAG from scratch in `workdir`; returns its wall seconds."""
    for stale in ("results", "logs"):
        shutil.rmtree(workdir / stale, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "bench.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(REPO / "config.yaml"), str(cfg), "--cores", str(cores), "--quiet", "rules"]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if done.returncode:
        sys.exit(f"snakemake failed in {workdir}:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
    return seconds


def stage_of(bench: Path, logs: Path) -> str:
    """`logs/<dataset>/<stage>/...bench.tsv` or `logs/<dataset>/<stage>.bench.tsv` → stage;
    `logs/<stage>.bench.tsv` (rules over every dataset, e.g. summary) → stage."""
    parts = bench.relative_to(logs).parts
    name = parts[1] if len(parts) > 1 else parts[0]
    return name.removesuffix(".bench.tsv")


def read_benchmarks(logs: Path) -> pd.DataFrame:
    """One row per stage: jobs, wall seconds (summed over its jobs), CPU seconds, peak RSS MiB
    of its largest job as Snakemake sampled it (every 0.5 s for a job's first 15 s, then every
    30 s), and the exact peak (VmHWM) the job's `lra` command logged. CPU seconds are the
    logged exact ones where the log has them, else the benchmark's sampled (lower) figure."""
    rows = []
    for bench in sorted(logs.glob("**/*.bench.tsv")):
        b = pd.read_csv(bench, sep="\t")
        rss = pd.to_numeric(b["max_rss"], errors="coerce")  # "NA" when a job ended before the first sample
        peak, cpu = logged(bench.with_name(bench.name.removesuffix(".bench.tsv") + ".log"))
        rows.append({"stage": stage_of(bench, logs), "s": float(b["s"].sum()),
                     "cpu_s": cpu if not math.isnan(cpu) else float(b["cpu_time"].sum()),
                     "max_rss_mib": float(rss.max()) if rss.notna().any() else math.nan, "peak_mib": peak})
    if not rows:
        return pd.DataFrame(columns=["stage", "jobs", "s", "cpu_s", "max_rss_mib", "peak_mib"])
    df = pd.DataFrame(rows)
    out = df.groupby("stage").agg(jobs=("s", "size"), s=("s", "sum"), cpu_s=("cpu_s", "sum"),
                                  max_rss_mib=("max_rss_mib", "max"), peak_mib=("peak_mib", "max"))
    rank = {s: i for i, s in enumerate(ORDER)}
    return out.sort_index(key=lambda idx: [(rank.get(s, len(ORDER)), s) for s in idx]).reset_index()


LOGGED = re.compile(r"peak RSS (\d+(?:\.\d+)?) MiB(?:, CPU (\d+(?:\.\d+)?) s)?")


def logged(log: Path) -> tuple[float, float]:
    """(peak RSS MiB, CPU s) from the `lra <stage>: peak RSS <MiB> MiB, CPU <s> s` line of a
    job's log; NaN for what it lacks."""
    found = LOGGED.findall(log.read_text(errors="replace")) if log.exists() else []
    if not found:
        return math.nan, math.nan
    peak, cpu = found[-1]
    return float(peak), float(cpu) if cpu else math.nan


def exponents(table: pd.DataFrame, col: str = "s") -> dict[str, float]:
    """Per stage, b in time ~ N^b by least squares on log time vs log N (needs two sizes)."""
    out = {}
    for stage, g in table.groupby("stage", sort=False):
        b = exponent_of(list(zip(g["n"], g[col])))
        if b is not None:
            out[stage] = b
    return out


def markdown(table: pd.DataFrame, fits: dict[str, float], cpu_fits: dict[str, float],
             totals: dict[int, tuple[float, float]]) -> str:
    """Per stage and N: wall s, CPU s and sampled max RSS; the logged exact peak at the largest
    N; the exponents of wall and CPU time (bold above SUPER_LINEAR)."""
    sizes = sorted(table["n"].unique())
    last = sizes[-1]
    head = ["stage", *[f"{n:,} wall s" for n in sizes], *[f"{n:,} CPU s" for n in sizes],
            *[f"{n:,} MiB" for n in sizes], f"{last:,} exact peak MiB", "b wall", "b CPU"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    cell = {(r.stage, r.n): r for r in table.itertuples()}

    def fmt(stage, n, col, digits):
        r = cell.get((stage, n))
        v = math.nan if r is None else getattr(r, col)
        return "-" if math.isnan(v) else f"{v:,.{digits}f}"

    def exp(b):
        return "-" if b is None else (f"**{b:.2f}**" if b > SUPER_LINEAR else f"{b:.2f}")

    for stage in dict.fromkeys(table["stage"]):
        cells = ([fmt(stage, n, "s", 1) for n in sizes] + [fmt(stage, n, "cpu_s", 1) for n in sizes]
                 + [fmt(stage, n, "max_rss_mib", 0) for n in sizes]
                 + [fmt(stage, last, "peak_mib", 0), exp(fits.get(stage)), exp(cpu_fits.get(stage))])
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    cpu = table.groupby("n")["cpu_s"].sum()
    e2e = ([f"{totals[n][0]:,.1f}" for n in sizes] + [f"{cpu[n]:,.1f}" for n in sizes]
           + [f"{totals[n][1]:,.0f}" for n in sizes] + [f"{totals[last][1]:,.0f}",
           exp(exponent_of([(n, totals[n][0]) for n in sizes])), exp(exponent_of(list(cpu.items())))])
    lines.append("| **end to end** | " + " | ".join(e2e) + " |")
    return "\n".join(lines)


def exponent_of(points: list[tuple[int, float]]) -> float | None:
    """The least-squares slope of log time against log N over the (N, time) points with time > 0."""
    points = [(n, t) for n, t in points if t > 0 and not math.isnan(t)]
    if len({n for n, _ in points}) < 2:
        return None
    n, t = np.array(points, dtype=float).T
    return float(np.polyfit(np.log(n), np.log(t), 1)[0])


def plot(table: pd.DataFrame, totals: dict[int, tuple[float, float]], fits: dict[str, float], path: Path) -> None:
    """Wall seconds and peak RSS against N, log-log, one line per stage (+ end to end)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 5))
    sizes = sorted(totals)
    for stage, g in table.groupby("stage", sort=False):
        g = g.sort_values("n")
        label = f"{stage} (b={fits[stage]:.2f})" if stage in fits else stage
        ax_t.plot(g["n"], g["s"].clip(lower=0.01), marker="o", label=label)
        # the exact peak each lra command logs where there is one: Snakemake's sampling misses short jobs
        ax_m.plot(g["n"], g["peak_mib"].fillna(g["max_rss_mib"]), marker="o", label=stage)
    ax_t.plot(sizes, [totals[n][0] for n in sizes], "k--", marker="s", label="end to end")
    if len(sizes) >= 2:  # a slope-1 guide through the smallest end-to-end point
        ref = totals[sizes[0]][0]
        ax_t.plot(sizes, [ref * n / sizes[0] for n in sizes], color="grey", lw=0.8, ls=":", label="∝ N")
    ax_m.axhline(8 * 1024, color="red", lw=0.8, ls=":", label="8 GiB")
    for ax, what in ((ax_t, "wall seconds"), (ax_m, "peak RSS per job, MiB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("items N")
        ax.set_ylabel(what)
        ax.grid(True, which="both", lw=0.3)
    ax_t.legend(fontsize=8)
    ax_m.legend(fontsize=8)
    fig.suptitle("lra: cost of each stage vs N (d=512, 100 classes, sym-0.2, fixed training steps)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", default="10000,100000,1000000", help="comma-separated sizes (items)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "scale")
    p.add_argument("--cores", type=int, default=2, help="snakemake --cores")
    p.add_argument("--threads", type=int, default=2, help="config key threads (per heavy job)")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--spread", type=float, default=2.0, help="class overlap of the synthetic set")
    p.add_argument("--quick", action="store_true", help="a tiny model and few steps: checks the bench, not the cost")
    p.add_argument("--reuse", action="store_true", help="tabulate sizes already run under --out instead of rerunning them")
    args = p.parse_args(argv)
    sizes = sorted(int(n) for n in args.n.split(","))
    args.out = args.out.resolve()
    config = {**SETTINGS, **(QUICK if args.quick else {}), "threads": args.threads}
    frames, totals = [], {}
    for n in sizes:
        workdir = args.out / f"n{n}"
        data = dataset(args.out, n, args.dim, args.classes, args.spread)
        config_n = {**config, "dataset": {"kind": "embeddings", "path": str(data), "name": "scale"}}
        wall_file = workdir / "wall_seconds.txt"
        if args.reuse and wall_file.exists():
            wall = float(wall_file.read_text())
        else:
            print(f"N={n:,}: running the DAG in {workdir}", file=sys.stderr)
            wall = run_dag(workdir, config_n, args.cores)
            wall_file.write_text(f"{wall:.3f}\n")
        stages = read_benchmarks(workdir / "logs")
        stages.insert(0, "n", n)
        frames.append(stages)
        totals[n] = (wall, float(np.nanmax(stages[["max_rss_mib", "peak_mib"]].to_numpy(float), initial=0)))
        print(f"N={n:,}: {wall:.0f} s end to end", file=sys.stderr)
    table = pd.concat(frames, ignore_index=True)
    fits, cpu_fits = exponents(table), exponents(table, "cpu_s")
    table.to_csv(args.out / "scale.tsv", sep="\t", index=False, float_format="%.3f")
    print(markdown(table, fits, cpu_fits, totals))
    png = args.out / "scale.png"
    plot(table, totals, fits, png)
    above = [f"{s} ({b:.2f} wall, {cpu_fits.get(s, math.nan):.2f} CPU)" for s, b in fits.items()
             if b > SUPER_LINEAR or cpu_fits.get(s, 0) > SUPER_LINEAR]
    print(f"\nexponent b of time ~ N^b per stage; above {SUPER_LINEAR}: {', '.join(above) or 'none'}")
    print(f"load average while this ran (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"table: {args.out / 'scale.tsv'}; plot: {png}")
    n = sizes[-1]
    print(f"largest N: {n} items end to end in {totals[n][0]:.0f} s, peak RSS {totals[n][1]:.0f} MiB")


if __name__ == "__main__":
    main()
