"""Viscous Burgers' equation on a periodic domain, FTCS with np.roll for periodic neighbours."""
import numpy as np

STATIC_ARGNUMS = (1,)


def make_args(rng):
    x = np.linspace(0, 2 * np.pi, 128, endpoint=False)
    u0 = np.sin(x) + 1.5 + 0.01 * rng.standard_normal(128)
    return (u0, 40, 0.002, 2 * np.pi / 128, 0.07)


def program(u0, nt, dt, dx, nu):
    u = np.array(u0)
    for _ in range(nt):
        up = np.roll(u, -1)
        um = np.roll(u, 1)
        u = u - u * dt / dx * (u - um) + nu * dt / dx**2 * (up - 2 * u + um)
    return u
