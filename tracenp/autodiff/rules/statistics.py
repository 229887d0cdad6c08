"""Rules of statistics given as equivalent code: quantiles (``quantile``, ``percentile``,
``median`` and their NaN-ignoring versions, from a full sort), ``average``, ``cov`` and
``corrcoef``.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import DifferentiationError
from ._common import Via, _axes, _f


# ============================================================================ quantiles
_QUANTILE_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def _quantile_impl(a, q, axis, keepdims, method, nan=False):
    """Quantiles from a full sort (NaNs sort last; ``nan``: per-slice counts of the
    others), for the methods whose result is an order statistic or the linear
    interpolation of two."""
    nd = np.ndim(a)
    shape = tuple(np.shape(a))
    axes = _axes(axis, nd) if nd else ()
    keep_shape = tuple(1 if i in axes else d for i, d in enumerate(shape))
    red_shape = tuple(d for i, d in enumerate(shape) if i not in axes)
    x = np.moveaxis(a, axes, tuple(range(nd - len(axes), nd))) if axes else a
    x = np.reshape(x, tuple(np.shape(x))[:nd - len(axes)] + (-1,))
    s = np.sort(x, axis=-1)
    n = np.shape(s)[-1]
    qs = np.asarray(q, dtype=np.float64)
    k = np.sum(np.logical_not(np.isnan(x)), axis=-1, keepdims=True) if nan else n

    def pick(i):
        if nan:
            return np.take_along_axis(s, np.clip(i, 0, n - 1).astype(np.intp), axis=-1)
        return np.take(s, [min(max(int(i), 0), n - 1)], axis=-1)

    results = []
    for qv in qs.ravel():
        pos = qv * (k - 1)
        fl = np.floor(pos) if nan else math.floor(pos)
        hi = np.minimum(fl + 1, k - 1) if nan else fl + 1
        if method == "linear":
            lo = pick(fl)
            v = lo + (pick(hi) - lo) * (pos - fl)
        elif method == "lower":
            v = pick(fl)
        elif method == "higher":
            v = pick(np.ceil(pos) if nan else math.ceil(pos))
        elif method == "nearest":
            v = pick(np.around(pos))
        else:                                   # midpoint
            lo = pick(fl)
            v = np.where(pos == fl, lo, (lo + pick(hi)) / 2) if nan else \
                (lo if pos == fl else (lo + pick(hi)) / 2)
        results.append(np.reshape(v, keep_shape if keepdims else red_shape))
    if qs.ndim == 0:
        return results[0]
    return np.reshape(np.stack(results), qs.shape + np.shape(results[0]))


def _quantile_via(a, q, axis, keepdims, method, weights=None, nan=False):
    from ...tracer import Tracer
    if method not in _QUANTILE_METHODS:
        raise DifferentiationError(f"the gradient of quantiles with method={method!r} is not "
                                   f"supported (methods {', '.join(_QUANTILE_METHODS)} are)")
    if weights is not None:
        raise DifferentiationError("the gradient of weighted quantiles is not supported")
    if isinstance(q, Tracer):
        raise DifferentiationError("the gradient of quantiles at traced q is not supported")
    keepdims = bool(keepdims) and keepdims is not np._NoValue
    return Via(lambda a: _quantile_impl(a, q, axis, keepdims, method, nan), a)


@_f("quantile")
def _quantile(g, ans, a, q, axis=None, out=None, overwrite_input=False, method="linear",
              keepdims=False, *, weights=None, interpolation=None):
    return _quantile_via(a, q, axis, keepdims, method, weights)


@_f("nanquantile")
def _nanquantile(g, ans, a, q, axis=None, out=None, overwrite_input=False, method="linear",
                 keepdims=np._NoValue, *, weights=None, interpolation=None):
    return _quantile_via(a, q, axis, keepdims, method, weights, nan=True)


@_f("percentile")
def _percentile(g, ans, a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=False, *, weights=None, interpolation=None):
    return _quantile_via(a, np.true_divide(q, 100.0), axis, keepdims, method, weights)


@_f("nanpercentile")
def _nanpercentile(g, ans, a, q, axis=None, out=None, overwrite_input=False, method="linear",
                   keepdims=np._NoValue, *, weights=None, interpolation=None):
    return _quantile_via(a, np.true_divide(q, 100.0), axis, keepdims, method, weights, nan=True)


@_f("median")
def _median(g, ans, a, axis=None, out=None, overwrite_input=False, keepdims=False):
    return _quantile_via(a, 0.5, axis, keepdims, "linear")


@_f("nanmedian")
def _nanmedian(g, ans, a, axis=None, out=None, overwrite_input=False, keepdims=np._NoValue):
    return _quantile_via(a, 0.5, axis, keepdims, "linear", nan=True)


# ============================================================================ moments
@_f("average")
def _average(g, ans, a, axis=None, weights=None, returned=False, *, keepdims=np._NoValue):
    kd = keepdims is not np._NoValue and bool(keepdims)

    def impl(a, w):
        if w is None:
            avg = np.mean(a, axis=axis, keepdims=kd)
            scl = np.size(a) / max(np.size(avg), 1)
        else:
            if np.shape(a) != np.shape(w):
                w = np.swapaxes(np.broadcast_to(w, (1,) * (np.ndim(a) - 1) + np.shape(w)), -1,
                                axis)
            scl = np.sum(w, axis=axis, keepdims=kd)
            avg = np.sum(a * w, axis=axis, keepdims=kd) / scl
        if returned:
            return avg, np.broadcast_to(scl, np.shape(avg))
        return avg
    return Via(impl, a, weights)


def _cov_impl(m, y, rowvar, bias, ddof, dtype, fweights=None, aweights=None):
    x = m if np.ndim(m) == 2 else np.reshape(m, (1, -1))
    if not rowvar and x.shape[0] != 1:
        x = x.T
    if y is not None:
        yy = y if np.ndim(y) == 2 else np.reshape(y, (1, -1))
        if not rowvar and yy.shape[0] != 1:
            yy = yy.T
        x = np.concatenate((x, yy), axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    w = None
    if fweights is not None:
        w = np.multiply(fweights, 1.0)
    if aweights is not None:
        w = aweights if w is None else w * aweights
    if w is None:
        n = x.shape[1]
        xc = x - np.mean(x, axis=1, keepdims=True)
        c = np.matmul(xc, np.conjugate(xc.T)) / max(n - ddof, 0)
    else:
        v1 = np.sum(w)
        avg = np.sum(x * w, axis=1, keepdims=True) / v1
        fact = v1 - ddof if aweights is None else v1 - ddof * np.sum(w * aweights) / v1
        xc = x - avg
        c = np.matmul(xc * w, np.conjugate(xc.T)) / np.maximum(fact, 0)
    return np.squeeze(c)


@_f("cov")
def _cov(g, ans, m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None,
         *, dtype=None):
    return Via(lambda m, y, f, w: _cov_impl(m, y, rowvar, bias, ddof, dtype, f, w),
               m, y, fweights, aweights)


@_f("corrcoef")
def _corrcoef(g, ans, x, y=None, rowvar=True, *, dtype=None, **kwargs):
    def impl(x, y):
        c = _cov_impl(x, y, rowvar, False, None, dtype)
        d = np.diag(c)
        sd = np.sqrt(np.real(d))
        return np.clip(c / sd[:, None] / sd[None, :], -1, 1)
    return Via(impl, x, y)
