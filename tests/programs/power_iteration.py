"""Dominant eigenpair of a symmetric matrix by power iteration with a fixed iteration count."""
import numpy as np

STATIC_ARGNUMS = (1,)
RTOL = 1e-8


def make_args(rng):
    B = rng.standard_normal((30, 30))
    return (B @ B.T, 60)


def program(A, n_iter):
    v = np.ones(A.shape[0]) / np.sqrt(A.shape[0])
    for _ in range(n_iter):
        w = A @ v
        v = w / np.linalg.norm(w)
    eigval = v @ A @ v
    residual = np.linalg.norm(A @ v - eigval * v)
    return eigval, v, residual
