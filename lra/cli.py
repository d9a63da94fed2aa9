"""`lra <stage> ...`: each DAG stage from the command line (what the Snakemake rules call)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import threads
from .errors import LraError, Stopped


def _json(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


def _stage(sub, name: str, help: str, *files: str, features: bool = False):
    """A subcommand with required file arguments (--manifest, --out, …) and optional --features."""
    s = sub.add_parser(name, help=help)
    for f in files:
        s.add_argument(f"--{f}", required=True)
    s.add_argument("--threads", type=int, default=None,
                   help="threads of every pool (torch, FAISS, BLAS, pyarrow, workers); default: OMP_NUM_THREADS, "
                        "else the CPUs this process may use")
    if features:
        s.add_argument("--features", nargs="+", required=True, help="feature Parquet shard(s)")
    return s


def build_parser() -> argparse.ArgumentParser:
    from .stages import BASELINES

    p = argparse.ArgumentParser(prog="lra", description=__doc__)
    sub = p.add_subparsers(dest="stage", required=True)

    s = _stage(sub, "data", "dataset config → manifest.parquet", "out")
    s.add_argument("--spec", type=_json, required=True, help="the config's dataset block, as JSON")
    s.add_argument("--seed", type=int, default=0)

    s = _stage(sub, "noise", "manifest → observed labels under a noise spec", "manifest", "out")
    s.add_argument("--spec", required=True, help="given | sym-<rate> | asym-<rate> | pmd-<rate> | file-<name>")
    s.add_argument("--class-map", type=_json, default=None, help='asym class map as JSON, e.g. {"cat": "dog"}')
    s.add_argument("--features", nargs="*", default=None, help="feature shards (pmd noise: its clean classifier)")
    s.add_argument("--noise-files", type=_json, default=None, help='file-<name> specs: {"name": "labels.npy"}')
    s.add_argument("--seed", type=int, default=0)

    s = _stage(sub, "embed", "manifest → one feature shard", "manifest", "encoder", "out")
    s.add_argument("--shard", type=int, default=0)
    s.add_argument("--num-shards", type=int, default=1)
    s.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    s.add_argument("--options", type=_json, default={}, help="encoder options as JSON")

    s = _stage(sub, "index", "feature shards → FAISS index over the train split", "manifest", "out", features=True)
    s.add_argument("--index-type", default="auto", help="auto or a FAISS index_factory string")

    s = _stage(sub, "neighbors", "index → k nearest train items of every item, self excluded",
               "manifest", "index", "out", features=True)
    s.add_argument("-k", "--k", type=int, required=True)
    s.add_argument("--device", default="auto")

    s = _stage(sub, "train", "train the LRA denoiser", "manifest", "labels", "neighbors", "out", features=True)
    s.add_argument("--params", type=_json, default={}, help="train hyperparameters as JSON")
    s.add_argument("--checkpoint-minutes", type=float, default=5.0,
                   help="save train.ckpt beside --out this often (0: only on SIGTERM); a rerun resumes from it")

    s = _stage(sub, "predict", "DDIM predictions for every item", "manifest", "model", "out", features=True)
    s.add_argument("--params", type=_json, default={}, help="ddim_steps, samples, eta, seed, device, batch_size")

    s = _stage(sub, "score", "metrics.json and label_issues.parquet", "manifest", "labels", "neighbors",
               "predictions", "metrics", "issues", features=True)
    s.add_argument("--run", type=_json, default={}, help="run identity (dataset, encoder, noise, k) as JSON")
    s.add_argument("--baselines", nargs="*", default=list(BASELINES), help="baselines to score on the same features")
    s.add_argument("--baseline-sample", type=int, default=50_000,
                   help="fit the baselines on a stratified sample of this many train items when there are more (0: all)")
    s.add_argument("--seed", type=int, default=0)

    s = _stage(sub, "clean", "predictions → cleaned.csv: the dataset in its own columns, flagged labels "
               "relabelled, dropped or kept", "manifest", "labels", "predictions", "out", features=True)
    s.add_argument("--params", type=_json, default={},
                   help='the clean policy as JSON: {"action": "relabel" | "drop" | "keep", "max_p_given": 0.2}')

    s = _stage(sub, "infer", "a run's predictions for new images: path, predicted, p_predicted, entropy, top5",
               "run", "out")
    given = s.add_mutually_exclusive_group(required=True)
    given.add_argument("--images", help="CSV with a path column (paths relative to the CSV's folder)")
    given.add_argument("--features", help="Parquet with id, embedding (for runs on a dataset of kind embeddings)")
    s.add_argument("--device", default="auto")
    s.add_argument("--batch-size", type=int, default=4096, help="items per DDIM batch")

    s = _stage(sub, "report", "metrics.json files → summary.tsv (+ summary_mean.tsv over seeds)", "out")
    s.add_argument("--mean", default=None, help="also write per-cell mean, sd and count over seeds here")
    s.add_argument("metrics", nargs="+")

    _stage(sub, "plots", "a run's figures: training, accuracy, confusion, per-class, label issues, uncertainty",
           "manifest", "model", "predictions", "metrics", "issues", "out-dir")

    _stage(sub, "grid-plots", "summary_mean.tsv → accuracy vs k and vs noise spec (mean ± sd over seeds)",
           "summary-mean", "out-k", "out-noise")

    s = sub.add_parser("show", help="print summary.tsv as an aligned table")
    s.add_argument("summary")
    return p


def run(args: argparse.Namespace) -> None:
    from . import stages

    if args.stage == "data":
        stages.data(args.spec, args.out, args.seed)
    elif args.stage == "noise":
        stages.noise(args.manifest, args.spec, args.out, args.seed, args.class_map, args.features, args.noise_files)
    elif args.stage == "embed":
        stages.embed(args.manifest, args.encoder, args.out, args.shard, args.num_shards, args.dtype, **args.options)
    elif args.stage == "index":
        stages.index(args.manifest, args.features, args.out, args.index_type)
    elif args.stage == "neighbors":
        stages.neighbors(args.manifest, args.features, args.index, args.k, args.out, args.device)
    elif args.stage == "train":
        stages.train(args.manifest, args.labels, args.features, args.neighbors, args.out, args.params,
                     args.checkpoint_minutes)
    elif args.stage == "predict":
        stages.predict(args.manifest, args.features, args.model, args.out, **args.params)
    elif args.stage == "score":
        stages.score(args.manifest, args.labels, args.features, args.neighbors, args.predictions,
                     args.metrics, args.issues, args.run, args.seed, args.baselines, args.baseline_sample)
    elif args.stage == "clean":
        stages.clean(args.manifest, args.labels, args.predictions, args.features, args.out, **args.params)
    elif args.stage == "infer":
        stages.infer(args.run, args.out, args.images, args.features, args.device, args.batch_size)
    elif args.stage == "report":
        print(stages.report(args.metrics, args.out, args.mean).to_string(index=False))
    elif args.stage == "plots":
        stages.plots(args.manifest, args.model, args.predictions, args.metrics, args.issues, args.out_dir)
    elif args.stage == "grid-plots":
        stages.grid_plots(args.summary_mean, args.out_k, args.out_noise)
    elif args.stage == "show":
        from .io import OUTPUT_FIX, read_csv

        print(read_csv(args.summary, "the summary table", OUTPUT_FIX, sep="\t").to_string(index=False, float_format="%.4f"))


def _libraries(args: argparse.Namespace) -> tuple[str, ...]:
    """Libraries with thread pools a stage uses, loaded before it runs so their pools are set."""
    if args.stage == "embed":
        return ("torch",) if args.encoder.startswith("open_clip") else ()
    return {"train": ("torch",), "predict": ("torch",), "infer": ("torch",),
            "score": ("torch",),  # cleanlab's Datalab loads torch
            "index": ("faiss",), "neighbors": ("faiss",)}.get(args.stage, ())


def peak_rss_mib() -> float:
    """This process's peak resident memory since it started (VmHWM; ru_maxrss where that is missing)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    log = logging.getLogger("lra")
    try:
        if args.stage != "show":
            threads.apply(args.threads, _libraries(args))
        run(args)
        if args.stage != "show":
            log.info("threads used: %s", threads.describe())
            # exact figures: Snakemake's benchmark files sample memory and CPU time only every 30 s after 15 s
            log.info("lra %s: peak RSS %.0f MiB, CPU %.1f s", args.stage, peak_rss_mib(), cpu_seconds())
    except Stopped as exc:  # SIGTERM/SIGINT: checkpoint saved; non-zero so SLURM and Snakemake rerun the job
        print(f"lra {args.stage}: {exc}", file=sys.stderr)
        return 128 + exc.signum
    except LraError as exc:
        print(f"lra {args.stage}: error: {exc}", file=sys.stderr)
        return 2
    except TypeError as exc:  # an unknown key in a --params JSON
        if "unexpected keyword" not in str(exc):
            raise
        print(f"lra {args.stage}: error: {exc}", file=sys.stderr)
        return 2
    return 0
