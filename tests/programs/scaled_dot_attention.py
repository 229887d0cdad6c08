"""Single-head scaled dot-product attention with a causal mask and a stable softmax."""
import numpy as np


def make_args(rng):
    seq, d_model, d_head = 12, 16, 8
    x = rng.standard_normal((seq, d_model))
    Wq, Wk, Wv = (rng.standard_normal((d_model, d_head)) / 4 for _ in range(3))
    return (x, Wq, Wk, Wv)


def softmax(z, axis=-1):
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def program(x, Wq, Wk, Wv):
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    scores = q @ k.T / np.sqrt(q.shape[-1])
    seq = x.shape[0]
    causal = np.triu(np.ones((seq, seq), dtype=bool), k=1)
    scores = np.where(causal, -1e9, scores)
    weights = softmax(scores, axis=-1)
    return weights @ v, weights
