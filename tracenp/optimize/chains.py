"""Chains of shape ops, casts and reductions, collapsed into one op.

``reshape(reshape(x))``, ``transpose(transpose(x))`` (``x.T.T`` is ``x``), a cast through
a type that holds every value exactly (``x.astype(f64).astype(f32)`` on float32 ``x``),
and a reduction of a reduction (``x.sum(0).sum(0)``, ``x.max(1).max(0)``) become one op.
Each gives exactly the original values, except reduction chains of sums and products,
whose grouping changes (within NumPy's own pairwise-summation error).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .framework import rule
from .pattern import F, X


def _plain(kw: dict, allowed: dict) -> bool:
    """Only the given static keyword arguments, with their default-like values."""
    return all(k in allowed and v in allowed[k] for k, v in kw.items())


@rule("reshape_of_reshape", "canonicalize",
      F("reshape", F("reshape", X("x"), kw="inner"), kw="outer"))
def _reshape_chain(b, m):
    """reshape(reshape(x, s1), s2) -> reshape(x, s2) (C order; the same values)."""
    ok = {"shape": None, "newshape": None, "order": ("C", None), "copy": (None,)}
    for kw in (m["inner"], m["outer"]):
        if any(k not in ok or (ok[k] is not None and v not in ok[k]) for k, v in kw.items()):
            return None
    x = m["x"]
    if x.aval.kind != "array":
        return None
    return b.call("reshape", x, m["_node"].outputs[0].aval.shape)


def _perm(kw: dict, ndim: int) -> tuple[int, ...] | None:
    if set(kw) - {"axes"}:
        return None
    axes = kw.get("axes")
    if axes is None:
        return tuple(range(ndim))[::-1]
    axes = tuple(int(a) % ndim for a in axes)
    return axes if sorted(axes) == list(range(ndim)) else None


@rule("transpose_of_transpose", "canonicalize",
      F("transpose", F("transpose", X("x"), kw="inner"), kw="outer"))
def _transpose_chain(b, m):
    """transpose(transpose(x, p1), p2) -> transpose(x, p1[p2]); x.T.T -> x."""
    x = m["x"]
    if x.aval.kind != "array":
        return None
    n = x.aval.ndim
    p1, p2 = _perm(m["inner"], n), _perm(m["outer"], n)
    if p1 is None or p2 is None:
        return None
    composed = tuple(p1[i] for i in p2)
    if composed == tuple(range(n)):
        return x
    return b.call("transpose", x, composed)


def _astype_dtype(kw: dict) -> np.dtype | None:
    args = kw.get("args", ())
    kwargs = kw.get("kwargs", {}) or {}
    if set(kw) - {"args", "kwargs"} or len(args) != 1 or set(kwargs) - {"copy"}:
        return None
    try:
        return np.dtype(args[0])
    except TypeError:
        return None


def _holds_exactly(src: np.dtype, dst: np.dtype) -> bool:
    """Does ``dst`` hold every value of ``src``?  A "safe" cast is not enough: int64 ->
    float64 is safe for NumPy but rounds above 2**53."""
    if not np.can_cast(src, dst, "safe"):
        return False
    if src.kind in "iu" and dst.kind in "fc":
        bits = src.itemsize * 8 - (src.kind == "i")
        return bits <= np.finfo(dst).nmant + 1
    return True


@rule("cast_through_exact_type", "canonicalize",
      F("ndarray.astype", F("ndarray.astype", X("x"), kw="inner"), kw="outer"))
def _cast_chain(b, m):
    """x.astype(t1).astype(t2) -> x.astype(t2) when t1 holds every value of x's dtype
    exactly (a safe cast), so the values are the same."""
    x = m["x"]
    t1, t2 = _astype_dtype(m["inner"]), _astype_dtype(m["outer"])
    if t1 is None or t2 is None or not _holds_exactly(x.aval.dtype, t1):
        return None
    if t2.kind in "iu" and not (x.aval.dtype.kind in "biu" and t1.kind in "biu"):
        return None    # float -> int of out-of-range values (inf, NaN, 1e10) depends on the
        #                source type: uint32 -> f64 -> int8 is not uint32 -> int8
    if t2 == x.aval.dtype:
        return x
    return b.call("ndarray.astype", x, t2)


_REDUCE_CHAIN = {"sum": "sum", "prod": "prod", "max": "max", "amax": "max", "min": "min",
                 "amin": "min", "all": "all", "any": "any"}


def _axes(kw: dict, ndim: int) -> tuple[int, ...] | None:
    if set(kw) - {"axis"}:
        return None       # dtype=, keepdims=, initial=, where=: left alone
    axis = kw.get("axis")
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(int(a) % ndim for a in axis))


@rule("reduction_of_reduction", "canonicalize",
      F(tuple(_REDUCE_CHAIN), F(tuple(_REDUCE_CHAIN), X("x"), kw="inner", bind="mid"), kw="outer"))
def _reduce_chain(b, m):
    """red(red(x, axis=a), axis=b) -> red(x, axis=a+b) for the same reduction.  Exact for
    max, min, all and any; sums and products regroup (within summation error)."""
    outer_node, x = m["_node"], m["x"]
    mid = m["mid"]
    inner_node = b.producer(mid)
    if inner_node is None or _REDUCE_CHAIN[inner_node.op.name] != _REDUCE_CHAIN[outer_node.op.name]:
        return None
    if x.aval.kind != "array" or x.aval.dtype.kind not in "biuf":
        return None
    n = x.aval.ndim
    a = _axes(m["inner"], n)
    if a is None:
        return None
    rest = [i for i in range(n) if i not in a]
    c = _axes(m["outer"], len(rest))
    if c is None:
        return None
    if _REDUCE_CHAIN[outer_node.op.name] in ("sum", "prod") and x.aval.dtype.kind in "biu" \
            and x.aval.dtype.itemsize < 8:
        return None       # small ints: the inner sum's dtype promotion matters
    combined = tuple(sorted(set(a) | {rest[i] for i in c}))
    axis: Any = None if len(combined) == n else combined
    return b.call(outer_node.op.name, x, axis=axis)
