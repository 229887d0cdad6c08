"""Evaluate several polynomials (rows of a coefficient matrix) with Horner's rule, looping over coefficients."""
import numpy as np


def make_args(rng):
    coeffs = rng.standard_normal((4, 6))  # 4 polynomials of degree 5, highest first
    x = np.linspace(-1.5, 1.5, 50)
    return (coeffs, x)


def program(coeffs, x):
    n_poly, n_coef = coeffs.shape
    result = np.zeros((n_poly, x.shape[0]))
    for k in range(n_coef):
        result = result * x[None, :] + coeffs[:, k:k + 1]
    deriv = np.zeros_like(result)
    for k in range(n_coef - 1):
        deriv = deriv * x + (n_coef - 1 - k) * coeffs[:, k][:, None]
    return result, deriv
