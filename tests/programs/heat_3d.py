"""3-D heat diffusion, 7-point stencil, polybench heat-3d style ping-pong."""
import numpy as np

STATIC_ARGNUMS = (1,)


def make_args(rng):
    return (rng.random((16, 16, 16)), 5)


def program(A, tsteps):
    A = np.array(A, dtype=np.float64)
    B = np.zeros_like(A)
    B[...] = A
    c = 0.125
    for _ in range(tsteps):
        B[1:-1, 1:-1, 1:-1] = (
            c * (A[2:, 1:-1, 1:-1] - 2.0 * A[1:-1, 1:-1, 1:-1] + A[:-2, 1:-1, 1:-1])
            + c * (A[1:-1, 2:, 1:-1] - 2.0 * A[1:-1, 1:-1, 1:-1] + A[1:-1, :-2, 1:-1])
            + c * (A[1:-1, 1:-1, 2:] - 2.0 * A[1:-1, 1:-1, 1:-1] + A[1:-1, 1:-1, :-2])
            + A[1:-1, 1:-1, 1:-1])
        A, B = B, A
    return A
