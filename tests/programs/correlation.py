"""Polybench correlation: Pearson correlation matrix with guarded small standard deviations."""
import numpy as np


def make_args(rng):
    n, m = 50, 20
    return (float(n), rng.random((n, m)))


def program(float_n, data):
    eps = 0.1
    mean = np.mean(data, axis=0)
    stddev = np.sqrt(np.mean((data - mean) ** 2, axis=0))
    stddev = np.where(stddev <= eps, 1.0, stddev)
    normed = (data - mean) / (np.sqrt(float_n) * stddev)
    corr = normed.T @ normed
    np.fill_diagonal(corr, 1.0)
    return corr
