"""What the rule modules share, so that none of them imports another.

The two tables rules register into, ``UFUNC`` and ``FUNC`` (with their decorators ``_u``
and ``_f``); the answers a ``FUNC`` rule may give besides a dict of cotangents
(:class:`Via`, :class:`Linear`, ``SELECT``); and small helpers several rule modules use
(the axes of a reduction, a cotangent broadcast back over them, slicing along one axis,
the conjugate transpose).  :mod:`tracenp.autodiff.rules` re-exports the tables and answers.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..._ndarray import NDARRAY


UFUNC: dict[str, Callable] = {}
FUNC: dict[str, Callable] = {}


def _u(*names: str):
    def reg(fn):
        for n in names:
            UFUNC[n] = fn
        return fn
    return reg


def _f(*names: str):
    def reg(fn):
        for n in names:
            FUNC[n] = fn
        return fn
    return reg


# ============================================================================ answers
# Functions NumPy implements in Python, but whose implementation does not trace (it
# converts its arguments with NumPy's own asarray, or writes into a fresh array): the
# same computation, written with functions that have rules.  A Via's forward values are
# never used; only its derivatives are (the op's own result stays the result).
class Via:
    """A rule's answer "differentiate this instead": a function of the op's arguments,
    built from ops that have rules, that computes the same result."""

    def __init__(self, fn: Callable, *args: Any, **kwargs: Any):
        self.fn, self.args, self.kwargs = fn, args, kwargs


class Linear(Via):
    """A rule's answer "the derivative is this linear map of the argument tangents":
    ``fn(*tangents)`` returns the tangent of the result (the op's result structure); the
    cotangent is its transpose, found by sweeping ``fn`` backwards from zero tangents."""


class _Select:
    """A rule's answer "this call only moves elements around": its transpose is found by
    running the NumPy function itself on integer labels (see :func:`_selection`)."""

    def __repr__(self) -> str:
        return "SELECT"


SELECT = _Select()


# ============================================================================ helpers
def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(sorted(int(a) % ndim for a in axis))
    return (int(axis) % ndim,)


def _expand(g: Any, shape: tuple, axis: Any, keepdims: bool) -> Any:
    """A reduction's cotangent (or result) broadcast back to the reduced array's shape."""
    if not keepdims and shape:
        axes = _axes(axis, len(shape))
        if axes:
            g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


def _where_given(where: Any) -> bool:
    return where is not None and where is not True


def _has_int_index(index: Any) -> bool:
    from ...tracer import Tracer
    items = index if isinstance(index, tuple) else (index,)
    for i in items:
        if isinstance(i, list):
            return True
        if isinstance(i, (NDARRAY, Tracer)) and np.result_type(i).kind in "iu":
            return True
    return False


def _H(x):
    return np.conjugate(np.swapaxes(x, -1, -2))


def _along(v, ndim, axis):
    """A 1-d ``v`` shaped to broadcast along ``axis`` of an ``ndim``-d array."""
    shape = [1] * ndim
    shape[axis] = -1
    return np.reshape(v, shape)


def _sl(ndim, axis, s):
    return (slice(None),) * (axis % ndim) + (s,)
