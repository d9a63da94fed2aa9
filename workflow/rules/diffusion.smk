rule train:
    input:
        manifest=manifest,
        labels=f"{RESULTS}/{{dataset}}/labels/{{noise}}.parquet",
        features=feature_files,
        neighbors=f"{RESULTS}/{{dataset}}/neighbors/{{encoder}}/k{{k}}.parquet",
    output:
        f"{RESULTS}/{{dataset}}/runs/{{encoder}}/{{noise}}/k{{k}}/model.pt",
    params:
        train=lw.as_json({**lw.train_params(config), "seed": config["seed"], "device": config["device"]}),
    threads: config["threads"]
    log:
        "logs/{dataset}/train/{encoder}/{noise}/k{k}.log",
    benchmark:
        "logs/{dataset}/train/{encoder}/{noise}/k{k}.bench.tsv"
    conda:
        ENV
    shell:
        "python -m lra train --manifest {input.manifest} --labels {input.labels} --features {input.features}"
        " --neighbors {input.neighbors} --params {params.train:q} --out {output} 2> {log}"


rule predict:
    input:
        manifest=manifest,
        features=feature_files,
        model=f"{RESULTS}/{{dataset}}/runs/{{encoder}}/{{noise}}/k{{k}}/model.pt",
    output:
        f"{RESULTS}/{{dataset}}/runs/{{encoder}}/{{noise}}/k{{k}}/predictions.parquet",
    params:
        predict=lw.as_json({**config["predict"], "seed": config["seed"], "device": config["device"]}),
    threads: config["threads"]
    log:
        "logs/{dataset}/predict/{encoder}/{noise}/k{k}.log",
    benchmark:
        "logs/{dataset}/predict/{encoder}/{noise}/k{k}.bench.tsv"
    conda:
        ENV
    shell:
        "python -m lra predict --manifest {input.manifest} --features {input.features} --model {input.model}"
        " --params {params.predict:q} --out {output} 2> {log}"
