"""Training epoch time vs a naive per-step-kNN reference, and DDIM predict vs bare forwards, in one run.

(a) Training. "ours" is `lra.diffusion.train` itself, timed over a fixed number of epochs on a
precomputed neighbour table (the table is built once, timed and printed apart). "naive" does what
the published LRA code does: every step, a brute-force kNN of the batch over the whole feature bank
(one matmul against all N rows + top-k), then a Python loop over the batch's items draws each
item's label from its k+1 candidates and counts the candidates that agree with it. Everything else
(data, Denoiser, F, T, batch size, Adam, warm-up/cosine lr, antithetic t, weighted loss, clip) is
the same. Runs are interleaved (ours, naive, ours, naive, …); the medians and their ratio are
printed. Ratios, not absolute times, are the figures to compare on a shared machine.

(b) Prediction. `lra.diffusion.sample.predict` (deterministic DDIM, 10 steps) vs one bare
forward of the same denoiser on the same batches; the ratio predict / (steps × forward) is 1.0
when sampling adds nothing to its forwards.

    PYTHONPATH=. python bench/speed.py [--quick] [--n 20000] [--dim 512] [--classes 10] [--k 10]
        [--batch-size 256] [--F 512] [--T 1000] [--epochs 1] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # the training loop's progress bar, not ours to time

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lra.retrieval import knn as retrieval  # noqa: E402
from lra.diffusion.config import TrainConfig
from lra.diffusion.model import Denoiser
from lra.diffusion.sample import predict
from lra.diffusion.schedule import CosineSchedule
from lra.diffusion.train import candidates, train  # noqa: E402
from lra.core.training import lr_at  # noqa: E402
from lra.diffusion.train import antithetic_timesteps, optimizer_step, resolve_device  # noqa: E402


def synthetic(n: int, dim: int, num_classes: int, noise: float = 0.3, spread: float = 0.8, seed: int = 0):
    """Clustered unit-norm features, their true classes, and labels with `noise` symmetric flips."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, dim)).astype(np.float32)
    y = rng.integers(0, num_classes, n)
    x = centres[y] + spread * rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    flip = rng.random(n) < noise
    observed = np.where(flip, (y + rng.integers(1, num_classes, n)) % num_classes, y)
    return x.astype(np.float32), y, observed


# --- the naive reference ------------------------------------------------------------------------

def naive_candidates(bank: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor, k: int) -> torch.Tensor:
    """Per step: the batch's k nearest training items by a dense matmul over the whole bank
    (the item itself excluded), their labels, and the item's own label last → (B, k+1)."""
    sims = bank[idx] @ bank.T
    sims[torch.arange(len(idx), device=bank.device), idx] = -float("inf")
    rows = sims.topk(k, dim=1).indices
    return torch.cat([labels[rows], labels[idx, None]], dim=1)


def naive_draw(cand_rows: list[list[int]], rng: random.Random):
    """A Python loop over items: draw one candidate column uniformly, count the candidates that
    agree with it. Returns (columns, labels, agreement counts) as lists."""
    cols, labels, weights = [], [], []
    for row in cand_rows:
        j = rng.randrange(len(row))
        cols.append(j)
        labels.append(row[j])
        weights.append(float(row.count(row[j])))
    return cols, labels, weights


