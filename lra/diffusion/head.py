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

from dataclasses import dataclass

import numpy as np


@dataclass
class Head:
    """A fitted head: softmax(x Wᵀ + b) over the classes for new items, and one probe per fold
    for the train items (item i is scored by the probe of its fold, which never saw it). Small
    enough to store with the model: (folds + 1) × C × d numbers and a fold index per train item."""

    coef: np.ndarray  # (C, d)
    intercept: np.ndarray  # (C,)
    fold_coef: np.ndarray  # (folds, C, d)
    fold_intercept: np.ndarray  # (folds, C)
    fold: np.ndarray  # (N_train,) the fold of each train item
    kept: np.ndarray  # (N_train,) bool: not flagged as a label issue, used by the fits

    def proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(np.asarray(x, np.float64) @ self.coef.T + self.intercept)

    def out_of_fold(self, x_train: np.ndarray) -> np.ndarray:
        """The train items' probabilities, each from the probe that left it out (rows as at fit)."""
        x = np.asarray(x_train, np.float64)
        out = np.zeros((len(x), len(self.intercept)))
        for f in range(len(self.fold_coef)):
            rows = self.fold == f
            out[rows] = softmax(x[rows] @ self.fold_coef[f].T + self.fold_intercept[f])
        return out


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _logistic(seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, C=1.0, random_state=seed)  # the baselines' probe


def _fit(x, labels, num_classes: int, seed: int, sample_weight=None, clf=None) -> tuple[np.ndarray, np.ndarray]:
    """(coef (C, d), intercept (C,)) with every class present; a class absent from `labels` gets
    a very low intercept, so it is never predicted. `clf`: an already fitted probe to read."""
    if clf is None:
        clf = _logistic(seed).fit(x, labels, sample_weight=sample_weight)
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


def fit_head(x: np.ndarray, labels: np.ndarray, num_classes: int, seed: int = 0, folds: int = 5,
             clean: bool = True) -> Head:
    """The cleaned linear head of train features `x` and observed `labels`: cleanlab's
    CleanLearning around the baselines' logistic regression (so on val and test items it *is*
    the CleanLearning baseline), and, for the train items, out-of-fold probabilities of the same
    probe fitted on the kept items with CleanLearning's sample weights. `clean=False`: the plain
    probe, out of fold."""
    x = np.asarray(x, np.float64)
    labels = np.asarray(labels, np.int64)
    fold = folds_of(labels, folds, seed)
    weight = np.ones(len(labels))
    clf = None
    if clean:
        from cleanlab.classification import CleanLearning

        cl = CleanLearning(_logistic(seed), seed=seed, verbose=False, find_label_issues_kwargs={"n_jobs": 1})
        cl.fit(x, labels)
        clf = cl.clf
        weight = (np.asarray(cl.sample_weight, np.float64) if cl.sample_weight is not None
                  else (~cl.label_issues_mask).astype(np.float64))
    fold_coef, fold_intercept = fold_probes(x, labels, fold, weight, num_classes, seed)
    coef, intercept = _fit(x, labels, num_classes, seed, weight, clf)
    return Head(coef, intercept, fold_coef, fold_intercept, fold, weight > 0)
