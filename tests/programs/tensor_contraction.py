"""Tucker-style tensor contraction of a 3-way tensor with factor matrices via np.tensordot."""
import numpy as np


def make_args(rng):
    return (rng.standard_normal((6, 7, 8)), rng.standard_normal((6, 3)),
            rng.standard_normal((7, 4)), rng.standard_normal((8, 5)))


def program(X, U1, U2, U3):
    core = np.tensordot(X, U1, axes=(0, 0))        # (7, 8, 3)
    core = np.tensordot(core, U2, axes=(0, 0))     # (8, 3, 4)
    core = np.tensordot(core, U3, axes=(0, 0))     # (3, 4, 5)
    fro = np.linalg.norm(core.reshape(-1))
    return core, fro
