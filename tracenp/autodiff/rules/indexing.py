"""Rules of ops that pick elements by position: ``getitem``, ``take``,
``take_along_axis``, ``compress`` and ``choose`` (the cotangent is scattered back, repeated
indices adding up), and the sorts (``sort``, ``partition``, ``sort_complex``: elements
matched through stable sorts).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ...optimize.slicing import basic_index
from ..backward import Scatter
from ._common import Via, _f, _has_int_index


# ============================================================================ indexing
def _zeros_for(x, g):
    return np.zeros(np.shape(x), dtype=np.result_type(g))


@_f("getitem")
def _getitem(g, ans, a, b):
    region = basic_index(b, np.shape(a))
    if region is not None:           # a slice: assembled with the array's other slices
        return {"a": Scatter(np.shape(a), {region: g})}
    ct = _zeros_for(a, g)
    if _has_int_index(b):
        np.add.at(ct, b, g)          # repeated indices accumulate
    else:
        ct[b] = g
    return {"a": ct}


@_f("take")
def _take(g, ans, a, indices, axis=None, out=None, mode="raise"):
    n = np.size(a) if axis is None else np.shape(a)[axis]
    idx = indices
    if mode == "wrap":
        idx = np.mod(indices, n)
    elif mode == "clip":
        idx = np.clip(indices, 0, n - 1)
    if axis is None:
        ct = np.zeros(np.size(a), dtype=np.result_type(g))
        np.add.at(ct, idx, g)
        return {"a": np.reshape(ct, np.shape(a))}
    ct = _zeros_for(a, g)
    np.add.at(ct, (slice(None),) * (axis % np.ndim(a)) + (idx,), g)
    return {"a": ct}


def _along_axis_index(shape: tuple, indices: Any, axis: int, out_shape: tuple | None = None) -> tuple:
    """The full index tuple that ``take_along_axis(x, indices, axis)`` reads (``indices``
    and ``x`` broadcast against each other in the other dimensions, to ``out_shape``)."""
    nd = len(shape)
    out_shape = tuple(np.shape(indices)) if out_shape is None else tuple(out_shape)
    index = []
    for d in range(nd):
        if d == axis:
            index.append(indices)
        else:
            shp = [1] * nd
            shp[d] = out_shape[d]
            n = out_shape[d] if shape[d] != 1 else 1
            index.append(np.reshape(np.arange(n), [n if i == d else 1 for i in range(nd)]) if
                         n == out_shape[d] else np.zeros(shp, dtype=np.intp))
    return tuple(index)


def _scatter_add(shape: tuple, index: Any, g: Any) -> Any:
    ct = np.zeros(shape, dtype=np.result_type(g))
    np.add.at(ct, index, g)
    return ct


@_f("take_along_axis")
def _take_along_axis(g, ans, arr, indices, axis=-1):
    if axis is None:
        return {"arr": np.reshape(_scatter_add((np.size(arr),), indices, g), np.shape(arr))}
    ax = axis % np.ndim(arr)
    return {"arr": _scatter_add(np.shape(arr),
                                _along_axis_index(np.shape(arr), indices, ax, np.shape(ans)), g)}


@_f("compress")
def _compress(g, ans, condition, a, axis=None, out=None):
    idx = np.flatnonzero(np.asarray(condition))
    if axis is None:
        ct = np.zeros(np.size(a), dtype=np.result_type(g))
        ct[idx] = g
        return {"a": np.reshape(ct, np.shape(a))}
    ct = _zeros_for(a, g)
    ct[(slice(None),) * (axis % np.ndim(a)) + (idx,)] = g
    return {"a": ct}


@_f("choose")
def _choose(g, ans, a, choices, out=None, mode="raise"):
    n = len(choices)
    if mode == "wrap":
        a = np.mod(a, n)
    elif mode == "clip":
        a = np.clip(a, 0, n - 1)
    return {"choices": [np.where(a == i, g, 0) for i in range(n)]}


# ============================================================================ sorting
@_f("sort")
def _sort(g, ans, a, axis=-1, kind=None, order=None, *, stable=None):
    if axis is None:
        perm = np.argsort(np.ravel(a), kind="stable")
        ct = np.zeros(np.size(a), dtype=np.result_type(g))
        ct[perm] = g
        return {"a": np.reshape(ct, np.shape(a))}
    perm = np.argsort(a, axis=axis, kind="stable")
    return {"a": np.take_along_axis(g, np.argsort(perm, axis=axis, kind="stable"), axis=axis)}


@_f("partition")
def _partition(g, ans, a, kth, axis=-1, kind="introselect", order=None):
    # Each result element is an element of a: match them through stable sorts of both
    # (ties hold equal values, so any matching gives the same gradient).
    src = np.ravel(a) if axis is None else a
    ax = (-1 if axis is None else axis) % np.ndim(src)
    perm_a = np.argsort(src, axis=ax, kind="stable")
    perm_r = np.argsort(ans, axis=ax, kind="stable")
    g_sorted = np.take_along_axis(g, perm_r, axis=ax)
    ct = _scatter_add(np.shape(src), _along_axis_index(np.shape(src), perm_a, ax), g_sorted)
    return {"a": np.reshape(ct, np.shape(a)) if axis is None else ct}


@_f("sort_complex")
def _sort_complex(g, ans, a):
    return Via(lambda a: np.sort(a).astype(np.result_type(ans)), a)
