rule clean:
    input:
        manifest=manifest,
        labels=paths.LABELS,
        features=feature_files,
        predictions=paths.PREDICTIONS,
    output:
        paths.CLEANED,
    params:
        clean=lw.as_json(config["clean"]),
        code=lw.code_version("clean"),
    threads: 1
    log:
        paths.log("clean", paths.DATASET_RUN),
    benchmark:
        paths.bench("clean", paths.DATASET_RUN)
    conda:
        ENV
    shell:
        "python -m lra clean --manifest {input.manifest} --labels {input.labels} --features {input.features}"
        " --predictions {input.predictions} --params {params.clean:q} --out {output} --threads {threads} 2> {log}"
