"""Background suppression: zero pixels below a threshold and saturate bright ones via boolean-mask assignment."""
import numpy as np


def make_args(rng):
    return (rng.random((48, 48)), 0.3, 0.9)


def program(img, low, high):
    out = img.copy()
    out[out < low] = 0.0
    out[out > high] = 1.0
    foreground_fraction = np.mean(out > 0)
    binary = (img >= low).astype(np.int64)
    return out, foreground_fraction, binary
