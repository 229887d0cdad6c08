"""Sobel gradient magnitude and orientation of a grayscale image (interior pixels only)."""
import numpy as np


def make_args(rng):
    y, x = np.mgrid[0:48, 0:64]
    img = ((x - 32) ** 2 + (y - 24) ** 2 < 200).astype(np.float64) + 0.05 * rng.random((48, 64))
    return (img,)


def program(img):
    gx = np.zeros_like(img)
    gy = np.zeros_like(img)
    gx[1:-1, 1:-1] = ((img[:-2, 2:] + 2 * img[1:-1, 2:] + img[2:, 2:])
                      - (img[:-2, :-2] + 2 * img[1:-1, :-2] + img[2:, :-2]))
    gy[1:-1, 1:-1] = ((img[2:, :-2] + 2 * img[2:, 1:-1] + img[2:, 2:])
                      - (img[:-2, :-2] + 2 * img[:-2, 1:-1] + img[:-2, 2:]))
    magnitude = np.hypot(gx, gy)
    angle = np.arctan2(gy, gx)
    return magnitude, angle
