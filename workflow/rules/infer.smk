rule infer:
    input:
        model=f"{RUN}/model.pt",
        predictions=f"{RUN}/predictions.parquet",
        images=lambda w: config["infer_csv"],
    output:
        f"{RUN}/infer/{{images}}.csv",
    params:
        run=lambda w, input: os.path.dirname(input.model),
        device=config["device"],
        code=lw.code_version("infer"),
    threads: config["threads"]
    log:
        "logs/{dataset}/infer/{encoder}/{noise}/k{k}/seed{seed}/{images}.log",
    benchmark:
        "logs/{dataset}/infer/{encoder}/{noise}/k{k}/seed{seed}/{images}.bench.tsv"
    conda:
        ENV
    shell:
        "python -m lra infer --run {params.run:q} --images {input.images:q} --device {params.device}"
        " --out {output} --threads {threads} 2> {log}"
