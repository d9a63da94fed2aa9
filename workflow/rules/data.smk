rule data:
    input:
        lw.dataset_files(config),
    output:
        paths.MANIFEST,
    params:
        spec=lw.as_json(config["dataset"]),
        seed=lw.split_seed(config),
        code=lw.code_version("data"),
    threads: 1
    log:
        paths.log("data"),
    benchmark:
        paths.bench("data")
    conda:
        ENV
    shell:
        "python -m lra data --spec {params.spec:q} --seed {params.seed} --threads {threads} --out {output} 2> {log}"


rule noise:
    input:
        manifest=manifest,
        features=noise_features,
    output:
        paths.LABELS,
    params:
        class_map=lw.as_json(config["noise_class_map"]),
        noise_files=lw.as_json(config["noise_files"]),
        code=lw.code_version("noise"),
    threads: lambda w: lw.noise_threads(config, w.noise)
    log:
        paths.log("noise", "{dataset}/{noise}/seed{seed}"),
    benchmark:
        paths.bench("noise", "{dataset}/{noise}/seed{seed}")
    conda:
        ENV
    shell:
        "python -m lra noise --manifest {input.manifest} --features {input.features} --spec {wildcards.noise}"
        " --seed {wildcards.seed} --class-map {params.class_map:q} --noise-files {params.noise_files:q}"
        " --threads {threads} --out {output} 2> {log}"
