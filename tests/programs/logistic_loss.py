"""Logistic regression negative log-likelihood and gradient, with np.logaddexp for stability."""
import numpy as np


def make_args(rng):
    X = rng.standard_normal((64, 8))
    y = (rng.random(64) < 0.5).astype(np.float64)
    w = 0.5 * rng.standard_normal(8)
    return (w, X, y, 1e-2)


def program(w, X, y, l2):
    z = X @ w
    loss = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * np.dot(w, w)
    p = 1.0 / (1.0 + np.exp(-z))
    grad = X.T @ (p - y) / len(y) + l2 * w
    return loss, grad
