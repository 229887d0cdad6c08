"""2-D wave equation on a membrane with fixed edges, explicit central differences."""
import numpy as np

STATIC_ARGNUMS = (1,)


def make_args(rng):
    u0 = np.zeros((40, 40))
    u0[15:25, 15:25] = rng.random((10, 10))
    return (u0, 30, 0.5)


def program(u0, steps, c):
    ny, nx = u0.shape
    u_old = u0.copy()
    u = u0.copy()
    u_new = np.empty((ny, nx))
    for _ in range(steps):
        u_new[:, :] = 0.0
        u_new[1:-1, 1:-1] = (2 * u[1:-1, 1:-1] - u_old[1:-1, 1:-1]
                             + c**2 * (u[2:, 1:-1] + u[:-2, 1:-1] + u[1:-1, 2:]
                                       + u[1:-1, :-2] - 4 * u[1:-1, 1:-1]))
        u_old[:] = u
        u[:] = u_new
    return u, np.abs(u).max()
