"""1-D heat equation, explicit FTCS scheme with fixed (Dirichlet) ends."""
import numpy as np

STATIC_ARGNUMS = (1,)


def make_args(rng):
    u0 = rng.random(128)
    return (u0, 50, 0.4)


def program(u0, n_steps, r):
    u = u0.copy()
    u_new = np.zeros_like(u)
    for _ in range(n_steps):
        u_new[1:-1] = u[1:-1] + r * (u[2:] - 2.0 * u[1:-1] + u[:-2])
        u_new[0] = u[0]
        u_new[-1] = u[-1]
        u, u_new = u_new, u
    return u
