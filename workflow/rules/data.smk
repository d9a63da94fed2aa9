rule data:
    output:
        f"{RESULTS}/{{dataset}}/manifest.parquet",
    params:
        spec=lw.as_json(config["dataset"]),
        seed=lw.split_seed(config),
    log:
        "logs/{dataset}/data.log",
    conda:
        ENV
    shell:
        "python -m lra data --spec {params.spec:q} --seed {params.seed} --out {output} 2> {log}"


rule noise:
    input:
        manifest=manifest,
        features=noise_features,
    output:
        LABELS,
    params:
        class_map=lw.as_json(config["noise_class_map"]),
        noise_files=lw.as_json(config["noise_files"]),
    log:
        "logs/{dataset}/noise/{noise}/seed{seed}.log",
    conda:
        ENV
    shell:
        "python -m lra noise --manifest {input.manifest} --features {input.features} --spec {wildcards.noise}"
        " --seed {wildcards.seed} --class-map {params.class_map:q} --noise-files {params.noise_files:q}"
        " --out {output} 2> {log}"
