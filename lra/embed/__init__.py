"""The embed stage's encoders f_p; here so far: SimCLR trained on the dataset's own images (simclr.py)."""
