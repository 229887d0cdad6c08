"""Multiclass SVM (Crammer-Singer style) hinge loss with L2 regularisation."""
import numpy as np


def make_args(rng):
    X = rng.standard_normal((40, 12))
    W = 0.1 * rng.standard_normal((12, 5))
    y = rng.integers(0, 5, size=40)
    return (W, X, y, 0.01)


def program(W, X, y, reg):
    scores = X @ W
    n = X.shape[0]
    correct = np.take_along_axis(scores, y[:, None], axis=1)
    margins = np.maximum(0.0, scores - correct + 1.0)
    margins[np.arange(n), y] = 0.0
    loss = margins.sum() / n + reg * np.sum(W * W)
    return loss, margins
