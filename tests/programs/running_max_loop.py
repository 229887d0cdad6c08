"""Running maximum and drawdown of price series, looping over time columns."""
import numpy as np


def make_args(rng):
    returns = 0.01 * rng.standard_normal((5, 60))
    prices = 100.0 * np.exp(np.cumsum(returns, axis=1))
    return (prices,)


def program(prices):
    n_assets, n_days = prices.shape
    peak = np.empty_like(prices)
    peak[:, 0] = prices[:, 0]
    for t in range(1, n_days):
        peak[:, t] = np.maximum(peak[:, t - 1], prices[:, t])
    drawdown = (prices - peak) / peak
    return peak, drawdown.min(axis=1)
