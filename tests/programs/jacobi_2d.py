"""Polybench jacobi-2d: alternating 5-point averaging sweeps between two grids."""
import numpy as np

STATIC_ARGNUMS = (1,)


def make_args(rng):
    n = 40
    return (rng.random((n, n)), 10)


def program(A, tsteps):
    A = A.copy()
    B = np.empty_like(A)
    B[:] = A
    for _ in range(tsteps):
        B[1:-1, 1:-1] = 0.2 * (A[1:-1, 1:-1] + A[1:-1, :-2] + A[1:-1, 2:]
                               + A[2:, 1:-1] + A[:-2, 1:-1])
        A[1:-1, 1:-1] = 0.2 * (B[1:-1, 1:-1] + B[1:-1, :-2] + B[1:-1, 2:]
                               + B[2:, 1:-1] + B[:-2, 1:-1])
    return A, B
