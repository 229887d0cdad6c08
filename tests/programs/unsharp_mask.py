"""Unsharp masking: separable [1,2,1]/4 blur along each axis, then add scaled detail back and clip."""
import numpy as np


def make_args(rng):
    return (rng.random((40, 56)), 1.5)


def program(image, amount):
    blur_x = image.copy()
    blur_x[:, 1:-1] = 0.25 * image[:, :-2] + 0.5 * image[:, 1:-1] + 0.25 * image[:, 2:]
    blurred = blur_x.copy()
    blurred[1:-1, :] = 0.25 * blur_x[:-2, :] + 0.5 * blur_x[1:-1, :] + 0.25 * blur_x[2:, :]
    sharpened = image + amount * (image - blurred)
    return np.clip(sharpened, 0.0, 1.0)
