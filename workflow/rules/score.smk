rule score:
    input:
        manifest=manifest,
        labels=paths.LABELS,
        features=feature_files,
        neighbors=paths.NEIGHBORS,
        predictions=paths.PREDICTIONS,
    output:
        metrics=paths.METRICS,
        issues=paths.ISSUES,
    params:
        run=lambda w: lw.as_json({"dataset": w.dataset, "method": w.method, "encoder": w.encoder, "noise": w.noise,
                                  "k": int(w.k), "seed": int(w.seed)}),
        baselines=config["baselines"],
        baseline_sample=config["baseline_sample"],
        code=lw.code_version("score"),
    threads: config["threads"]
    log:
        paths.log("score", paths.DATASET_RUN),
    benchmark:
        paths.bench("score", paths.DATASET_RUN)
    conda:
        ENV
    shell:
        "python -m lra score --manifest {input.manifest} --labels {input.labels} --features {input.features}"
        " --neighbors {input.neighbors} --predictions {input.predictions} --run {params.run:q}"
        " --seed {wildcards.seed} --baselines {params.baselines} --baseline-sample {params.baseline_sample}"
        " --metrics {output.metrics} --issues {output.issues} --threads {threads} 2> {log}"
