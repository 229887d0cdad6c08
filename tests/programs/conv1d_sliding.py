"""Valid-mode multi-channel 1-D convolution via a Python loop over kernel taps and slices."""
import numpy as np


def make_args(rng):
    signal = rng.standard_normal((3, 100))       # (in_channels, length)
    kernels = rng.standard_normal((5, 3, 7))     # (out_channels, in_channels, width)
    bias = rng.standard_normal(5)
    return (signal, kernels, bias)


def program(signal, kernels, bias):
    c_out, c_in, width = kernels.shape
    length = signal.shape[1] - width + 1
    out = np.zeros((c_out, length))
    for k in range(width):
        window = signal[:, k:k + length]              # (c_in, length)
        out += kernels[:, :, k] @ window
    out += bias[:, None]
    return np.maximum(out, 0)
