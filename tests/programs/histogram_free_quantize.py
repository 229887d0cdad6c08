"""Quantise sensor readings into fixed bins with np.digitize and count per bin with a one-hot sum."""
import numpy as np


def make_args(rng):
    return (rng.normal(0.0, 1.0, 500), np.linspace(-3, 3, 13))


def program(readings, edges):
    idx = np.digitize(readings, edges)               # 0 .. len(edges)
    one_hot = idx[:, None] == np.arange(len(edges) + 1)[None, :]
    counts = one_hot.sum(axis=0)
    centres = 0.5 * (edges[1:] + edges[:-1])
    inner = counts[1:-1]
    approx_mean = np.sum(inner * centres) / inner.sum()
    return counts, approx_mean
