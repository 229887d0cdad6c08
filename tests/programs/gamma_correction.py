"""Exposure and gamma correction of a float32 RGB image, clipped to [0, 1]."""
import numpy as np

RTOL = 1e-5


def make_args(rng):
    img = rng.random((32, 32, 3)).astype(np.float32)
    return (img, 1.3, 2.2)


def program(img, exposure, gamma):
    img = img.astype(np.float32)
    bright = np.clip(img * np.float32(exposure), 0.0, 1.0)
    corrected = np.power(bright, np.float32(1.0 / gamma))
    return corrected.astype(np.float32)
