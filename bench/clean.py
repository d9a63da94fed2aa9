"""cleaned.csv's policies measured on a finished run whose dataset has true labels, and lra infer on
the run's own images written out as PNGs (bundled digits).

Runs the workflow in --work (the embedded default plus --config-file overrides; reuses what is
there), applies each clean policy to the same run with `lra.export.clean`, and prints how many
train+val labels are right before and after, with the flags' precision and recall. Then, for the
bundled digits, writes the images as PNGs, infers on them and compares with predictions.parquet.

    python bench/clean.py --work /tmp/lra-clean                        # the embedded default
    python bench/clean.py --work /tmp/lra-clean --config-file fast.yaml   # e.g. train: {epochs: 150, min_steps: 0}
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

POLICIES = [("relabel", 0.2), ("relabel", 0.5), ("relabel", 1.0), ("drop", 0.2), ("keep", 0.2)]


def main() -> None:
    from lra import export, infer, workflow
    from lra.data import datasets
    from lra.data.stage import load_manifest

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True, help="Snakemake working directory")
    p.add_argument("--config-file", type=Path, default=None, help="merged over config.yaml")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    configs = [str(REPO / "config.yaml")] + ([str(args.config_file.resolve())] if args.config_file else [])
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"), "-d",
                    str(args.work), "--cores", "all", "--configfile", *configs], check=True, env=env)

    import yaml

    config = {}
    for c in configs:
        config = {**config, **yaml.safe_load(Path(c).read_text())}
    run_info = workflow.runs(config)[0]  # config.yaml sets every grid key
    results = args.work / "results" / run_info["dataset"]
    run = args.work / workflow.run_dir(run_info)
    feats = sorted(str(p) for p in (results / "features" / run_info["encoder"]).glob("part-*.parquet"))
    labels = results / "labels" / run_info["noise"] / f"seed{run_info['seed']}.parquet"
    m = load_manifest(results / "manifest.parquet")
    names = np.asarray(m.classes, dtype=object)
    truth = names[m.frame["clean_label"].to_numpy(np.int64)]
    training = m.frame["split"].isin(["train", "val"]).to_numpy()
    print(f"run {run}: {training.sum()} train+val rows")
    print("| policy | flagged | precision | recall | train+val labels right | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for action, max_p in POLICIES:
        t0 = time.perf_counter()
        c = export.clean(results / "manifest.parquet", labels, run / "predictions.parquet", feats,
                         args.work / f"cleaned-{action}-{max_p}.csv", action=action, max_p_given=max_p)
        seconds = time.perf_counter() - t0
        pos = pd.Index(m.frame["id"]).get_indexer(c["id"])
        tr = training[pos]
        wrong = (c["given_label"].to_numpy() != truth[pos]) & tr
        flagged = c["flagged"].to_numpy() & tr
        n_flag = int(training.sum() - tr.sum()) if action == "drop" else int(flagged.sum())
        precision = (wrong & flagged).sum() / max(flagged.sum(), 1)
        recall = (wrong & flagged).sum() / max(wrong.sum(), 1)
        right = (c["label"].to_numpy()[tr] == truth[pos][tr]).mean()
        given = (c["given_label"].to_numpy()[tr] == truth[pos][tr]).mean()
        stats = ("", "") if action == "drop" else (f"{precision:.3f}", f"{recall:.3f}")
        print(f"| {action}, max_p_given {max_p} | {n_flag}{' left out' if action == 'drop' else ''} | {stats[0]} | "
              f"{stats[1]} | {right:.4f} of {tr.sum()} (given: {given:.4f}) | {seconds:.2f} |")

    if m.meta["kind"] != "bundled":
        return
    png = args.work / "digits_png"
    png.mkdir(exist_ok=True)
    for i, src in enumerate(m.frame["source"]):
        if not (png / f"{i:04d}.png").exists():
            datasets.load_digit(src).save(png / f"{i:04d}.png")
    pd.DataFrame({"path": [f"{i:04d}.png" for i in range(len(m.frame))]}).to_csv(png / "all.csv", index=False)
    t0 = time.perf_counter()
    out = infer.infer(run, args.work / "pred_digits.csv", images=png / "all.csv", device="cpu")
    seconds = time.perf_counter() - t0
    pred = pd.read_parquet(run / "predictions.parquet")
    same = (out["predicted"].to_numpy() == names[pred["predicted"].to_numpy()]).mean()
    print(f"infer: {len(out)} PNGs in {seconds:.1f} s ({len(out) / seconds:.0f} images/s); deterministic class "
          f"equal to predictions.parquet on {same:.4f} of them")


if __name__ == "__main__":
    main()
