"""Polybench doitgen: multiresolution kernel sum[r,q,p] = sum_s A[r,q,s] C4[s,p], via einsum."""
import numpy as np


def make_args(rng):
    nr, nq, np_ = 10, 8, 12
    return (rng.random((nr, nq, np_)), rng.random((np_, np_)))


def program(A, C4):
    out = np.einsum('rqs,sp->rqp', A, C4)
    alt = np.tensordot(A, C4, axes=([2], [0]))
    return out, alt
