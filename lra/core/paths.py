"""Every path the DAG writes, as one template each (Snakemake wildcards in braces).

The rule files use these templates as their inputs and outputs, `lra.workflow` fills them to list
a config's targets, and messages quote them: a path is spelled here and nowhere else. All paths
are relative to the working directory (`snakemake -d`).
"""

from __future__ import annotations

from pathlib import Path

RESULTS = "results"
LOGS = "logs"

MANIFEST = f"{RESULTS}/{{dataset}}/manifest.parquet"
ENCODER = f"{RESULTS}/{{dataset}}/encoders/{{encoder}}.pt"  # a trained encoder's weights (simclr: pretrain)
LABELS = f"{RESULTS}/{{dataset}}/labels/{{noise}}/seed{{seed}}.parquet"
FEATURES = f"{RESULTS}/{{dataset}}/features/{{encoder}}/part-{{shard}}.parquet"
INDEX = f"{RESULTS}/{{dataset}}/index/{{encoder}}.faiss"
NEIGHBORS = f"{RESULTS}/{{dataset}}/neighbors/{{encoder}}/k{{k}}.parquet"

# One run of the grid: a (method, encoder, noise, k, seed) cell of a dataset.
RUN_KEY = "{method}/{encoder}/{noise}/k{k}/seed{seed}"
RUN = f"{RESULTS}/{{dataset}}/runs/{RUN_KEY}"
DATASET_RUN = f"{{dataset}}/{RUN_KEY}"  # a run's wildcards, for its log files
DATASET_RUN_IMAGES = f"{DATASET_RUN}/{{images}}"  # an infer job's
MODEL = f"{RUN}/model.pt"
PREDICTIONS = f"{RUN}/predictions.parquet"
METRICS = f"{RUN}/metrics.json"
ISSUES = f"{RUN}/label_issues.parquet"
CLEANED = f"{RUN}/cleaned.csv"
INFER = f"{RUN}/infer/{{images}}.csv"
FIGURES = f"{RUN}/figures"
RUN_FIGURE = f"{FIGURES}/{{name}}.png"

SUMMARY = f"{RESULTS}/summary.tsv"
SUMMARY_MEAN = f"{RESULTS}/summary_mean.tsv"
GRID_FIGURE = f"{RESULTS}/figures/{{name}}.png"


def log(stage: str, key: str = "{dataset}") -> str:
    """A job's log: logs/<stage>.log for a job over all datasets (key ""), logs/<dataset>/<stage>.log
    for one per dataset, logs/<dataset>/<stage>/<rest of key>.log for finer ones (e.g. key
    DATASET_RUN: one log per run)."""
    if not key:
        return f"{LOGS}/{stage}.log"
    dataset, _, rest = key.partition("/")
    return f"{LOGS}/{dataset}/{stage}.log" if not rest else f"{LOGS}/{dataset}/{stage}/{rest}.log"


def bench(stage: str, key: str = "{dataset}") -> str:
    """The job's Snakemake benchmark file, beside its log."""
    return log(stage, key).removesuffix(".log") + ".bench.tsv"


def workdir(run_dir) -> Path:
    """The working directory a run folder's results tree lies in (the folder holding `results/`),
    for paths relative to it (`-d` of the snakemake that made the run)."""
    run = Path(run_dir).resolve()
    depth = RUN.count("/")  # results/{dataset}/runs/<method>/<encoder>/<noise>/k<k>/seed<seed>
    return run.parents[depth] if len(run.parents) > depth else run


def run_layout() -> str:
    """The run folder as a user reads it in a message."""
    return RUN.replace("{", "<").replace("}", ">") + "/"
