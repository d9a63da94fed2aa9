rule pretrain:
    input:
        manifest,
    output:
        paths.ENCODER,
    wildcard_constraints:
        encoder=r"simclr[A-Za-z0-9_.\-]*",
    params:
        spec=lambda w: ENCODERS[w.encoder],
        pretrain=lambda w: lw.pretrain_params(config, ENCODERS[w.encoder]),
        run_args=lw.Untracked(lw.pretrain_run_args(config)),
        code=lw.code_version("pretrain"),
    threads: config["threads"]
    log:
        paths.log("pretrain", "{dataset}/{encoder}"),
    benchmark:
        paths.bench("pretrain", "{dataset}/{encoder}")
    conda:
        ENV
    # exec: python replaces the shell, so a SIGTERM (SLURM, before a time limit) reaches lra, which
    # checkpoints to <weights>.ckpt and exits non-zero, rather than killing a shell in between
    shell:
        "exec python -m lra pretrain --manifest {input} --encoder {params.spec:q} --params {params.pretrain:q}"
        " {params.run_args} --threads {threads} --out {output} 2> {log}"


rule embed:
    input:
        manifest=manifest,
        weights=encoder_weights,
    output:
        paths.FEATURES,
    params:
        spec=lambda w: ENCODERS[w.encoder],
        weights=lambda w, input: f"--weights {input.weights}" if input.weights else "",
        shards=config["embed"]["shards"],
        dtype=config["embed"]["dtype"],
        options=lw.as_json(lw.embed_options(config)),
        code=lw.code_version("embed"),
    threads: config["embed"]["threads"]
    resources:
        mem_mb=config["embed"]["mem_mb"],
    log:
        paths.log("embed", "{dataset}/{encoder}/part-{shard}"),
    benchmark:
        paths.bench("embed", "{dataset}/{encoder}/part-{shard}")
    conda:
        ENV
    shell:
        "python -m lra embed --manifest {input.manifest} --encoder {params.spec:q} {params.weights}"
        " --shard $((10#{wildcards.shard})) --num-shards {params.shards} --dtype {params.dtype}"
        " --options {params.options:q} --threads {threads} --out {output} 2> {log}"
