"""Helpers the Snakemake rules use to turn the config into targets (kept here to be testable).

The grid of runs is the product of every list-valued run key: `encoder`, `noise`, `knn_k` and
`seed` each take one value or a list. A seed list re-seeds the noise draw, training, sampling and
the baselines; the data split is drawn once per dataset (`dataset.split_seed`, default the first
seed), so every seed of a grid scores the same test items.
"""

from __future__ import annotations

import itertools
import json

from .encoders import slug
from .errors import LraError
from .versions import code_version  # noqa: F401  (rule params: code=lw.code_version("<stage>"))

GRID_KEYS = ("encoder", "noise", "knn_k", "seed")


def as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def dataset_name(config: dict) -> str:
    spec = config["dataset"]
    if spec.get("name"):
        return spec["name"]
    if spec.get("kind", "bundled") == "bundled":
        return "digits"
    if spec.get("kind") not in ("folder", "embeddings"):
        return spec["kind"]  # a paper benchmark: results/cifar10/, results/clothing1m/, ...
    from pathlib import Path

    path = spec.get("csv") or spec.get("path")
    if not path:
        raise LraError("config key dataset.name: give the dataset a name (it becomes results/<name>/)")
    return Path(path).stem


def is_embeddings(config: dict) -> bool:
    return config["dataset"].get("kind") == "embeddings"


def encoders(config: dict) -> dict[str, str]:
    """Path-safe encoder names → encoder specs. An embeddings dataset has one: `given`."""
    if is_embeddings(config):
        return {"given": "given"}
    return {slug(spec): spec for spec in as_list(config["encoder"])}


def seeds(config: dict) -> list[int]:
    return [int(s) for s in as_list(config["seed"])]


def split_seed(config: dict) -> int:
    """The seed of the data split: dataset.split_seed, else the first run seed."""
    chosen = config["dataset"].get("split_seed")
    return int(chosen) if chosen is not None else seeds(config)[0]


def runs(config: dict) -> list[dict]:
    """Every (dataset, encoder, noise, k, seed) run of the grid."""
    noises = as_list(config["noise"])
    ks = [int(k) for k in as_list(config["knn_k"])]
    return [
        {"dataset": dataset_name(config), "encoder": enc, "noise": noise, "k": k, "seed": seed}
        for enc, noise, k, seed in itertools.product(encoders(config), noises, ks, seeds(config))
    ]


def run_dir(run: dict, results: str = "results") -> str:
    """A run's folder: results/<dataset>/runs/<encoder>/<noise>/k<k>/seed<seed>."""
    return f"{results}/{run['dataset']}/runs/{run['encoder']}/{run['noise']}/k{run['k']}/seed{run['seed']}"


def metrics_files(config: dict, results: str = "results") -> list[str]:
    return [f"{run_dir(r, results)}/metrics.json" for r in runs(config)]


def cleaned_files(config: dict, results: str = "results") -> list[str]:
    """Every run's cleaned.csv (the dataset with the `clean:` policy applied)."""
    return [f"{run_dir(r, results)}/cleaned.csv" for r in runs(config)]


def infer_files(config: dict, results: str = "results") -> list[str]:
    """With `infer_csv` set, every run's `infer/<stem of infer_csv>.csv`; else none."""
    csv = config.get("infer_csv")
    if not csv:
        return []
    from pathlib import Path
    import re

    stem = Path(csv).stem
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", stem):
        raise LraError(f"config key infer_csv: {csv!r}; name the CSV with letters, digits, '_', '.' or '-' "
                       "(its name becomes <run>/infer/<name>.csv)")
    if is_embeddings(config):
        raise LraError("config key infer_csv: runs on a dataset of kind embeddings have no image encoder; "
                       "predict on vectors with lra infer --run RUN --features FILE.parquet --out PRED.csv")
    return [f"{run_dir(r, results)}/infer/{stem}.csv" for r in runs(config)]


