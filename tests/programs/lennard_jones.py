"""Lennard-Jones potential energy and forces for a small cluster (upper-triangle pairs via np.triu_indices)."""
import numpy as np


def make_args(rng):
    side = np.arange(3) * 1.2
    grid = np.stack(np.meshgrid(side, side, side, indexing='ij'), axis=-1).reshape(-1, 3)
    return (grid + 0.05 * rng.standard_normal(grid.shape), 1.0, 1.0)


def program(coords, epsilon, sigma):
    n = coords.shape[0]
    i, j = np.triu_indices(n, k=1)
    rij = coords[i] - coords[j]
    r2 = np.sum(rij * rij, axis=1)
    s6 = (sigma ** 2 / r2) ** 3
    energy = np.sum(4.0 * epsilon * (s6 * s6 - s6))
    fmag = 24.0 * epsilon * (2.0 * s6 * s6 - s6) / r2
    fij = fmag[:, None] * rij
    forces = np.zeros_like(coords)
    np.add.at(forces, i, fij)
    np.add.at(forces, j, -fij)
    return energy, forces
