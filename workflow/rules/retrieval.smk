rule index:
    input:
        manifest=manifest,
        features=feature_files,
    output:
        f"{RESULTS}/{{dataset}}/index/{{encoder}}.faiss",
    params:
        index_type=config["index"],
        code=lw.code_version("index"),
    threads: config["threads"]
    log:
        "logs/{dataset}/index/{encoder}.log",
    benchmark:
        "logs/{dataset}/index/{encoder}.bench.tsv"
    conda:
        ENV
    shell:
        "python -m lra index --manifest {input.manifest} --features {input.features}"
        " --index-type {params.index_type:q} --threads {threads} --out {output} 2> {log}"


rule neighbors:
    input:
        manifest=manifest,
        features=feature_files,
        index=f"{RESULTS}/{{dataset}}/index/{{encoder}}.faiss",
    output:
        f"{RESULTS}/{{dataset}}/neighbors/{{encoder}}/k{{k}}.parquet",
    params:
        device=config["device"],
        code=lw.code_version("neighbors"),
    threads: config["threads"]
    log:
        "logs/{dataset}/neighbors/{encoder}/k{k}.log",
    benchmark:
        "logs/{dataset}/neighbors/{encoder}/k{k}.bench.tsv"
    conda:
        ENV
    shell:
        "python -m lra neighbors --manifest {input.manifest} --features {input.features} --index {input.index}"
        " -k {wildcards.k} --device {params.device} --threads {threads} --out {output} 2> {log}"
