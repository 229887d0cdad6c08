"""Polybench syrk: lower triangle of C = alpha * A A^T + beta * C."""
import numpy as np


def make_args(rng):
    n, m = 40, 30
    return (1.5, 1.2, rng.random((n, n)), rng.random((n, m)))


def program(alpha, beta, C, A):
    lower = np.tril(np.ones(C.shape, dtype=bool))
    update = alpha * (A @ A.T) + beta * C
    return np.where(lower, update, C)
