"""Covariance and Pearson correlation matrices with np.cov / np.corrcoef, and Mahalanobis distances."""
import numpy as np

RTOL = 1e-8


def make_args(rng):
    base = rng.standard_normal((100, 4))
    mix = np.array([[1.0, 0.5, 0.0, 0.2], [0.0, 1.0, 0.3, 0.0],
                    [0.0, 0.0, 1.0, 0.4], [0.0, 0.0, 0.0, 1.0]])
    return (base @ mix,)


def program(samples):
    cov = np.cov(samples, rowvar=False)
    corr = np.corrcoef(samples.T)
    centred = samples - samples.mean(axis=0)
    prec = np.linalg.inv(cov)
    mahal = np.sqrt(np.einsum('ij,jk,ik->i', centred, prec, centred))
    return cov, corr, mahal
