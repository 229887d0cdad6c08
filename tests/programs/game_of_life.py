"""Conway's Game of Life on a torus using np.roll neighbour counts (integer grid)."""
import numpy as np

STATIC_ARGNUMS = (1,)


def make_args(rng):
    grid = (rng.random((32, 32)) < 0.3).astype(np.int64)
    return (grid, 8)


def program(grid, generations):
    board = np.asarray(grid)
    for _ in range(generations):
        neighbours = np.zeros_like(board)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy == 0 and dx == 0:
                    continue
                neighbours += np.roll(np.roll(board, dy, axis=0), dx, axis=1)
        alive = (neighbours == 3) | ((board == 1) & (neighbours == 2))
        board = np.where(alive, 1, 0)
    return board, board.sum()
