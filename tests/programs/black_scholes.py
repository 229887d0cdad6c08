"""Black-Scholes European call/put prices, normal CDF via the Abramowitz-Stegun polynomial approximation."""
import numpy as np


def make_args(rng):
    n = 200
    S = rng.uniform(50, 150, n)
    K = rng.uniform(60, 140, n)
    T = rng.uniform(0.1, 2.0, n)
    return (S, K, T, 0.03, 0.25)


def norm_cdf(x):
    a1, a2, a3, a4, a5 = 0.31938153, -0.356563782, 1.781477937, -1.821255978, 1.330274429
    k = 1.0 / (1.0 + 0.2316419 * np.abs(x))
    poly = k * (a1 + k * (a2 + k * (a3 + k * (a4 + k * a5))))
    w = 1.0 - np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi) * poly
    return np.where(x < 0, 1.0 - w, w)


def program(S, K, T, r, sigma):
    sqrt_t = np.sqrt(T)
    d1 = (np.log(S / K) + (r + 0.5 * sigma ** 2) * T) / (sigma * sqrt_t)
    d2 = d1 - sigma * sqrt_t
    discount = np.exp(-r * T)
    call = S * norm_cdf(d1) - K * discount * norm_cdf(d2)
    put = K * discount * norm_cdf(-d2) - S * norm_cdf(-d1)
    return call, put
