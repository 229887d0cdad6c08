"""Pairwise Euclidean distances, looping over the rows of the first point set."""
import numpy as np


def make_args(rng):
    return (rng.standard_normal((20, 3)), rng.standard_normal((30, 3)))


def program(points_a, points_b):
    rows = []
    for p in points_a:
        diff = points_b - p
        rows.append(np.sqrt((diff * diff).sum(axis=1)))
    dist = np.stack(rows)
    nearest = dist.min(axis=1)
    return dist, nearest
