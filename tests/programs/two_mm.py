"""Polybench 2mm: D = alpha * A B C + beta * D."""
import numpy as np  # noqa: F401  (the corpus runs every program with np in scope)


def make_args(rng):
    ni, nj, nk, nl = 20, 25, 30, 35
    return (1.5, 1.2, rng.random((ni, nk)), rng.random((nk, nj)),
            rng.random((nj, nl)), rng.random((ni, nl)))


def program(alpha, beta, A, B, C, D):
    tmp = alpha * A @ B
    return tmp @ C + beta * D
