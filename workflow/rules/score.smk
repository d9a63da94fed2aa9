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
    threads: config["threads"]
    log:
        "logs/{dataset}/score/{encoder}/{noise}/k{k}/seed{seed}.log",
    conda:
        ENV
    shell:
        "python -m lra score --manifest {input.manifest} --labels {input.labels} --features {input.features}"
        " --neighbors {input.neighbors} --predictions {input.predictions} --run {params.run:q}"
        " --seed {wildcards.seed} --baselines {params.baselines} --metrics {output.metrics}"
        " --issues {output.issues} 2> {log}"


rule report:
    input:
        lw.metrics_files(config, RESULTS),
    output:
        summary=f"{RESULTS}/summary.tsv",
        mean=f"{RESULTS}/summary_mean.tsv",
    log:
        "logs/report.log",
    conda:
        ENV
    shell:
        "python -m lra report {input} --out {output.summary} --mean {output.mean} > {log} 2>&1"
