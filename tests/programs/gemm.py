"""Polybench gemm: C = alpha * A @ B + beta * C."""
import numpy as np  # noqa: F401  (the corpus runs every program with np in scope)


def make_args(rng):
    ni, nj, nk = 40, 50, 60
    return (1.5, 1.2, rng.random((ni, nj)), rng.random((ni, nk)), rng.random((nk, nj)))


def program(alpha, beta, C, A, B):
    return alpha * A @ B + beta * C
