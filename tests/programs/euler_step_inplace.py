"""Lotka-Volterra predator-prey system: explicit Euler steps that update `state` in place and return None."""
import numpy as np

STATIC_ARGNUMS = (2,)
MUTATES = True


def make_args(rng):
    state = np.stack([10.0 + rng.random(8), 5.0 + rng.random(8)])  # (2, n_populations)
    params = np.array([1.1, 0.4, 0.4, 0.1])
    return (state, params, 50, 0.01)


def rhs(state, params):
    alpha, beta, gamma, delta = params
    prey, pred = state[0], state[1]
    return np.stack([alpha * prey - beta * prey * pred,
                     delta * prey * pred - gamma * pred])


def program(state, params, n_steps, dt):
    for _ in range(n_steps):
        state += dt * rhs(state, params)
