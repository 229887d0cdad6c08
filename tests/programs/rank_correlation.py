"""Spearman rank correlation via argsort-of-argsort ranks, plus sorted order statistics."""
import numpy as np


def make_args(rng):
    x = rng.standard_normal(80)
    y = x ** 3 + 0.5 * rng.standard_normal(80)
    return (x, y)


def ranks(a):
    order = np.argsort(a, kind='stable')
    r = np.empty(a.shape[0])
    r[order] = np.arange(1, a.shape[0] + 1)
    return r


def program(x, y):
    rx, ry = ranks(x), ranks(y)
    rx_c = rx - rx.mean()
    ry_c = ry - ry.mean()
    spearman = np.sum(rx_c * ry_c) / np.sqrt(np.sum(rx_c ** 2) * np.sum(ry_c ** 2))
    x_sorted = np.sort(x)
    trimmed_mean = x_sorted[8:-8].mean()
    return spearman, rx, trimmed_mean
