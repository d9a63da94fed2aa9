rule train:
    input:
        manifest=manifest,
        labels=LABELS,
        features=feature_files,
        neighbors=f"{RESULTS}/{{dataset}}/neighbors/{{encoder}}/k{{k}}.parquet",
    output:
        f"{RUN}/model.pt",
    params:
        train=lambda w: lw.as_json({**lw.train_params(config), "seed": int(w.seed), "device": config["device"]}),
        checkpoint_minutes=lw.Untracked(lw.train_run_key(config, "checkpoint_minutes")),
        code=lw.code_version("train"),
    threads: config["threads"]
    log:
        "logs/{dataset}/train/{encoder}/{noise}/k{k}/seed{seed}.log",
    benchmark:
        "logs/{dataset}/train/{encoder}/{noise}/k{k}/seed{seed}.bench.tsv"
    conda:
        ENV
    # exec: python replaces the shell, so a SIGTERM (SLURM, before a time limit) reaches lra, which
    # checkpoints to {RUN}/train.ckpt and exits non-zero, rather than killing a shell in between
    shell:
        "exec python -m lra train --manifest {input.manifest} --labels {input.labels} --features {input.features}"
        " --neighbors {input.neighbors} --params {params.train:q} --checkpoint-minutes {params.checkpoint_minutes}"
        " --threads {threads} --out {output} 2> {log}"


rule predict:
    input:
        manifest=manifest,
        features=feature_files,
        model=f"{RUN}/model.pt",
    output:
        f"{RUN}/predictions.parquet",
    params:
        predict=lambda w: lw.as_json({**config["predict"], "seed": int(w.seed), "device": config["device"]}),
        code=lw.code_version("predict"),
    threads: config["threads"]
    log:
        "logs/{dataset}/predict/{encoder}/{noise}/k{k}/seed{seed}.log",
    benchmark:
        "logs/{dataset}/predict/{encoder}/{noise}/k{k}/seed{seed}.bench.tsv"
    conda:
        ENV
    shell:
        "python -m lra predict --manifest {input.manifest} --features {input.features} --model {input.model}"
        " --params {params.predict:q} --threads {threads} --out {output} 2> {log}"
