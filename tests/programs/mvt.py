"""Polybench mvt: x1 += A y1 and x2 += A^T y2."""
import numpy as np  # noqa: F401  (the corpus runs every program with np in scope)


def make_args(rng):
    n = 50
    return (rng.random(n), rng.random(n), rng.random(n), rng.random(n), rng.random((n, n)))


def program(x1, x2, y_1, y_2, A):
    x1 = x1 + A @ y_1
    x2 = x2 + A.T @ y_2
    return x1, x2
