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
# The same as a shell function: a rule's command says `lra <stage> ...` rather than `{LRA} <stage>`,
# which `snakemake --lint` accepts (no variable from outside the rule) and which keeps the
# interpreter's and checkout's paths out of the rule's code and params (moving them reruns nothing).
# (The prefix is str.format-ed with each job's namespace like a rule's command: braces doubled.)
_LRA_ESCAPED = LRA.replace("{", "{{").replace("}", "}}")
shell.prefix(f'set -euo pipefail; lra() {{{{ {_LRA_ESCAPED} "$@"; }}}}; ')


wildcard_constraints:
    dataset=r"[A-Za-z0-9_.\-]+",
    encoder=r"[A-Za-z0-9_.\-]+",
    noise=r"given|(a?sym)-[0-9.]+",
    k=r"\d+",
    shard=r"\d{5}",


def final_outputs():
    return [f"{RESULTS}/summary.tsv"]


def manifest(wildcards):
    return f"{RESULTS}/{wildcards.dataset}/manifest.parquet"


def feature_files(wildcards):
    return lw.feature_files(config, wildcards.dataset, wildcards.encoder, RESULTS)


def run_dir(wildcards):
    return f"{RESULTS}/{wildcards.dataset}/runs/{wildcards.encoder}/{wildcards.noise}/k{wildcards.k}"
