"""lra: learning from noisy labels with label-retrieval-augmented (LRA) diffusion.

The package is a library first, laid out the way the Snakemake DAG is: one package per stage
family, named like its rule file (`data`, `embed`, `retrieval`, `diffusion`, `score`, `export`,
`infer`, `report`), each holding its stage functions on files beside the array-level functions
they are built on, and `core` for what every stage shares. `lra.stages` is the one table of the
stages (what `lra <stage>` runs; `lra.stages.<stage>(...)` from Python), `lra.workflow` the
Snakemake side (config → targets).
"""

__version__ = "0.1.0"
