"""Mean and count of the positive entries, read with a boolean mask (data-dependent output shape)."""
import numpy as np  # noqa: F401  (the corpus runs every program with np in scope)

UNTRACEABLE = True


def make_args(rng):
    return (rng.standard_normal((20, 20)),)


def program(x):
    positives = x[x > 0]
    return positives, positives.mean(), positives.size
