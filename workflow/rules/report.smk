# The summary tables (rule summary) and the figures for `snakemake --report`: each run's (rule plots,
# one report category per run) and, over every run (rule grid_plots), who won in each cell, always,
# and accuracy vs k and vs noise when the config has a grid. Captions: workflow/report/; run_figure
# and grid_figure (common.smk) wrap each output in report().


rule summary:
    input:
        lw.metrics_files(config),
    output:
        summary=report(paths.SUMMARY, caption="../report/summary.rst", category="Summary tables",
                       labels={"table": "summary.tsv: one row per run"}),
        mean=report(paths.SUMMARY_MEAN, caption="../report/summary_mean.rst", category="Summary tables",
                    labels={"table": "summary_mean.tsv: mean and sd over seeds"}),
    params:
        code=lw.code_version("summary"),
    threads: 1
    log:
        paths.log("summary", ""),
    benchmark:
        paths.bench("summary", "")
    conda:
        ENV
    shell:
        "python -m lra summary {input} --out {output.summary} --mean {output.mean} --threads {threads} > {log} 2>&1"


rule plots:
    input:
        manifest=manifest,
        model=paths.MODEL,
        predictions=paths.PREDICTIONS,
        metrics=paths.METRICS,
        issues=paths.ISSUES,
    output:
        training=run_figure("training", "training curve"),
        accuracy=run_figure("accuracy", "test accuracy beside the baselines"),
        confusion=run_figure("confusion", "confusion matrix"),
        per_class=run_figure("per_class", "per-class accuracy"),
        label_issues=run_figure("label_issues", "label-issue gallery"),
        uncertainty=run_figure("uncertainty", "uncertainty"),
    params:
        out_dir=paths.FIGURES,
        code=lw.code_version("plots"),
    threads: 1
    log:
        paths.log("plots", paths.DATASET_RUN),
    benchmark:
        paths.bench("plots", paths.DATASET_RUN)
    conda:
        ENV
    shell:
        "python -m lra plots --manifest {input.manifest} --model {input.model} --predictions {input.predictions}"
        " --metrics {input.metrics} --issues {input.issues} --out-dir {params.out_dir} --threads {threads} 2> {log}"


rule grid_plots:
    input:
        paths.SUMMARY_MEAN,
    output:
        accuracy=grid_figure("accuracy", "who won: LRA beside every baseline", category="Who won", caption="who_won"),
        **sweep_figures(),
    params:
        sweeps=sweep_args,
        code=lw.code_version("grid_plots"),
    threads: 1
    log:
        paths.log("grid_plots", ""),
    benchmark:
        paths.bench("grid_plots", "")
    conda:
        ENV
    shell:
        "python -m lra grid-plots --summary-mean {input} --out-accuracy {output.accuracy}{params.sweeps}"
        " --threads {threads} 2> {log}"
