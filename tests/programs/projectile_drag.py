"""Projectile trajectories with quadratic air drag, semi-implicit Euler over a fixed number of steps."""
import numpy as np

STATIC_ARGNUMS = (2,)


def make_args(rng):
    angles = np.deg2rad(rng.uniform(20, 70, 12))
    speed = rng.uniform(20, 40, 12)
    return (angles, speed, 200, 0.01, 0.02)


def program(angles, speed, n_steps, dt, drag):
    pos = np.zeros((angles.shape[0], 2))
    vel = np.column_stack([speed * np.cos(angles), speed * np.sin(angles)])
    g = np.array([0.0, -9.81])
    max_height = np.zeros(angles.shape[0])
    for _ in range(n_steps):
        spd = np.linalg.norm(vel, axis=1, keepdims=True)
        vel = vel + dt * (g - drag * spd * vel)
        pos = pos + dt * vel
        max_height = np.maximum(max_height, pos[:, 1])
    return pos, max_height
