"""2-D heat equation, explicit 5-point stencil with zero boundary."""
import numpy as np

STATIC_ARGNUMS = (1,)


def make_args(rng):
    T0 = rng.random((48, 48))
    return (T0, 20, 0.002, 0.1, 1.0)  # alpha*dt/dx^2 = 0.2 (stable)


def program(T0, steps, dt, dx, alpha):
    T = np.zeros((T0.shape[0] + 2, T0.shape[1] + 2))
    T[1:-1, 1:-1] = T0
    coef = alpha * dt / dx**2
    for _ in range(steps):
        lap = (T[2:, 1:-1] + T[:-2, 1:-1] + T[1:-1, 2:] + T[1:-1, :-2]
               - 4.0 * T[1:-1, 1:-1])
        T[1:-1, 1:-1] = T[1:-1, 1:-1] + coef * lap
    return T[1:-1, 1:-1]
