# Figures for `snakemake --report`: each run's (rule plots, one report category per run) and, when
# the config has a grid, accuracy vs k and vs noise over it (rule grid_plots). Captions: workflow/report/;
# run_figure and grid_figure (common.smk) wrap each output in report().


rule plots:
    input:
        manifest=manifest,
        model=f"{RUN}/model.pt",
        predictions=f"{RUN}/predictions.parquet",
        metrics=f"{RUN}/metrics.json",
        issues=f"{RUN}/label_issues.parquet",
    output:
        training=run_figure("training", "training curve"),
        accuracy=run_figure("accuracy", "test accuracy beside the baselines"),
        confusion=run_figure("confusion", "confusion matrix"),
        per_class=run_figure("per_class", "per-class accuracy"),
        label_issues=run_figure("label_issues", "label-issue gallery"),
        uncertainty=run_figure("uncertainty", "uncertainty"),
    params:
        out_dir=f"{RUN}/figures",
        code=lw.code_version("plots"),
    threads: 1
    log:
        "logs/{dataset}/plots/{encoder}/{noise}/k{k}/seed{seed}.log",
    benchmark:
        "logs/{dataset}/plots/{encoder}/{noise}/k{k}/seed{seed}.bench.tsv"
    conda:
        ENV
    shell:
        "python -m lra plots --manifest {input.manifest} --model {input.model} --predictions {input.predictions}"
        " --metrics {input.metrics} --issues {input.issues} --out-dir {params.out_dir} --threads {threads} 2> {log}"


rule grid_plots:
    input:
        f"{RESULTS}/summary_mean.tsv",
    output:
        k=grid_figure("accuracy_vs_k", "accuracy vs k"),
        noise=grid_figure("accuracy_vs_noise", "accuracy vs noise spec"),
    params:
        code=lw.code_version("grid_plots"),
    threads: 1
    log:
        "logs/grid_plots.log",
    benchmark:
        "logs/grid_plots.bench.tsv"
    conda:
        ENV
    shell:
        "python -m lra grid-plots --summary-mean {input} --out-k {output.k} --out-noise {output.noise}"
        " --threads {threads} 2> {log}"
