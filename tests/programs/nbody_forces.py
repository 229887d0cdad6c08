"""Softened gravitational n-body accelerations and potential energy via pairwise broadcasting."""
import numpy as np


def make_args(rng):
    n = 50
    return (rng.standard_normal((n, 3)), rng.random(n) + 0.1, 1.0, 0.05)


def program(pos, mass, G, softening):
    dx = pos[None, :, :] - pos[:, None, :]            # (n, n, 3), r_j - r_i
    r2 = (dx ** 2).sum(axis=-1) + softening ** 2
    inv_r3 = r2 ** -1.5
    np.fill_diagonal(inv_r3, 0.0)
    acc = G * np.einsum('ij,ijk,j->ik', inv_r3, dx, mass)
    inv_r = 1.0 / np.sqrt(r2)
    inv_r = inv_r - np.diag(np.diag(inv_r))
    potential = -0.5 * G * np.sum(mass[:, None] * mass[None, :] * inv_r)
    return acc, potential
