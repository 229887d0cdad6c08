"""Column summary statistics (mean, sample std/var, min, max, range) with axis and keepdims."""
import numpy as np


def make_args(rng):
    return (rng.normal(10.0, 2.0, size=(120, 6)),)


def program(data):
    mean = data.mean(axis=0, keepdims=True)
    var = data.var(axis=0, ddof=1, keepdims=True)
    std = np.std(data, axis=0, ddof=1)
    col_range = np.ptp(data, axis=0)
    coef_var = std / mean[0]
    summary = np.vstack([mean[0], std, var[0], data.min(axis=0), data.max(axis=0), col_range])
    return summary, coef_var
