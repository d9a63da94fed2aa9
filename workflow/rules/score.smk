rule score:
    input:
        manifest=manifest,
        labels=LABELS,
        features=feature_files,
        neighbors=f"{RESULTS}/{{dataset}}/neighbors/{{encoder}}/k{{k}}.parquet",
        predictions=f"{RUN}/predictions.parquet",
    output:
        metrics=f"{RUN}/metrics.json",
        issues=f"{RUN}/label_issues.parquet",
    params:
        run=lambda w: lw.as_json({"dataset": w.dataset, "encoder": w.encoder, "noise": w.noise, "k": int(w.k),
                                  "seed": int(w.seed)}),
        baselines=config["baselines"],
        baseline_sample=config["baseline_sample"],
        code=lw.code_version("score"),
    threads: config["threads"]
    log:
        "logs/{dataset}/score/{encoder}/{noise}/k{k}/seed{seed}.log",
    benchmark:
        "logs/{dataset}/score/{encoder}/{noise}/k{k}/seed{seed}.bench.tsv"
    conda:
        ENV
    shell:
        "python -m lra score --manifest {input.manifest} --labels {input.labels} --features {input.features}"
        " --neighbors {input.neighbors} --predictions {input.predictions} --run {params.run:q}"
        " --seed {wildcards.seed} --baselines {params.baselines} --baseline-sample {params.baseline_sample}"
        " --metrics {output.metrics} --issues {output.issues} --threads {threads} 2> {log}"


rule report:
    input:
        lw.metrics_files(config, RESULTS),
    output:
        summary=report(f"{RESULTS}/summary.tsv", caption="../report/summary.rst", category="Summary tables",
                       labels={"table": "summary.tsv: one row per run"}),
        mean=report(f"{RESULTS}/summary_mean.tsv", caption="../report/summary_mean.rst", category="Summary tables",
                    labels={"table": "summary_mean.tsv: mean and sd over seeds"}),
    params:
        code=lw.code_version("report"),
    threads: 1
    log:
        "logs/report.log",
    benchmark:
        "logs/report.bench.tsv"
    conda:
        ENV
    shell:
        "python -m lra report {input} --out {output.summary} --mean {output.mean} --threads {threads} > {log} 2>&1"
