"""The one linear model of lra: multinomial logistic regression on features.

Every stage that fits a classifier on features uses it: PMD noise's clean classifier (data), the
baselines and cleanlab's out-of-fold probabilities (score), the method's linear head
(diffusion). One definition, so "the linear probe" means the same model wherever a number is
reported; and one stratified sample for fitting it on a large train split.
"""

from __future__ import annotations

import numpy as np

MIN_PER_CLASS = 5  # out-of-fold probabilities use up to 5 stratified folds
EVAL_BATCH = 65536  # rows per predict_proba call: bounds its float64 temporaries on a large test split


def logistic(seed: int = 0):
    """The multinomial logistic regression every linear model of lra is."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, C=1.0, random_state=seed)


def proba(clf, x: np.ndarray, num_classes: int) -> np.ndarray:
    """(len(x), num_classes) probabilities of a fitted classifier; 0 for classes it never saw."""
    out = np.zeros((len(x), num_classes))
    for start in range(0, len(x), EVAL_BATCH):
        rows = slice(start, start + EVAL_BATCH)
        out[rows, clf.classes_] = clf.predict_proba(x[rows])
    return out


def linear_probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, num_classes: int,
                 seed: int = 0) -> np.ndarray:
    """Class probabilities of multinomial logistic regression trained on the (noisy) labels."""
    return proba(logistic(seed).fit(x_train, y_train), x_test, num_classes)


def out_of_fold_proba(x: np.ndarray, labels: np.ndarray, num_classes: int, seed: int = 0) -> np.ndarray:
    """Each item's class probabilities from a logistic regression that did not see it (≤ 5 folds)."""
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros((len(labels), num_classes))
    counts = np.bincount(labels)
    folds = int(np.clip(counts[counts > 0].min(), 2, 5))  # StratifiedKFold wants every class in each fold
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, labels):
        out[held] = proba(logistic(seed).fit(x[fit], labels[fit]), x[held], num_classes)
    return out


def stratified(labels: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of a random sample of `size` items (all when there are fewer) whose
    class shares are those of `labels` (largest remainders), with at least MIN_PER_CLASS items
    (or all it has) of every class."""
    n = len(labels)
    if size >= n:
        return np.arange(n)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    floor = np.minimum(counts, MIN_PER_CLASS)
    spare = max(0, size - int(floor.sum()))
    share = spare * (counts - floor) / max(1, int((counts - floor).sum()))
    quota = floor + np.floor(share).astype(np.int64)
    short = spare - int(np.floor(share).sum())
    quota[np.argsort(-(share - np.floor(share)), kind="stable")[:short]] += 1
    rng = np.random.default_rng(seed)
    by_class = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    picked = [rng.permutation(by_class[s:s + c])[:q] for s, c, q in zip(starts, counts, quota)]
    return np.sort(np.concatenate(picked))
