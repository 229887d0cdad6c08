"""Polybench atax: y = A^T (A x)."""
import numpy as np


def make_args(rng):
    m, n = 38, 42
    A = rng.random((m, n)) / n
    x = 1.0 + np.arange(n) / n
    return (A, x)


def program(A, x):
    return (A @ x) @ A
