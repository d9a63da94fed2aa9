rule index:
    input:
        manifest=manifest,
        features=feature_files,
    output:
        paths.INDEX,
    params:
        index_type=config["index"],
        code=lw.code_version("index"),
    threads: config["threads"]
    log:
        paths.log("index", "{dataset}/{encoder}"),
    benchmark:
        paths.bench("index", "{dataset}/{encoder}")
    conda:
        ENV
    shell:
        "python -m lra index --manifest {input.manifest} --features {input.features}"
        " --index-type {params.index_type:q} --threads {threads} --out {output} 2> {log}"


rule neighbors:
    input:
        manifest=manifest,
        features=feature_files,
        index=paths.INDEX,
    output:
        paths.NEIGHBORS,
    params:
        device=config["device"],
        code=lw.code_version("neighbors"),
    threads: config["threads"]
    log:
        paths.log("neighbors", "{dataset}/{encoder}/k{k}"),
    benchmark:
        paths.bench("neighbors", "{dataset}/{encoder}/k{k}")
    conda:
        ENV
    shell:
        "python -m lra neighbors --manifest {input.manifest} --features {input.features} --index {input.index}"
        " -k {wildcards.k} --device {params.device} --threads {threads} --out {output} 2> {log}"
