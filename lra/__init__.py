"""lra: learning from noisy labels with label-retrieval-augmented (LRA) diffusion.

The package is a library first: every stage of the Snakemake DAG is a function in
`lra.stages` that reads and writes files, built on array-level functions in the
modules named after each concern (manifest, datasets, noise, encoders, features, retrieval,
diffusion, baselines, metrics, report), plus `lra.export` (cleaned.csv) and `lra.infer`
(predictions for new images with a finished run).
"""

__version__ = "0.1.0"
