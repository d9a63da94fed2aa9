"""The data family (workflow/rules/data.smk): a dataset config → the manifest (`datasets`, the
paper's benchmarks in `paper`, the shared `manifest` checks), images read by manifest source
(`images`), observed labels under a noise model (`noise`), benchmark data (`synthetic`), and the
two stages on files (`stage`: data, noise)."""
