# LRA diffusion for noisy labels: the DAG. Stages live in workflow/rules/, their logic in lra/.
from snakemake.utils import min_version, validate

min_version("9.27")


configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/retrieval.smk"
include: "workflow/rules/diffusion.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/infer.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        lw.final_outputs(config),
    default_target: True
