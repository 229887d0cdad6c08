"""Red-black Gauss-Seidel sweeps for the 2-D Poisson equation using strided slices."""
import numpy as np

STATIC_ARGNUMS = (2,)


def make_args(rng):
    n = 34  # interior 32x32
    rhs = rng.standard_normal((n, n))
    return (np.zeros((n, n)), rhs, 10, 1.0 / (n - 1))


def program(u0, f, sweeps, h):
    u = u0.copy()
    h2 = h * h
    for _ in range(sweeps):
        # red points: (i+j) even
        u[1:-1:2, 1:-1:2] = 0.25 * (u[0:-2:2, 1:-1:2] + u[2::2, 1:-1:2]
                                    + u[1:-1:2, 0:-2:2] + u[1:-1:2, 2::2] - h2 * f[1:-1:2, 1:-1:2])
        u[2:-1:2, 2:-1:2] = 0.25 * (u[1:-2:2, 2:-1:2] + u[3::2, 2:-1:2]
                                    + u[2:-1:2, 1:-2:2] + u[2:-1:2, 3::2] - h2 * f[2:-1:2, 2:-1:2])
        # black points: (i+j) odd
        u[1:-1:2, 2:-1:2] = 0.25 * (u[0:-2:2, 2:-1:2] + u[2::2, 2:-1:2]
                                    + u[1:-1:2, 1:-2:2] + u[1:-1:2, 3::2] - h2 * f[1:-1:2, 2:-1:2])
        u[2:-1:2, 1:-1:2] = 0.25 * (u[1:-2:2, 1:-1:2] + u[3::2, 1:-1:2]
                                    + u[2:-1:2, 0:-2:2] + u[2:-1:2, 2::2] - h2 * f[2:-1:2, 1:-1:2])
    res = np.zeros_like(u)
    res[1:-1, 1:-1] = f[1:-1, 1:-1] - (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2]
                                       + u[1:-1, 2:] - 4 * u[1:-1, 1:-1]) / h2
    return u, np.linalg.norm(res)
