"""Coupled harmonic oscillators integrated with leapfrog; positions/velocities updated in place on the arguments."""
import numpy as np

STATIC_ARGNUMS = (3,)
MUTATES = True


def make_args(rng):
    n = 16
    return (rng.standard_normal(n), np.zeros(n), 1.0 + rng.random(n), 100, 0.01)


def program(x, v, k, n_steps, dt):
    # x and v are modified in place
    energies = np.empty(n_steps)
    v -= 0.5 * dt * k * x
    for step in range(n_steps):
        x += dt * v
        v -= dt * k * x
        energies[step] = 0.5 * np.sum(v ** 2) + 0.5 * np.sum(k * x ** 2)
    v += 0.5 * dt * k * x
    return energies
