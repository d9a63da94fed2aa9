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
    threads: config["threads"]
    log:
        "logs/{dataset}/infer/{encoder}/{noise}/k{k}/seed{seed}/{images}.log",
    conda:
        ENV
    shell:
        "python -m lra infer --run {params.run:q} --images {input.images:q} --device {params.device}"
        " --out {output} 2> {log}"
