rule score:
    input:
        manifest=manifest,
        labels=f"{RESULTS}/{{dataset}}/labels/{{noise}}.parquet",
        features=feature_files,
        neighbors=f"{RESULTS}/{{dataset}}/neighbors/{{encoder}}/k{{k}}.parquet",
        predictions=f"{RESULTS}/{{dataset}}/runs/{{encoder}}/{{noise}}/k{{k}}/predictions.parquet",
    output:
        metrics=f"{RESULTS}/{{dataset}}/runs/{{encoder}}/{{noise}}/k{{k}}/metrics.json",
        issues=f"{RESULTS}/{{dataset}}/runs/{{encoder}}/{{noise}}/k{{k}}/label_issues.parquet",
    params:
        run=lambda w: lw.as_json({"dataset": w.dataset, "encoder": w.encoder, "noise": w.noise, "k": int(w.k)}),
        seed=config["seed"],
        baselines=config["baselines"],
    threads: config["threads"]
    log:
        "logs/{dataset}/score/{encoder}/{noise}/k{k}.log",
    conda:
        ENV
    shell:
        "python -m lra score --manifest {input.manifest} --labels {input.labels} --features {input.features}"
        " --neighbors {input.neighbors} --predictions {input.predictions} --run {params.run:q}"
        " --seed {params.seed} --baselines {params.baselines} --metrics {output.metrics}"
        " --issues {output.issues} 2> {log}"


rule report:
    input:
        lw.metrics_files(config, RESULTS),
    output:
        f"{RESULTS}/summary.tsv",
    log:
        "logs/report.log",
    conda:
        ENV
    shell:
        "python -m lra report {input} --out {output} > {log} 2>&1"
