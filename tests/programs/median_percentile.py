"""Robust statistics: median, interquartile range, percentiles, quantiles and median absolute deviation."""
import numpy as np


def make_args(rng):
    return (rng.standard_cauchy((15, 60)),)


def program(samples):
    med = np.median(samples, axis=1)
    q25, q75 = np.percentile(samples, [25, 75], axis=1)
    iqr = q75 - q25
    mad = np.median(np.abs(samples - med[:, None]), axis=1)
    deciles = np.quantile(samples, np.linspace(0.1, 0.9, 9), axis=1)
    return med, iqr, mad, deciles
