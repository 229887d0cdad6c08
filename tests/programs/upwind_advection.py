"""1-D linear advection u_t + c u_x = 0 with first-order upwind scheme, inflow boundary."""
import numpy as np

STATIC_ARGNUMS = (1,)


def make_args(rng):
    x = np.linspace(0, 1, 200)
    u0 = np.where((x > 0.1) & (x < 0.3), 1.0, 0.0) + 0.05 * rng.random(200)
    return (u0, 60, 0.5, 0.005, 0.0025)


def program(u0, nt, c, dx, dt):
    u = u0.copy()
    cfl = c * dt / dx
    for n in range(nt):
        un = u.copy()
        u[1:] = un[1:] - cfl * (un[1:] - un[:-1])
        u[0] = 0.0
    mass = u.sum() * dx
    return u, mass
