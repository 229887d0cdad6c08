"""Convert uint8 RGB images to luminance (BT.601 weights) with np.dot and einsum."""
import numpy as np


def make_args(rng):
    rgb = rng.integers(0, 256, size=(2, 32, 40, 3), dtype=np.uint8)
    return (rgb,)


def program(rgb):
    weights = np.array([0.299, 0.587, 0.114])
    img = rgb.astype(np.float64) / 255.0
    gray_dot = np.dot(img, weights)
    gray_einsum = np.einsum('bhwc,c->bhw', img, weights)
    return gray_dot, gray_einsum
