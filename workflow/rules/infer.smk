rule infer:
    input:
        model=paths.MODEL,
        predictions=paths.PREDICTIONS,
        images=lambda w: config["infer_csv"],
    output:
        paths.INFER,
    params:
        run=lambda w, input: os.path.dirname(input.model),
        device=config["device"],
        code=lw.code_version("infer"),
    threads: config["threads"]
    log:
        paths.log("infer", paths.DATASET_RUN_IMAGES),
    benchmark:
        paths.bench("infer", paths.DATASET_RUN_IMAGES)
    conda:
        ENV
    shell:
        "python -m lra infer --run {params.run:q} --images {input.images:q} --device {params.device}"
        " --out {output} --threads {threads} 2> {log}"
