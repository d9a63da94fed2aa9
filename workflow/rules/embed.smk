rule embed:
    input:
        manifest,
    output:
        paths.FEATURES,
    params:
        spec=lambda w: ENCODERS[w.encoder],
        shards=config["embed"]["shards"],
        dtype=config["embed"]["dtype"],
        options=lw.as_json(lw.embed_options(config)),
        code=lw.code_version("embed"),
    threads: config["embed"]["threads"]
    resources:
        mem_mb=config["embed"]["mem_mb"],
    log:
        paths.log("embed", "{dataset}/{encoder}/part-{shard}"),
    benchmark:
        paths.bench("embed", "{dataset}/{encoder}/part-{shard}")
    conda:
        ENV
    shell:
        "python -m lra embed --manifest {input} --encoder {params.spec:q} --shard $((10#{wildcards.shard}))"
        " --num-shards {params.shards} --dtype {params.dtype} --options {params.options:q}"
        " --threads {threads} --out {output} 2> {log}"
