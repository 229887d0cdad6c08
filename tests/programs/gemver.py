"""Polybench gemver: rank-2 update followed by two matrix-vector products."""
import numpy as np


def make_args(rng):
    n = 60
    vecs = [rng.random(n) for _ in range(8)]
    return (1.5, 1.2, rng.random((n, n)), *vecs)


def program(alpha, beta, A, u1, v1, u2, v2, w, x, y, z):
    A = A + np.outer(u1, v1) + np.outer(u2, v2)
    x = x + beta * y @ A + z
    w = w + alpha * A @ x
    return A, x, w
