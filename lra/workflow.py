"""Helpers the Snakemake rules use to turn the config into targets (kept here to be testable).

The grid of runs is the product of every list-valued run key: `method`, `encoder`, `noise`,
`knn_k` and `seed` each take one value or a list. A seed list re-seeds the noise draw, training,
sampling and the baselines; the data split is drawn once per dataset (`dataset.split_seed`,
default the first seed), so every seed of a grid scores the same test items, and a simclr
encoder is trained once per dataset with that seed, so every seed sees the same features. Every
path comes from `lra.core.paths`.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from .core import paths
from .core.errors import LraError
from .data.manifest import dataset_name as _dataset_name
from .diffusion import config as hyper
from .embed import config as simclr_config
from .embed import encoders as embed_encoders
from .report import GRID_FIGURES, OVERVIEW_FIGURES, RUN_FIGURES
from .stages import code_version  # noqa: F401  (rule params: code=lw.code_version("<stage>"))

GRID_KEYS = ("method", "encoder", "noise", "knn_k", "seed")


def as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def dataset_name(config: dict) -> str:
    return _dataset_name(config["dataset"])


def is_embeddings(config: dict) -> bool:
    return config["dataset"].get("kind") == "embeddings"


def encoders(config: dict) -> dict[str, str]:
    """Path-safe encoder names → encoder specs, each checked (an unknown kind or SimCLR backbone
    fails here, naming the key). An embeddings dataset has one: `given`."""
    specs = [str(spec) for spec in as_list(config["encoder"])]
    if is_embeddings(config):
        trained = [spec for spec in specs if embed_encoders.needs_weights(spec)]
        if trained:
            raise LraError(f"config key encoder: {trained[0]} trains an encoder on the dataset's images, and a dataset "
                           "of kind embeddings has none (its vectors are the features); leave encoder out, or give "
                           "the images as a dataset of kind folder")
        return {"given": "given"}
    for spec in specs:
        embed_encoders.check(spec)
    return {embed_encoders.slug(spec): spec for spec in specs}


def seeds(config: dict) -> list[int]:
    return [int(s) for s in as_list(config["seed"])]


def methods(config: dict) -> list[str]:
    found = as_list(config.get("method", "default"))
    for method in found:
        hyper.preset(method)  # an unknown method fails here, naming the key
    return found


def split_seed(config: dict) -> int:
    """The seed of the data split: dataset.split_seed, else the first run seed."""
    chosen = config["dataset"].get("split_seed")
    return int(chosen) if chosen is not None else seeds(config)[0]


def runs(config: dict) -> list[dict]:
    """Every (dataset, method, encoder, noise, k, seed) run of the grid."""
    noises = as_list(config["noise"])
    ks = [int(k) for k in as_list(config["knn_k"])]
    return [
        {"dataset": dataset_name(config), "method": method, "encoder": enc, "noise": noise, "k": k, "seed": seed}
        for method, enc, noise, k, seed in itertools.product(methods(config), encoders(config), noises, ks,
                                                             seeds(config))
    ]


def check_image_network(config: dict) -> None:
    """E_φ's keys (train.image_*), checked when the DAG is built so that a bad choice fails before any
    job runs: a known network; one on pixels needs a dataset with images and, with ImageNet weights,
    their file and the ImageNet stem; the image keys mean nothing to `features`."""
    train = config.get("train") or {}
    name = train.get("image_network", "features")
    hyper.check_image_network(name)
    if name == "features":
        stray = [k for k in hyper.IMAGE_KEYS if train.get(k) is not None]
        if stray:
            raise LraError(f"config key train.{stray[0]}: only an image network reads it, and train.image_network "
                           "is features (E_φ over the cached features); set train.image_network: resnet18, "
                           "resnet34 or resnet50, or remove the key")
        return
    if is_embeddings(config):
        raise LraError(f"config key train.image_network: {name} trains E_φ on the images, but dataset.kind "
                       "embeddings has vectors and no images to read; use train.image_network: features")
    weights = train.get("image_weights")
    if weights:
        size = int(train.get("image_size", hyper.TrainConfig.image_size))
        if size <= hyper.CIFAR_STEM_MAX:
            raise LraError(f"config key train.image_weights: ImageNet weights fit the ImageNet stem (a 7x7 first conv "
                           f"and a max-pool), but at train.image_size {size} (up to {hyper.CIFAR_STEM_MAX}) {name} "
                           "takes the CIFAR stem; raise image_size (the paper: 224) or remove image_weights")
        if not Path(weights).expanduser().is_file():
            raise LraError(f"config key train.image_weights: no file {weights!r} (relative paths: to the working "
                           f"directory); put torchvision's ImageNet {name} state dict there (docs/method.md, "
                           "\"E_φ on pixels\"); nothing is downloaded")


def image_weights(config: dict) -> list[str]:
    """The train rule's extra input: the ImageNet weights file of E_φ when one is set (a new file reruns train)."""
    weights = (config.get("train") or {}).get("image_weights")
    return [str(Path(weights).expanduser())] if weights else []


