"""Split an image into non-overlapping patches with reshape/transpose (ViT-style) and project them."""
import numpy as np

STATIC_ARGNUMS = (2,)


def make_args(rng):
    img = rng.random((3, 32, 32))       # (channels, H, W)
    proj = 0.05 * rng.standard_normal((3 * 8 * 8, 16))
    return (img, proj, 8)


def program(img, proj, patch):
    c, h, w = img.shape
    gh, gw = h // patch, w // patch
    patches = img.reshape(c, gh, patch, gw, patch).transpose(1, 3, 0, 2, 4)
    flat = patches.reshape(gh * gw, c * patch * patch)
    tokens = flat @ proj
    cls = np.zeros((1, tokens.shape[1]))
    return np.concatenate([cls, tokens], axis=0)
