"""Simple moving average of a noisy signal, via np.convolve and via the cumsum trick, plus an EMA loop."""
import numpy as np

STATIC_ARGNUMS = (1,)
RTOL = 1e-7


def make_args(rng):
    t = np.linspace(0, 4 * np.pi, 300)
    return (np.sin(t) + 0.3 * rng.standard_normal(300), 9)


def program(signal, window):
    kernel = np.ones(window) / window
    sma_conv = np.convolve(signal, kernel, mode='valid')
    c = np.cumsum(np.concatenate([[0.0], signal]))
    sma_cumsum = (c[window:] - c[:-window]) / window
    alpha = 2.0 / (window + 1)
    ema = np.empty_like(signal)
    ema[0] = signal[0]
    for i in range(1, signal.shape[0]):
        ema[i] = alpha * signal[i] + (1 - alpha) * ema[i - 1]
    return sma_conv, sma_cumsum, ema
