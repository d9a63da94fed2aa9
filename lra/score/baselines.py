"""What a user would otherwise do with the same features: kNN vote, a linear probe, and
cleanlab's two ways of cleaning first (CleanLearning; Datalab's features-only label check, then
relabel and train). Every baseline uses the same multinomial logistic regression."""

from __future__ import annotations

import numpy as np

from ..core import threads
from ..core.linear import linear_probe, logistic, proba  # linear_probe is the "linear probe" baseline


def knn_vote(neighbor_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Majority of the k neighbour labels; ties go to the class whose first vote ranks nearest."""
    n, k = neighbor_labels.shape
    # A vote at rank j adds 1 + 1e-3·2^-j: the bonuses never outweigh a vote, and the bonus of a
    # class's first (nearest) vote exceeds all bonuses of later ranks together.
    scores = np.zeros((n, num_classes))
    for j in range(k):
        np.add.at(scores, (np.arange(n), neighbor_labels[:, j]), 1.0 + 1e-3 * 0.5**j)
    return scores.argmax(axis=1)


def cleanlab_issues(labels: np.ndarray, oof_proba: np.ndarray) -> np.ndarray:
    """cleanlab's find_label_issues (confident learning) on out-of-fold probabilities."""
    from cleanlab.filter import find_label_issues

    return find_label_issues(labels, oof_proba, n_jobs=threads.get())


def clean_learning(x_train, y_train, x_test, num_classes: int, seed: int = 0) -> np.ndarray:
    """cleanlab's CleanLearning around the logistic regression: drop found issues, retrain."""
    from cleanlab.classification import CleanLearning

    cl = CleanLearning(logistic(seed), seed=seed, verbose=False,
                       find_label_issues_kwargs={"n_jobs": threads.get()}).fit(x_train, y_train)
    return proba(cl.clf, x_test, num_classes)


def datalab_relabel(x_train, y_train, x_test, num_classes: int, seed: int = 0) -> np.ndarray:
    """Datalab's features-only label check (kNN on the features), relabel what it flags to its
    suggested label, then train the logistic regression."""
    from cleanlab import Datalab

    lab = Datalab(data={"label": y_train}, label_name="label", verbosity=0)
    jobs = {"clean_learning_kwargs": {"find_label_issues_kwargs": {"n_jobs": threads.get()}}}
    lab.find_issues(features=np.ascontiguousarray(x_train), issue_types={"label": jobs})
    issues = lab.get_issues("label")
    relabelled = np.where(issues["is_label_issue"].to_numpy(), issues["predicted_label"].to_numpy(), y_train)
    return linear_probe(x_train, relabelled.astype(np.int64), x_test, num_classes, seed)
