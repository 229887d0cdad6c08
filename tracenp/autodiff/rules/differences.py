"""Rules of finite differences and their kin, given as equivalent code: ``diff``,
``ediff1d``, ``gradient``, ``trapezoid`` (the trapezoid rule) and ``unwrap``.
"""
from __future__ import annotations

import math

import numpy as np

from ._common import Via, _along, _axes, _f, _sl


def _diff_impl(a, n, axis, prepend, append):
    nd = np.ndim(a)
    ax = axis % nd
    parts = []
    for v in (prepend, a, append):
        if v is np._NoValue:
            continue
        if v is not a and np.ndim(v) == 0:
            shape = list(np.shape(a))
            shape[ax] = 1
            v = np.broadcast_to(v, tuple(shape))
        parts.append(v)
    x = np.concatenate(parts, axis=ax) if len(parts) > 1 else a
    for _ in range(n):
        x = x[_sl(nd, ax, slice(1, None))] - x[_sl(nd, ax, slice(None, -1))]
    return x


@_f("diff")
def _diff(g, ans, a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    return Via(lambda a, p, q: _diff_impl(a, n, axis, p, q), a, prepend, append)


@_f("ediff1d")
def _ediff1d(g, ans, ary, to_end=None, to_begin=None):
    def impl(a, e, b):
        x = np.ravel(a)
        parts = [x[1:] - x[:-1]]
        if b is not None:
            parts.insert(0, np.ravel(b))
        if e is not None:
            parts.append(np.ravel(e))
        return np.concatenate(parts) if len(parts) > 1 else parts[0]
    return Via(impl, ary, to_end, to_begin)


def _grad_axis(f, ax, d, edge_order):
    """np.gradient along one axis: ``d`` a scalar spacing or a 1-d coordinate array."""
    nd = np.ndim(f)

    def at(s):
        return f[_sl(nd, ax, s)]
    uniform = np.ndim(d) == 0
    if uniform:
        inner = (at(slice(2, None)) - at(slice(None, -2))) / (2.0 * d)
    else:
        dx = d[1:] - d[:-1]
        dx1, dx2 = _along(dx[:-1], nd, ax), _along(dx[1:], nd, ax)
        a = -dx2 / (dx1 * (dx1 + dx2))
        b = (dx2 - dx1) / (dx1 * dx2)
        c = dx1 / (dx2 * (dx1 + dx2))
        inner = a * at(slice(None, -2)) + b * at(slice(1, -1)) + c * at(slice(2, None))
    if edge_order == 1:
        h0 = d if uniform else d[1] - d[0]
        h1 = d if uniform else d[-1] - d[-2]
        first = (at(slice(1, 2)) - at(slice(0, 1))) / h0
        last = (at(slice(-1, None)) - at(slice(-2, -1))) / h1
    else:
        if uniform:
            a, b, c = -1.5 / d, 2.0 / d, -0.5 / d
            a2, b2, c2 = 0.5 / d, -2.0 / d, 1.5 / d
        else:
            dx1, dx2 = d[1] - d[0], d[2] - d[1]
            a = -(2.0 * dx1 + dx2) / (dx1 * (dx1 + dx2))
            b = (dx1 + dx2) / (dx1 * dx2)
            c = -dx1 / (dx2 * (dx1 + dx2))
            dx1, dx2 = d[-2] - d[-3], d[-1] - d[-2]
            a2 = dx2 / (dx1 * (dx1 + dx2))
            b2 = -(dx2 + dx1) / (dx1 * dx2)
            c2 = (2.0 * dx2 + dx1) / (dx2 * (dx1 + dx2))
        first = a * at(slice(0, 1)) + b * at(slice(1, 2)) + c * at(slice(2, 3))
        last = a2 * at(slice(-3, -2)) + b2 * at(slice(-2, -1)) + c2 * at(slice(-1, None))
    return np.concatenate([first, inner, last], axis=ax)


@_f("gradient")
def _gradient(g, ans, f, *varargs, axis=None, edge_order=1):
    def impl(f, *spacing):
        nd = np.ndim(f)
        axes = _axes(axis, nd)
        if not spacing:
            spacing = (1.0,) * len(axes)
        elif len(spacing) == 1:
            spacing = spacing * len(axes)
        outs = [_grad_axis(f, ax, d, edge_order) for ax, d in zip(axes, spacing)]
        return outs[0] if len(outs) == 1 else tuple(outs)
    return Via(impl, f, *varargs)


@_f("trapezoid")
def _trapezoid(g, ans, y, x=None, dx=1.0, axis=-1):
    def impl(y, x, dx):
        nd = np.ndim(y)
        if x is None:
            d = dx
        elif np.ndim(x) == 1:
            d = _along(x[1:] - x[:-1], nd, axis)
        else:
            d = _diff_impl(x, 1, axis, np._NoValue, np._NoValue)
        s = y[_sl(nd, axis, slice(1, None))] + y[_sl(nd, axis, slice(None, -1))]
        return np.sum(d * s / 2.0, axis=axis)
    return Via(impl, y, x, dx)


@_f("unwrap")
def _unwrap(g, ans, p, discont=None, axis=-1, *, period=2 * math.pi):
    def impl(p):
        nd = np.ndim(p)
        dd = _diff_impl(p, 1, axis, np._NoValue, np._NoValue)
        disc = period / 2 if discont is None else discont
        half = period / 2
        corr = -period * np.floor((dd + half) / period)    # piecewise constant
        corr = np.where(np.abs(dd) < disc, 0, corr)
        head = p[_sl(nd, axis, slice(None, 1))]
        return np.concatenate([head, p[_sl(nd, axis, slice(1, None))] + np.cumsum(corr, axis=axis)],
                              axis=axis)
    return Via(impl, p)
