"""Label-noise models: the observed labels a run trains on.

Specs (also the `{noise}` wildcard): `given` (the labels as provided), `sym-<rate>` (uniform
flips to a different class) and `asym-<rate>` (flips along a class map, by default
c → c+1 mod C, the "pair flip" of the noisy-label literature). Synthetic noise is applied to the
clean labels of the train and val rows; test rows keep their true labels.

Each generator flips exactly round(rate · n) eligible items, so the realised rate equals the
requested one up to rounding.
"""

from __future__ import annotations

import re

import numpy as np

from .errors import LraError

SPEC = re.compile(r"^(given|(sym|asym)-(0(\.\d+)?|1(\.0+)?))$")


def parse(spec: str) -> tuple[str, float]:
    """`sym-0.4` → ("sym", 0.4); `given` → ("given", 0.0)."""
    m = SPEC.match(str(spec))
    if not m:
        raise LraError(
            f"config key noise: unknown noise spec {spec!r}; use given, sym-<rate> or asym-<rate> "
            "with rate in [0, 1], e.g. sym-0.4"
        )
    return ("given", 0.0) if m.group(1) == "given" else (m.group(2), float(m.group(3)))


def symmetric(labels: np.ndarray, rate: float, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Replace the labels of round(rate·n) random items by a uniformly drawn different class."""
    out = labels.copy()
    flip = rng.choice(len(labels), size=int(round(rate * len(labels))), replace=False)
    shift = rng.integers(1, num_classes, size=len(flip))  # never 0, so never the same class
    out[flip] = (labels[flip] + shift) % num_classes
    return out


def pair_map(num_classes: int) -> dict[int, int]:
    return {c: (c + 1) % num_classes for c in range(num_classes)}


def asymmetric(labels: np.ndarray, rate: float, class_map: dict[int, int], rng: np.random.Generator) -> np.ndarray:
    """Within each mapped class, flip round(rate·n_c) random items to class_map[c]."""
    out = labels.copy()
    for src, dst in class_map.items():
        idx = np.flatnonzero(labels == src)
        flip = rng.choice(idx, size=int(round(rate * len(idx))), replace=False)
        out[flip] = dst
    return out


def class_map_from_config(mapping: dict | None, classes: list[str]) -> dict[int, int]:
    """Config `noise_class_map` ({from: to}, class names or indices) → index map."""
    if not mapping:
        return pair_map(len(classes))
    index = {name: i for i, name in enumerate(classes)}

    def resolve(value) -> int:
        key = str(value)
        if key in index:
            return index[key]
        if key.isdigit() and int(key) < len(classes):
            return int(key)
        raise LraError(f"config key noise_class_map: unknown class {value!r}; classes are {classes}")

    return {resolve(a): resolve(b) for a, b in mapping.items()}


def observed_labels(frame, classes: list[str], spec: str, seed: int, class_map: dict | None = None) -> np.ndarray:
    """Observed labels for every manifest row under noise `spec` (test rows stay true)."""
    kind, rate = parse(spec)
    label = frame["label"].to_numpy(dtype=np.int64)
    if kind == "given":
        return label
    clean = frame["clean_label"].fillna(frame["label"]).to_numpy(dtype=np.int64)
    out = clean.copy()
    noisy = np.flatnonzero(frame["split"].to_numpy() != "test")
    rng = np.random.default_rng(seed)
    if kind == "sym":
        out[noisy] = symmetric(clean[noisy], rate, len(classes), rng)
    else:
        out[noisy] = asymmetric(clean[noisy], rate, class_map_from_config(class_map, classes), rng)
    return out