# The figures of a run (`<run>/figures/<name>.png`, rule plots) and of a grid (`figures/<name>.png`
# beside summary.tsv, rule grid_plots).
RUN_FIGURES = ("training", "accuracy", "confusion", "per_class", "label_issues", "uncertainty")
GRID_FIGURES = ("accuracy_vs_k", "accuracy_vs_noise")


def is_grid(config: dict) -> bool:
    """A list for any grid key (an embeddings dataset ignores `encoder`) asks for the grid figures."""
    keys = [k for k in GRID_KEYS if not (k == "encoder" and is_embeddings(config))]
    return any(isinstance(config[k], (list, tuple)) for k in keys)


def figure_files(config: dict, results: str = "results") -> list[str]:
    """Every run's figures, and the grid figures when the config has a grid."""
    files = [f"{run_dir(r, results)}/figures/{name}.png" for r in runs(config) for name in RUN_FIGURES]
    if is_grid(config):
        files += [f"{results}/figures/{name}.png" for name in GRID_FIGURES]
    return files


def shard_names(config: dict) -> list[str]:
    return [f"{i:05d}" for i in range(int(config["embed"]["shards"]))]


def dataset_files(config: dict) -> list[str]:
    """The user's file the data stage reads (folder CSV or embeddings Parquet): an edited file
    reruns the data stage and what follows (Snakemake's mtime trigger)."""
    from pathlib import Path

    path = config["dataset"].get({"folder": "csv", "embeddings": "path"}.get(config["dataset"].get("kind"), ""))
    return [str(Path(path).expanduser().resolve())] if path else []


def feature_files(config: dict, dataset: str, encoder: str, results: str = "results") -> list[str]:
    """The feature Parquet file(s) of an encoder: embed shards, or the user's embeddings file."""
    if is_embeddings(config):
        from pathlib import Path

        return [str(Path(config["dataset"]["path"]).expanduser().resolve())]
    return [f"{results}/{dataset}/features/{encoder}/part-{s}.parquet" for s in shard_names(config)]


def embed_options(config: dict) -> dict:
    """embed.options with its unset keys left out and device defaulting to the top-level device."""
    options = {k: v for k, v in config["embed"].get("options", {}).items() if v is not None}
    options.setdefault("device", config.get("device", "auto"))
    return options


def noise_features(config: dict, dataset: str, noise: str, results: str = "results") -> list[str]:
    """Feature files the noise stage reads: PMD's clean classifier uses the first encoder's."""
    from .noise import needs_features

    if not needs_features(noise):
        return []
    return feature_files(config, dataset, next(iter(encoders(config))), results)


def noise_threads(config: dict, noise: str) -> int:
    """PMD noise fits a classifier on the features (BLAS): the heavy stages' threads; others need one."""
    from .noise import needs_features

    return int(config["threads"]) if needs_features(noise) else 1


def as_json(value) -> str:
    """Stable JSON for rule params (a changed value reruns the rule and what follows it)."""
    return json.dumps(value, sort_keys=True)


# Keys of the train block that change how a job runs, not what it computes.
TRAIN_RUN_KEYS = {"checkpoint_minutes": 5}


def train_params(config: dict) -> dict:
    """The train hyper-parameters of a run: the `method` preset under the user's `train:` keys,
    without `TRAIN_RUN_KEYS` (what the rule's tracked params carry)."""
    from .methods import train_params as resolve

    return {k: v for k, v in resolve(config).items() if k not in TRAIN_RUN_KEYS}


def train_run_key(config: dict, key: str):
    """A `TRAIN_RUN_KEYS` value: the user's, else its default."""
    return (config.get("train") or {}).get(key, TRAIN_RUN_KEYS[key])


class Untracked:
    """A rule param that reaches the shell command (str) but never reruns a job: Snakemake's
    params trigger records only builtin values, and its repr is constant besides."""

    def __init__(self, value):
        self.value = value

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return "Untracked()"
