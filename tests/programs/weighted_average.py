"""Weighted mean and weighted variance of grouped measurements with np.average."""
import numpy as np


def make_args(rng):
    values = rng.normal(5.0, 1.0, size=(8, 30))
    sigma = rng.uniform(0.5, 2.0, size=(8, 30))
    return (values, sigma)


def program(values, sigma):
    w = 1.0 / sigma ** 2
    wmean, wsum = np.average(values, axis=1, weights=w, returned=True)
    wvar = np.average((values - wmean[:, None]) ** 2, axis=1, weights=w)
    err_of_mean = 1.0 / np.sqrt(wsum)
    grand = np.average(wmean, weights=1.0 / err_of_mean ** 2)
    return wmean, wvar, err_of_mean, grand
