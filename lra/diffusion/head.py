"""The linear head f_q(x) of the CARD prior (arXiv 2206.07275): a noise-robust linear probe.

A multinomial logistic regression on the features, cleaned confident-learning style (cleanlab's
CleanLearning: out-of-fold probabilities on the observed labels, `find_label_issues` on them, the
flagged items left out, the rest reweighted per class). Train items get *out-of-fold*
probabilities of that cleaned probe (a model that never saw them, so it cannot have memorised
their wrong labels); every other item gets the probabilities of the probe fitted on all kept train
items. The
diffusion then starts from what a linear probe knows and learns the rest (lra.diffusion.prior).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..core.linear import logistic, stratified  # the baselines' probe


@dataclass
class Head:
    """A fitted head: softmax(x Wᵀ + b) over the classes for new items, and one probe per fold
    for the train items (item i is scored by the probe of its fold, which never saw it). Small
    enough to store with the model: (folds + 1) × C × d numbers and a fold index per train item."""

    coef: np.ndarray  # (C, d)
    intercept: np.ndarray  # (C,)
    fold_coef: np.ndarray  # (folds, C, d)
    fold_intercept: np.ndarray  # (folds, C)
    fold: np.ndarray  # (N_train,) the fold of each train item; -1: outside the fitted sample (the full probe scores it)
    kept: np.ndarray  # (N_train,) bool: not flagged as a label issue, used by the fits

    def arrays(self, prefix: str = "") -> dict:
        """Its fields by name (with `prefix`), as model.pt keeps them."""
        return {prefix + f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict, prefix: str = "") -> "Head":
        return cls(*(arrays[prefix + f.name] for f in fields(cls)))

    def proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(np.asarray(x, np.float64) @ self.coef.T + self.intercept)

    def out_of_fold(self, x_train: np.ndarray) -> np.ndarray:
        """The train items' probabilities, each from the probe that left it out (rows as at fit)."""
        return self.scores(x_train, np.arange(len(x_train)))

    def scores(self, x: np.ndarray, train_pos: np.ndarray) -> np.ndarray:
        """Probabilities of any items: a train item (its position among the train items at fit,
        `train_pos` ≥ 0) from the probe of its fold, which never saw it; any other (−1) from the
        probe fitted on all kept train items."""
        x = np.asarray(x, np.float64)
        fold = np.where(train_pos >= 0, self.fold[np.maximum(train_pos, 0)], -1)
        out = np.zeros((len(x), len(self.intercept)))
        for f in range(-1, len(self.fold_coef)):
            rows = fold == f
            if rows.any():
                coef, intercept = (self.coef, self.intercept) if f < 0 else (self.fold_coef[f], self.fold_intercept[f])
                out[rows] = softmax(x[rows] @ coef.T + intercept)
        return out


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _fit(x, labels, num_classes: int, seed: int, sample_weight=None, clf=None) -> tuple[np.ndarray, np.ndarray]:
    """(coef (C, d), intercept (C,)) with every class present; a class absent from `labels` gets
    a very low intercept, so it is never predicted. `clf`: an already fitted probe to read."""
    if clf is None:
        clf = logistic(seed).fit(x, labels, sample_weight=sample_weight)
    coef = np.zeros((num_classes, x.shape[1]))
    intercept = np.full(num_classes, -30.0)
    if len(clf.classes_) == 2:  # sklearn's binary case: one row for class 1 against class 0
        coef[clf.classes_[1]], intercept[clf.classes_[1]] = clf.coef_[0], clf.intercept_[0]
        intercept[clf.classes_[0]] = 0.0
    else:
        coef[clf.classes_], intercept[clf.classes_] = clf.coef_, clf.intercept_
    return coef, intercept


def folds_of(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold index per item, stratified, at most `folds` (fewer when a class has fewer items)."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(labels)
    n = int(np.clip(counts[counts > 0].min(), 2, folds))
    fold = np.zeros(len(labels), np.int64)
    for f, (_, held) in enumerate(StratifiedKFold(n, shuffle=True, random_state=seed).split(labels, labels)):
        fold[held] = f
    return fold


def fold_probes(x, labels, fold, weight, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One probe per fold, fitted on the other folds' items of weight > 0: (coefs, intercepts)."""
    fits = []
    for f in range(fold.max() + 1):
        fit = (fold != f) & (weight > 0)
        fits.append(_fit(x[fit], labels[fit], num_classes, seed, weight[fit]))
    return np.stack([c for c, _ in fits]), np.stack([b for _, b in fits])


HEAD_SAMPLE = 50_000  # at most this many train items fit the head (like score's baseline_sample)


def fit_head(x: np.ndarray, labels: np.ndarray, num_classes: int, seed: int = 0, folds: int = 5,
             clean: bool = True, sample: int = HEAD_SAMPLE) -> Head:
    """The cleaned linear head of train features `x` and observed `labels`: cleanlab's
    CleanLearning around the baselines' logistic regression (so on val and test items it *is*
    the CleanLearning baseline), and, for the train items, out-of-fold probabilities of the same
    probe fitted on the kept items with CleanLearning's sample weights. `clean=False`: the plain
    probe, out of fold. Above `sample` train items the probes fit a stratified sample of them
    (lra.core.linear.stratified): cross-validated fits cost far more than linear time, and the
    items outside the sample, never seen by any probe, are scored by the full one (fold −1)."""
    x = np.asarray(x, np.float64)
    labels = np.asarray(labels, np.int64)
    rows = stratified(labels, sample, seed) if 0 < sample < len(labels) else np.arange(len(labels))
    xs, ys = x[rows], labels[rows]
    fold = folds_of(ys, folds, seed)
    weight = np.ones(len(ys))
    clf = None
    if clean:
        from cleanlab.classification import CleanLearning

        cl = CleanLearning(logistic(seed), seed=seed, verbose=False, find_label_issues_kwargs={"n_jobs": 1})
        cl.fit(xs, ys)
        clf = cl.clf
        weight = (np.asarray(cl.sample_weight, np.float64) if cl.sample_weight is not None
                  else (~cl.label_issues_mask).astype(np.float64))
    fold_coef, fold_intercept = fold_probes(xs, ys, fold, weight, num_classes, seed)
    coef, intercept = _fit(xs, ys, num_classes, seed, weight, clf)
    all_fold = np.full(len(labels), -1, np.int64)
    all_fold[rows] = fold
    kept = np.ones(len(labels), bool)
    kept[rows] = weight > 0
    return Head(coef, intercept, fold_coef, fold_intercept, all_fold, kept)
