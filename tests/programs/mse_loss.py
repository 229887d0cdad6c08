"""Mean-squared-error loss of a linear model and its gradient, plus MAE and R^2."""
import numpy as np


def make_args(rng):
    X = rng.standard_normal((100, 5))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.3 * rng.standard_normal(100)
    w = rng.standard_normal(5)
    return (w, 0.2, X, y)


def program(w, b, X, y):
    pred = X @ w + b
    err = pred - y
    mse = np.mean(err ** 2)
    mae = np.mean(np.abs(err))
    grad_w = 2.0 * X.T @ err / len(y)
    grad_b = 2.0 * err.mean()
    r2 = 1.0 - np.sum(err ** 2) / np.sum((y - y.mean()) ** 2)
    return mse, mae, grad_w, grad_b, r2
