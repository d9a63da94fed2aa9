"""What every stage shares, and nothing that knows a stage: checked reading and atomic writing
(`files`), resumable chunked outputs (`chunks`), the feature shard format (`features`), path
templates (`paths`), the one linear model (`linear`), what training loops share (`training`: the
learning-rate schedule and resumable checkpoints), devices, threads, progress, code versions and
the error types. Nothing here imports a stage family or the CLI."""
