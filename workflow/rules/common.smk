# Input functions and names shared by the rules; the config → target logic is in lra.workflow.
import shlex
import sys

from snakemake.settings.types import DeploymentMethod

from lra import workflow as lw

RESULTS = "results"
DATASET = lw.dataset_name(config)
ENCODERS = lw.encoders(config)
ENV = f"../../envs/{config['env']}.yaml"
# The rules run this checkout's lra package: with the conda env's python under --use-conda,
# else with the python running Snakemake (so an un-activated virtualenv works too).
CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PYTHON = "python" if CONDA else shlex.quote(sys.executable)
LRA = f"PYTHONPATH={shlex.quote(workflow.basedir)}${{PYTHONPATH:+:$PYTHONPATH}} {PYTHON} -m lra"


wildcard_constraints:
    dataset=r"[A-Za-z0-9_.\-]+",
    encoder=r"[A-Za-z0-9_.\-]+",
    noise=r"given|(a?sym|pmd[123]?)-[0-9.]+|file-[A-Za-z0-9_.]+",
    k=r"\d+",
    shard=r"\d{5}",


def final_outputs():
    return [f"{RESULTS}/summary.tsv"]


def manifest(wildcards):
    return f"{RESULTS}/{wildcards.dataset}/manifest.parquet"


def feature_files(wildcards):
    return lw.feature_files(config, wildcards.dataset, wildcards.encoder, RESULTS)


def noise_features(wildcards):
    return lw.noise_features(config, wildcards.dataset, wildcards.noise, RESULTS)


def run_dir(wildcards):
    return f"{RESULTS}/{wildcards.dataset}/runs/{wildcards.encoder}/{wildcards.noise}/k{wildcards.k}"
