"""One SGD step of a 2-layer tanh network trained with MSE, manual backpropagation."""
import numpy as np


def make_args(rng):
    X = rng.standard_normal((32, 4))
    Y = np.sin(X.sum(axis=1, keepdims=True))
    W1 = 0.5 * rng.standard_normal((4, 16))
    W2 = 0.5 * rng.standard_normal((16, 1))
    return (W1, W2, X, Y, 0.05)


def program(W1, W2, X, Y, lr):
    H = np.tanh(X @ W1)
    pred = H @ W2
    loss = np.mean((pred - Y) ** 2)
    d_pred = 2 * (pred - Y) / Y.shape[0]
    dW2 = H.T @ d_pred
    dH = d_pred @ W2.T * (1 - H ** 2)
    dW1 = X.T @ dH
    return W1 - lr * dW1, W2 - lr * dW2, loss
