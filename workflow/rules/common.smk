# Input functions and names shared by the rules; the config → target logic is in lra.workflow and
# every path template in lra.core.paths.
import os
import sys

from snakemake.settings.types import DeploymentMethod

from lra import workflow as lw
from lra.core import paths

lw.check_image_network(config)  # a bad E_φ choice fails here, before the DAG is built
DATASET = lw.dataset_name(config)
ENCODERS = lw.encoders(config)
ENV = f"../../envs/{config['env']}.yaml"
# The rules run `python -m lra` from this checkout: its folder goes first on PYTHONPATH, and
# without --use-conda the python running Snakemake goes first on PATH (so an un-activated
# virtualenv works too); under --use-conda the activated environment's python is used.
_first = {"PYTHONPATH": workflow.basedir}
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    _first["PATH"] = os.path.dirname(sys.executable)
os.environ.update({k: os.pathsep.join(filter(None, [v, os.environ.get(k)])) for k, v in _first.items()})


wildcard_constraints:
    dataset=r"[A-Za-z0-9_.\-]+",
    method=r"[A-Za-z0-9_\-]+",
    encoder=r"[A-Za-z0-9_.\-]+",
    noise=r"given|(a?sym|pmd[123]?)-[0-9.]+|file-[A-Za-z0-9_.]+",
    k=r"\d+",
    shard=r"\d{5}",
    seed=r"\d+",
    images=r"[A-Za-z0-9_.\-]+",


# Figures in `snakemake --report`: one category per run, who won over all runs, the grid's sweeps; captions in
# workflow/report/.
RUN_CATEGORY = "{dataset} {method} {encoder} {noise} k{k} seed{seed}"


def run_figure(name, label):
    return report(paths.RUN_FIGURE.replace("{name}", name), caption=f"../report/{name}.rst",
                  category=RUN_CATEGORY, labels={"figure": label})


def grid_figure(name, label, category="Grid of runs", caption=None):
    return report(paths.GRID_FIGURE.format(name=name), caption=f"../report/{caption or name}.rst", category=category,
                  labels={"figure": label})


def sweep_figures():
    """The grid_plots outputs over k and noise: a grid config's only (lw.grid_figures)."""
    labels = {"accuracy_vs_k": ("k", "accuracy vs k"), "accuracy_vs_noise": ("noise", "accuracy vs noise spec")}
    return {labels[n][0]: grid_figure(n, labels[n][1]) for n in lw.grid_figures(config) if n in labels}


def sweep_args(wildcards, output):
    return f" --out-k {output.k} --out-noise {output.noise}" if "k" in output.keys() else ""


def manifest(wildcards):
    return paths.MANIFEST.format(dataset=wildcards.dataset)


def feature_files(wildcards):
    return lw.feature_files(config, wildcards.dataset, wildcards.encoder)


def noise_features(wildcards):
    return lw.noise_features(config, wildcards.dataset, wildcards.noise)


def encoder_weights(wildcards):
    return lw.encoder_weights(config, wildcards.dataset, wildcards.encoder)
