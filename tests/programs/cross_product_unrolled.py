"""Cross products, triple products and 3x3 determinants with hand-unrolled component loops."""
import numpy as np


def make_args(rng):
    return (rng.standard_normal((10, 3)), rng.standard_normal((10, 3)), rng.standard_normal((10, 3)))


def program(a, b, c):
    cross = np.zeros_like(a)
    for k in range(3):
        i, j = (k + 1) % 3, (k + 2) % 3
        cross[:, k] = a[:, i] * b[:, j] - a[:, j] * b[:, i]
    triple = np.zeros(a.shape[0])
    for k in range(3):
        triple += cross[:, k] * c[:, k]
    mats = np.stack([a, b, c], axis=1)
    return cross, triple, np.linalg.det(mats)