def naive_train(fp: np.ndarray, observed: np.ndarray, k: int, num_classes: int, cfg: TrainConfig):
    """The training loop of `lra.diffusion.train` with per-step kNN and a per-item draw in place of
    the precomputed table (no validation; weighting with power 1)."""
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    schedule = CosineSchedule(cfg.T).to(device)
    model = Denoiser(num_classes, fp.shape[1], cfg.F, cfg.T).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    x = torch.as_tensor(fp, device=device)
    labels = torch.as_tensor(observed, dtype=torch.long, device=device)
    N = len(fp)
    B = min(cfg.batch_size, N)
    per_epoch = max(1, N // B)
    total, warmup = cfg.epochs * per_epoch, cfg.warmup_epochs * per_epoch
    history, step = [], 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        perm = torch.randperm(N, generator=g)
        epoch_loss = 0.0
        for b in range(per_epoch):
            idx = perm[b * B:(b + 1) * B].to(device)
            with torch.no_grad():
                cand = naive_candidates(x, labels, idx, k)
            _, y_list, w_list = naive_draw(cand.tolist(), rng)
            y_hat = torch.tensor(y_list, device=device)
            w = torch.tensor(w_list, device=device)
            t = antithetic_timesteps(B, cfg.T, g).to(device)
            eps = torch.randn(B, num_classes, generator=g).to(device)
            lr = lr_at(step, total, warmup, cfg.lr)
            loss = optimizer_step(model, model, opt, schedule, x[idx], y_hat, w, t, eps, lr, cfg.grad_clip)
            epoch_loss += loss.item()
            step += 1
        history.append({"epoch": epoch, "loss": epoch_loss / per_epoch})
    model.eval()
    return model, schedule, history


# --- the bench ----------------------------------------------------------------------------------

def neighbour_table(x: np.ndarray, observed: np.ndarray, k: int):
    """The one-time table our training reads: FAISS exact search, self excluded, → candidates."""
    _, rows = retrieval.self_knn(x, k, "Flat")
    return candidates(observed, rows)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="~1.5 minutes: 3 repeats, 4096 predict items (same N, so the same ratio)")
    p.add_argument("--n", type=int, default=20000, help="training items")
    p.add_argument("--dim", type=int, default=512, help="feature dimension d")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--F", type=int, default=512, help="denoiser hidden width")
    p.add_argument("--T", type=int, default=1000, help="diffusion steps")
    p.add_argument("--epochs", type=int, default=1, help="epochs per timed training run")
    p.add_argument("--repeats", type=int, default=5, help="interleaved (ours, naive) pairs")
    p.add_argument("--predict-items", type=int, default=16384)
    p.add_argument("--predict-batch", type=int, default=4096, help="predict's batch_size")
    p.add_argument("--steps", type=int, default=10, help="DDIM steps")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for both sides (1: on a shared 2-core machine more OMP threads than free "
                        "cores make small ops wildly slower and noisier; 0: leave torch's default)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    args = p.parse_args()
    if args.quick:
        args.repeats, args.predict_items = min(args.repeats, 3), min(args.predict_items, 4096)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    x, _, observed = synthetic(args.n, args.dim, args.classes)
    table_s, (cand, agree) = timed(lambda: neighbour_table(x, observed, args.k))
    cfg = TrainConfig(T=args.T, F=args.F, epochs=args.epochs, batch_size=args.batch_size, device=str(device),
                      warmup_epochs=1)
    steps_per_epoch = args.n // args.batch_size
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}; "
          f"N={args.n} d={args.dim} C={args.classes} k={args.k} batch {args.batch_size} F={args.F} T={args.T}; "
          f"{steps_per_epoch} steps/epoch, {args.epochs} epoch(s) per run, {args.repeats} interleaved pairs")
    print(f"one-time neighbour table (FAISS Flat, k={args.k}, + candidates), not in 'ours': {table_s:.2f} s")

    def ours():
        return train(x, cand, agree, args.classes, cfg, log=lambda *a: None)

    def naive():
        return naive_train(x, observed, args.k, args.classes, cfg)

    w = slice(0, min(args.n, 4 * args.batch_size))  # warm-up (allocator, kernels, lazy imports), untimed
    train(x[w], cand[w], agree[w], args.classes, cfg, log=lambda *a: None)
    naive_train(x[w], observed[w], args.k, args.classes, cfg)

    ours_s, naive_s = [], []
    for r in range(args.repeats):
        s, (model, schedule, _) = timed(ours)
        ours_s.append(s / args.epochs)
        s, _ = timed(naive)
        naive_s.append(s / args.epochs)
        print(f"  pair {r + 1}: ours {ours_s[-1]:7.2f} s/epoch   naive {naive_s[-1]:7.2f} s/epoch   "
              f"ratio {naive_s[-1] / ours_s[-1]:5.2f}")
    mo, mn = statistics.median(ours_s), statistics.median(naive_s)
    pair = statistics.median(n / o for n, o in zip(naive_s, ours_s))
    print(f"(a) training, median s/epoch: ours {mo:.2f}  naive {mn:.2f}  "
          f"→ naive/ours {mn / mo:.2f}x (median of per-pair ratios {pair:.2f}x)")

    # (b) predict vs bare forwards, on the model the last 'ours' run returned
    rng = np.random.default_rng(1)
    q = torch.as_tensor(x[rng.integers(0, args.n, args.predict_items)], device=device)
    batches = [q[s:s + args.predict_batch] for s in range(0, len(q), args.predict_batch)]
    tau = args.T - args.T // args.steps + 1  # the first DDIM step; any t costs the same

    @torch.no_grad()
    def forward():
        model.eval()
        for b in batches:
            model(torch.zeros(len(b), args.classes, device=device), torch.full((len(b),), tau, device=device), b)
        if device.type == "cuda":
            torch.cuda.synchronize()

    def sample():
        predict(model, schedule, q, steps=args.steps, batch_size=args.predict_batch)
        if device.type == "cuda":
            torch.cuda.synchronize()

    forward(), sample()  # warm-up
    fwd_s, pred_s = [], []
    for _ in range(args.repeats):
        fwd_s.append(timed(forward)[0])
        pred_s.append(timed(sample)[0])
    mf, mp = statistics.median(fwd_s), statistics.median(pred_s)
    n = args.predict_items
    print(f"(b) predict, {n} items in batches of {args.predict_batch}, {args.steps} DDIM steps, median of {args.repeats}:")
    print(f"  one forward:   {n / mf:10.0f} items/s  ({mf:.3f} s)")
    print(f"  predict:       {n / mp:10.0f} items/s  ({mp:.3f} s)   bound {args.steps} forwards: {n / (args.steps * mf):.0f} items/s")
    print(f"  predict / ({args.steps} x forward) = {mp / (args.steps * mf):.3f}  (1.0 = sampling adds nothing)")


if __name__ == "__main__":
    main()
