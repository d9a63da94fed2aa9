"""Label-noise models: the observed labels a run trains on.

Specs (also the `{noise}` wildcard):
- `given`: the labels as provided;
- `sym-<rate>`: uniform flips to a different class;
- `asym-<rate>`: flips along a class map, by default c → c+1 mod C (the "pair flip");
- `pmd-<rate>` (also `pmd2-`, `pmd3-`): polynomial-margin-diminishing noise (Zhang et al.,
  ICLR 2021, "PLC"): feature-dependent flips towards the runner-up class of a clean classifier,
  more likely where its margin is small;
- `file-<name>`: a published noise file (`.npy` of integer labels) named in `noise_files`.
Synthetic noise is applied to the clean labels of the train and val rows; test rows keep their
true labels. Each generator flips exactly round(rate · n) eligible items, so the realised rate
equals the requested one up to rounding.
"""

from __future__ import annotations

import re

import numpy as np

from ..core.errors import LraError

SPEC = re.compile(r"^(given|(sym|asym|pmd[123]?)-(0(\.\d+)?|1(\.0+)?)|file-([A-Za-z0-9_.]+))$")


def parse(spec: str) -> tuple[str, float | str]:
    """`sym-0.4` → ("sym", 0.4); `given` → ("given", 0.0); `file-plc35` → ("file", "plc35")."""
    m = SPEC.match(str(spec))
    if not m:
        raise LraError(
            f"config key noise: unknown noise spec {spec!r}; use given, sym-<rate>, asym-<rate>, "
            "pmd-<rate> with rate in [0, 1] (e.g. sym-0.4), or file-<name> of a noise_files entry"
        )
    if m.group(1) == "given":
        return "given", 0.0
    if m.group(6):
        return "file", m.group(6)
    kind = "pmd1" if m.group(2) == "pmd" else m.group(2)
    return kind, float(m.group(3))


def needs_features(spec: str) -> bool:
    """PMD noise depends on a clean classifier over the features."""
    return parse(spec)[0].startswith("pmd")


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


# Flip probability as a function of the clean classifier's margin m = p_true − p_runner_up, the
# three polynomial families of the PLC paper: all largest at m = 0 and diminishing towards |m| = 1.
PMD_POLYNOMIALS = {
    "pmd1": lambda m: 0.5 - 0.5 * m**2,
    "pmd2": lambda m: 1 - np.abs(m) ** 3,
    "pmd3": lambda m: 1 - (np.abs(m) ** 3 + m**2 + np.abs(m)) / 3,
}


def pmd(labels: np.ndarray, proba: np.ndarray, rate: float, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Flip round(rate·n) items to the runner-up class of a clean classifier's probabilities
    `proba`, drawn without replacement with probability ∝ the margin polynomial of `kind`."""
    out = labels.copy()
    n = len(labels)
    masked = proba.copy()
    masked[np.arange(n), labels] = -np.inf
    runner_up = masked.argmax(axis=1)
    margin = proba[np.arange(n), labels] - proba[np.arange(n), runner_up]
    weight = np.maximum(PMD_POLYNOMIALS[kind](margin), 0) + 1e-12  # every item stays possible
    flip = rng.choice(n, size=int(round(rate * n)), replace=False, p=weight / weight.sum())
    out[flip] = runner_up[flip]
    return out


def clean_probabilities(x: np.ndarray, labels: np.ndarray, num_classes: int, seed: int = 0) -> np.ndarray:
    """The 'clean classifier' whose margins shape PMD noise: out-of-fold logistic-regression
    probabilities on the clean labels (out-of-fold, so margins are not memorised)."""
    from ..core.linear import out_of_fold_proba

    return out_of_fold_proba(x, labels, num_classes, seed)


def from_file(path, frame) -> np.ndarray:
    """Observed labels from a published noise file: one integer per train row, per train+val
    row, or per manifest row, in manifest order (CIFAR's files: the first 45,000 train images)."""
    from pathlib import Path

    from ..core.files import load_npy

    path = Path(path)
    if not path.exists():
        raise LraError(f"{path}: noise file not found (config key noise_files)")
    labels = load_npy(path, "the noise file (config key noise_files)")
    if not np.issubdtype(labels.dtype, np.integer):
        raise LraError(f"{path}: the noise file holds {labels.dtype} values; it needs integer class labels")
    labels = labels.astype(np.int64).reshape(-1)
    split = frame["split"].to_numpy()
    for rows in (split == "train", split != "test", np.ones(len(split), bool)):
        if rows.sum() == len(labels):
            out = frame["clean_label"].fillna(frame["label"]).to_numpy(dtype=np.int64)
            out[rows] = labels
            return out
    raise LraError(
        f"{path}: {len(labels)} labels, but the manifest has {(split == 'train').sum()} train, "
        f"{(split != 'test').sum()} train+val and {len(split)} rows in all; the file must match one of them"
    )


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


def observed_labels(frame, classes: list[str], spec: str, seed: int, class_map: dict | None = None,
                    x: np.ndarray | None = None, noise_files: dict | None = None) -> np.ndarray:
    """Observed labels for every manifest row under noise `spec` (test rows stay true).
    PMD needs the features `x` (rows as in `frame`); `file-<name>` looks up `noise_files`."""
    kind, rate = parse(spec)
    label = frame["label"].to_numpy(dtype=np.int64)
    if kind == "given":
        return label
    if kind == "file":
        if rate not in (noise_files or {}):
            raise LraError(f"config key noise_files: no entry {rate!r} for noise spec {spec!r}; "
                           f"add noise_files: {{{rate}: /path/to/labels.npy}}")
        return from_file(noise_files[rate], frame)
    clean = frame["clean_label"].fillna(frame["label"]).to_numpy(dtype=np.int64)
    out = clean.copy()
    noisy = np.flatnonzero(frame["split"].to_numpy() != "test")
    rng = np.random.default_rng(seed)
    if kind == "sym":
        out[noisy] = symmetric(clean[noisy], rate, len(classes), rng)
    elif kind == "asym":
        out[noisy] = asymmetric(clean[noisy], rate, class_map_from_config(class_map, classes), rng)
    else:
        if x is None:
            raise LraError(f"noise {spec!r} needs the features of a clean classifier; pass them to the noise stage")
        proba = clean_probabilities(x[noisy], clean[noisy], len(classes), seed)
        out[noisy] = pmd(clean[noisy], proba, rate, kind, rng)
    return out