def run_dir(run: dict) -> str:
    """A run's folder (lra.core.paths.RUN)."""
    return paths.RUN.format(**run)


def metrics_files(config: dict) -> list[str]:
    return [paths.METRICS.format(**r) for r in runs(config)]


def cleaned_files(config: dict) -> list[str]:
    """Every run's cleaned.csv (the dataset with the `clean:` policy applied)."""
    return [paths.CLEANED.format(**r) for r in runs(config)]


def infer_files(config: dict) -> list[str]:
    """With `infer_csv` set, every run's `infer/<stem of infer_csv>.csv`; else none."""
    csv = config.get("infer_csv")
    if not csv:
        return []
    stem = Path(csv).stem
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", stem):
        raise LraError(f"config key infer_csv: {csv!r}; name the CSV with letters, digits, '_', '.' or '-' "
                       "(its name becomes <run>/infer/<name>.csv)")
    if is_embeddings(config):
        raise LraError("config key infer_csv: runs on a dataset of kind embeddings have no image encoder; "
                       "predict on vectors with lra infer --run RUN --features FILE.parquet --out PRED.csv")
    return [paths.INFER.format(**r, images=stem) for r in runs(config)]


def is_grid(config: dict) -> bool:
    """A list for any grid key (an embeddings dataset ignores `encoder`) asks for the grid figures."""
    keys = [k for k in GRID_KEYS if not (k == "encoder" and is_embeddings(config))]
    return any(isinstance(config.get(k), (list, tuple)) for k in keys)


def figure_files(config: dict) -> list[str]:
    """Every run's figures, the who-won figure over all runs, and the grid figures when the config
    has a grid."""
    files = [paths.RUN_FIGURE.format(**r, name=name) for r in runs(config) for name in RUN_FIGURES]
    return files + [paths.GRID_FIGURE.format(name=name) for name in grid_figures(config)]


def grid_figures(config: dict) -> list[str]:
    """The names of the figures stage grid_plots draws: `accuracy` (who won), and the sweeps over
    k and noise when the config has a grid."""
    return [*OVERVIEW_FIGURES, *(GRID_FIGURES if is_grid(config) else ())]


def final_outputs(config: dict) -> list[str]:
    """What `rule all` asks for: the summary, every run's cleaned.csv and figures, and its
    inferences when `infer_csv` is set."""
    return [paths.SUMMARY, *cleaned_files(config), *infer_files(config), *figure_files(config)]


def shard_names(config: dict) -> list[str]:
    return [f"{i:05d}" for i in range(int(config["embed"]["shards"]))]


def dataset_files(config: dict) -> list[str]:
    """The user's file the data stage reads (folder CSV or embeddings Parquet): an edited file
    reruns the data stage and what follows (Snakemake's mtime trigger)."""
    path = config["dataset"].get({"folder": "csv", "embeddings": "path"}.get(config["dataset"].get("kind"), ""))
    return [str(Path(path).expanduser().resolve())] if path else []


