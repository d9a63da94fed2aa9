"""Threads: a stage uses exactly the threads it is given (`lra <stage> --threads N`, which every
Snakemake rule passes as its `{threads}`).

Left alone, every library sizes its pool by the machine: torch, FAISS (OpenMP), OpenBLAS/MKL and
pyarrow start a thread per core and cleanlab a process per core, so on a shared node a
`--cores 8` grid of four 2-thread jobs would run dozens of busy threads. `apply` sets every pool
of this process, and the environment its child processes (DataLoader workers) inherit, to N.

It also makes idle OpenMP threads sleep rather than spin (OMP_WAIT_POLICY=PASSIVE, unless you set
OMP_WAIT_POLICY yourself): a spinning thread holds a core its sibling needs whenever the node has
more busy threads than cores. Measured on this project's 2-core machine shared with other jobs
(load 12-15), the same training loop took 3-5 s with 1 thread, 50 s to 2.4 min with 2 spinning
threads, and 4-5 s with 2 passive ones.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

log = logging.getLogger("lra")

# Read by OpenMP (torch, FAISS), MKL, OpenBLAS, BLIS, Accelerate and numexpr when they load.
ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS",
       "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMEXPR_MAX_THREADS")

_applied: int | None = None


def available() -> int:
    """Threads when none are given: OMP_NUM_THREADS if set, else the CPUs this process may run on
    (a SLURM job's allocation, not the node's core count)."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        pass
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def get() -> int:
    """The threads this process was given (`apply`), else `available()`: for n_jobs-style knobs."""
    return _applied or available()


def apply(n: int | None = None, libraries: tuple[str, ...] = ()) -> int:
    """Limit every thread pool of this process, and of the processes it starts, to `n` threads.

    Call it before the heavy imports: the environment variables reach libraries loaded later;
    libraries already loaded, and `libraries` (imported here: "torch", "faiss"), are set through
    their own APIs. Returns n."""
    global _applied
    n = available() if n is None else int(n)
    if n < 1:
        from .errors import LraError

        raise LraError(f"--threads {n}: give at least 1 (config key threads / embed.threads)")
    os.environ.update({var: str(n) for var in ENV})
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when an OpenMP runtime loads
    for name in libraries:
        importlib.import_module(name)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)
        try:
            torch.set_num_interop_threads(n)
        except RuntimeError:  # only allowed before torch's first parallel work
            pass
    if "faiss" in sys.modules:
        sys.modules["faiss"].omp_set_num_threads(n)
    import pyarrow
    from threadpoolctl import threadpool_limits

    pyarrow.set_cpu_count(n)
    threadpool_limits(n)  # BLAS and OpenMP runtimes already loaded (numpy's OpenBLAS, ...)
    _applied = n
    return n


def current() -> dict[str, int]:
    """The thread count each loaded library will use now, read back from the library itself."""
    import pyarrow
    from threadpoolctl import threadpool_info

    out = {"pyarrow": pyarrow.cpu_count()}
    if "torch" in sys.modules:
        import torch

        out["torch"] = torch.get_num_threads()
        out["torch inter-op"] = torch.get_num_interop_threads()
    if "faiss" in sys.modules:
        out["faiss"] = sys.modules["faiss"].omp_get_max_threads()
    for info in threadpool_info():
        name = f"{info['internal_api']} ({os.path.basename(info['filepath'])})"
        out[name] = info["num_threads"]
    return out


def describe() -> str:
    return ", ".join(f"{name} {n}" for name, n in current().items())
