"""The encoders bench of issue 16: SimCLR features against pixels, and E_φ on pixels against
E_φ over features, on CPU, over seeds; every number from the real pipeline's own files.

    python bench/encoders.py                      # both parts, glyphs and digits, seeds 0-2
    python bench/encoders.py --part simclr --reuse   # after a change of the default method:
                                                  # Snakemake reruns train → predict → score only
    python bench/encoders.py --table              # only rewrite the tables from the raw rows

Part `simclr`: one pipeline workdir per (dataset, seed), bench/out/encoders/<dataset>/seed<s>/lra,
with `encoder: [<the accuracy bench's pixels encoder>, simclr]`, `noise: sym-0.4`, `method:
default`, the accuracy bench's data split (groups.pipeline_config), `predict: {samples: 0}` and
`threads: 2` (one job at a time, `--cores 2`). SimCLR is seeded by the dataset's split seed,
which is the run's seed here: each seed trains its own encoder. Read from each run: metrics.json
(LRA's accuracy, the kNN vote, linear probe, CleanLearning, Datalab, the clean-label kNN vote and
linear probe) and the stages' logs: exact CPU seconds from the `lra <stage>: peak RSS …, CPU …`
line (the process, plus its DataLoader workers), wall seconds from the rule's benchmark file.

Part `ephi`: E_φ (`train.image_network`) at a fixed step budget, per (dataset, seed), in
workdirs beside the first (…/seed<s>/ephi-<variant>-…): `features` (the MLP over the pixels
encoder's features) and `resnet18` (a ResNet-18 trained on the images, CIFAR stem, flips off),
the same `train.steps`, `batch_size` and extra keys (`--ephi-*`), the method otherwise the
default; `features` at the default's own length is part `simclr`'s pixels run. Baselines are
scored there, not again here (`baselines: []`).

Reruns: without --reuse, pretrain and train are forced (the bench measures this checkout's
code); with --reuse, Snakemake reruns only what changed since (params, code versions), so a
changed default method reruns train → predict → score and never pretrain or embed (unless
their own code changed); --retrain forces train and what follows, keeping pretrain and embed. Each workdir's
`bench-runs.jsonl` keeps, per invocation, the load average before and after and the wall time.

Writes bench/results/encoders.tsv (part simclr, one row per dataset × seed × encoder),
encoders-ephi.tsv (part ephi) and encoders.md (both tables, mean ± sd over seeds, the targets).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from accuracy import failure, rows, snakemake  # noqa: E402
from groups import pipeline_config  # noqa: E402
from lra.core import paths  # noqa: E402
from lra.diffusion.config import train_params  # noqa: E402

DATASETS = ("glyphs", "digits")
NOISE = "sym-0.4"
METHOD = "default"
SIMCLR = "simclr"
THREADS = 2
METRICS = ["lra", "clean_knn_vote", "knn_vote", "linear_probe", "cleanlab", "datalab_relabel", "clean_linear_probe"]
HEAD = {"lra": "LRA", "clean_knn_vote": "clean kNN", "knn_vote": "kNN vote", "linear_probe": "linear probe",
        "cleanlab": "CleanLearning", "datalab_relabel": "Datalab+relabel", "clean_linear_probe": "clean linear"}
CPU_LINE = re.compile(r"lra (\w+): peak RSS \d+ MiB, CPU (\d+(?:\.\d+)?) s"
                      r"(?: \(\+ (\d+(?:\.\d+)?) s in its worker processes\))?")
STEPS_LINE = re.compile(r"(\d+) items give (\d+) steps per epoch: training (?:steps=(\d+)|(\d+) epochs)")
TARGET_GAIN, TARGET_GAP, TARGET_PRETRAIN_S = 20.0, 3.0, 600.0


# --- running ------------------------------------------------------------------------------------

def run(workdir: Path, config: dict, reuse: bool, force: tuple[str, ...]) -> dict:
    """The pipeline in `workdir` (accuracy.snakemake, one job at a time on THREADS threads), with
    the load average before and after appended to the workdir's bench-runs.jsonl."""
    before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    wall = snakemake(workdir, config, reuse, cores=THREADS, force=force)
    record = {"started": started, "wall_s": round(wall, 1), "load_before": [round(v, 2) for v in before],
              "load_after": [round(v, 2) for v in os.getloadavg()], "reuse": reuse, "force": list(force)}
    with open(workdir / "bench-runs.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    return record


def stage_cpu(log: Path) -> tuple[float, float]:
    """(CPU seconds of the stage's process, of its DataLoader workers) from its log's last line of
    `lra <stage>: peak RSS …, CPU …`; NaN when the log has none (the job did not finish)."""
    found = CPU_LINE.findall(log.read_text(errors="replace")) if log.exists() else []
    if not found:
        return float("nan"), float("nan")
    _, cpu, workers = found[-1]
    return float(cpu), float(workers or 0)


def stage_wall(bench: Path) -> float:
    """Wall seconds of the job, from Snakemake's benchmark file (`s`)."""
    return float(pd.read_csv(bench, sep="\t").iloc[0]["s"]) if bench.exists() else float("nan")


def train_steps(log: Path) -> int | None:
    """Optimiser steps the train job took over all its rounds, from its log."""
    total = 0
    for _, per_epoch, steps, epochs in STEPS_LINE.findall(log.read_text(errors="replace") if log.exists() else ""):
        total += int(steps) if steps else int(epochs) * int(per_epoch)
    return total or None


def run_timing(workdir: Path, run: dict) -> dict:
    """Train's exact CPU, its wall and its steps for one run (metrics.json's `run`)."""
    key = paths.DATASET_RUN.format(**run)
    cpu, workers = stage_cpu(workdir / paths.log("train", key))
    return {"train_cpu_s": cpu + workers, "train_worker_cpu_s": workers,
            "train_wall_s": stage_wall(workdir / paths.bench("train", key)),
            "train_steps": train_steps(workdir / paths.log("train", key))}


def encoder_timing(workdir: Path, dataset: str, encoder: str) -> dict:
    """Pretrain (a SimCLR encoder only) and embed CPU and wall seconds of one encoder."""
    out = {}
    if encoder.startswith("simclr"):
        key = f"{dataset}/{encoder}"
        cpu, workers = stage_cpu(workdir / paths.log("pretrain", key))
        out |= {"pretrain_cpu_s": cpu + workers, "pretrain_worker_cpu_s": workers,
                "pretrain_wall_s": stage_wall(workdir / paths.bench("pretrain", key))}
    else:
        out |= {"pretrain_cpu_s": 0.0, "pretrain_worker_cpu_s": 0.0, "pretrain_wall_s": 0.0}
    logs = sorted((workdir / paths.LOGS / dataset / "embed" / encoder).glob("part-*.log"))
    cpus = [sum(stage_cpu(p)) for p in logs]
    out["embed_cpu_s"] = float(sum(cpus)) if logs else float("nan")
    out["embed_wall_s"] = float(sum(stage_wall(p.with_suffix("").with_suffix(".bench.tsv")) for p in logs)) \
        if logs else float("nan")
    return out


def last_load(workdir: Path) -> dict:
    """The load averages around the workdir's latest invocation, and when it started."""
    lines = (workdir / "bench-runs.jsonl").read_text().splitlines() if (workdir / "bench-runs.jsonl").exists() else []
    if not lines:
        return {}
    r = json.loads(lines[-1])
    return {"started": r["started"], "load_before": r["load_before"][0], "load_after": r["load_after"][0]}


# --- part simclr --------------------------------------------------------------------------------

def simclr_config(name: str, seed: int, data: Path) -> dict:
    base = pipeline_config(name, seed, data)
    return {**base, "encoder": [base["encoder"], SIMCLR], "noise": NOISE, "seed": seed, "method": METHOD,
            "predict": {"samples": 0}, "threads": THREADS}


def simclr_rows(workdir: Path, name: str, seed: int, pixels: str) -> list[dict]:
    out = []
    for r in rows(workdir, METHOD, seed):
        run = {"dataset": r["dataset"], "method": METHOD, "encoder": r["encoder"], "noise": r["noise"], "k": r["k"],
               "seed": seed}
        spec = SIMCLR if r["encoder"].startswith("simclr") else pixels
        out.append({**{k: r[k] for k in ("dataset", "seed", "noise")}, "bench_dataset": name, "encoder": spec,
                    **{m: r.get(m, np.nan) for m in METRICS}, "issues_f1": r["issues_f1"],
                    "cleanlab_issues_f1": r["cleanlab_issues_f1"], "n_test": r["n_test"],
                    **encoder_timing(workdir, r["dataset"], r["encoder"]), **run_timing(workdir, run),
                    **last_load(workdir)})
    return out


# --- part ephi ----------------------------------------------------------------------------------

def ephi_variants(steps: int, batch: int, size: int, extra: dict) -> dict[str, dict]:
    """E_φ arms at one budget: `train:` keys by variant name."""
    budget = {"steps": steps, "batch_size": batch, **extra}
    return {"features": budget,
            "resnet18": {**budget, "image_network": "resnet18", "image_size": size, "image_flip": False}}


def ephi_name(variant: str, train: dict) -> str:
    extra = "".join(f"-{k}{v}" for k, v in sorted(train.items())
                    if k not in ("steps", "batch_size", "image_network", "image_size", "image_flip"))
    size = f"-{train['image_size']}px" if "image_size" in train else ""
    return f"ephi-{variant}{size}-s{train['steps']}b{train['batch_size']}{extra}"


def ephi_config(name: str, seed: int, data: Path, train: dict) -> dict:
    return {**pipeline_config(name, seed, data), "noise": NOISE, "seed": seed, "method": METHOD,
            "predict": {"samples": 0}, "threads": THREADS, "baselines": [], "train": train}


def ephi_rows(workdir: Path, name: str, seed: int, variant: str, train: dict) -> list[dict]:
    out = []
    for path in sorted((workdir / "results").rglob("metrics.json")):
        m = json.loads(path.read_text())
        t = run_timing(workdir, m["run"])
        out.append({"dataset": m["run"]["dataset"], "bench_dataset": name, "seed": seed, "variant": variant,
                    "budget": "fixed", "image_size": train.get("image_size"), "first_round_steps": train["steps"],
                    "batch_size": train["batch_size"], "extra": json.dumps({k: v for k, v in train.items() if k not in (
                        "steps", "batch_size", "image_network", "image_size", "image_flip")}),
                    "lra": m["accuracy"], **t, "cpu_per_step_s": t["train_cpu_s"] / t["train_steps"]
                    if t["train_steps"] else np.nan, **last_load(workdir)})
    return out


def default_rows(simclr: pd.DataFrame) -> pd.DataFrame:
    """`features` at the default method's own length: part simclr's pixels runs."""
    px = simclr[~simclr["encoder"].str.startswith("simclr")]
    return pd.DataFrame({"dataset": px["dataset"], "bench_dataset": px["bench_dataset"], "seed": px["seed"],
                         "variant": "features", "budget": "default", "batch_size": train_params(METHOD)["batch_size"],
                         "lra": px["lra"], "train_cpu_s": px["train_cpu_s"], "train_worker_cpu_s": px["train_worker_cpu_s"],
                         "train_wall_s": px["train_wall_s"], "train_steps": px["train_steps"],
                         "cpu_per_step_s": px["train_cpu_s"] / px["train_steps"]})


# --- tables -------------------------------------------------------------------------------------

def ms(x: pd.Series, scale: float = 100.0, digits: int = 1) -> str:
    """mean ± sd (sd over seeds; '–' with one seed)."""
    x = scale * x.astype(float).dropna()
    if x.empty:
        return "–"
    sd = f"{x.std(ddof=1):.{digits}f}" if len(x) > 1 else "–"
    return f"{x.mean():.{digits}f} ± {sd}"


def simclr_table(raw: pd.DataFrame) -> str:
    cols = ["clean_knn_vote", "lra", "knn_vote", "linear_probe", "cleanlab"]
    head = ["dataset", "encoder", "seeds", *[HEAD[c] for c in cols], "pretrain wall s", "pretrain CPU s",
            "embed CPU s", "train CPU s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (ds, enc), g in raw.groupby(["dataset", "encoder"], sort=False):
        lines.append("| " + " | ".join([ds, f"`{enc}`", str(g["seed"].nunique()), *[ms(g[c]) for c in cols],
                                         ms(g["pretrain_wall_s"], 1, 0), ms(g["pretrain_cpu_s"], 1, 0),
                                         ms(g["embed_cpu_s"], 1, 1), ms(g["train_cpu_s"], 1, 0)]) + " |")
    return "\n".join(lines)


def simclr_targets(raw: pd.DataFrame, dataset: str = "glyphs") -> list[str]:
    g = raw[raw["dataset"] == dataset]
    if g.empty or g["encoder"].nunique() < 2:
        return [f"- no {dataset} rows with both encoders"]
    sim = g[g["encoder"] == SIMCLR].set_index("seed").sort_index()
    px = g[g["encoder"] != SIMCLR].set_index("seed").sort_index()
    seeds = sim.index.intersection(px.index)
    gain = 100 * (sim.loc[seeds, "lra"] - px.loc[seeds, "lra"])
    gap = 100 * (sim.loc[seeds, "clean_knn_vote"] - sim.loc[seeds, "lra"])
    wall = sim.loc[seeds, "pretrain_wall_s"]
    ok = lambda b: "met" if b else "missed"  # noqa: E731
    return [
        f"- {dataset} {NOISE}, LRA `simclr` − LRA `{px['encoder'].iloc[0]}` ≥ {TARGET_GAIN:.0f} points: "
        f"{ok(gain.mean() >= TARGET_GAIN)} ({gain.mean():+.1f} ± {gain.std(ddof=1):.1f}; per seed "
        f"{', '.join(f'{v:+.1f}' for v in gain)})",
        f"- {dataset} {NOISE}, clean kNN `simclr` − LRA `simclr` ≤ {TARGET_GAP:.0f} points: "
        f"{ok(gap.mean() <= TARGET_GAP)} ({gap.mean():+.1f} ± {gap.std(ddof=1):.1f}; per seed "
        f"{', '.join(f'{v:+.1f}' for v in gap)})",
        f"- {dataset} SimCLR training under {TARGET_PRETRAIN_S / 60:.0f} min wall on this 2-core machine: "
        f"{ok((wall < TARGET_PRETRAIN_S).all())} (longest {wall.max():.0f} s = {wall.max() / 60:.1f} min; "
        f"mean {wall.mean():.0f} s; CPU {sim.loc[seeds, 'pretrain_cpu_s'].mean():.0f} s)",
    ]


def ephi_table(raw: pd.DataFrame) -> str:
    head = ["dataset", "E_φ", "budget: first-round steps × batch", "seeds", "steps (all rounds)", "LRA",
            "train CPU s", "train wall s", "CPU s / step"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    raw = raw.assign(label=[f"{int(r.first_round_steps)} × {int(r.batch_size)}" + (f", {int(r.image_size)} px"
                                                                                  if r.variant == "resnet18" else "")
                            if r.budget == "fixed" else f"the default's own ({int(r.batch_size)} a step)"
                            for r in raw.itertuples()])
    for (ds, label, variant), g in raw.groupby(["dataset", "label", "variant"], sort=False):
        lines.append("| " + " | ".join([ds, f"`{variant}`", label, str(g["seed"].nunique()),
                                         f"{g['train_steps'].mean():.0f}", ms(g["lra"]), ms(g["train_cpu_s"], 1, 0),
                                         ms(g["train_wall_s"], 1, 0), ms(g["cpu_per_step_s"], 1, 3)]) + " |")
    return "\n".join(lines)


def markdown(simclr: pd.DataFrame | None, ephi: pd.DataFrame | None, note: str) -> str:
    out = [f"# SimCLR features and E_φ on pixels, on CPU, over seeds (issue 16)\n\n{note}\n"]
    if simclr is not None:
        order = {d: i for i, d in enumerate(DATASETS)}
        simclr = simclr.sort_values(["dataset", "encoder", "seed"], key=lambda s: s.map(order) if s.name == "dataset"
                                    else s.map(lambda e: e.startswith("simclr")) if s.name == "encoder" else s)
        out += ["## SimCLR against pixels (`method: default`, `noise: sym-0.4`)\n",
                "Test accuracy in %, mean ± sd over seeds; CPU seconds exact (the stage's process and its "
                "workers), wall seconds from the rules' benchmark files.\n", simclr_table(simclr), "",
                "Targets (glyphs, sym-0.4):", *simclr_targets(simclr), ""]
    if ephi is not None:
        if simclr is not None:
            ephi = pd.concat([ephi, default_rows(simclr)], ignore_index=True)
        out += ["## E_φ: `resnet18` on pixels against `features` (`method: default`, `noise: sym-0.4`, pixels encoder)\n",
                ephi_table(ephi.sort_values(["dataset", "budget", "variant", "seed"], key=lambda s: s.map(
                    {d: i for i, d in enumerate(DATASETS)}) if s.name == "dataset" else s, ascending=[True, False, True, True])),
                ""]
    return "\n".join(out)


def load(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, sep="\t") if path.exists() else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["simclr", "ephi", "all"], default="all")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "encoders")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--reuse", action="store_true", help="keep what Snakemake finds up to date (rerun only what changed)")
    p.add_argument("--retrain", action="store_true", help="force train → predict → score, keep pretrain and embed (unless their code changed)")
    p.add_argument("--ephi-steps", type=int, default=400, help="first-round train.steps of both E_φ arms")
    p.add_argument("--ephi-batch", type=int, default=64)
    p.add_argument("--ephi-size", type=int, default=16, help="train.image_size of the ResNet arm")
    p.add_argument("--ephi-keys", type=json.loads, default={}, help="more train: keys for both arms, as JSON")
    p.add_argument("--ephi-only", nargs="*", choices=["features", "resnet18"], help="a subset of the E_φ arms")
    p.add_argument("--table", action="store_true", help="only rewrite encoders.md from the raw rows")
    p.add_argument("--note", default="", help="a line for the top of encoders.md (what else ran, the command)")
    args = p.parse_args()
    tsv, ephi_tsv = args.results / "encoders.tsv", args.results / "encoders-ephi.tsv"
    if not args.table:
        force = ("train",) if args.retrain else ("pretrain", "train")
        reuse = args.reuse and not args.retrain
        work = []
        for seed in args.seeds:  # seed-major: an interrupted bench leaves whole seeds behind
            for name in args.datasets:
                base = args.out / name / f"seed{seed}"
                if args.part in ("simclr", "all"):
                    cfg = simclr_config(name, seed, args.out / "data")
                    work.append(("simclr", base / "lra", cfg, name, seed, cfg["encoder"][0]))
                if args.part in ("ephi", "all"):
                    for variant, train in ephi_variants(args.ephi_steps, args.ephi_batch, args.ephi_size,
                                                        args.ephi_keys).items():
                        if not args.ephi_only or variant in args.ephi_only:
                            work.append(("ephi", base / ephi_name(variant, train),
                                         ephi_config(name, seed, args.out / "data", train), name, seed, (variant, train)))
        new = {"simclr": [], "ephi": []}
        failed = []
        for part, workdir, cfg, name, seed, extra in work:
            try:
                r = run(workdir, cfg, reuse, force)
            except subprocess.CalledProcessError:
                failed.append(workdir)
                print(f"{workdir.relative_to(args.out)}: FAILED: {failure(workdir / 'snakemake.log')}", file=sys.stderr)
                continue
            print(f"{workdir.relative_to(args.out)}: {r['wall_s']:.0f} s wall, load {r['load_before'][0]:.1f} → "
                  f"{r['load_after'][0]:.1f}", file=sys.stderr, flush=True)
            got = simclr_rows(workdir, name, seed, extra) if part == "simclr" else ephi_rows(workdir, name, seed, *extra)
            new[part] += got
            for row in got:
                print(json.dumps({k: v for k, v in row.items() if k in ("dataset", "seed", "encoder", "variant", "lra",
                                                                         "clean_knn_vote", "train_cpu_s", "pretrain_wall_s")}),
                      flush=True)
        args.results.mkdir(parents=True, exist_ok=True)
        for part, path, keys in (("simclr", tsv, ["dataset", "seed", "encoder"]),
                                 ("ephi", ephi_tsv, ["dataset", "seed", "variant", "image_size", "first_round_steps",
                                                     "batch_size", "extra"])):
            if not new[part]:
                continue
            fresh = pd.DataFrame(new[part])
            old = load(path)
            if old is not None:  # rows of other datasets, seeds or budgets stay; these replace their own
                merged = pd.concat([old, fresh], ignore_index=True)
                fresh = merged.drop_duplicates(subset=keys, keep="last")
            fresh.to_csv(path, sep="\t", index=False, float_format="%.4f")
        if failed:
            print(f"{len(failed)} of {len(work)} runs failed: " + ", ".join(map(str, failed)), file=sys.stderr)
    text = markdown(load(tsv), load(ephi_tsv), args.note)
    (args.results / "encoders.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
