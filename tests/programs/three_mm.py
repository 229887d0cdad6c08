"""Polybench 3mm: G = (A B)(C D) via np.matmul and np.dot."""
import numpy as np


def make_args(rng):
    ni, nj, nk, nl, nm = 18, 20, 22, 24, 26
    return (rng.random((ni, nk)), rng.random((nk, nj)), rng.random((nj, nm)), rng.random((nm, nl)))


def program(A, B, C, D):
    E = np.matmul(A, B)
    F = np.dot(C, D)
    G = E.dot(F)
    return E, F, G
