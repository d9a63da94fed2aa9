rule clean_labels:
    input:
        manifest=manifest,
        labels=LABELS,
        features=feature_files,
        predictions=f"{RUN}/predictions.parquet",
    output:
        f"{RUN}/cleaned.csv",
    params:
        clean=lw.as_json(config["clean"]),
        code=lw.code_version("clean"),
    threads: 1
    log:
        "logs/{dataset}/clean/{encoder}/{noise}/k{k}/seed{seed}.log",
    benchmark:
        "logs/{dataset}/clean/{encoder}/{noise}/k{k}/seed{seed}.bench.tsv"
    conda:
        ENV
    shell:
        "python -m lra clean --manifest {input.manifest} --labels {input.labels} --features {input.features}"
        " --predictions {input.predictions} --params {params.clean:q} --out {output} --threads {threads} 2> {log}"
