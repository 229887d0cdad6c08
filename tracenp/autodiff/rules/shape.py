"""Rules of ops that rearrange an array without computing: reshapes, copies and views,
transposes and flips, diagonals and triangles, ``repeat``, broadcasting, joining
(``concatenate``, ``stack``) and padding (``pad``).  Many more such functions have the
generic selection rule (``SELECTIONS``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import DifferentiationError
from ...graph.pytree import flatten
from ._common import FUNC, SELECT, Via, _f


# ============================================================================ reshapes
def _reshape_back(g, ans, a, *args, **kwargs):
    return {"a": np.reshape(g, np.shape(a))}


for _n in ("squeeze", "expand_dims"):
    FUNC[_n] = _reshape_back


def _unravel(g, shape: tuple, order: Any) -> Any:
    """Undo a reshape in ``order``: the same order, back to ``shape``."""
    order = "C" if order is None else order
    if order in ("K", "A") and sum(d > 1 for d in shape) > 1:
        raise DifferentiationError(
            f"the gradient of a reshape with order={order!r} is not supported: the element "
            f"order follows the input's memory layout, which may differ between calls",
            hint="pass order='C' or order='F'")
    return np.reshape(g, shape, order="F" if order == "F" else "C")


@_f("reshape")
def _reshape(g, ans, a, shape=None, order="C", *, newshape=None, copy=None):
    return {"a": _unravel(g, np.shape(a), order)}


@_f("ravel")
def _ravel(g, ans, a, order="C"):
    return {"a": _unravel(g, np.shape(a), order)}


@_f("atleast_1d", "atleast_2d", "atleast_3d")
def _atleast(g, ans, *arys):
    if len(arys) != 1:
        return {"arys": [np.reshape(gi, np.shape(a)) for gi, a in zip(g, arys)]}
    return {0: np.reshape(g, np.shape(arys[0]))}


@_f("ndarray.flatten")
def _flatten(g, ans, self, order="C"):
    return {"self": _unravel(g, np.shape(self), order)}


# ============================================================================ copies and views
def _identity(name):
    def rule(g, ans, *args, **kwargs):
        return {0 if args else name: g}     # an int key: that positional argument
    return rule


for _n, _p in [("astype", "x"), ("copy", "a"), ("asarray", "a"), ("asanyarray", "a"),
               ("ascontiguousarray", "a"), ("asfortranarray", "a"), ("require", "a"),
               ("ndarray.copy", "self"), ("ndarray.astype", "self"),
               ("broadcast_to", "array"), ("real", "val")]:
    FUNC[_n] = _identity(_p)


@_f("ndarray.view")
def _view(g, ans, self, *args, **kwargs):
    if np.result_type(ans) != np.result_type(self):
        raise DifferentiationError("the gradient of a view as another dtype (x.view(dtype)) is "
                                   "not defined: it reinterprets the bytes")
    return {"self": g}


@_f("imag")
def _imag(g, ans, val):
    if np.result_type(val).kind != "c":
        return {}
    return {"val": g * -1j}


@_f("array")
def _array(g, ans, object, *args, **kwargs):
    def split(ct, obj):
        if isinstance(obj, (list, tuple)):
            return [split(ct[i], o) for i, o in enumerate(obj)]
        return ct
    return {"object": split(g, object)}


# ============================================================================ axes
@_f("transpose", "permute_dims")
def _transpose(g, ans, a, axes=None):
    if axes is None:
        return {"a": np.transpose(g)}
    return {"a": np.transpose(g, np.argsort([int(x) % np.ndim(a) for x in axes]))}


@_f("matrix_transpose", "linalg.matrix_transpose")
def _mT(g, ans, x):
    return {"x": np.swapaxes(g, -1, -2)}


@_f("swapaxes")
def _swapaxes(g, ans, a, axis1, axis2):
    return {"a": np.swapaxes(g, axis1, axis2)}


@_f("moveaxis")
def _moveaxis(g, ans, a, source, destination):
    return {"a": np.moveaxis(g, destination, source)}


@_f("flip")
def _flip(g, ans, m, axis=None):
    return {"m": np.flip(g, axis)}


@_f("roll")
def _roll(g, ans, a, shift, axis=None):
    neg = tuple(-s for s in shift) if isinstance(shift, (tuple, list)) else -shift
    if axis is None:
        return {"a": np.reshape(np.roll(np.ravel(g), neg), np.shape(a))}
    return {"a": np.roll(g, neg, axis)}


# ============================================================================ diagonals
def _scatter_diagonal(g, shape, dtype, offset, axis1, axis2):
    ct = np.zeros(shape, dtype=dtype)
    view = np.moveaxis(ct, (axis1, axis2), (-2, -1))
    n = np.shape(g)[-1]
    i = np.arange(n)
    view[..., i + max(-offset, 0), i + max(offset, 0)] = g
    return ct


@_f("diagonal")
def _diagonal(g, ans, a, offset=0, axis1=0, axis2=1):
    return {"a": _scatter_diagonal(g, np.shape(a), np.result_type(g), offset, axis1, axis2)}


@_f("linalg.diagonal")
def _linalg_diagonal(g, ans, x, /, *, offset=0):
    return {"x": _scatter_diagonal(g, np.shape(x), np.result_type(g), offset, -2, -1)}


@_f("trace")
def _trace(g, ans, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    n = np.shape(np.diagonal(a, offset, axis1, axis2))[-1]
    gd = np.broadcast_to(np.expand_dims(g, -1), np.shape(g) + (n,))
    return {"a": _scatter_diagonal(gd, np.shape(a), np.result_type(g), offset, axis1, axis2)}


@_f("linalg.trace")
def _linalg_trace(g, ans, x, /, *, offset=0, dtype=None):
    n = np.shape(np.diagonal(x, offset, -2, -1))[-1]
    gd = np.broadcast_to(np.expand_dims(g, -1), np.shape(g) + (n,))
    return {"x": _scatter_diagonal(gd, np.shape(x), np.result_type(g), offset, -2, -1)}


@_f("diag")
def _diag(g, ans, v, k=0):
    if np.ndim(v) == 1:
        return {"v": np.diagonal(g, k)}
    return {"v": _scatter_diagonal(g, np.shape(v), np.result_type(g), k, 0, 1)}


@_f("tril")
def _tril(g, ans, m, k=0):
    return {"m": np.tril(g, k)}


@_f("triu")
def _triu(g, ans, m, k=0):
    return {"m": np.triu(g, k)}


# ============================================================================ repeating
@_f("repeat")
def _repeat(g, ans, a, repeats, axis=None):
    if not isinstance(repeats, (int, np.integer)):
        return SELECT                   # per-element repeats (static): a selection
    shape = np.shape(a)
    r = int(repeats)
    if axis is None:
        n = int(np.prod(shape)) if shape else 1
        return {"a": np.reshape(np.sum(np.reshape(g, (n, r)), axis=1), shape)}
    ax = axis % len(shape)
    gs = np.reshape(g, shape[:ax] + (shape[ax], r) + shape[ax + 1:])
    return {"a": np.sum(gs, axis=ax + 1)}


@_f("broadcast_arrays")
def _broadcast_arrays(g, ans, *args, **kwargs):
    return {"args": list(g)}


# ============================================================================ joining
@_f("concatenate")
def _concatenate(g, ans, arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    cts, off = [], 0
    if axis is None:
        gf = np.ravel(g)
        for x in arrays:
            n = int(np.size(x))
            cts.append(np.reshape(gf[off:off + n], np.shape(x)))
            off += n
        return {"arrays": cts}
    ax = axis % np.ndim(g)
    for x in arrays:
        n = np.shape(x)[ax]
        idx = (slice(None),) * ax + (slice(off, off + n),)
        cts.append(g[idx])
        off += n
    return {"arrays": cts}


@_f("stack")
def _stack(g, ans, arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    ax = axis % np.ndim(g)
    return {"arrays": [g[(slice(None),) * ax + (i,)] for i in range(len(arrays))]}


# ============================================================================ padding
@_f("pad")
def _pad(g, ans, array, pad_width, mode="constant", **kwargs):
    from ...tracer import Tracer
    if callable(mode):
        raise DifferentiationError("the gradient of np.pad with a callable mode is not supported")
    if mode in ("constant", "empty") and not any(isinstance(x, Tracer) for x in
                                                 flatten(kwargs.get("constant_values", 0))[0]):
        nd = np.ndim(array)
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.intp).reshape(-1, 2)
                                 if np.ndim(pad_width) else np.asarray(pad_width), (nd, 2))
        idx = tuple(slice(int(b), int(b) + n) for (b, _), n in zip(widths, np.shape(array)))
        return {"array": g[idx]}
    if mode in ("constant", "edge", "wrap") or (mode in ("reflect", "symmetric") and
                                                kwargs.get("reflect_type", "even") == "even"):
        return SELECT
    if mode in ("mean", "maximum", "minimum", "median", "linear_ramp"):
        return Via(lambda x: _pad_impl(x, pad_width, mode, **kwargs), array)
    raise DifferentiationError(f"the gradient of np.pad(mode={mode!r}, {kwargs}) is not "
                               f"supported")


def _pad_impl(array, pad_width, mode, stat_length=None, end_values=0, **kwargs):
    """np.pad's statistic and ramp modes, axis by axis as NumPy pads them."""
    if stat_length is not None:
        raise DifferentiationError("the gradient of np.pad with stat_length= is not supported")
    nd = np.ndim(array)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.intp).reshape(-1, 2)
                             if np.ndim(pad_width) else np.asarray(pad_width), (nd, 2))
    ends = np.broadcast_to(np.asarray(end_values).reshape(-1, 2) if np.ndim(end_values)
                           else np.asarray(end_values), (nd, 2))
    stat = {"mean": np.mean, "maximum": np.max, "minimum": np.min, "median": np.median}
    x = array
    for ax in range(nd):
        b, e = int(widths[ax][0]), int(widths[ax][1])
        if not b and not e:
            continue
        shape = list(np.shape(x))
        n = shape[ax]
        parts = []
        if mode in stat:
            v = stat[mode](x, axis=ax, keepdims=True)
            if b:
                parts.append(np.broadcast_to(v, shape[:ax] + [b] + shape[ax + 1:]))
            parts.append(x)
            if e:
                parts.append(np.broadcast_to(v, shape[:ax] + [e] + shape[ax + 1:]))
        else:                                   # linear_ramp
            along = [1] * len(shape)
            if b:
                edge = np.take(x, [0], axis=ax)
                along[ax] = b
                t = np.reshape(np.arange(b) / b, along)
                parts.append(ends[ax][0] + (edge - ends[ax][0]) * t)
            parts.append(x)
            if e:
                edge = np.take(x, [n - 1], axis=ax)
                along[ax] = e
                t = np.reshape((np.arange(e) / e)[::-1], along)
                parts.append(ends[ax][1] + (edge - ends[ax][1]) * t)
        x = np.concatenate(parts, axis=ax)
    return x
