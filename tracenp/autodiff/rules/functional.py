"""Rules of the functions that call a Python function of the user's,
``apply_along_axis`` and ``apply_over_axes``: the same calls, made slice by slice on
proxies, so the function's own ops are differentiated.
"""
from __future__ import annotations

import numpy as np

from ._common import Via, _f


@_f("apply_along_axis")
def _apply_along_axis(g, ans, func1d, axis, arr, *args, **kwargs):
    def impl(arr, *args):
        nd = np.ndim(arr)
        ax = axis % nd
        x = np.moveaxis(arr, ax, -1)
        outer = np.shape(x)[:-1]
        res = [func1d(x[idx], *args, **kwargs) for idx in np.ndindex(*outer)]
        rshape = np.shape(res[0])
        r = np.reshape(np.stack(res), outer + rshape)
        k = len(rshape)
        return np.moveaxis(r, tuple(range(len(outer), len(outer) + k)),
                           tuple(range(ax, ax + k))) if k else r
    return Via(impl, arr, *args)


@_f("apply_over_axes")
def _apply_over_axes(g, ans, func, a, axes):
    def impl(a):
        val = a
        n = np.ndim(a)
        for ax in (axes if np.ndim(axes) else (axes,)):
            ax = int(ax) % n
            res = func(val, ax)
            val = res if np.ndim(res) == np.ndim(val) else np.expand_dims(res, ax)
        return val
    return Via(impl, a)
