"""Polybench trisolv: forward substitution L x = b with a Python loop over rows."""
import numpy as np


def make_args(rng):
    n = 40
    L = np.tril(rng.random((n, n))) + n * np.eye(n)
    return (L, rng.random(n))


def program(L, b):
    n = b.shape[0]
    x = np.zeros(n)
    for i in range(n):
        x[i] = (b[i] - L[i, :i] @ x[:i]) / L[i, i]
    return x, L @ x
