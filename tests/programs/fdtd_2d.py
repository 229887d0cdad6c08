"""Polybench fdtd-2d: 2-D finite-difference time-domain update of Ex, Ey, Hz fields."""
import numpy as np

STATIC_ARGNUMS = (3,)


def make_args(rng):
    nx, ny = 30, 40
    ex = rng.random((nx, ny))
    ey = rng.random((nx, ny))
    hz = rng.random((nx, ny))
    return (ex, ey, hz, 8)


def program(ex, ey, hz, tmax):
    ex, ey, hz = ex.copy(), ey.copy(), hz.copy()
    fict = np.arange(tmax, dtype=np.float64)
    for t in range(tmax):
        ey[0, :] = fict[t]
        ey[1:, :] = ey[1:, :] - 0.5 * (hz[1:, :] - hz[:-1, :])
        ex[:, 1:] = ex[:, 1:] - 0.5 * (hz[:, 1:] - hz[:, :-1])
        hz[:-1, :-1] = hz[:-1, :-1] - 0.7 * (ex[:-1, 1:] - ex[:-1, :-1]
                                             + ey[1:, :-1] - ey[:-1, :-1])
    return ex, ey, hz
