"""`lra <stage> ...`: each DAG stage from the command line (what the Snakemake rules call)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .errors import LraError


def _json(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lra", description=__doc__)
    sub = p.add_subparsers(dest="stage", required=True)

    s = sub.add_parser("data", help="dataset config → manifest.parquet")
    s.add_argument("--spec", type=_json, required=True, help="the config's dataset block, as JSON")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)

    s = sub.add_parser("noise", help="manifest → observed labels under a noise spec")
    s.add_argument("--manifest", required=True)
    s.add_argument("--spec", required=True, help="given | sym-<rate> | asym-<rate>")
    s.add_argument("--class-map", type=_json, default=None, help='asym class map as JSON, e.g. {"cat": "dog"}')
    s.add_argument("--features", nargs="*", default=None, help="feature shards (pmd noise: its clean classifier)")
    s.add_argument("--noise-files", type=_json, default=None, help='file-<name> specs: {"name": "labels.npy"}')
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)

    s = sub.add_parser("embed", help="manifest → one feature shard")
    s.add_argument("--manifest", required=True)
    s.add_argument("--encoder", required=True)
    s.add_argument("--shard", type=int, default=0)
    s.add_argument("--num-shards", type=int, default=1)
    s.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    s.add_argument("--options", type=_json, default={}, help="encoder options as JSON")
    s.add_argument("--out", required=True)

    s = sub.add_parser("index", help="feature shards → FAISS index over the train split")
    s.add_argument("--manifest", required=True)
    s.add_argument("--features", nargs="+", required=True)
    s.add_argument("--index-type", default="auto", help="auto or a FAISS index_factory string")
    s.add_argument("--out", required=True)

    s = sub.add_parser("neighbors", help="index → k nearest train items of every item, self excluded")
    s.add_argument("--manifest", required=True)
    s.add_argument("--features", nargs="+", required=True)
    s.add_argument("--index", required=True)
    s.add_argument("-k", "--k", type=int, required=True)
    s.add_argument("--device", default="auto")
    s.add_argument("--out", required=True)

    s = sub.add_parser("train", help="train the LRA denoiser")
    s.add_argument("--manifest", required=True)
    s.add_argument("--labels", required=True)
    s.add_argument("--features", nargs="+", required=True)
    s.add_argument("--neighbors", required=True)
    s.add_argument("--params", type=_json, default={}, help="train hyperparameters as JSON")
    s.add_argument("--out", required=True)

    s = sub.add_parser("predict", help="DDIM predictions for every item")
    s.add_argument("--manifest", required=True)
    s.add_argument("--features", nargs="+", required=True)
    s.add_argument("--model", required=True)
    s.add_argument("--params", type=_json, default={}, help="ddim_steps, samples, eta, seed, device, batch_size")
    s.add_argument("--out", required=True)

    s = sub.add_parser("score", help="metrics.json and label_issues.parquet")
    s.add_argument("--manifest", required=True)
    s.add_argument("--labels", required=True)
    s.add_argument("--features", nargs="+", required=True)
    s.add_argument("--neighbors", required=True)
    s.add_argument("--predictions", required=True)
    s.add_argument("--run", type=_json, default={}, help="run identity (dataset, encoder, noise, k) as JSON")
    s.add_argument("--baselines", nargs="*", default=["knn_vote", "linear_probe", "cleanlab", "datalab_relabel"],
                   help="baselines to score on the same features")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--metrics", required=True)
    s.add_argument("--issues", required=True)

    s = sub.add_parser("report", help="metrics.json files → summary.tsv")
    s.add_argument("metrics", nargs="+")
    s.add_argument("--out", required=True)

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
        stages.train(args.manifest, args.labels, args.features, args.neighbors, args.out, args.params)
    elif args.stage == "predict":
        stages.predict(args.manifest, args.features, args.model, args.out, **args.params)
    elif args.stage == "score":
        stages.score(args.manifest, args.labels, args.features, args.neighbors, args.predictions,
                     args.metrics, args.issues, args.run, args.seed, args.baselines)
    elif args.stage == "report":
        print(stages.report(args.metrics, args.out).to_string(index=False))
    elif args.stage == "show":
        import pandas as pd

        print(pd.read_csv(args.summary, sep="\t").to_string(index=False, float_format="%.4f"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        run(args)
    except LraError as exc:
        print(f"lra {args.stage}: error: {exc}", file=sys.stderr)
        return 2
    except TypeError as exc:  # an unknown key in a --params JSON
        if "unexpected keyword" not in str(exc):
            raise
        print(f"lra {args.stage}: error: {exc}", file=sys.stderr)
        return 2
    return 0