def feature_files(config: dict, dataset: str, encoder: str) -> list[str]:
    """The feature Parquet file(s) of an encoder: embed shards, or the user's embeddings file."""
    if is_embeddings(config):
        return [str(Path(config["dataset"]["path"]).expanduser().resolve())]
    return [paths.FEATURES.format(dataset=dataset, encoder=encoder, shard=s) for s in shard_names(config)]


def encoder_weights(config: dict, dataset: str, encoder: str) -> list[str]:
    """The weights file an encoder is embedded with (simclr: the pretrain stage's), else none."""
    if is_embeddings(config) or not embed_encoders.needs_weights(encoders(config)[encoder]):
        return []
    return [paths.ENCODER.format(dataset=dataset, encoder=encoder)]


def pretrain_params(config: dict, spec: str) -> str:
    """The pretrain rule's tracked params, as JSON: the user's `pretrain:` keys over the backbone's
    defaults (lra.embed.config), with the device and the dataset's split seed: the encoder is
    made once per dataset, like its features, so every run seed of a grid shares it."""
    return as_json(simclr_config.pretrain_params(simclr_config.backbone_of(spec), config.get("pretrain"),
                                                 split_seed(config), config["device"]))


def pretrain_run_args(config: dict) -> str:
    """The pretrain command's options that change how the job runs, not the weights (never rerun
    it): checkpoint_minutes and num_workers of the `pretrain:` block, embed.options.bad_images."""
    keys = simclr_config.RUN_KEYS
    block = {**keys, **{k: v for k, v in (config.get("pretrain") or {}).items() if k in keys}}
    args = f"--checkpoint-minutes {block['checkpoint_minutes']}"
    if block["num_workers"] is not None:
        args += f" --num-workers {int(block['num_workers'])}"
    return args + f" --bad-images {config['embed'].get('options', {}).get('bad_images', 'fail')}"


def embed_options(config: dict) -> dict:
    """embed.options with its unset keys left out and device defaulting to the top-level device."""
    options = {k: v for k, v in config["embed"].get("options", {}).items() if v is not None}
    options.setdefault("device", config.get("device", "auto"))
    return options


def noise_features(config: dict, dataset: str, noise: str) -> list[str]:
    """Feature files the noise stage reads: PMD's clean classifier uses the first encoder's."""
    from .data.noise import needs_features

    if not needs_features(noise):
        return []
    return feature_files(config, dataset, next(iter(encoders(config))))


def noise_threads(config: dict, noise: str) -> int:
    """PMD noise fits a classifier on the features (BLAS): the heavy stages' threads; others need one."""
    from .data.noise import needs_features

    return int(config["threads"]) if needs_features(noise) else 1


def as_json(value) -> str:
    """Stable JSON for rule params (a changed value reruns the rule and what follows it)."""
    return json.dumps(value, sort_keys=True)


def train_params(config: dict, method: str, seed) -> str:
    """The train rule's tracked params, as JSON: the `method` preset under the user's `train:`
    keys (lra.diffusion.config), without the run keys, with the run's seed and device."""
    return as_json({**hyper.train_params(method, config.get("train")), "seed": int(seed), "device": config["device"]})


def predict_params(config: dict, seed) -> str:
    """The predict rule's params, as JSON: the user's `predict:` keys over PredictConfig's defaults,
    with the run's seed and device."""
    return as_json({**hyper.predict_params(config.get("predict")), "seed": int(seed), "device": config["device"]})


def train_run_key(config: dict, key: str):
    """A run key of the train block (lra.diffusion.config.RUN_KEYS): the user's, else its default."""
    return (config.get("train") or {}).get(key, hyper.RUN_KEYS[key])


def train_workers(config: dict) -> str:
    """lra train's --num-workers: the train block's num_workers, or auto (the job's threads but one)."""
    n = train_run_key(config, "num_workers")
    return "auto" if n is None else str(int(n))


class Untracked:
    """A rule param that reaches the shell command (str) but never reruns a job: Snakemake's
    params trigger records only builtin values, and its repr is constant besides."""

    def __init__(self, value):
        self.value = value

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return "Untracked()"
