"""GELU activation (tanh approximation) of a float32 MLP hidden layer."""
import numpy as np

RTOL = 1e-5


def make_args(rng):
    x = rng.standard_normal((32, 48)).astype(np.float32)
    W = (0.1 * rng.standard_normal((48, 96))).astype(np.float32)
    return (x, W)


def program(x, W):
    h = x.astype(np.float32) @ W
    c = np.float32(np.sqrt(2.0 / np.pi))
    gelu = 0.5 * h * (1.0 + np.tanh(c * (h + np.float32(0.044715) * h ** 3)))
    return gelu
