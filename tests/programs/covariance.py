"""Polybench covariance: sample covariance matrix of the columns of a data matrix."""
import numpy as np


def make_args(rng):
    n_samples, n_features = 50, 24
    return (float(n_samples), rng.random((n_samples, n_features)))


def program(float_n, data):
    mean = np.mean(data, axis=0)
    centred = data - mean
    cov = (centred.T @ centred) / (float_n - 1.0)
    return cov
