"""Two dense layers with ReLU activation (MLP forward pass)."""
import numpy as np


def make_args(rng):
    x = rng.standard_normal((32, 20))
    W1 = rng.standard_normal((20, 64)) * 0.1
    b1 = np.zeros(64)
    W2 = rng.standard_normal((64, 10)) * 0.1
    b2 = 0.01 * rng.standard_normal(10)
    return (x, W1, b1, W2, b2)


def program(x, W1, b1, W2, b2):
    h = np.maximum(x @ W1 + b1, 0.0)
    logits = h @ W2 + b2
    return logits
