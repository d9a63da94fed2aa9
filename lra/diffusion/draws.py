"""Per-item random draws: an item gets the same noise whatever batch, chunk, run or command it is
predicted in, and the same augmentation whatever batch, worker process or resume it is trained in.

The stochastic DDIM trajectories of an item start from y_T ~ N(0, I) drawn from a counter-based
generator keyed by (seed, item key, stream), not from a shared sequential generator. So
`lra infer` on an image reproduces the run's own `predict` for that image, and a resumed or
re-chunked prediction gives the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijective scramble of 64-bit integers (wrapping arithmetic)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def item_keys(names) -> np.ndarray:
    """A stable 64-bit key per item name (an image path, an id): the same on every machine."""
    return np.fromiter((int.from_bytes(hashlib.blake2b(str(n).encode(), digest_size=8).digest(), "little")
                        for n in names), dtype=np.uint64, count=len(names))


def words(keys: np.ndarray, seed: int, stream: int, per_item: int) -> np.ndarray:
    """(len(keys), per_item) random 64-bit words (uint64); row i depends only on (seed, keys[i], stream)."""
    with np.errstate(over="ignore"):
        base = _mix(np.asarray(keys, np.uint64) ^ _mix(np.uint64(seed) ^ _mix(np.uint64(stream))))
        counters = base[:, None] + np.arange(per_item, dtype=np.uint64)[None, :]
        return _mix(counters)


def normal(keys: np.ndarray, seed: int, stream: int, per_item: int) -> np.ndarray:
    """(len(keys), per_item) standard normals; row i depends only on (seed, keys[i], stream)."""
    bits = words(keys, seed, stream, per_item)
    # Box-Muller on the two 32-bit halves: both uniforms in (0, 1), never 0.
    u1 = ((bits >> np.uint64(32)).astype(np.float64) + 0.5) / 2.0**32
    u2 = ((bits & np.uint64(0xFFFFFFFF)).astype(np.float64) + 0.5) / 2.0**32
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)
