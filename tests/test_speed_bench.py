"""bench/speed.py's naive reference does the same work as our training, only slower: its per-step
kNN candidates equal our precomputed table's rows, and its per-item draw pairs each label with the
agreement count our table holds. Correctness only; no wall-clock time is checked."""

import random

import numpy as np
import torch

from bench.speed import naive_candidates, naive_draw, naive_train, neighbour_table, synthetic
from lra.diffusion.config import TrainConfig
from lra.diffusion.model import Denoiser


def test_per_step_knn_candidates_equal_the_precomputed_table():
    x, _, observed = synthetic(120, 16, 4, seed=3)
    cand, _ = neighbour_table(x, observed, k=5)  # FAISS, self excluded, own label appended
    bank, labels = torch.as_tensor(x), torch.as_tensor(observed)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    for b in range(0, len(x), 32):
        idx = perm[b:b + 32]
        assert np.array_equal(naive_candidates(bank, labels, idx, 5).numpy(), cand[idx.numpy()])


def test_per_item_draw_is_a_candidate_with_the_tables_agreement_count():
    x, _, observed = synthetic(60, 8, 3, noise=0.5, seed=4)
    cand, agree = neighbour_table(x, observed, k=4)
    cols, labels, weights = naive_draw(cand.tolist(), random.Random(0))
    rows = np.arange(len(cand))
    assert np.array_equal(labels, cand[rows, cols])
    assert np.array_equal(weights, agree[rows, cols])
    assert len(set(cols)) == cand.shape[1]  # every column gets drawn over 60 items


def test_naive_training_runs_the_same_model_and_learns():
    x, _, observed = synthetic(128, 8, 2, noise=0.1, seed=5)
    cfg = TrainConfig(epochs=3, F=16, T=50, batch_size=32, warmup_epochs=1)
    model, _, history = naive_train(x, observed, 3, 2, cfg)
    assert isinstance(model, Denoiser) and model.hparams["F"] == 16 and model.hparams["T"] == 50
    assert len(history) == 3 and all(np.isfinite(h["loss"]) for h in history)
    assert history[-1]["loss"] < history[0]["loss"]
