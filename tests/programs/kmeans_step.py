"""One Lloyd iteration of k-means: assign points to nearest centroid, recompute centroids and inertia."""
import numpy as np


def make_args(rng):
    centres = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 6.0]])
    pts = np.concatenate([c + rng.standard_normal((40, 2)) for c in centres])
    init = centres + rng.standard_normal((3, 2))
    return (pts, init)


def program(points, centroids):
    k = centroids.shape[0]
    d2 = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    labels = np.argmin(d2, axis=1)
    onehot = (labels[:, None] == np.arange(k)).astype(points.dtype)
    counts = onehot.sum(axis=0)
    new_centroids = (onehot.T @ points) / np.maximum(counts, 1)[:, None]
    inertia = np.take_along_axis(d2, labels[:, None], axis=1).sum()
    return new_centroids, labels, inertia
