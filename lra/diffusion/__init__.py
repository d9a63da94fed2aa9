"""LRA diffusion over label vectors (method.md): the noise schedule (`schedule`), the denoiser
(`model`; E_φ on pixels and its image batches in `image_network`), the training loop (`train`,
with `checkpoint` and relabel `rounds`), the DDIM sampler and read-out (`sample`, with per-item
`draws`), their hyper-parameters and presets (`config`), and the train and predict stages on files
(`stage`).

Nothing is imported here: the Snakemake side reads `config` without loading torch.
"""
