"""Rules of reductions and scans: ``sum``, ``mean``, ``var``, ``std``, ``max``/``min`` and
``prod`` (and the ``reduce`` calls of add, multiply, maximum, ...), ``cumsum`` and
``cumprod`` (and ``accumulate``), and their NaN-ignoring versions (``nansum`` to
``nancumprod``, given as equivalent code).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...errors import DifferentiationError
from ._common import Via, _axes, _expand, _f, _sl, _where_given


# ============================================================================ reductions
def _count(shape: tuple, axis: Any) -> int:
    n = 1
    for a in _axes(axis, len(shape)):
        n *= shape[a]
    return n


@_f("sum")
def _sum(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    ct = _expand(g, np.shape(a), axis, keepdims)
    if _where_given(where):
        ct = np.where(where, ct, 0)
    return {"a": ct, "initial": g}


@_f("add.reduce")
def _add_reduce(g, ans, array, axis=0, dtype=None, out=None, keepdims=False, initial=None,
                where=True):
    ct = _sum(g, ans, array, axis, dtype, out, keepdims, initial, where)
    return {"array": ct["a"], "initial": g}


@_f("mean")
def _mean(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    shape = np.shape(a)
    if _where_given(where):
        w = np.broadcast_to(where, shape)
        n = np.sum(w, axis=axis, keepdims=True)
        return {"a": np.where(w, _expand(g, shape, axis, keepdims) / n, 0)}
    return {"a": _expand(g, shape, axis, keepdims) / _count(shape, axis)}


def _var_ct(g, a, axis, keepdims, ddof, where):
    shape = np.shape(a)
    if _where_given(where):
        raise DifferentiationError("the gradient of var/std with where= is not supported")
    m = np.mean(a, axis=axis, keepdims=True)
    n = _count(shape, axis)
    scale = 2.0 / (n - ddof) if n > ddof else math.nan      # (NumPy's var is NaN there)
    return _expand(g, shape, axis, keepdims) * scale * np.conjugate(a - m)


@_f("var")
def _var(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True,
         mean=None, correction=None):
    ddof = correction if correction is not None else ddof
    return {"a": _var_ct(g, a, axis, keepdims, ddof, where)}


@_f("std")
def _std(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True,
         mean=None, correction=None):
    ddof = correction if correction is not None else ddof
    return {"a": _var_ct(g / (2 * ans), a, axis, keepdims, ddof, where)}


def _extreme(g, ans, a, axis, keepdims, where, initial=None):
    """max/min: the cotangent is shared equally among the tied winners (as JAX), the
    ``initial`` value counting as one more candidate.  Returns (a's, initial's)."""
    shape = np.shape(a)
    full = _expand(ans, shape, axis, keepdims)
    hit = (a == full) | (np.isnan(a) & np.isnan(full))
    if _where_given(where):
        hit = hit & where
    n = np.sum(hit, axis=_axes(axis, len(shape)) if shape else None, keepdims=True)
    gi = None
    if initial is not None and initial is not np._NoValue:
        init_hit = ans == initial
        axes = _axes(axis, len(shape))
        n = n + (np.expand_dims(init_hit, axes) if shape and axes and not keepdims else init_hit)
        gi = g * init_hit / np.maximum(np.reshape(n, np.shape(ans)), 1)
    return _expand(g, shape, axis, keepdims) * hit / np.maximum(n, 1), gi


@_f("max", "min", "amax", "amin")
def _max(g, ans, a, axis=None, out=None, keepdims=False, initial=None, where=True):
    ga, gi = _extreme(g, ans, a, axis, keepdims, where, initial)
    return {"a": ga, "initial": gi}


@_f("maximum.reduce", "minimum.reduce", "fmax.reduce", "fmin.reduce")
def _max_reduce(g, ans, array, axis=0, dtype=None, out=None, keepdims=False, initial=None,
                where=True):
    ga, gi = _extreme(g, ans, array, axis, keepdims, where, initial)
    return {"array": ga, "initial": gi}


def _prod_of_others(a, axes):
    """For each element, the product of the other elements along ``axes`` (no division,
    so zeros are handled)."""
    shape = np.shape(a)
    nd = len(shape)
    keep = [i for i in range(nd) if i not in axes]
    perm = keep + list(axes)
    at = np.transpose(a, perm) if perm != list(range(nd)) else a
    lead = tuple(shape[i] for i in keep)
    n = 1
    for i in axes:
        n *= shape[i]
    flat = np.reshape(at, lead + (n,))
    ones = np.ones(lead + (1,), dtype=np.result_type(a))
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = np.flip(np.cumprod(np.flip(np.concatenate([flat[..., 1:], ones], axis=-1), -1),
                               axis=-1), -1)
    others = np.reshape(left * right, tuple(shape[i] for i in perm))
    return np.transpose(others, np.argsort(perm)) if perm != list(range(nd)) else others


@_f("prod")
def _prod(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    shape = np.shape(a)
    if _where_given(where):
        raise DifferentiationError("the gradient of prod with where= is not supported")
    axes = _axes(axis, len(shape))
    ct = _expand(g, shape, axis, keepdims) * _prod_of_others(a, axes)
    res = {"a": ct}
    if initial is not None and initial is not np._NoValue:
        res = {"a": ct * initial, "initial": g * np.prod(a, axis=axis, keepdims=keepdims)}
    return res


@_f("multiply.reduce")
def _mul_reduce(g, ans, array, axis=0, dtype=None, out=None, keepdims=False, initial=None,
                where=True):
    ct = _prod(g, ans, array, axis, dtype, out, keepdims, initial, where)
    return {"array": ct["a"], "initial": ct.get("initial")}


# ============================================================================ scans
def _rev_cumsum(g, axis):
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


@_f("cumsum", "cumulative_sum")
def _cumsum(g, ans, a, axis=None, dtype=None, out=None, include_initial=False):
    if include_initial:
        ax = (0 if axis is None else axis) % np.ndim(g)
        g = g[(slice(None),) * ax + (slice(1, None),)]
    if axis is None and np.ndim(a) != 1:
        return {"a": np.reshape(_rev_cumsum(np.ravel(g), 0), np.shape(a)),
                "x": np.reshape(_rev_cumsum(np.ravel(g), 0), np.shape(a))}
    ax = 0 if axis is None else axis
    ct = _rev_cumsum(g, ax)
    return {"a": ct, "x": ct}


@_f("add.accumulate")
def _add_accumulate(g, ans, array, axis=0, dtype=None, out=None):
    return {"array": _rev_cumsum(g, axis)}


def _scan_mul(x, axis):
    """Inclusive products along ``axis`` by doubling (log2(n) steps, no division: exact
    at zeros, and differentiable again)."""
    nd = np.ndim(x)
    ax = axis % nd
    n = np.shape(x)[ax]
    step = 1
    while step < n:
        head = x[_sl(nd, ax, slice(0, step))]
        tail = x[_sl(nd, ax, slice(step, None))] * x[_sl(nd, ax, slice(0, n - step))]
        x = np.concatenate([head, tail], axis=ax)
        step *= 2
    return x


def _cumprod_impl(a, axis, include_initial=False):
    if axis is None:
        a, axis = np.ravel(a), 0
    r = _scan_mul(a, axis)
    if include_initial:
        shape = list(np.shape(r))
        shape[axis % len(shape)] = 1
        r = np.concatenate([np.ones(shape, dtype=np.result_type(r)), r], axis=axis)
    return r


@_f("cumprod", "cumulative_prod")
def _cumprod(g, ans, a, axis=None, dtype=None, out=None, include_initial=False):
    if axis is None and np.ndim(a) == 1:
        axis = 0
    return Via(lambda a: _cumprod_impl(a, axis, include_initial), a)


@_f("multiply.accumulate")
def _mul_accumulate(g, ans, array, axis=0, dtype=None, out=None):
    return Via(lambda a: _cumprod_impl(a, axis), array)


@_f("nancumsum")
def _nancumsum(g, ans, a, axis=None, dtype=None, out=None):
    return Via(lambda a: np.cumsum(np.where(np.isnan(a), 0, a), axis=axis), a)


@_f("nancumprod")
def _nancumprod(g, ans, a, axis=None, dtype=None, out=None):
    return Via(lambda a: np.cumprod(np.where(np.isnan(a), 1, a), axis=axis), a)


# ============================================================================ nan-reductions
def _nan_kw(where, initial=np._NoValue, name="nan-reductions"):
    if _where_given(where) and where is not np._NoValue:
        raise DifferentiationError(f"the gradient of {name} with where= is not supported")
    if initial is not np._NoValue and initial is not None:
        raise DifferentiationError(f"the gradient of {name} with initial= is not supported")


def _kd(keepdims):
    return keepdims is not np._NoValue and bool(keepdims)


@_f("nansum")
def _nansum(g, ans, a, axis=None, dtype=None, out=None, keepdims=np._NoValue,
            initial=np._NoValue, where=np._NoValue):
    _nan_kw(where, initial)
    return Via(lambda a: np.sum(np.where(np.isnan(a), 0, a), axis=axis, keepdims=_kd(keepdims)), a)


@_f("nanprod")
def _nanprod(g, ans, a, axis=None, dtype=None, out=None, keepdims=np._NoValue,
             initial=np._NoValue, where=np._NoValue):
    _nan_kw(where, initial)
    return Via(lambda a: np.prod(np.where(np.isnan(a), 1, a), axis=axis, keepdims=_kd(keepdims)),
               a)


def _nan_count(a, axis):
    return np.sum(np.logical_not(np.isnan(a)), axis=axis, keepdims=True)


@_f("nanmean")
def _nanmean(g, ans, a, axis=None, dtype=None, out=None, keepdims=np._NoValue, *,
             where=np._NoValue):
    _nan_kw(where)

    def impl(a):
        s = np.sum(np.where(np.isnan(a), 0, a), axis=axis, keepdims=True) / _nan_count(a, axis)
        return s if _kd(keepdims) else np.squeeze(s, axis=_axes(axis, np.ndim(a)))
    return Via(impl, a)


def _nanvar_impl(a, axis, ddof, keepdims):
    nan = np.isnan(a)
    n = _nan_count(a, axis)
    m = np.sum(np.where(nan, 0, a), axis=axis, keepdims=True) / n
    d = np.where(nan, 0, a - m)
    v = np.sum(np.real(np.conjugate(d) * d), axis=axis, keepdims=True) / np.maximum(n - ddof, 0)
    return v if keepdims else np.squeeze(v, axis=_axes(axis, np.ndim(a)))


@_f("nanvar")
def _nanvar(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=np._NoValue, *,
            where=np._NoValue, mean=np._NoValue, correction=np._NoValue):
    _nan_kw(where)
    ddof = correction if correction is not np._NoValue else ddof
    return Via(lambda a: _nanvar_impl(a, axis, ddof, _kd(keepdims)), a)


@_f("nanstd")
def _nanstd(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=np._NoValue, *,
            where=np._NoValue, mean=np._NoValue, correction=np._NoValue):
    _nan_kw(where)
    ddof = correction if correction is not np._NoValue else ddof
    return Via(lambda a: np.sqrt(_nanvar_impl(a, axis, ddof, _kd(keepdims))), a)


@_f("nanmax")
def _nanmax(g, ans, a, axis=None, out=None, keepdims=np._NoValue, initial=np._NoValue,
            where=np._NoValue):
    _nan_kw(where, initial)
    return Via(lambda a: np.max(np.where(np.isnan(a), -np.inf, a), axis=axis,
                                keepdims=_kd(keepdims)), a)


@_f("nanmin")
def _nanmin(g, ans, a, axis=None, out=None, keepdims=np._NoValue, initial=np._NoValue,
            where=np._NoValue):
    _nan_kw(where, initial)
    return Via(lambda a: np.min(np.where(np.isnan(a), np.inf, a), axis=axis,
                                keepdims=_kd(keepdims)), a)
