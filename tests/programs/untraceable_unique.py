"""Category frequencies of integer labels with np.unique (data-dependent output shape)."""
import numpy as np

UNTRACEABLE = True


def make_args(rng):
    return (rng.integers(0, 7, size=100),)


def program(labels):
    values, counts = np.unique(labels, return_counts=True)
    freqs = counts / counts.sum()
    return values, freqs
