rule data:
    output:
        f"{RESULTS}/{{dataset}}/manifest.parquet",
    params:
        spec=lw.as_json(config["dataset"]),
        seed=config["seed"],
    log:
        "logs/{dataset}/data.log",
    conda:
        ENV
    shell:
        "{LRA} data --spec {params.spec:q} --seed {params.seed} --out {output} 2> {log}"


rule noise:
    input:
        manifest,
    output:
        f"{RESULTS}/{{dataset}}/labels/{{noise}}.parquet",
    params:
        seed=config["seed"],
        class_map=lw.as_json(config.get("noise_class_map")),
    log:
        "logs/{dataset}/noise/{noise}.log",
    conda:
        ENV
    shell:
        "{LRA} noise --manifest {input} --spec {wildcards.noise} --seed {params.seed}"
        " --class-map {params.class_map:q} --out {output} 2> {log}"
