"""Rules of the creation functions with differentiable arguments, given as equivalent
code: ``full`` and ``full_like`` (in the fill value), ``linspace``, ``logspace`` and
``geomspace`` (in the endpoints and base).
"""
from __future__ import annotations

import numpy as np

from ...errors import DifferentiationError
from ._common import Via, _f


@_f("full")
def _full(g, ans, shape, fill_value, dtype=None, order="C", *, device=None, like=None):
    return Via(lambda v: np.broadcast_to(v, np.shape(ans)), fill_value)


@_f("full_like")
def _full_like(g, ans, a, fill_value, dtype=None, order="K", subok=True, shape=None, *,
               device=None):
    return Via(lambda v: np.broadcast_to(v, np.shape(ans)), fill_value)


def _linspace_impl(start, stop, num, endpoint, axis):
    div = num - 1 if endpoint else num
    delta = np.subtract(stop, start)
    nd = np.ndim(delta)
    t = np.reshape(np.arange(num, dtype=np.float64), (num,) + (1,) * nd)
    step = delta / div if div > 0 else delta * 0.0
    y = start + t * step
    if axis != 0:
        y = np.moveaxis(y, 0, axis)
    return y, step


@_f("linspace")
def _linspace(g, ans, start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *,
              device=None):
    def impl(start, stop):
        y, step = _linspace_impl(start, stop, num, endpoint, axis)
        return (y, step) if retstep else y
    return Via(impl, start, stop)


@_f("logspace")
def _logspace(g, ans, start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    def impl(start, stop, base):
        y, _ = _linspace_impl(start, stop, num, endpoint, axis)
        if np.ndim(base):
            base = np.expand_dims(base, axis)
        return np.power(base, y)
    return Via(impl, start, stop, base)


@_f("geomspace")
def _geomspace(g, ans, start, stop, num=50, endpoint=True, dtype=None, axis=0):
    if np.result_type(ans).kind == "c":
        raise DifferentiationError("the gradient of np.geomspace with complex endpoints is not "
                                   "supported")

    def impl(start, stop):
        sign = np.sign(start)
        y, _ = _linspace_impl(np.log(np.abs(start)), np.log(np.abs(stop)), num, endpoint, 0)
        r = np.exp(y) * sign
        return np.moveaxis(r, 0, axis) if axis != 0 else r
    return Via(impl, start, stop)
