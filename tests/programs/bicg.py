"""Polybench bicg: the two matrix-vector kernels of BiCGStab, s = A^T r and q = A p."""
import numpy as np


def make_args(rng):
    m, n = 42, 38
    return (rng.random((n, m)), rng.random(m), rng.random(n))


def program(A, p, r):
    s = np.dot(r, A)
    q = np.dot(A, p)
    return s, q
