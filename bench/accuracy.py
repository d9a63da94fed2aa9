"""Accuracy benchmark: LRA (`method: default`) against the published algorithm (`method: paper`)
and every baseline, on the same features, over seeds.

    python bench/accuracy.py --group dev --seeds 3       # the group defaults are chosen on
    python bench/accuracy.py --group heldout --seeds 3   # run once a change is final
    python bench/accuracy.py --group dev --only longtail --noises pmd-0.35 --set train.select_on=clean \
        --out bench/out/select-on-clean --results bench/results/select-on-clean   # a config change, its own folders

The datasets and their groups are fixed in bench/groups.py. Each seed s re-draws the data
split, the noise, the training and the baselines (one pipeline workdir per dataset, seed and
method, `seed: s`). Every column comes from the runs' own metrics.json (score stage); train CPU
time from the train rule's benchmark file. Writes the raw per-run rows to
bench/results/accuracy-<group>.tsv and the table to accuracy-<group>.md beside it.

Statistics (per cell = dataset × noise): mean ± sd over seeds; the paired difference
default − paper with a 95 % t-interval over seeds (df = seeds − 1). Over all cells: the mean of
the per-seed averages of the cell differences, with a t-interval over seeds (seeds, not cells,
are the independent replications).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from groups import GROUPS, pipeline_config  # noqa: E402
from lra.core import paths  # noqa: E402

NOISES = ["sym-0.2", "sym-0.4", "sym-0.6", "asym-0.4", "pmd-0.35"]
METHODS = ["paper", "default"]
BASELINES = ["knn_vote", "linear_probe", "cleanlab", "datalab_relabel"]
BOUNDS = ["clean_knn_vote", "clean_linear_probe"]
HEAD = {"knn_vote": "kNN vote", "linear_probe": "linear", "cleanlab": "CleanLearning",
        "datalab_relabel": "Datalab+relabel", "clean_knn_vote": "clean kNN", "clean_linear_probe": "clean linear"}


def snakemake(workdir: Path, config: dict, reuse: bool, cores: int = 1, force: tuple[str, ...] = ("train",)) -> float:
    """One pipeline run (all noises) in `workdir`; returns its wall time in seconds. Without
    `reuse`, the rules `force` rerun (and everything after them) even where their outputs exist;
    with it, Snakemake reruns only what changed (params, code versions, inputs)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "bench.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(REPO / "config.yaml"), str(cfg), "--cores", str(cores), "--quiet", "rules"]
    if not reuse and force:
        cmd += ["--forcerun", *force]  # the bench measures this checkout's code: retrain whatever exists
    t = time.time()
    with open(workdir / "snakemake.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    return time.time() - t


def failure(log: Path) -> str:
    """What to do about a failed run, from its Snakemake log."""
    text = log.read_text(errors="replace") if log.exists() else ""
    if "LockException" in text:  # a bench killed earlier left its lock: nothing else uses these folders
        return f"locked by a killed run; `snakemake -d {log.parent} --unlock`, then rerun with --reuse"
    return f"see {log}"


def rows(workdir: Path, method: str, seed: int) -> list[dict]:
    """One row per run: found by globbing metrics.json and reading its `run`, whatever the depth;
    its train timing from the train rule's benchmark file of that very run (dataset, method,
    encoder, noise, k, seed)."""
    out = []
    for path in sorted((workdir / "results").rglob("metrics.json")):
        m = json.loads(path.read_text())
        run = m["run"]
        bench = workdir / paths.bench("train", paths.DATASET_RUN).format(**run)
        timing = [pd.read_csv(bench, sep="\t").iloc[0]] if bench.exists() else []
        out.append({"dataset": run["dataset"], "noise": run["noise"], "seed": seed, "method": method,
                    "encoder": run["encoder"], "k": run["k"],
                    "lra": m["accuracy"], "lra_stochastic": m.get("accuracy_stochastic"),
                    **{b: m["baselines"].get(b, np.nan) for b in BASELINES + BOUNDS},
                    "issues_f1": m["label_issues"]["f1"], "cleanlab_issues_f1": m["label_issues"]["cleanlab"]["f1"],
                    "n_test": m["n_test"], "train_cpu_s": timing[0]["cpu_time"] if timing else np.nan,
                    "train_wall_s": timing[0]["s"] if timing else np.nan})
    return out


def t_interval(d: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of paired differences."""
    from scipy import stats

    d = np.asarray(d, float)
    if len(d) < 2:
        return float(d.mean()), float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def cells(raw: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × noise: means, sds and the paired difference default − paper (points)."""
    out = []
    for (ds, noise), g in raw.groupby(["dataset", "noise"], sort=False, observed=True):
        p = g[g.method == "paper"].set_index("seed").sort_index()
        d = g[g.method == "default"].set_index("seed").sort_index()
        seeds = p.index.intersection(d.index)
        p, d = p.loc[seeds], d.loc[seeds]
        diff = 100 * (d["lra"] - p["lra"])
        mean, lo, hi = t_interval(diff.to_numpy())
        row = {"dataset": ds, "noise": noise, "n_seeds": len(seeds),
               "paper": 100 * p["lra"].mean(), "paper_sd": 100 * p["lra"].std(ddof=1),
               "default": 100 * d["lra"].mean(), "default_sd": 100 * d["lra"].std(ddof=1),
               "diff": mean, "diff_lo": lo, "diff_hi": hi, "diff_sd": float(diff.std(ddof=1)),
               "f1": d["issues_f1"].mean(), "f1_paper": p["issues_f1"].mean(), "f1_cleanlab": d["cleanlab_issues_f1"].mean()}
        for b in BASELINES + BOUNDS:
            row[b], row[b + "_sd"] = 100 * d[b].mean(), 100 * d[b].std(ddof=1)
        row["best_baseline"] = max(row[b] for b in BASELINES)
        row["best_clean"] = max(row[b] for b in BOUNDS)
        out.append(row)
    return pd.DataFrame(out)


def overall(raw: pd.DataFrame) -> tuple[float, float, float]:
    """Mean over cells of default − paper, with a t-interval over seeds of the per-seed averages."""
    wide = raw.pivot_table(index=["dataset", "noise", "seed"], columns="method", values="lra", observed=True)
    per_seed = (100 * (wide["default"] - wide["paper"])).groupby(level="seed").mean()
    return t_interval(per_seed.to_numpy())


def targets(c: pd.DataFrame, grand: tuple[float, float, float]) -> list[str]:
    """The issue's targets, met or missed and by how much."""
    gap = c["best_clean"] - c["default"]
    below = -(c["diff"] + c["diff_sd"].fillna(0))  # one seed: no sd, the difference itself must be ≥ 0
    vs_base = c["default"] - c["best_baseline"]
    vs_f1 = c["f1"] - c["f1_cleanlab"]
    lines = [
        f"- within 2.0 points of the best clean-label classifier in every cell: "
        f"{'met' if (gap <= 2.0).all() else 'missed'} ({(gap <= 2.0).sum()}/{len(c)} cells; largest gap {gap.max():.2f} "
        f"at {c.loc[gap.idxmax(), 'dataset']} {c.loc[gap.idxmax(), 'noise']})",
        f"- mean over cells of default − paper ≥ +3.0 with CI above 0: "
        f"{'met' if grand[0] >= 3.0 and grand[1] > 0 else 'missed' if grand[1] == grand[1] else 'no CI with one seed'} "
        f"({grand[0]:+.2f} points, 95 % CI {grand[1]:+.2f} … {grand[2]:+.2f})",
        f"- no cell below the paper by more than one sd (of the paired difference): "
        f"{'met' if (below <= 0).all() else 'missed'} (worst: {c['diff'].min():+.2f} ± {c.loc[c['diff'].idxmin(), 'diff_sd']:.2f} "
        f"at {c.loc[c['diff'].idxmin(), 'dataset']} {c.loc[c['diff'].idxmin(), 'noise']})",
        f"- LRA ≥ every baseline − 0.5 in every cell (mean over seeds; the must of issue 15): "
        f"{'met' if (vs_base >= -0.5).all() else 'missed'} ({(vs_base >= -0.5).sum()}/{len(c)} cells, at or above "
        f"every baseline in {(vs_base >= 0).sum()}; worst {vs_base.min():+.2f} at {c.loc[vs_base.idxmin(), 'dataset']} "
        f"{c.loc[vs_base.idxmin(), 'noise']})",
        f"- wrong-label F1 ≥ cleanlab's in every cell: {'met' if (vs_f1 >= 0).all() else 'missed'} "
        f"({(vs_f1 >= 0).sum()}/{len(c)} cells; worst {vs_f1.min():+.3f} at {c.loc[vs_f1.idxmin(), 'dataset']} "
        f"{c.loc[vs_f1.idxmin(), 'noise']})",
    ]
    return lines


def markdown(c: pd.DataFrame, grand, cost: str) -> str:
    head = ["dataset", "noise", "paper", "default", "default − paper [95 % CI]",
            *[HEAD[b] for b in BASELINES], *[HEAD[b] + " (bound)" for b in BOUNDS], "flags F1 default / paper / cleanlab"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in c.iterrows():
        win = r["default"] >= r["best_baseline"]
        cells_ = [r["dataset"], r["noise"], f"{r['paper']:.2f} ± {r['paper_sd']:.2f}",
                  ("**{}**" if win else "{}").format(f"{r['default']:.2f} ± {r['default_sd']:.2f}"),
                  f"{r['diff']:+.2f} [{r['diff_lo']:+.2f}, {r['diff_hi']:+.2f}]",
                  *[f"{r[b]:.2f} ± {r[b + '_sd']:.2f}" for b in BASELINES + BOUNDS],
                  f"{r['f1']:.3f} / {r['f1_paper']:.3f} / {r['f1_cleanlab']:.3f}"]
        lines.append("| " + " | ".join(cells_) + " |")
    lines += ["", f"Mean over cells of default − paper: {grand[0]:+.2f} points (95 % CI {grand[1]:+.2f} … {grand[2]:+.2f}, "
              f"t over seeds). {cost}", "", "Targets:", *targets(c, grand)]
    return "\n".join(lines).replace("± nan", "± –").replace("[+nan, +nan]", "[–]").replace("+nan … +nan", "–")


def report(raw: pd.DataFrame) -> str:
    """The table, the overall difference, the train CPU ratio and the targets of a group's raw rows."""
    raw = raw[raw.groupby(["dataset", "noise", "seed"], observed=True)["method"].transform("nunique") == 2]  # pairs only
    cpu = raw.groupby("method")["train_cpu_s"].sum()
    dig = raw[raw.dataset == "digits"].groupby("method")["train_cpu_s"].sum()
    cost = (f"Train CPU time, default / paper: {cpu['default'] / cpu['paper']:.2f}× over the group"
            + (f", {dig['default'] / dig['paper']:.2f}× on digits" if len(dig) == 2 else "") + ".")
    return markdown(cells(raw), overall(raw), cost)


def settings(cfg: dict, assignments: list[str]) -> dict:
    """`cfg` with each SECTION.KEY=VALUE of `assignments` set (VALUE read as YAML)."""
    out = {**cfg}
    for a in assignments:
        key, sep, value = a.partition("=")
        section, dot, name = key.partition(".")
        if not (sep and dot and section and name):
            raise SystemExit(f"--set {a!r}: write SECTION.KEY=VALUE, e.g. train.select_on=clean")
        out[section] = {**out.get(section, {}), name: yaml.safe_load(value)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--group", choices=sorted(GROUPS), required=True)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "accuracy")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--jobs", type=int, default=2, help="pipeline runs at once (each one job, one thread)")
    p.add_argument("--only", nargs="*", help="a subset of the group's datasets")
    p.add_argument("--reuse", action="store_true", help="keep finished runs (resume an interrupted bench of the same code)")
    p.add_argument("--table", type=Path, metavar="TSV", help="only print the table of existing raw rows (e.g. a partial run's)")
    p.add_argument("--noises", nargs="*", default=NOISES, choices=NOISES, help="a subset of the noises")
    p.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE",
                   help="config keys for the default's runs (YAML values), e.g. train.select_on=clean")
    args = p.parse_args()
    args.out = args.out.resolve()  # the runs' configs name files under it, read from their own workdirs
    if args.table:
        raw = pd.read_csv(args.table, sep="\t")
        raw["noise"] = pd.Categorical(raw["noise"], NOISES)
        print(report(raw.sort_values(["dataset", "noise", "seed", "method"])))
        return
    start = time.time()
    names = [d for d in GROUPS[args.group] if not args.only or d in args.only]
    work = []
    for seed in range(args.seeds):  # seed-major: an interrupted bench leaves whole seeds behind
        for name in names:
            data = pipeline_config(name, seed, args.out / "data")
            for method in METHODS:
                # One thread per job, `jobs` runs at once: the denoiser is small, and a second
                # OpenMP thread only pays off on an idle machine.
                # No stochastic trajectories: no target reads them, and they are most of predict's time.
                cfg = {**data, "noise": args.noises, "seed": seed, "method": method, "predict": {"samples": 0},
                       "threads": 1}
                if method == "paper":  # the baselines do not depend on the method: scored once, in the default runs
                    cfg["baselines"] = []
                else:
                    cfg = settings(cfg, args.set)
                work.append((args.out / args.group / name / f"seed{seed}" / method, cfg, method, seed))
    all_rows, failed = [], []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(snakemake, w, cfg, args.reuse): (w, m, s) for w, cfg, m, s in work}
        for f in concurrent.futures.as_completed(futures):
            w, m, s = futures[f]
            try:
                print(f"{w.relative_to(args.out)}: {f.result():.0f} s", file=sys.stderr, flush=True)
            except subprocess.CalledProcessError:  # say so now, go on with the other runs
                failed.append(w)
                print(f"{w.relative_to(args.out)}: FAILED: {failure(w / 'snakemake.log')}", file=sys.stderr, flush=True)
                continue
            all_rows += rows(w, m, s)
            partial = args.out / f"accuracy-{args.group}.partial.tsv"  # the rows so far, should the bench be stopped
            pd.DataFrame(all_rows).to_csv(partial, sep="\t", index=False, float_format="%.4f")
    if failed:
        sys.exit(f"{len(failed)} of {len(work)} runs failed (the finished ones' rows: "
                 f"{args.out / f'accuracy-{args.group}.partial.tsv'}): " + ", ".join(map(str, failed)))
    raw = pd.DataFrame(all_rows)
    raw["noise"] = pd.Categorical(raw["noise"], NOISES)
    raw = raw.sort_values(["dataset", "noise", "seed", "method"]).reset_index(drop=True)
    args.results.mkdir(parents=True, exist_ok=True)
    raw.to_csv(args.results / f"accuracy-{args.group}.tsv", sep="\t", index=False, float_format="%.4f")
    table = report(raw)
    wall = time.time() - start
    text = (f"`python bench/accuracy.py {' '.join(sys.argv[1:])}`: {wall / 60:.1f} min wall, "
            f"{args.jobs} runs at once\n\n{table}\n")
    (args.results / f"accuracy-{args.group}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
