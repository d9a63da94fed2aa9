"""Retrieval benchmark, all numbers measured side by side in one run on the same data:

1. exact self-kNN (FAISS Flat, inner product) vs a torch matmul + top-k bound: time and ratio;
2. each approximate index type: build time, search time and recall@k against exact.

Data: synthetic clustered vectors (Gaussian clusters around random centres), L2-normalised,
as retrieval sees CLIP features. Queries are the first --queries rows (self excluded); times
for all N queries are extrapolated linearly from them (labelled "est.").

    PYTHONPATH=. python bench/retrieval.py                 # 1M x 128 (about 10 min on 2 cores)
    PYTHONPATH=. python bench/retrieval.py --n 100000 --dim 64 --types 'IVF256,Flat;HNSW32'
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np


def clustered(n: int, dim: int, clusters: int, spread: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    x = np.empty((n, dim), np.float32)
    for start in range(0, n, 262144):  # in blocks: bounded temporaries
        m = min(262144, n - start)
        block = centres[rng.integers(0, clusters, m)] + spread * rng.normal(size=(m, dim)).astype(np.float32)
        x[start:start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return x


def torch_topk(x: np.ndarray, q: np.ndarray, k: int, batch: int = 512):
    """Exact k-NN by dense matmul + top-k in torch, self (query i = row i) excluded."""
    import torch

    xt = torch.from_numpy(x)
    rows = np.empty((len(q), k), np.int64)
    for start in range(0, len(q), batch):
        s = torch.from_numpy(q[start:start + batch]) @ xt.T
        idx = torch.arange(start, start + len(s))
        s[torch.arange(len(s)), idx] = -torch.inf
        rows[start:start + len(s)] = s.topk(k, dim=1).indices.numpy()
    return rows


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def main() -> None:
    from lra.retrieval import knn as retrieval

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000, help="indexed vectors")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--queries", type=int, default=5_000, help="query rows (self-kNN of the first rows)")
    p.add_argument("--clusters", type=int, default=2000)
    p.add_argument("--spread", type=float, default=0.25, help="cluster noise per dimension (radius ~ spread*sqrt(dim))")
    p.add_argument("--types", default=None,
                   help="';'-separated factory strings (default: auto's IVF and its SQ8/PQ variants, HNSW32)")
    p.add_argument("--nprobe", default="8,32", help="IVF nprobe values to measure")
    p.add_argument("--threads", type=int, default=None, help="FAISS and torch threads (default: all cores)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import faiss
    import torch

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    n, dim, k = args.n, args.dim, args.k
    nlist = retrieval.auto_nlist(n)
    types = args.types.split(";") if args.types else [
        f"IVF{nlist},Flat", f"IVF{nlist},SQ8", f"IVF{nlist},PQ{dim // 4}", "HNSW32"]

    x, t_gen = timed(clustered, n, dim, args.clusters, args.spread)
    q = x[:args.queries]
    self_rows = np.arange(len(q))
    print(f"data: {n} x {dim} clustered ({args.clusters} clusters, spread {args.spread}), generated in {t_gen:.1f} s; "
          f"{len(q)} queries, k={k}, FAISS threads {faiss.omp_get_max_threads()}, torch threads {torch.get_num_threads()}, "
          f"auto -> {retrieval.factory_string('auto', n, dim)}")

    flat, t_flat_build = timed(retrieval.build_index, retrieval.iter_blocks(x), n, dim, "Flat")
    (exact_sims, exact), t_exact = timed(retrieval.neighbors, flat, q, k, self_rows)
    torch_rows, t_torch = timed(torch_topk, x, q, k)
    del flat
    print(f"\nexact search ({len(q)} queries): FAISS Flat {t_exact:.2f} s, torch matmul+topk {t_torch:.2f} s, "
          f"ratio FAISS/torch {t_exact / t_torch:.2f}; torch finds the same neighbours for "
          f"{retrieval.recall(torch_rows, exact):.4f} of them (ties aside)")

    rows_out = [("Flat (exact)", "-", t_flat_build, t_exact, 1.0)]
    for desc in types:
        index0 = retrieval.new_index(dim, desc)
        sample = retrieval.training_sample(retrieval.iter_blocks(x), n) if retrieval.train_needs(index0) else None
        index, t_build = timed(retrieval.build_index, retrieval.iter_blocks(x), n, dim, desc, sample)
        settings = [("nprobe", int(v)) for v in args.nprobe.split(",")] if faiss.try_extract_index_ivf(index) else \
                   [("efSearch", retrieval.EF_SEARCH)] if "HNSW" in desc else [("", 0)]
        for name, value in settings:
            if name == "nprobe":
                retrieval.set_search_params(index, nprobe=value)
            (_, rows), t_search = timed(retrieval.neighbors, index, q, k, self_rows)
            rows_out.append((desc, f"{name} {value}".strip() or "-", t_build, t_search, retrieval.recall(rows, exact)))
        del index

    scale = n / len(q)
    print(f"\n| index | search param | build s | search s ({len(q)} q) | est. all {n} q, s | speed-up vs exact | recall@{k} |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for desc, param, t_build, t_search, rec in rows_out:
        print(f"| {desc} | {param} | {t_build:.1f} | {t_search:.2f} | {t_search * scale:.0f} | "
              f"{t_exact / t_search:.1f}x | {rec:.4f} |")


if __name__ == "__main__":
    main()
