"""Sign-dependent rescaling with a Python `if` on an array value (deliberately data-dependent control flow)."""
import numpy as np

UNTRACEABLE = True


def make_args(rng):
    return (rng.standard_normal(50) + 0.2,)


def program(x):
    if x.sum() > 0:
        return x / x.max()
    return -x / np.abs(x.min())
