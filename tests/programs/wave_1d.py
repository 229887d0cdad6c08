"""1-D wave equation (vibrating string), second-order leapfrog in time."""
import numpy as np

STATIC_ARGNUMS = (1,)


def make_args(rng):
    x = np.linspace(0.0, 1.0, 101)
    u0 = np.exp(-200.0 * (x - 0.5) ** 2) + 0.01 * rng.standard_normal(101)
    return (u0, 80, 0.9)


def program(u0, n_steps, courant):
    c2 = courant ** 2
    u_prev = u0.copy()
    u = np.zeros_like(u0)
    # first step with zero initial velocity
    u[1:-1] = u0[1:-1] + 0.5 * c2 * (u0[2:] - 2 * u0[1:-1] + u0[:-2])
    for _ in range(n_steps):
        u_next = np.zeros_like(u)
        u_next[1:-1] = (2 * u[1:-1] - u_prev[1:-1]
                        + c2 * (u[2:] - 2 * u[1:-1] + u[:-2]))
        u_prev, u = u, u_next
    energy = 0.5 * np.sum((u - u_prev) ** 2) + 0.5 * c2 * np.sum(np.diff(u) ** 2)
    return u, energy
