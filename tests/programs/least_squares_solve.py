"""Ridge regression by solving the regularised normal equations with np.linalg.solve."""
import numpy as np

RTOL = 1e-7


def make_args(rng):
    X = rng.standard_normal((80, 6))
    w_true = np.arange(1.0, 7.0)
    y = X @ w_true + 0.1 * rng.standard_normal(80)
    return (X, y, 0.5)


def program(X, y, lam):
    n_features = X.shape[1]
    gram = X.T @ X + lam * np.eye(n_features)
    w = np.linalg.solve(gram, X.T @ y)
    resid = y - X @ w
    return w, np.linalg.norm(resid) / np.sqrt(len(y))
