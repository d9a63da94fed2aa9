rule train:
    input:
        manifest=manifest,
        labels=paths.LABELS,
        features=feature_files,
        neighbors=paths.NEIGHBORS,
        index=paths.INDEX,
        weights=lw.image_weights(config),
    output:
        paths.MODEL,
    params:
        train=lambda w: lw.train_params(config, w.method, w.seed),
        checkpoint_minutes=lw.Untracked(lw.train_run_key(config, "checkpoint_minutes")),
        num_workers=lw.Untracked(lw.train_workers(config)),
        code=lw.code_version("train"),
    threads: config["threads"]
    log:
        paths.log("train", paths.DATASET_RUN),
    benchmark:
        paths.bench("train", paths.DATASET_RUN)
    conda:
        ENV
    # exec: python replaces the shell, so a SIGTERM (SLURM, before a time limit) reaches lra, which
    # checkpoints to {RUN}/train.ckpt and exits non-zero, rather than killing a shell in between
    shell:
        "exec python -m lra train --manifest {input.manifest} --labels {input.labels} --features {input.features}"
        " --neighbors {input.neighbors} --params {params.train:q} --checkpoint-minutes {params.checkpoint_minutes}"
        " --num-workers {params.num_workers} --index {input.index}"
        " --threads {threads} --out {output} 2> {log}"


rule predict:
    input:
        manifest=manifest,
        features=feature_files,
        neighbors=paths.NEIGHBORS,
        model=paths.MODEL,
    output:
        paths.PREDICTIONS,
    params:
        predict=lambda w: lw.predict_params(config, w.seed),
        code=lw.code_version("predict"),
    threads: config["threads"]
    log:
        paths.log("predict", paths.DATASET_RUN),
    benchmark:
        paths.bench("predict", paths.DATASET_RUN)
    conda:
        ENV
    shell:
        "python -m lra predict --manifest {input.manifest} --features {input.features} --model {input.model}"
        " --neighbors {input.neighbors} --params {params.predict:q} --threads {threads} --out {output} 2> {log}"
