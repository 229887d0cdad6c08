"""Integer event counts: cumulative totals, day-over-day differences and trapezoid-integrated rates."""
import numpy as np


def make_args(rng):
    counts = rng.integers(0, 50, size=(4, 30))
    return (counts, 0.5)


def program(counts, dt):
    totals = np.cumsum(counts, axis=1)
    daily_change = np.diff(counts, axis=1)
    second_diff = np.diff(counts, n=2, axis=1)
    rate = counts / dt
    integral = np.sum(0.5 * (rate[:, 1:] + rate[:, :-1]) * dt, axis=1)
    running_mean = totals / np.arange(1, counts.shape[1] + 1)
    return totals, daily_change, second_diff, integral, running_mean
