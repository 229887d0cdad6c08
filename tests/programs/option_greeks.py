"""Closed-form Black-Scholes call Greeks (delta, gamma, vega, theta, rho) using an exp/sqrt-based normal CDF."""
import numpy as np

RTOL = 1e-8


def make_args(rng):
    n = 150
    return (rng.uniform(80, 120, n), 100.0, rng.uniform(0.2, 1.5, n), 0.02, rng.uniform(0.1, 0.5, n))


def norm_pdf(x):
    return np.exp(-0.5 * x ** 2) / np.sqrt(2.0 * np.pi)


def norm_cdf(x):
    # logistic-type approximation (Bowling et al. 2009), max error ~1e-4
    return 1.0 / (1.0 + np.exp(-0.07056 * x ** 3 - 1.5976 * x))


def program(spot, strike, tau, rate, vol):
    sq = vol * np.sqrt(tau)
    d1 = (np.log(spot / strike) + (rate + 0.5 * vol * vol) * tau) / sq
    d2 = d1 - sq
    disc = np.exp(-rate * tau)
    delta = norm_cdf(d1)
    gamma = norm_pdf(d1) / (spot * sq)
    vega = spot * norm_pdf(d1) * np.sqrt(tau)
    theta = -spot * norm_pdf(d1) * vol / (2 * np.sqrt(tau)) - rate * strike * disc * norm_cdf(d2)
    rho = strike * tau * disc * norm_cdf(d2)
    return np.stack([delta, gamma, vega, theta, rho], axis=1)
