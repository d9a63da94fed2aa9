"""The stages of the DAG, in one table: each is a function on files in its family's package
(the package named like the rule file that calls it), its command-line arguments, and the
libraries whose thread pools it uses.

The CLI (`lra <stage> ...`) builds its parser and calls the function from this table, the
threads are set from it, and the code versions (`lra.core.versions`) start from its functions.
Adding a stage is one entry here plus its function (and its rule). From Python, every stage is
`lra.stages.<name>(...)`: `from lra import stages; stages.train(manifest, labels, ...)`.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Callable


def _json(text: str):
    import argparse

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


def _workers(text: str) -> int | None:
    """--num-workers: a count of processes, or `auto` (the job's threads but one, at most 8)."""
    import argparse

    if text == "auto":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of processes (0: the main process) or auto")
    return int(text)


@dataclass(frozen=True)
class Arg:
    """One command-line argument: argparse's flags and options; its dest is the function's keyword."""

    flags: tuple[str, ...]
    options: dict


def arg(*flags: str, **options) -> Arg:
    return Arg(flags, options)


def path(flag: str, dest: str | None = None, **options) -> Arg:
    """A required file argument (--manifest, --out, ...)."""
    return arg(flag, required=True, **({"dest": dest} if dest else {}), **options)


def features(required: bool = True) -> Arg:
    return arg("--features", dest="feature_paths", nargs="+" if required else "*", required=required,
               default=None, help="feature Parquet shard(s)")


def params(help: str) -> Arg:
    return arg("--params", type=_json, default={}, help=help)


@dataclass(frozen=True)
class Stage:
    name: str  # the rule's name; the CLI's subcommand (with '-' for '_')
    target: str  # "module:function" of the stage function
    help: str
    args: tuple[Arg, ...]
    libraries: tuple[str, ...] | Callable = ()  # thread pools to set before it runs (or a function of the args)
    expand: str | None = None  # a JSON object argument whose keys become the function's keywords
    prints: bool = False  # print the returned table

    @property
    def command(self) -> str:
        return self.name.replace("_", "-")

    def function(self) -> Callable:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    def thread_libraries(self, args) -> tuple[str, ...]:
        return self.libraries(args) if callable(self.libraries) else self.libraries


def _embed_libraries(args) -> tuple[str, ...]:
    return () if args.encoder.startswith("pixels") else ("torch",)


TABLE = (
    Stage("data", "lra.data.stage:data", "dataset config → manifest.parquet", (
        path("--out"),
        arg("--spec", type=_json, required=True, help="the config's dataset block, as JSON"),
        arg("--seed", type=int, default=0))),
    Stage("noise", "lra.data.stage:noise", "manifest → observed labels under a noise spec", (
        path("--manifest"), path("--out"),
        arg("--spec", required=True, help="given | sym-<rate> | asym-<rate> | pmd-<rate> | file-<name>"),
        arg("--class-map", type=_json, default=None, help='asym class map as JSON, e.g. {"cat": "dog"}'),
        arg("--features", dest="feature_paths", nargs="*", default=None,
            help="feature shards (pmd noise: its clean classifier)"),
        arg("--noise-files", type=_json, default=None, help='file-<name> specs: {"name": "labels.npy"}'),
        arg("--seed", type=int, default=0))),
    Stage("pretrain", "lra.embed.stage:pretrain",
          "train split's images → a SimCLR encoder's weights (encoder simclr[:<backbone>]; no labels)", (
              path("--manifest"), path("--encoder", help="simclr (a small CNN) or simclr:resnet18|resnet34|resnet50"),
              path("--out"),
              params("SimCLR hyperparameters as JSON (lra.embed.config.SimCLRConfig, without backbone and num_workers)"),
              arg("--checkpoint-minutes", type=float, default=5.0,
                  help="save <out>.ckpt this often (0: only on SIGTERM); a rerun resumes from it"),
              arg("--num-workers", type=int, default=None,
                  help="DataLoader workers making the views (default: --threads - 1, at most 8); speed only"),
              arg("--bad-images", default="fail", choices=["fail", "skip"],
                  help="an unreadable train image stops the run (fail) or is left out (skip)")),
          libraries=("torch",)),
    Stage("embed", "lra.embed.stage:embed", "manifest → one feature shard", (
        path("--manifest"), path("--encoder"), path("--out"),
        arg("--weights", default=None, help="encoder simclr: the weights file lra pretrain wrote"),
        arg("--shard", type=int, default=0),
        arg("--num-shards", type=int, default=1),
        arg("--dtype", default="float32", choices=["float32", "float16"]),
        arg("--options", type=_json, default={}, help="encoder options as JSON")),
        libraries=_embed_libraries, expand="options"),
    Stage("index", "lra.retrieval.stage:index", "feature shards → FAISS index over the train split", (
        path("--manifest"), path("--out"), features(),
        arg("--index-type", default="auto", help="auto or a FAISS index_factory string")),
        libraries=("faiss",)),
    Stage("neighbors", "lra.retrieval.stage:neighbors", "index → k nearest train items of every item, self excluded", (
        path("--manifest"), path("--index", "index_path"), path("--out"), features(),
        arg("-k", "--k", type=int, required=True),
        arg("--device", default="auto")),
        libraries=("faiss",)),
    Stage("train", "lra.diffusion.stage:train", "train the LRA denoiser", (
        path("--manifest"), path("--labels"), path("--neighbors", "neighbors_path"), path("--out"), features(),
        params("train hyperparameters as JSON (lra.diffusion.config.TrainConfig)"),
        arg("--checkpoint-minutes", type=float, default=5.0,
            help="save train.ckpt beside --out this often (0: only on SIGTERM); a rerun resumes from it"),
        arg("--num-workers", type=_workers, default=None,
            help="image_network on pixels: DataLoader processes decoding images (default: threads - 1, at most 8)"),
        arg("--index", dest="index_path", default=None,
            help="the retrieval index over the train items: a guided run records it for lra infer")),
        libraries=("torch",)),
    Stage("predict", "lra.diffusion.stage:predict", "DDIM predictions for every item", (
        path("--manifest"), path("--model", "model_path"), path("--out"), features(),
        params("ddim_steps, samples, eta, seed, device, batch_size, chunk_rows (lra.diffusion.config.PredictConfig)"),
        arg("--neighbors", dest="neighbors_path", default=None,
            help="the neighbour table: a guided run's prior and read-out need the items' neighbours")),
        libraries=("torch",)),
    Stage("score", "lra.score.stage:score", "metrics.json and label_issues.parquet", (
        path("--manifest"), path("--labels"), path("--neighbors", "neighbors_path"), path("--predictions"),
        path("--metrics", "out_metrics"), path("--issues", "out_issues"), features(),
        arg("--run", type=_json, default={}, help="run identity (dataset, method, encoder, noise, k) as JSON"),
        arg("--baselines", dest="baseline_names", nargs="*",
            default=["knn_vote", "linear_probe", "cleanlab", "datalab_relabel"],
            help="baselines to score on the same features"),
        arg("--baseline-sample", type=int, default=50_000,
            help="fit the baselines on a stratified sample of this many train items when there are more (0: all)"),
        arg("--seed", type=int, default=0)),
        libraries=("torch",)),  # cleanlab's Datalab loads torch
    Stage("clean", "lra.export:clean", "predictions → cleaned.csv: the dataset in its own columns, flagged labels "
          "relabelled, dropped or kept", (
              path("--manifest"), path("--labels"), path("--predictions"), path("--out"), features(),
              params('the clean policy as JSON: {"action": "relabel" | "drop" | "keep", "max_p_given": 0.2}')),
          expand="params"),
    Stage("infer", "lra.infer:infer", "a run's predictions for new images: path, predicted, p_predicted, entropy, top5", (
        path("--run", "run_dir"), path("--out"),
        arg("--images", default=None, help="CSV with a path column (paths relative to the CSV's folder)"),
        arg("--features", dest="feature_file", default=None,
            help="Parquet with id, embedding (for runs on a dataset of kind embeddings)"),
        arg("--device", default="auto"),
        arg("--batch-size", type=int, default=4096, help="items per DDIM batch")),
        libraries=("torch",)),
    Stage("summary", "lra.report.summary:write_summary",
          "metrics.json files → summary.tsv (+ summary_mean.tsv over seeds)", (
              path("--out"),
              arg("--mean", dest="mean_out", default=None, help="also write per-cell mean, sd and count over seeds here"),
              arg("metrics_paths", metavar="metrics", nargs="+")),
          prints=True),
    Stage("plots", "lra.report.run:plot_run",
          "a run's figures: training, accuracy, confusion, per-class, label issues, uncertainty", (
              path("--manifest"), path("--model"), path("--predictions"), path("--metrics"), path("--issues"),
              path("--out-dir"))),
    Stage("grid_plots", "lra.report.grid:plot_grid",
          "summary_mean.tsv → who won: LRA beside every baseline per cell; with --out-k and --out-noise also "
          "accuracy vs k and vs noise spec (mean ± sd over seeds)", (
              path("--summary-mean"), path("--out-accuracy"),
              arg("--out-k", default=None), arg("--out-noise", default=None))),
)

STAGES = {s.name: s for s in TABLE}


def dest(a: Arg) -> str:
    """The keyword an argument reaches the stage function as (argparse's dest)."""
    return a.options.get("dest") or a.flags[-1].lstrip("-").replace("-", "_")


def run(stage: Stage, args) -> object:
    """Call the stage's function with the parsed arguments."""
    kwargs = {dest(a): getattr(args, dest(a)) for a in stage.args}
    if stage.expand:
        kwargs.update(kwargs.pop(stage.expand) or {})
    return stage.function()(**kwargs)


def code_version(name: str) -> str:
    """12 hex digits that change when, and only when, code deciding stage `name`'s output changes."""
    from .core import versions

    if name not in STAGES:
        raise KeyError(f"no stage {name!r}; stages: {', '.join(STAGES)}")
    return versions.code_version(STAGES[name].target)


def __getattr__(name: str):
    """`lra.stages.<stage>`: the stage's function, imported when first asked for."""
    if name in STAGES:
        return STAGES[name].function()
    raise AttributeError(f"module 'lra.stages' has no attribute {name!r}")
