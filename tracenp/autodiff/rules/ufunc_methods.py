"""Equivalent code for the methods of a ufunc that has a rule: ``reduce``,
``accumulate`` and ``reduceat`` (folds of the ufunc, one node per step), ``outer``, and a
generalized ufunc (``matmul``, ``vecdot``, ...) called with ``axes=``/``axis=`` (the same
call with its core dimensions moved last).  The dispatch differentiates these instead.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import DifferentiationError
from ._common import Via, _axes, _where_given


def _fold(u: np.ufunc, x: Any, initial: Any = np._NoValue) -> list:
    """The running results of ``u`` folded along axis 0 of ``x`` (one node per step)."""
    n = np.shape(x)[0]
    acc = [] if initial is np._NoValue or initial is None else [initial]
    for i in range(n):
        acc.append(x[i] if not acc else u(acc[-1], x[i]))
    return acc


def _reduce_impl(u: np.ufunc, array: Any, axis: Any = 0, dtype: Any = None, out: Any = None,
                 keepdims: bool = False, initial: Any = np._NoValue, where: Any = True) -> Any:
    if _where_given(where):
        raise DifferentiationError(f"the gradient of {u.__name__}.reduce with where= is not "
                                   f"supported")
    nd = np.ndim(array)
    axes = _axes(axis, nd) if nd else ()
    x = np.moveaxis(array, axes, tuple(range(len(axes)))) if axes else array
    rest = np.shape(x)[len(axes):]
    x = np.reshape(x, (-1,) + rest)
    acc = _fold(u, x, initial)
    if not acc:
        if u.identity is None:
            raise DifferentiationError(f"{u.__name__}.reduce of an empty axis")
        r = np.full(rest, u.identity, dtype=np.result_type(array))
    else:
        r = acc[-1]
    if keepdims and axes:
        r = np.expand_dims(r, axes)
    return r


def _accumulate_impl(u: np.ufunc, array: Any, axis: int = 0, dtype: Any = None,
                     out: Any = None) -> Any:
    ax = axis % np.ndim(array)
    return np.stack(_fold(u, np.moveaxis(array, ax, 0)), axis=ax)


def _reduceat_impl(u: np.ufunc, array: Any, indices: Any, axis: int = 0, dtype: Any = None,
                   out: Any = None) -> Any:
    from ...tracer import Tracer
    if isinstance(indices, Tracer):
        raise DifferentiationError(f"the gradient of {u.__name__}.reduceat with traced "
                                   f"indices is not supported")
    ax = axis % np.ndim(array)
    x = np.moveaxis(array, ax, 0)
    n = np.shape(x)[0]
    idx = [int(i) for i in np.ravel(indices)]
    parts = []
    for j, s0 in enumerate(idx):
        e = idx[j + 1] if j + 1 < len(idx) else n
        parts.append(_fold(u, x[s0:e])[-1] if s0 < e else x[s0])
    return np.stack(parts, axis=ax)


def _outer_impl(u: np.ufunc, a: Any, b: Any, **kwargs: Any) -> Any:
    return u(np.reshape(a, np.shape(a) + (1,) * np.ndim(b)), b)


_METHOD_IMPL = {"reduce": _reduce_impl, "accumulate": _accumulate_impl,
                "reduceat": _reduceat_impl, "outer": _outer_impl}


def _gufunc_axes_via(u: np.ufunc, args: tuple, kwargs: dict) -> "Via":
    """A generalized ufunc (matmul, vecdot, ...) called with ``axes=``/``axis=``: the same
    call with its core dimensions moved last."""
    if kwargs.get("keepdims"):
        raise DifferentiationError(f"the gradient of {u.__name__}(keepdims=True) is not "
                                   f"supported")
    ins_sig, out_sig = u.signature.replace(" ", "").split("->")
    core = [len([d for d in part.strip("()").split(",") if d]) for part in
            ins_sig.replace(")(", ");(").replace("),(", ");(").split(";")]
    ocore = [len([d for d in part.strip("()").split(",") if d]) for part in
             out_sig.replace("),(", ");(").split(";")]
    nin = u.nin
    if "axis" in kwargs:
        ax = kwargs["axis"]
        axes = [(ax,) if c else () for c in core] + [(ax,) if c else () for c in ocore]
    else:
        axes = [tuple(a) if isinstance(a, (tuple, list)) else (a,) for a in kwargs["axes"]]
        if len(axes) == nin:
            axes += [()] * len(ocore) if not any(ocore) else [None]
    rest = {k: v for k, v in kwargs.items() if k not in ("axis", "axes", "keepdims", "out")}

    def impl(*xs):
        moved = [np.moveaxis(x, a, tuple(range(-len(a), 0))) if a else x
                 for x, a in zip(xs, axes[:nin])]
        for x, c in zip(moved, core):
            if np.ndim(x) < c:
                raise DifferentiationError(f"the gradient of {u.__name__} with axes= and "
                                           f"1-d operands is not supported")
        r = u(*moved, **rest)
        oa = axes[nin] if len(axes) > nin else None
        if oa:
            r = np.moveaxis(r, tuple(range(-len(oa), 0)), oa)
        return r
    return Via(impl, *args[:nin])
