"""Downsample a 2-D field by averaging non-overlapping blocks, with nested loops over block indices."""
import numpy as np

STATIC_ARGNUMS = (1,)


def make_args(rng):
    return (rng.random((32, 48)), 8)


def program(field, block):
    ny = field.shape[0] // block
    nx = field.shape[1] // block
    coarse = np.zeros((ny, nx))
    for j in range(ny):
        for i in range(nx):
            tile = field[j * block:(j + 1) * block, i * block:(i + 1) * block]
            coarse[j, i] = tile.mean()
    # same result via the reshape formulation
    alt = field.reshape(ny, block, nx, block).mean(axis=(1, 3))
    return coarse, alt
