"""Inertia tensor of a rigid body from point masses, accumulated particle by particle."""
import numpy as np


def make_args(rng):
    return (rng.standard_normal((25, 3)), rng.random(25) + 0.5)


def program(positions, masses):
    com = (masses[:, None] * positions).sum(axis=0) / masses.sum()
    r = positions - com
    inertia = np.zeros((3, 3))
    for idx in range(len(masses)):
        ri = r[idx]
        inertia += masses[idx] * (np.dot(ri, ri) * np.eye(3) - np.outer(ri, ri))
    return com, inertia
