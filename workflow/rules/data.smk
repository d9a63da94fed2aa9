rule data:
    input:
        lw.dataset_files(config),
    output:
        f"{RESULTS}/{{dataset}}/manifest.parquet",
    params:
        spec=lw.as_json(config["dataset"]),
        seed=lw.split_seed(config),
        code=lw.code_version("data"),
    threads: 1
    log:
        "logs/{dataset}/data.log",
    benchmark:
        "logs/{dataset}/data.bench.tsv"
    conda:
        ENV
    shell:
        "python -m lra data --spec {params.spec:q} --seed {params.seed} --threads {threads} --out {output} 2> {log}"


rule noise:
    input:
        manifest=manifest,
        features=noise_features,
    output:
        LABELS,
    params:
        class_map=lw.as_json(config["noise_class_map"]),
        noise_files=lw.as_json(config["noise_files"]),
        code=lw.code_version("noise"),
    threads: lambda w: lw.noise_threads(config, w.noise)
    log:
        "logs/{dataset}/noise/{noise}/seed{seed}.log",
    benchmark:
        "logs/{dataset}/noise/{noise}/seed{seed}.bench.tsv"
    conda:
        ENV
    shell:
        "python -m lra noise --manifest {input.manifest} --features {input.features} --spec {wildcards.noise}"
        " --seed {wildcards.seed} --class-map {params.class_map:q} --noise-files {params.noise_files:q}"
        " --threads {threads} --out {output} 2> {log}"
