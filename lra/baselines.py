"""What a user would otherwise do with the same features: kNN vote and a linear probe."""

from __future__ import annotations

import numpy as np


def knn_vote(neighbor_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Majority of the k neighbour labels; ties go to the class whose first vote ranks nearest."""
    n, k = neighbor_labels.shape
    rank_bonus = (k - np.arange(k)) / (k * (k + 1))  # < 1 in total: only breaks ties
    scores = np.zeros((n, num_classes))
    for j in range(k):
        np.add.at(scores, (np.arange(n), neighbor_labels[:, j]), 1.0 + rank_bonus[j] * 1e-3)
    return scores.argmax(axis=1)


def linear_probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, num_classes: int,
                 seed: int = 0) -> np.ndarray:
    """Class probabilities of multinomial logistic regression trained on the (noisy) labels."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000, C=1.0, random_state=seed)
    clf.fit(x_train, y_train)
    proba = np.zeros((len(x_test), num_classes))
    proba[:, clf.classes_] = clf.predict_proba(x_test)
    return proba
