"""Sample calls for the NumPy functions tracenp traces, and the sweep that checks them.

``CASES`` maps catalog names (``"sum"``, ``"linalg.norm"``, ``"fft.rfft"``, creation
functions, the asarray family, every NumPy ufunc) to sample calls::

    case("sum", lambda np_, x: np_.sum(x, axis=0, keepdims=True), shapes=[(3, 4)])

A call takes ``np_`` (the numpy module) and the arrays the sweep builds from
``shapes``: each entry of ``shapes`` is one *argument set*, either a single spec or a
list of specs, one per argument.  A spec is a shape (an array of the swept dtype), an
:class:`A` (an array with a value recipe, or of a fixed dtype), an :class:`Idx` (an
index array) or a :class:`Weak` (a Python float: a weak scalar, different on each call).

:func:`verify` runs a case over every dtype in ``DTYPES`` and a set of variants (the
argument sets as built, a non-contiguous view of each array, Fortran order, then 0-d
and empty arrays, or the case's explicit ``edges``).  For each it compares the compiled
call with eager NumPy (the oracle) on two data sets of the same signature:

- results match with :func:`tests.oracle.assert_same` (exact unless the case says),
  argument arrays match after the call (in-place writes), results that *are* an
  argument are the same argument;
- the call did not fall back, the plan's graph holds a node of the function (so a
  pass-through tracer fails), and the second call did not retrace;
- a dtype or variant where *eager NumPy raises* is skipped because eager raises, and
  the compiled call must raise the same exception type.

``tests/test_functions.py`` runs it per case; ``python -m tracenp.coverage`` runs the
same sweep to say which functions are verified in ``docs/supported.md``.
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Callable

import numpy as np

import tracenp
from tracenp.compiler import Plan
from tracenp.graph.ops import MutateOp
from tracenp.graph.pytree import flatten
from tests.oracle import assert_same

__all__ = ["DTYPES", "ALL", "CASES", "UFUNC_CASES", "EXCLUDED_CASES", "Case", "A", "Idx",
           "Weak", "case", "verify", "sweep", "CaseResult"]

DTYPES: tuple[np.dtype, ...] = tuple(np.dtype(t) for t in
                                     "? i1 i2 i4 i8 u1 u2 u4 u8 f2 f4 f8 c8 c16".split())
ALL = DTYPES
FLOATS = tuple(d for d in DTYPES if d.kind in "fc")
REAL = tuple(d for d in DTYPES if d.kind != "c")


# ============================================================================ argument specs

@dataclasses.dataclass(frozen=True)
class A:
    """An array argument.  ``dtype=None``: the swept dtype.

    ``kind``: ``rand`` (small random values), ``pos`` (positive), ``unit`` (in [-1, 1]),
    ``nan`` (floats get NaNs in a fixed pattern that leaves no all-NaN row or column),
    ``sorted`` (ascending along the last axis), ``spd`` (symmetric/Hermitian positive
    definite in the last two axes), ``wellcond`` (diagonally dominant).
    """

    shape: tuple
    kind: str = "rand"
    dtype: Any = None

    @property
    def sweeps(self) -> bool:
        """Whether 0-d / empty variants may reshape it."""
        return self.dtype is None and self.kind in ("rand", "pos", "unit", "nan")


@dataclasses.dataclass(frozen=True)
class Idx:
    """An ``intp`` index array with values in ``[low, high)``."""

    shape: tuple
    high: int
    low: int = 0


@dataclasses.dataclass(frozen=True)
class Weak:
    """A Python float argument (a weak scalar): ``a`` on the first call, ``b`` on the second."""

    a: float
    b: float


def mask(shape: tuple) -> A:
    return A(shape, dtype=np.bool_)


def _spec(s: Any) -> Any:
    if isinstance(s, tuple) and all(isinstance(d, int) for d in s):
        return A(s)
    if isinstance(s, (A, Idx, Weak)):
        return s
    raise TypeError(f"not an argument spec: {s!r}")


def _argset(entry: Any) -> tuple:
    if isinstance(entry, list):
        return tuple(_spec(s) for s in entry)
    return (_spec(entry),)


# ============================================================================ cases

@dataclasses.dataclass(frozen=True)
class Case:
    name: str                     # catalog name (an op of the registry)
    fn: Callable                  # fn(np_, *args)
    argsets: tuple                # tuple of argument sets (tuples of specs)
    dtypes: tuple
    nodes: tuple                  # op names; the graph must hold one of them
    edges: tuple | None           # explicit edge argument sets (None: 0-d and empty)
    layouts: bool                 # run the strided and Fortran variants
    rtol: float
    atol: float
    xfail: str | None             # a known tracenp bug: the case must fail
    flags: bool                   # also compare the results' contiguity
    id: str


CASES: list[Case] = []
_IDS: dict[str, int] = {}


def case(name: str, fn: Callable, shapes: list = ((3, 4),), *, dtypes: tuple = ALL,
         node: str | tuple | None = None, edges: list | None = None, layouts: bool = True,
         rtol: float = 0.0, atol: float = 0.0, xfail: str | None = None,
         flags: bool = False) -> Case:
    n = _IDS.get(name, 0)
    _IDS[name] = n + 1
    nodes = (name,) if node is None else ((node,) if isinstance(node, str) else tuple(node))
    c = Case(name, fn, tuple(_argset(s) for s in shapes), tuple(np.dtype(d) for d in dtypes),
             nodes, None if edges is None else tuple(_argset(s) for s in edges), layouts,
             rtol, atol, xfail, flags, name if n == 0 else f"{name}#{n}")
    CASES.append(c)
    return c


def _get(np_: Any, name: str) -> Any:
    obj = np_
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


# ---------------------------------------------------------------------------- reductions
for _n in "sum prod mean std var min max amin amax all any argmin argmax ptp".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x))
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, axis=0, keepdims=True))
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, axis=-1), shapes=[(2, 3, 4)])
for _n in "sum prod mean std var min max amin amax all any ptp".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, axis=(0, 2)), shapes=[(2, 3, 4)])
for _n in "sum prod mean min max all any".split():
    case(_n, lambda np_, x, o, n=_n: getattr(np_, n)(x, axis=0, out=o), shapes=[[(3, 4), (4,)]])
case("sum", lambda np_, x: np_.sum(x, axis=1, dtype=np.float64))
case("sum", lambda np_, x, m: np_.sum(x, axis=0, where=m), shapes=[[(3, 4), mask((3, 4))]])
case("prod", lambda np_, x: np_.prod(x, axis=0, dtype=np.int64, keepdims=True))
case("mean", lambda np_, x, m: np_.mean(x, axis=1, where=m), shapes=[[(3, 4), mask((3, 4))]])
case("mean", lambda np_, x: np_.mean(x, axis=0, dtype=np.float32))
case("std", lambda np_, x: np_.std(x, axis=0, ddof=1))
case("var", lambda np_, x: np_.var(x, axis=(0, 1), ddof=1, keepdims=True))
case("min", lambda np_, x: np_.min(x, axis=1, initial=3, where=x != 0))
case("max", lambda np_, x, w: np_.max(x, axis=0, initial=w), shapes=[[(3, 4), Weak(0.5, -0.5)]])
case("argmax", lambda np_, x, o: np_.argmax(x, axis=1, out=o),
     shapes=[[(3, 4), A((3,), dtype=np.intp)]])
case("all", lambda np_, x: np_.all(x, axis=(0, 1)))
for _n in "nansum nanprod nanmean nanstd nanvar nanmin nanmax nanargmin nanargmax".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x), shapes=[A((3, 4), "nan")])
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, axis=0), shapes=[A((3, 4), "nan")])
for _n in "nansum nanprod nanmean nanstd nanvar nanmin nanmax".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, axis=1, keepdims=True),
         shapes=[A((2, 3, 4), "nan")])
case("nanstd", lambda np_, x: np_.nanstd(x, axis=1, ddof=1), shapes=[A((3, 4), "nan")])
for _n in "median nanmedian".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x), shapes=[A((3, 4), "nan")])
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, axis=0), shapes=[A((3, 4), "nan")])
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, axis=(0, 2), keepdims=True),
         shapes=[A((2, 3, 4), "nan")])
for _n in "percentile nanpercentile".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, 30), shapes=[A((3, 4), "nan")])
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, [10, 90], axis=1, method="nearest"),
         shapes=[A((3, 4), "nan")])
for _n in "quantile nanquantile".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, 0.25, axis=0, keepdims=True),
         shapes=[A((3, 4), "nan")])
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, (0.5, 0.75), method="lower"),
         shapes=[A((3, 4), "nan")])
case("quantile", lambda np_, x, w: np_.quantile(x, 0.5, axis=1, weights=w, method="inverted_cdf"),
     shapes=[[(3, 4), A((3, 4), "pos", np.float64)]])
case("average", lambda np_, x: np_.average(x))
case("average", lambda np_, x, w: np_.average(x, axis=1, weights=w),
     shapes=[[(3, 4), A((4,), "pos", np.float64)]])
case("average", lambda np_, x, w: np_.average(x, axis=0, weights=w, returned=True, keepdims=True),
     shapes=[[(3, 4), A((3, 4), "pos")]])
case("count_nonzero", lambda np_, x: np_.count_nonzero(x))
case("count_nonzero", lambda np_, x: np_.count_nonzero(x, axis=1, keepdims=True))
case("trace", lambda np_, x: np_.trace(x))
case("trace", lambda np_, x: np_.trace(x, offset=1, axis1=1, axis2=2), shapes=[(2, 3, 4)])
case("trace", lambda np_, x: np_.trace(x, dtype=np.float32))
case("linalg.trace", lambda np_, x: np_.linalg.trace(x, offset=-1))
case("linalg.trace", lambda np_, x: np_.linalg.trace(x), shapes=[(2, 3, 3)])
case("trapezoid", lambda np_, y: np_.trapezoid(y))
case("trapezoid", lambda np_, y, x: np_.trapezoid(y, x=x, axis=0), shapes=[[(3, 4), A((3,), "sorted")]])
case("trapezoid", lambda np_, y, d: np_.trapezoid(y, dx=d), shapes=[[(3, 4), Weak(0.5, 0.25)]])

# ---------------------------------------------------------------------------- scans
for _n in "cumsum cumprod".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x))
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, axis=1))
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, axis=0, dtype=np.float64))
    # (no 0-d edge: eager np.cumsum(0-d, axis=0, out=0-d) crashes NumPy 2.4 with a segfault)
    case(_n, lambda np_, x, o, n=_n: getattr(np_, n)(x, axis=0, out=o), shapes=[[(3, 4), (3, 4)]],
         edges=[[(0, 4), (0, 4)]])
for _n in "nancumsum nancumprod".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x), shapes=[A((3, 4), "nan")])
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, axis=1), shapes=[A((3, 4), "nan")])
for _n in "cumulative_sum cumulative_prod".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, axis=1))
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, axis=0, include_initial=True))
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x), shapes=[(5,)])
case("diff", lambda np_, x: np_.diff(x))
case("diff", lambda np_, x: np_.diff(x, n=2, axis=0))
case("diff", lambda np_, x, p: np_.diff(x, axis=1, prepend=p, append=0), shapes=[[(3, 4), (3, 1)]])
case("ediff1d", lambda np_, x: np_.ediff1d(x))
case("ediff1d", lambda np_, x: np_.ediff1d(x, to_end=[1, 2], to_begin=0))
case("gradient", lambda np_, x: np_.gradient(x))
case("gradient", lambda np_, x, h: np_.gradient(x, h, axis=1), shapes=[[(3, 4), Weak(0.5, 2.0)]])
case("gradient", lambda np_, x, c: np_.gradient(x, c, edge_order=2), shapes=[[(5,), A((5,), "sorted")]])
case("unwrap", lambda np_, x: np_.unwrap(x))
case("unwrap", lambda np_, x: np_.unwrap(x, period=4, axis=0))

# ---------------------------------------------------------------------------- elementwise
case("clip", lambda np_, x, lo, hi: np_.clip(x, lo, hi), shapes=[[(3, 4), (3, 4), (4,)]])
case("clip", lambda np_, x: np_.clip(x, -1, 2))
case("clip", lambda np_, x, lo, hi: np_.clip(x, lo, hi), shapes=[[(3, 4), Weak(-0.5, -1.5), Weak(0.75, 1.25)]])
case("clip", lambda np_, x, hi: np_.clip(x, None, hi), shapes=[[(3, 4), Weak(0.5, 1.5)]])
case("clip", lambda np_, x, o: np_.clip(x, 0, 3, out=o), shapes=[[(3, 4), (3, 4)]])
case("where", lambda np_, m, x, y: np_.where(m, x, y), shapes=[[mask((3, 4)), (3, 4), (4,)]])
case("where", lambda np_, x: np_.where(x > 0, x, 0))
case("where", lambda np_, m, x, w: np_.where(m, x, w), shapes=[[mask((3, 4)), (3, 4), Weak(0.5, -2.0)]])
for _n in "around round".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x))
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, 1))
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, -1))
case("round", lambda np_, x, o: np_.round(x, 2, out=o), shapes=[[(3, 4), (3, 4)]])
case("fix", lambda np_, x: np_.fix(x))
case("angle", lambda np_, x: np_.angle(x))
case("angle", lambda np_, x: np_.angle(x, deg=True))
for _n in "real imag".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x))
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x) * 2)
case("nan_to_num", lambda np_, x: np_.nan_to_num(x), shapes=[A((3, 4), "nan")])
case("nan_to_num", lambda np_, x, v: np_.nan_to_num(x, nan=v, posinf=9.0),
     shapes=[[A((3, 4), "nan"), Weak(0.5, -1.0)]])
case("i0", lambda np_, x: np_.i0(x))
case("sinc", lambda np_, x: np_.sinc(x))
case("isclose", lambda np_, x, y: np_.isclose(x, y), shapes=[[(3, 4), (3, 4)]])
case("isclose", lambda np_, x, y: np_.isclose(x, y, rtol=0.5, atol=1, equal_nan=True),
     shapes=[[A((3, 4), "nan"), A((4,), "nan")]])
case("iscomplex", lambda np_, x: np_.iscomplex(x))
case("isreal", lambda np_, x: np_.isreal(x))
case("isneginf", lambda np_, x: np_.isneginf(x))
case("isposinf", lambda np_, x: np_.isposinf(np_.log(x)))
case("isin", lambda np_, x, y: np_.isin(x, y), shapes=[[(3, 4), (5,)]])
case("isin", lambda np_, x, y: np_.isin(x, y, invert=True, kind="sort"), shapes=[[(3, 4), (2, 2)]])
case("select", lambda np_, m1, m2, x, y: np_.select([m1, m2], [x, y], default=1),
     shapes=[[mask((3, 4)), mask((4,)), (3, 4), (3, 4)]])
case("select", lambda np_, x: np_.select([x > 1, x < 1], [x, x * 2]))
case("piecewise", lambda np_, x, m: np_.piecewise(x, [m], [lambda v: v * 2, lambda v: v]),
     shapes=[[(3, 4), mask((3, 4))]])
case("piecewise", lambda np_, x: np_.piecewise(x, [x > 0, x < 0], [1, 2, 3]))
case("interp", lambda np_, x, xp, fp: np_.interp(x, xp, fp), shapes=[[(3, 4), A((5,), "sorted"), (5,)]])
case("interp", lambda np_, x, xp, fp, lo: np_.interp(x, xp, fp, left=lo, right=9.5),
     shapes=[[(7,), A((5,), "sorted", np.float64), A((5,), dtype=np.float64), Weak(-1.0, -2.0)]])
case("interp", lambda np_, x, xp, fp: np_.interp(x, xp, fp, period=3),
     shapes=[[(7,), A((5,), "sorted", np.float64), A((5,), dtype=np.complex128)]])
case("digitize", lambda np_, x, b: np_.digitize(x, b), shapes=[[(3, 4), A((5,), "sorted")]])
case("digitize", lambda np_, x, b: np_.digitize(x, b[::-1], right=True), shapes=[[(3, 4), A((5,), "sorted")]])
case("searchsorted", lambda np_, a, v: np_.searchsorted(a, v), shapes=[[A((6,), "sorted"), (3, 4)]])
case("searchsorted", lambda np_, a, v: np_.searchsorted(a, v, side="right"), shapes=[[A((6,), "sorted"), (5,)]])
case("searchsorted", lambda np_, a, v: np_.searchsorted(a, v, sorter=np_.argsort(a, kind="stable")),
     shapes=[[(6,), (5,)]], node=("searchsorted",))
case("choose", lambda np_, i, x, y, z: np_.choose(i, [x, y, z]), shapes=[[Idx((3, 4), 3), (3, 4), (3, 4), (4,)]])
case("choose", lambda np_, i, x, y: np_.choose(i, (x, y), mode="clip"), shapes=[[Idx((3, 4), 5), (3, 4), (3, 4)]])
case("choose", lambda np_, i, x, y: np_.choose(i, (x, y), mode="wrap"), shapes=[[Idx((3, 4), 5), (3, 4), (3, 4)]])

# ---------------------------------------------------------------------------- shape
case("reshape", lambda np_, x: np_.reshape(x, (4, 3)))
case("reshape", lambda np_, x: np_.reshape(x, -1, order="F"))
case("reshape", lambda np_, x: np_.reshape(x, (2, -1, 2)) * 2)
case("ravel", lambda np_, x: np_.ravel(x))
case("ravel", lambda np_, x: np_.ravel(x, order="F"))
case("ravel", lambda np_, x: np_.ravel(x, order="K"), flags=True)
case("transpose", lambda np_, x: np_.transpose(x))
case("transpose", lambda np_, x: np_.transpose(x, (1, 0, 2)), shapes=[(2, 3, 4)])
case("swapaxes", lambda np_, x: np_.swapaxes(x, 0, 2), shapes=[(2, 3, 4)])
case("moveaxis", lambda np_, x: np_.moveaxis(x, 0, -1), shapes=[(2, 3, 4)])
case("moveaxis", lambda np_, x: np_.moveaxis(x, [0, 1], [2, 0]), shapes=[(2, 3, 4)])
case("rollaxis", lambda np_, x: np_.rollaxis(x, 2), shapes=[(2, 3, 4)])
case("rollaxis", lambda np_, x: np_.rollaxis(x, 2, 1), shapes=[(2, 3, 4)])
case("squeeze", lambda np_, x: np_.squeeze(x), shapes=[(3, 1, 4)])
case("squeeze", lambda np_, x: np_.squeeze(x, axis=(0, 2)), shapes=[(1, 3, 1)])
case("expand_dims", lambda np_, x: np_.expand_dims(x, 1))
case("expand_dims", lambda np_, x: np_.expand_dims(x, (0, 3)))
for _n in "atleast_1d atleast_2d atleast_3d".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x), shapes=[(), (4,), (3, 4)])
    case(_n, lambda np_, x, y, n=_n: getattr(np_, n)(x, y), shapes=[[(), (3, 4)]])
case("broadcast_to", lambda np_, x: np_.broadcast_to(x, (2, 3, 4)))
case("broadcast_to", lambda np_, x: np_.broadcast_to(x, (3, 4)) + 1, shapes=[(4,)])
case("broadcast_arrays", lambda np_, x, y: np_.broadcast_arrays(x, y), shapes=[[(3, 1), (4,)]])
case("broadcast_arrays", lambda np_, x, y, z: np_.broadcast_arrays(x, y, z), shapes=[[(3, 1), (4,), ()]])
case("flip", lambda np_, x: np_.flip(x))
case("flip", lambda np_, x: np_.flip(x, axis=0))
case("flip", lambda np_, x: np_.flip(x, axis=(0, 2)), shapes=[(2, 3, 4)])
case("fliplr", lambda np_, x: np_.fliplr(x))
case("flipud", lambda np_, x: np_.flipud(x))
case("flipud", lambda np_, x: np_.flipud(x), shapes=[(5,)])
case("rot90", lambda np_, x: np_.rot90(x))
case("rot90", lambda np_, x: np_.rot90(x, 2))
case("rot90", lambda np_, x: np_.rot90(x, k=-1, axes=(2, 0)), shapes=[(2, 3, 4)])
case("roll", lambda np_, x: np_.roll(x, 2))
case("roll", lambda np_, x: np_.roll(x, -1, axis=0))
case("roll", lambda np_, x: np_.roll(x, (1, -3), axis=(0, 1)))
case("diagonal", lambda np_, x: np_.diagonal(x))
case("diagonal", lambda np_, x: np_.diagonal(x, 1, 0, 2), shapes=[(3, 3, 4)])
case("diag", lambda np_, x: np_.diag(x))
case("diag", lambda np_, x: np_.diag(x, -1))
case("diag", lambda np_, x: np_.diag(x, 1), shapes=[(4,)])
case("diagflat", lambda np_, x: np_.diagflat(x), shapes=[(2, 2)])
case("diagflat", lambda np_, x: np_.diagflat(x, -2), shapes=[(3,)])
for _n in "tril triu".split():
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x))
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, -1), shapes=[(2, 3, 4)])
    case(_n, lambda np_, x, n=_n: getattr(np_, n)(x, 2))
for _n in "matrix_transpose linalg.matrix_transpose".split():
    case(_n, lambda np_, x, n=_n: _get(np_, n)(x))
    case(_n, lambda np_, x, n=_n: _get(np_, n)(x), shapes=[(2, 3, 4)])
case("linalg.diagonal", lambda np_, x: np_.linalg.diagonal(x))
case("linalg.diagonal", lambda np_, x: np_.linalg.diagonal(x, offset=1), shapes=[(2, 3, 4)])
case("lib.stride_tricks.sliding_window_view",
     lambda np_, x: np_.lib.stride_tricks.sliding_window_view(x, 3), shapes=[(6,)])
case("lib.stride_tricks.sliding_window_view",
     lambda np_, x: np_.lib.stride_tricks.sliding_window_view(x, (2, 2)).sum(axis=(-1, -2)))
case("lib.stride_tricks.sliding_window_view",
     lambda np_, x: np_.lib.stride_tricks.sliding_window_view(x, 2, axis=0))
case("resize", lambda np_, x: np_.resize(x, (5, 3)))
case("resize", lambda np_, x: np_.resize(x, 7), shapes=[(3,)])
case("pad", lambda np_, x: np_.pad(x, 1))
case("pad", lambda np_, x: np_.pad(x, ((1, 2), (0, 1)), mode="reflect"))
case("pad", lambda np_, x: np_.pad(x, 2, mode="constant", constant_values=7))
case("pad", lambda np_, x: np_.pad(x, (1, 1), mode="edge"))
case("pad", lambda np_, x: np_.pad(x, ((0, 1), (2, 0)), mode="wrap"))
case("pad", lambda np_, x: np_.pad(x, 1, mode="symmetric"))
case("pad", lambda np_, x: np_.pad(x, 1, mode="linear_ramp", end_values=2))
case("pad", lambda np_, x: np_.pad(x, 1, mode="mean"))
case("tile", lambda np_, x: np_.tile(x, 2))
case("tile", lambda np_, x: np_.tile(x, (2, 1, 3)))
case("repeat", lambda np_, x: np_.repeat(x, 2))
case("repeat", lambda np_, x: np_.repeat(x, [1, 0, 2], axis=0))
case("copy", lambda np_, x: np_.copy(x))
case("copy", lambda np_, x: np_.copy(x, order="F"), flags=True)
case("astype", lambda np_, x: np_.astype(x, np.float32))
case("astype", lambda np_, x: np_.astype(x, np.int16))
case("astype", lambda np_, x: np_.astype(x, np.complex64, copy=False))
case("asarray", lambda np_, x: np_.asarray(x, order="F"), flags=True)
case("asarray", lambda np_, x, y: np_.asarray([x, y]), shapes=[[(3, 4), (3, 4)]])
case("asarray", lambda np_, x: np_.asarray(x, dtype=np.float64, order="C"), flags=True)
case("asanyarray", lambda np_, x: np_.asanyarray(x, order="F"), flags=True)
case("asanyarray", lambda np_, x, y: np_.asanyarray((x, y)), shapes=[[(4,), (4,)]])
case("ascontiguousarray", lambda np_, x: np_.ascontiguousarray(x), flags=True)
case("ascontiguousarray", lambda np_, x: np_.ascontiguousarray(x, dtype=np.float32), flags=True)
case("asfortranarray", lambda np_, x: np_.asfortranarray(x), flags=True)
case("asfortranarray", lambda np_, x: np_.asfortranarray(x), shapes=[()], flags=True)
case("require", lambda np_, x: np_.require(x, requirements="F"), flags=True)
case("require", lambda np_, x: np_.require(x, np.float64, ["C", "W"]), flags=True)
case("array_split", lambda np_, x: np_.array_split(x, 3, axis=1))
case("array_split", lambda np_, x: np_.array_split(x, [1, 2]))
case("split", lambda np_, x: np_.split(x, 2, axis=1))
case("split", lambda np_, x: np_.split(x, [1, 3], axis=1))
case("hsplit", lambda np_, x: np_.hsplit(x, 2))
case("vsplit", lambda np_, x: np_.vsplit(x, [1]))
case("dsplit", lambda np_, x: np_.dsplit(x, 2), shapes=[(2, 3, 4)])
case("unstack", lambda np_, x: np_.unstack(x))
case("unstack", lambda np_, x: np_.unstack(x, axis=1))

# ---------------------------------------------------------------------------- joining
_EDGE2 = [[(0, 4), (0, 4)], [(3, 0), (3, 0)]]
case("concatenate", lambda np_, x, y: np_.concatenate([x, y]), shapes=[[(3, 4), (2, 4)]], edges=_EDGE2)
case("concatenate", lambda np_, x, y: np_.concatenate((x, y), axis=1), shapes=[[(3, 4), (3, 2)]], edges=_EDGE2)
case("concatenate", lambda np_, x, y: np_.concatenate([x, y], axis=None), shapes=[[(3, 4), (5,)]])
case("concatenate", lambda np_, x, y: np_.concatenate([x, y], dtype=np.float64), shapes=[[(3, 4), (1, 4)]])
case("concatenate", lambda np_, x, y, o: np_.concatenate([x, y], out=o), shapes=[[(3, 4), (2, 4), (5, 4)]])
case("stack", lambda np_, x, y: np_.stack([x, y]), shapes=[[(3, 4), (3, 4)]], edges=_EDGE2)
case("stack", lambda np_, x, y: np_.stack((x, y), axis=-1), shapes=[[(3, 4), (3, 4)]])
case("stack", lambda np_, x, y, o: np_.stack((x, y), axis=1, out=o), shapes=[[(3, 4), (3, 4), (3, 2, 4)]])
for _n in "hstack vstack dstack column_stack".split():
    case(_n, lambda np_, x, y, n=_n: getattr(np_, n)([x, y]), shapes=[[(3, 4), (3, 4)], [(4,), (4,)]],
         edges=_EDGE2)
case("hstack", lambda np_, x, y: np_.hstack((x, y), dtype=np.float32), shapes=[[(3, 4), (3, 1)]])
case("vstack", lambda np_, x, y, z: np_.vstack((x, y, z)), shapes=[[(3, 4), (4,), (1, 4)]])
case("block", lambda np_, x, y: np_.block([[x, y], [y, x]]), shapes=[[(2, 2), (2, 2)]])
case("block", lambda np_, x, y: np_.block([x, y]), shapes=[[(3,), (2,)]])
case("block", lambda np_, x, y: np_.block([[x], [y]]), shapes=[[(2, 3), (1, 3)]])
case("append", lambda np_, x, y: np_.append(x, y), shapes=[[(3, 4), (5,)]])
case("append", lambda np_, x, y: np_.append(x, y, axis=0), shapes=[[(3, 4), (2, 4)]])
case("insert", lambda np_, x, v: np_.insert(x, 1, v, axis=0), shapes=[[(3, 4), (4,)]])
case("insert", lambda np_, x: np_.insert(x, [0, 2], 7))
case("insert", lambda np_, x, v: np_.insert(x, 2, v, axis=1), shapes=[[(3, 4), Weak(0.5, 1.5)]])
case("delete", lambda np_, x: np_.delete(x, 1, axis=1))
case("delete", lambda np_, x: np_.delete(x, [0, 2]))
case("delete", lambda np_, x: np_.delete(x, slice(0, 2), axis=0))

# ---------------------------------------------------------------------------- indexing
case("take", lambda np_, x, i: np_.take(x, i, axis=1), shapes=[[(3, 4), Idx((5,), 4)]])
case("take", lambda np_, x, i: np_.take(x, i), shapes=[[(3, 4), Idx((2, 3), 12)]])
case("take", lambda np_, x, i: np_.take(x, i, axis=0, mode="clip"), shapes=[[(3, 4), Idx((4,), 9)]])
case("take", lambda np_, x, i: np_.take(x, i, mode="wrap"), shapes=[[(3, 4), Idx((4,), 30)]])
case("take", lambda np_, x: np_.take(x, [2, 0], axis=-1))
case("take_along_axis", lambda np_, x, i: np_.take_along_axis(x, i, axis=1), shapes=[[(3, 4), Idx((3, 2), 4)]])
case("take_along_axis", lambda np_, x: np_.take_along_axis(x, np_.argsort(x, axis=0), axis=0))
case("take_along_axis", lambda np_, x, i: np_.take_along_axis(x, i, axis=None), shapes=[[(3, 4), Idx((5,), 12)]])
case("compress", lambda np_, x: np_.compress([True, False, True], x, axis=0))
case("compress", lambda np_, x: np_.compress([False, True], x))
case("ravel_multi_index", lambda np_, i, j: np_.ravel_multi_index((i, j), (3, 4)),
     shapes=[[Idx((5,), 3), Idx((5,), 4)]], dtypes=[np.intp])
case("ravel_multi_index", lambda np_, i, j: np_.ravel_multi_index((i, j), (3, 4), mode="wrap"),
     shapes=[[(5,), (5,)]])
case("unravel_index", lambda np_, i: np_.unravel_index(i, (3, 4)), shapes=[[Idx((5,), 12)]], dtypes=[np.intp])
case("unravel_index", lambda np_, i: np_.unravel_index(np_.abs(i), (3, 4), order="F"), shapes=[(2, 3)])
# (boolean arrays make np.ix_ a np.nonzero: refused, see EXCLUDED_CASES)
case("ix_", lambda np_, i, j: np_.ix_(i, j), shapes=[[(2,), (3,)]], dtypes=DTYPES[1:])
case("ix_", lambda np_, x, i, j: x[np_.ix_(i, j)], shapes=[[(3, 4), Idx((2,), 3), Idx((3,), 4)]])
case("diag_indices_from", lambda np_, x: np_.diag_indices_from(x), shapes=[(3, 3)])
case("tril_indices_from", lambda np_, x: np_.tril_indices_from(x, k=1))
case("triu_indices_from", lambda np_, x: np_.triu_indices_from(x))
case("triu_indices_from", lambda np_, x: x[np_.triu_indices_from(x, -1)])
case("meshgrid", lambda np_, x, y: np_.meshgrid(x, y), shapes=[[(3,), (4,)]])
case("meshgrid", lambda np_, x, y: np_.meshgrid(x, y, indexing="ij", sparse=True), shapes=[[(3,), (4,)]])
case("meshgrid", lambda np_, x, y, z: np_.meshgrid(x, y, z, copy=False), shapes=[[(2,), (3,), (4,)]])

# ---------------------------------------------------------------------------- sorting
case("sort", lambda np_, x: np_.sort(x))
case("sort", lambda np_, x: np_.sort(x, axis=0))
case("sort", lambda np_, x: np_.sort(x, axis=None, kind="stable"))
case("sort", lambda np_, x: np_.sort(x, axis=1, stable=True), shapes=[A((3, 4), "nan")])
case("argsort", lambda np_, x: np_.argsort(x, axis=1, kind="stable"))
case("argsort", lambda np_, x: np_.argsort(x, axis=None, stable=True), shapes=[A((3, 4), "nan")])
case("argsort", lambda np_, x: np_.argsort(x, axis=0, kind="mergesort"))
case("partition", lambda np_, x: np_.partition(x, 1))
case("partition", lambda np_, x: np_.partition(x, (0, 2), axis=0))
case("argpartition", lambda np_, x: np_.argpartition(x, 2))
case("argpartition", lambda np_, x: np_.argpartition(x, -1, axis=None))
case("lexsort", lambda np_, a, b: np_.lexsort((a, b)), shapes=[[(6,), (6,)]])
case("lexsort", lambda np_, x: np_.lexsort(x, axis=0))
case("sort_complex", lambda np_, x: np_.sort_complex(x), shapes=[(7,)])

# ---------------------------------------------------------------------------- linalg
_MM = [[(3, 4), (4, 5)]]
_MM_EDGE = [[(0, 4), (4, 5)], [(3, 0), (0, 5)], [(), ()]]
case("dot", lambda np_, x, y: np_.dot(x, y), shapes=_MM, edges=_MM_EDGE)
case("dot", lambda np_, x, y: np_.dot(x, y), shapes=[[(4,), (4,)], [(3, 4), (4,)], [(), (3, 4)]])
case("dot", lambda np_, x, y: np_.dot(x, y), shapes=[[(2, 3, 4), (5, 4, 2)]])
case("dot", lambda np_, x, y, o: np_.dot(x, y, out=o), shapes=[[(3, 4), (4, 5), (3, 5)]], layouts=False,
     edges=[])
case("dot", lambda np_, x, y, o: np_.dot(x, y, out=o), shapes=[[(3, 4), (4, 5), (3, 5)]], edges=[],
     xfail="np.dot(..., out=o) with a non-contiguous o: eager NumPy raises ValueError, the compiled "
           "call writes into a contiguous copy and succeeds (the trace copies arguments "
           "contiguously, compiler.trace)")
case("dot", lambda np_, x, y, o: np_.dot(x, y, out=o), shapes=[[(), (), ()]], layouts=False, edges=[],
     xfail="np.dot(0-d, 0-d, out=o) returns a NumPy scalar eagerly; the compiled call returns o "
           "itself (tracer._function_call returns the out= target, not what NumPy returned)")
case("vdot", lambda np_, x, y: np_.vdot(x, y), shapes=[[(3, 4), (3, 4)], [(5,), (5,)]])
case("inner", lambda np_, x, y: np_.inner(x, y), shapes=[[(3, 4), (5, 4)], [(4,), (4,)]])
case("outer", lambda np_, x, y: np_.outer(x, y), shapes=[[(3,), (4,)], [(2, 2), (3,)]])
case("outer", lambda np_, x, y, o: np_.outer(x, y, out=o), shapes=[[(3,), (4,), (3, 4)]])
case("matmul", lambda np_, x, y: np_.matmul(x, y), shapes=_MM + [[(2, 3, 4), (2, 4, 5)], [(4,), (4, 5)]],
     edges=_MM_EDGE)
case("matmul", lambda np_, x, y: x @ y, shapes=[[(2, 1, 3, 4), (3, 4, 2)]])
case("matmul", lambda np_, x, y, o: np_.matmul(x, y, out=o), shapes=[[(3, 4), (4, 5), (3, 5)]])
case("tensordot", lambda np_, x, y: np_.tensordot(x, y, axes=([1], [0])), shapes=_MM)
case("tensordot", lambda np_, x, y: np_.tensordot(x, y, axes=2), shapes=[[(2, 3, 4), (3, 4, 5)]])
case("tensordot", lambda np_, x, y: np_.tensordot(x, y, axes=0), shapes=[[(2,), (3,)]])
case("einsum", lambda np_, x, y: np_.einsum("ij,jk->ik", x, y), shapes=_MM)
# (not (0, 3): eager np.einsum("ii->i") of a (0, 3) array returns uninitialized memory)
case("einsum", lambda np_, x: np_.einsum("ii->i", x), shapes=[(3, 3)], edges=[(0, 0)])
case("einsum", lambda np_, x: np_.einsum("ij->", x))
case("einsum", lambda np_, x: np_.einsum("ij->ji", x))
case("einsum", lambda np_, x, y: np_.einsum("bij,bjk->bik", x, y, optimize=True),
     shapes=[[(2, 3, 4), (2, 4, 5)]])
case("einsum", lambda np_, x, y: np_.einsum("i,i", x, y), shapes=[[(5,), (5,)]])
case("einsum", lambda np_, x, y, z: np_.einsum("ij,jk,kl->il", x, y, z, optimize="greedy"),
     shapes=[[(2, 3), (3, 4), (4, 2)]])
case("einsum", lambda np_, x, y: np_.einsum(x, [0, 1], y, [1, 2], [0, 2]), shapes=_MM)
case("einsum", lambda np_, x: np_.einsum("...j->...", x, dtype=np.float64), shapes=[(2, 3, 4)])
case("kron", lambda np_, x, y: np_.kron(x, y), shapes=[[(2, 3), (2, 2)], [(3,), (2,)]])
case("cross", lambda np_, x, y: np_.cross(x, y), shapes=[[(4, 3), (4, 3)], [(3,), (2, 3)]])
case("cross", lambda np_, x, y: np_.cross(x, y, axisa=0, axisb=0), shapes=[[(3, 4), (3, 4)]])
_SQ = A((3, 3), "wellcond")
_SPD = A((3, 3), "spd")
_SQ_EDGE = [A((0, 0), "wellcond"), A((2, 0, 0), "wellcond")]
case("linalg.norm", lambda np_, x: np_.linalg.norm(x))
case("linalg.norm", lambda np_, x: np_.linalg.norm(x, "fro"))
case("linalg.norm", lambda np_, x: np_.linalg.norm(x, ord=1, axis=0))
case("linalg.norm", lambda np_, x: np_.linalg.norm(x, np.inf))
case("linalg.norm", lambda np_, x: np_.linalg.norm(x, 3), shapes=[(5,)])
case("linalg.norm", lambda np_, x: np_.linalg.norm(x, axis=1, keepdims=True))
case("linalg.norm", lambda np_, x: np_.linalg.norm(x, -np.inf, axis=(1, 0)))
case("linalg.norm", lambda np_, x: np_.linalg.norm(x, "nuc"), rtol=1e-6)
case("linalg.vector_norm", lambda np_, x: np_.linalg.vector_norm(x))
case("linalg.vector_norm", lambda np_, x: np_.linalg.vector_norm(x, ord=1, axis=(0, 1), keepdims=True))
case("linalg.vector_norm", lambda np_, x: np_.linalg.vector_norm(x, ord=np.inf, axis=0))
case("linalg.matrix_norm", lambda np_, x: np_.linalg.matrix_norm(x))
case("linalg.matrix_norm", lambda np_, x: np_.linalg.matrix_norm(x, ord=1, keepdims=True), shapes=[(2, 3, 4)])
case("linalg.solve", lambda np_, a, b: np_.linalg.solve(a, b), shapes=[[_SQ, (3,)], [_SQ, (3, 2)]])
case("linalg.solve", lambda np_, a, b: np_.linalg.solve(a, b),
     shapes=[[A((2, 3, 3), "wellcond"), (2, 3, 1)]])
case("linalg.inv", lambda np_, a: np_.linalg.inv(a), shapes=[_SQ, A((2, 3, 3), "wellcond")], edges=_SQ_EDGE)
case("linalg.det", lambda np_, a: np_.linalg.det(a), shapes=[_SQ, A((2, 3, 3), "wellcond")], edges=_SQ_EDGE)
case("linalg.slogdet", lambda np_, a: np_.linalg.slogdet(a), shapes=[_SQ, A((2, 3, 3), "wellcond")])
case("linalg.cholesky", lambda np_, a: np_.linalg.cholesky(a), shapes=[_SPD, A((2, 3, 3), "spd")])
case("linalg.cholesky", lambda np_, a: np_.linalg.cholesky(a, upper=True), shapes=[_SPD])
case("linalg.qr", lambda np_, a: np_.linalg.qr(a), shapes=[(4, 3), (3, 4)])
case("linalg.qr", lambda np_, a: np_.linalg.qr(a, mode="r"), shapes=[(4, 3)])
case("linalg.qr", lambda np_, a: np_.linalg.qr(a, mode="complete"), shapes=[(4, 3), (2, 4, 3)])
case("linalg.svd", lambda np_, a: np_.linalg.svd(a), shapes=[(4, 3)])
case("linalg.svd", lambda np_, a: np_.linalg.svd(a, full_matrices=False), shapes=[(3, 4), (2, 4, 3)])
case("linalg.svd", lambda np_, a: np_.linalg.svd(a, compute_uv=False), shapes=[(4, 3)])
case("linalg.svd", lambda np_, a: np_.linalg.svd(a, hermitian=True), shapes=[_SPD])
case("linalg.svdvals", lambda np_, a: np_.linalg.svdvals(a), shapes=[(4, 3), (2, 3, 4)])
case("linalg.eigh", lambda np_, a: np_.linalg.eigh(a), shapes=[_SPD, A((2, 3, 3), "spd")])
case("linalg.eigh", lambda np_, a: np_.linalg.eigh(a, UPLO="U"), shapes=[_SPD])
case("linalg.eigvalsh", lambda np_, a: np_.linalg.eigvalsh(a), shapes=[_SPD])
case("linalg.eigvalsh", lambda np_, a: np_.linalg.eigvalsh(a, "U"), shapes=[A((2, 3, 3), "spd")])
case("linalg.pinv", lambda np_, a: np_.linalg.pinv(a), shapes=[(4, 3)])
case("linalg.pinv", lambda np_, a: np_.linalg.pinv(a, rtol=1e-3, hermitian=True), shapes=[_SPD])
case("linalg.matrix_power", lambda np_, a: np_.linalg.matrix_power(a, 3), shapes=[_SQ])
case("linalg.matrix_power", lambda np_, a: np_.linalg.matrix_power(a, 0), shapes=[_SQ, A((2, 3, 3))])
case("linalg.matrix_power", lambda np_, a: np_.linalg.matrix_power(a, -2), shapes=[_SQ])
case("linalg.matrix_rank", lambda np_, a: np_.linalg.matrix_rank(a), shapes=[(4, 3), (2, 3, 3)])
case("linalg.matrix_rank", lambda np_, a: np_.linalg.matrix_rank(a, hermitian=True), shapes=[_SPD])
case("linalg.cond", lambda np_, a: np_.linalg.cond(a), shapes=[_SQ])
case("linalg.cond", lambda np_, a: np_.linalg.cond(a, "fro"), shapes=[_SQ, A((2, 3, 3), "wellcond")])
case("linalg.cond", lambda np_, a: np_.linalg.cond(a, -np.inf), shapes=[_SQ])
case("linalg.multi_dot", lambda np_, a, b, c: np_.linalg.multi_dot([a, b, c]),
     shapes=[[(2, 3), (3, 4), (4, 2)], [(3,), (3, 4), (4,)]])
case("linalg.multi_dot", lambda np_, a, b, c, d: np_.linalg.multi_dot([a, b, c, d]),
     shapes=[[(2, 3), (3, 4), (4, 5), (5, 2)]])
case("linalg.tensorsolve", lambda np_, a, b: np_.linalg.tensorsolve(a.reshape(2, 3, 6), b),
     shapes=[[A((6, 6), "wellcond"), (2, 3)]])
case("linalg.tensorinv", lambda np_, a: np_.linalg.tensorinv(a.reshape(2, 3, 6), ind=2),
     shapes=[A((6, 6), "wellcond")])
case("linalg.matmul", lambda np_, x, y: np_.linalg.matmul(x, y), shapes=_MM, edges=_MM_EDGE[:2])
case("linalg.tensordot", lambda np_, x, y: np_.linalg.tensordot(x, y, axes=1), shapes=_MM)
case("linalg.vecdot", lambda np_, x, y: np_.linalg.vecdot(x, y), shapes=[[(3, 4), (3, 4)], [(3, 4), (4,)]])
case("linalg.vecdot", lambda np_, x, y: np_.linalg.vecdot(x, y, axis=0), shapes=[[(3, 4), (3, 1)]])
case("linalg.outer", lambda np_, x, y: np_.linalg.outer(x, y), shapes=[[(3,), (4,)]])
case("linalg.cross", lambda np_, x, y: np_.linalg.cross(x, y), shapes=[[(4, 3), (4, 3)]])
case("linalg.cross", lambda np_, x, y: np_.linalg.cross(x, y, axis=0), shapes=[[(3, 4), (3, 4)]])
case("vecdot", lambda np_, x, y: np_.vecdot(x, y), shapes=[[(3, 4), (3, 4)], [(2, 1, 4), (3, 4)]])
case("vecdot", lambda np_, x, y: np_.vecdot(x, y, axis=0), shapes=[[(3, 4), (3, 4)]])

# ---------------------------------------------------------------------------- statistics
case("cov", lambda np_, x: np_.cov(x))
case("cov", lambda np_, x, y: np_.cov(x, y), shapes=[[(4,), (4,)], [(2, 4), (3, 4)]])
case("cov", lambda np_, x: np_.cov(x, rowvar=False, ddof=0))
case("cov", lambda np_, x, f, w: np_.cov(x, fweights=f, aweights=w),
     shapes=[[(3, 4), Idx((4,), 4, 1), A((4,), "pos", np.float64)]])
case("cov", lambda np_, x: np_.cov(x, bias=True, dtype=np.complex128))
case("corrcoef", lambda np_, x: np_.corrcoef(x))
case("corrcoef", lambda np_, x, y: np_.corrcoef(x, y, rowvar=False), shapes=[[(4, 2), (4, 3)]])
case("histogram", lambda np_, x: np_.histogram(x, bins=5, range=(-3, 3)))
case("histogram", lambda np_, x: np_.histogram(x))
case("histogram", lambda np_, x, w: np_.histogram(x, bins=[-2, 0, 1, 4], weights=w, density=True),
     shapes=[[(3, 4), A((3, 4), "pos", np.float64)]])
case("histogram2d", lambda np_, x, y: np_.histogram2d(x, y, bins=4), shapes=[[(10,), (10,)]])
case("histogram2d", lambda np_, x, y: np_.histogram2d(x, y, bins=(3, 2), range=[[-3, 3], [-2, 2]], density=True),
     shapes=[[(10,), (10,)]])
case("histogramdd", lambda np_, s: np_.histogramdd(s, bins=3), shapes=[(10, 2)])
case("histogramdd", lambda np_, s, w: np_.histogramdd(s, bins=(2, 3, 2), weights=w),
     shapes=[[(10, 3), A((10,), "pos", np.float64)]])
case("histogram_bin_edges", lambda np_, x: np_.histogram_bin_edges(x, bins=4))
case("histogram_bin_edges", lambda np_, x: np_.histogram_bin_edges(x, bins=3, range=(0, 1)))
case("convolve", lambda np_, a, v: np_.convolve(a, v), shapes=[[(6,), (3,)]])
case("convolve", lambda np_, a, v: np_.convolve(a, v, mode="same"), shapes=[[(6,), (3,)]])
case("convolve", lambda np_, a, v: np_.convolve(a, v, "valid"), shapes=[[(6,), (3,)]])
case("correlate", lambda np_, a, v: np_.correlate(a, v), shapes=[[(6,), (3,)]])
case("correlate", lambda np_, a, v: np_.correlate(a, v, "full"), shapes=[[(6,), (3,)]])

# ---------------------------------------------------------------------------- polynomial
case("polyval", lambda np_, p, x: np_.polyval(p, x), shapes=[[(4,), (3, 4)]])
case("polyadd", lambda np_, a, b: np_.polyadd(a, b), shapes=[[(4,), (2,)], [(3,), (3,)]])
case("polysub", lambda np_, a, b: np_.polysub(a, b), shapes=[[(2,), (4,)], [(3,), (3,)]])
case("polyder", lambda np_, p: np_.polyder(p), shapes=[(5,)])
case("polyder", lambda np_, p: np_.polyder(p, 2), shapes=[(5,)])
case("polyint", lambda np_, p: np_.polyint(p), shapes=[(4,)])
case("polyint", lambda np_, p: np_.polyint(p, m=2, k=[1, 2]), shapes=[(4,)])
case("polyfit", lambda np_, x, y: np_.polyfit(x, y, 2), shapes=[[A((6,), "sorted", np.float64), (6,)]],
     rtol=1e-9)
case("polyfit", lambda np_, x, y, w: np_.polyfit(x, y, 1, w=w, cov=True),
     shapes=[[A((6,), "sorted", np.float64), (6, 2), A((6,), "pos", np.float64)]], rtol=1e-9)
case("vander", lambda np_, x: np_.vander(x), shapes=[(4,)])
case("vander", lambda np_, x: np_.vander(x, 3, increasing=True), shapes=[(5,)])
case("polynomial.polynomial.polyval2d", lambda np_, x, y, c: np_.polynomial.polynomial.polyval2d(x, y, c),
     shapes=[[(5,), (5,), (3, 2)]])
case("polynomial.polynomial.polygrid2d", lambda np_, x, y, c: np_.polynomial.polynomial.polygrid2d(x, y, c),
     shapes=[[(4,), (3,), (2, 3)]])

# ---------------------------------------------------------------------------- *_like
case("zeros_like", lambda np_, x: np_.zeros_like(x))
case("zeros_like", lambda np_, x: np_.zeros_like(x, dtype=np.float32, shape=(2, 5)))
case("ones_like", lambda np_, x: np_.ones_like(x))
case("ones_like", lambda np_, x: np_.ones_like(x, order="F"), flags=True)
case("empty_like", lambda np_, x: _filled(np_.empty_like(x), x))
case("empty_like", lambda np_, x: _filled(np_.empty_like(x, shape=(4,)), x[0]))
case("full_like", lambda np_, x: np_.full_like(x, 7))
case("full_like", lambda np_, x, v: np_.full_like(x, v), shapes=[[(3, 4), Weak(2.5, -0.5)]])
case("full_like", lambda np_, x, v: np_.full_like(x, v, dtype=np.float64), shapes=[[(3, 4), (4,)]])


def _filled(e: Any, x: Any) -> Any:
    e[...] = x
    return e


# ---------------------------------------------------------------------------- bits
case("packbits", lambda np_, x: np_.packbits(x))
case("packbits", lambda np_, x: np_.packbits(x, axis=1, bitorder="little"), shapes=[(3, 11)])
case("unpackbits", lambda np_, x: np_.unpackbits(x))
case("unpackbits", lambda np_, x: np_.unpackbits(x, axis=1, count=5, bitorder="little"))

# ---------------------------------------------------------------------------- mutation
case("copyto", lambda np_, d, s: (np_.copyto(d, s), d)[1], shapes=[[(3, 4), (4,)]])
case("copyto", lambda np_, d, s, m: (np_.copyto(d, s, where=m), d)[1], shapes=[[(3, 4), (3, 4), mask((3, 4))]])
case("copyto", lambda np_, d, s: (np_.copyto(d, s, casting="unsafe"), d)[1],
     shapes=[[(3, 4), A((3, 4), dtype=np.float64)]])
case("copyto", lambda np_, d, v: (np_.copyto(d, v), d)[1], shapes=[[(3, 4), Weak(0.5, 2.0)]])
case("copyto", lambda np_, x, s: (np_.copyto(x[1:, ::2], s), x)[1], shapes=[[(3, 4), (2, 2)]])
case("put", lambda np_, a, i, v: (np_.put(a, i, v), a)[1], shapes=[[(3, 4), Idx((3,), 12), (3,)]])
case("put", lambda np_, a, i, v: (np_.put(a, i, v, mode="clip"), a)[1], shapes=[[(3, 4), Idx((5,), 20), (2,)]])
case("putmask", lambda np_, a, m, v: (np_.putmask(a, m, v), a)[1], shapes=[[(3, 4), mask((3, 4)), (5,)]])
case("place", lambda np_, a, m, v: (np_.place(a, m, v), a)[1], shapes=[[(3, 4), mask((3, 4)), (3,)]])
case("fill_diagonal", lambda np_, a, v: (np_.fill_diagonal(a, v), a)[1], shapes=[[(3, 4), Weak(2.0, 3.0)]])
case("fill_diagonal", lambda np_, a: (np_.fill_diagonal(a, 5, wrap=True), a)[1], shapes=[(7, 3)])
case("fill_diagonal", lambda np_, a, v: (np_.fill_diagonal(a, v), a)[1], shapes=[[(3, 3), (3,)]])
case("put_along_axis", lambda np_, a, i, v: (np_.put_along_axis(a, i, v, axis=1), a)[1],
     shapes=[[(3, 4), Idx((3, 1), 4), (3, 1)]])
case("put_along_axis", lambda np_, a, i: (np_.put_along_axis(a, i, 0, axis=0), a)[1],
     shapes=[[(3, 4), Idx((2, 4), 3)]])

# ---------------------------------------------------------------------------- functional
case("apply_along_axis", lambda np_, x: np_.apply_along_axis(lambda r: r[::-1] * 2, 1, x))
case("apply_along_axis", lambda np_, x: np_.apply_along_axis(np_.sum, 0, x))
case("apply_over_axes", lambda np_, x: np_.apply_over_axes(np_.sum, x, [0, 2]), shapes=[(2, 3, 4)])

# ---------------------------------------------------------------------------- fft
for _n in "fft ifft rfft irfft hfft ihfft".split():
    case(f"fft.{_n}", lambda np_, x, n=_n: getattr(np_.fft, n)(x))
    # (no empty edge: eager irfft/hfft of a (0, 4) array with n=6 returns uninitialized memory)
    case(f"fft.{_n}", lambda np_, x, n=_n: getattr(np_.fft, n)(x, n=6, axis=0, norm="ortho"),
         edges=[()])
for _n in "fft2 ifft2 rfft2 irfft2 fftn ifftn rfftn irfftn".split():
    case(f"fft.{_n}", lambda np_, x, n=_n: getattr(np_.fft, n)(x))
    case(f"fft.{_n}", lambda np_, x, n=_n: getattr(np_.fft, n)(x, s=(4, 4), axes=(0, 2), norm="forward"),
         shapes=[(2, 3, 4)])
for _n in "fftshift ifftshift".split():
    case(f"fft.{_n}", lambda np_, x, n=_n: getattr(np_.fft, n)(x))
    case(f"fft.{_n}", lambda np_, x, n=_n: getattr(np_.fft, n)(x, axes=1), shapes=[(2, 5, 3)])

# ---------------------------------------------------------------------------- creation (patched)
case("zeros", lambda np_, x: np_.zeros((2, 3), dtype=x.dtype))
case("zeros", lambda np_, x: np_.zeros(x.shape, x.dtype, order="F") + x, node="zeros", flags=True)
case("ones", lambda np_, x: np_.ones((3, 2), dtype=x.dtype))
case("ones", lambda np_, x: x - np_.ones(4, x.dtype))
case("empty", lambda np_, x: _filled(np_.empty(x.shape, x.dtype), x))
case("full", lambda np_, x: np_.full((2, 3), 7, dtype=x.dtype))
case("full", lambda np_, x, v: np_.full(x.shape, v, dtype=x.dtype), shapes=[[(3, 4), Weak(2.5, -0.5)]])
case("full", lambda np_, x: np_.full((2, 3, 4), x))
case("arange", lambda np_, x: np_.arange(12, dtype=x.dtype).reshape(3, 4))
case("arange", lambda np_, x: x + np_.arange(1, 9, 2, dtype=x.dtype))
case("arange", lambda np_, x: np_.arange(0.0, 2.0, 0.25, dtype=x.dtype))
case("linspace", lambda np_, x: np_.linspace(0, 2, 5, dtype=x.dtype))
case("linspace", lambda np_, a, b: np_.linspace(a, b, 7), shapes=[[Weak(0.0, -1.0), Weak(1.0, 3.5)]],
     dtypes=[np.float64])
case("linspace", lambda np_, a, b: np_.linspace(a, b, 4, endpoint=False, axis=-1), shapes=[[(3,), (3,)]])
case("linspace", lambda np_, a, b: np_.linspace(a, b, 3, retstep=True), shapes=[[(2,), (2,)]])
case("logspace", lambda np_, x: np_.logspace(0, 2, 5, dtype=x.dtype))
case("logspace", lambda np_, a, b: np_.logspace(a, b, 4, base=2.0), shapes=[[(3,), (3,)]])
case("geomspace", lambda np_, x: np_.geomspace(1, 1000, 4, dtype=x.dtype))
case("geomspace", lambda np_, a, b: np_.geomspace(a, b, 5), shapes=[[A((2,), "pos"), A((2,), "pos")]])
case("eye", lambda np_, x: np_.eye(3, dtype=x.dtype))
case("eye", lambda np_, x: np_.eye(3, 4, k=1, dtype=x.dtype) * x, node="eye")
case("identity", lambda np_, x: np_.identity(3, dtype=x.dtype))
case("tri", lambda np_, x: np_.tri(3, 4, -1, dtype=x.dtype))
case("array", lambda np_, x: np_.array(x))
case("array", lambda np_, x: np_.array(x, dtype=np.float64, order="F"), flags=True)
case("array", lambda np_, x, y: np_.array([x, y]), shapes=[[(3, 4), (3, 4)], [(), ()]])
case("array", lambda np_, x: np_.array(x, ndmin=3))
case("array", lambda np_, x: np_.array(x, copy=None))
case("fromfunction", lambda np_, x: np_.fromfunction(lambda i, j: i * 4 + j, (3, 4), dtype=x.dtype))
case("fromfunction", lambda np_, x: np_.fromfunction(lambda i: i - 1, (5,), dtype=x.dtype) * x, shapes=[(5,)],
     node="fromfunction")


# ---------------------------------------------------------------------------- ufuncs
def _ufuncs() -> list[np.ufunc]:
    return [getattr(np, n) for n in sorted(dir(np))
            if isinstance(getattr(np, n), np.ufunc) and getattr(np, n).__name__ == n]


UFUNCS = _ufuncs()
_N_BEFORE_UFUNCS = len(CASES)
_UFUNC_SHAPES = {"matvec": [(3, 4), (4,)], "vecmat": [(3,), (3, 4)], "power": [(3, 4), A((3, 4), "pos")],
                 "ldexp": [(3, 4), A((3, 4), dtype=np.int32)],
                 "isnat": [A((3, 4), dtype="M8[s]"), A((4,), dtype="m8[ms]")]}
for _u in UFUNCS:
    _name = _u.__name__
    if _name in ("matmul", "vecdot"):
        continue                                 # cases above
    # (further inputs broadcast: (3, 4) with (3, 1))
    _shapes = _UFUNC_SHAPES.get(_name, [(3, 4)] + [(3, 1)] * (_u.nin - 1))
    if _name == "isnat":
        case(_name, lambda np_, x, y: (np_.isnat(x), np_.isnat(y)), shapes=[_shapes], dtypes=[np.bool_])
        continue
    case(_name, lambda np_, *a, n=_name: getattr(np_, n)(*a), shapes=[_shapes])
for _n in "add subtract multiply divide power maximum minimum less arctan2 hypot".split():
    case(_n, lambda np_, x, y, n=_n: getattr(np_, n)(x, y), shapes=[[(3, 4), Weak(0.5, 1.5)]])
    case(_n, lambda np_, x, y, n=_n: getattr(np_, n)(y, x), shapes=[[(3, 4), Weak(0.5, 1.5)]])
case("left_shift", lambda np_, x: np_.left_shift(x, 2))
case("add", lambda np_, x, y, o: np_.add(x, y, out=o), shapes=[[(3, 4), (3, 4), (3, 4)]])
case("multiply", lambda np_, x, y, m: np_.multiply(x, y, where=m, out=np_.zeros_like(x)),
     shapes=[[(3, 4), (3, 4), mask((3, 4))]])
case("add", lambda np_, x: np_.add(x, 1, dtype=np.float64))
# (ufunc methods in depth: tests/test_ufuncs.py)
_METHOD_CALLS = {"reduce": lambda u, x: u.reduce(x, 0), "accumulate": lambda u, x: u.accumulate(x, 1),
                 "outer": lambda u, x: u.outer(x, x[0]), "reduceat": lambda u, x: u.reduceat(x, [0, 2])}
for _n, _m in [("add", "reduce"), ("multiply", "reduce"), ("maximum", "reduce"), ("logical_or", "reduce"),
               ("add", "accumulate"), ("minimum", "accumulate"), ("multiply", "outer"),
               ("subtract", "outer"), ("add", "reduceat")]:
    case(f"{_n}.{_m}", lambda np_, x, n=_n, m=_m: _METHOD_CALLS[m](getattr(np_, n), x))
case("add.at", lambda np_, x, i, v: (np_.add.at(x, i, v), x)[1], shapes=[[(5,), Idx((6,), 5), (6,)]])
UFUNC_CASES = CASES[_N_BEFORE_UFUNCS:]
_INDEX = {c.id: i for i, c in enumerate(CASES)}


# ============================================================================ excluded functions
# name -> (sample call, arg spec, the error class strict=True raises).  Each must fall back.
_DD = tracenp.DataDependentShapeError
_UF = tracenp.UnsupportedFunctionError
EXCLUDED_CASES: dict[str, tuple] = {
    "nonzero": (lambda np_, x: np_.nonzero(x), [(3, 4)], _DD),
    "argwhere": (lambda np_, x: np_.argwhere(x), [(3, 4)], _DD),
    "flatnonzero": (lambda np_, x: np_.flatnonzero(x), [(3, 4)], _DD),
    "extract": (lambda np_, m, x: np_.extract(m, x), [mask((3, 4)), (3, 4)], _DD),
    "unique": (lambda np_, x: np_.unique(x), [(3, 4)], _DD),
    "unique_all": (lambda np_, x: np_.unique_all(x), [(3, 4)], _DD),
    "unique_counts": (lambda np_, x: np_.unique_counts(x), [(3, 4)], _DD),
    "unique_inverse": (lambda np_, x: np_.unique_inverse(x), [(3, 4)], _DD),
    "unique_values": (lambda np_, x: np_.unique_values(x), [(3, 4)], _DD),
    "intersect1d": (lambda np_, x, y: np_.intersect1d(x, y), [(5,), (5,)], _DD),
    "setdiff1d": (lambda np_, x, y: np_.setdiff1d(x, y), [(5,), (5,)], _DD),
    "setxor1d": (lambda np_, x, y: np_.setxor1d(x, y), [(5,), (5,)], _DD),
    "union1d": (lambda np_, x, y: np_.union1d(x, y), [(5,), (5,)], _DD),
    "trim_zeros": (lambda np_, x: np_.trim_zeros(x), [(5,)], _DD),
    "bincount": (lambda np_, i: np_.bincount(i), [Idx((5,), 4)], _DD),
    "roots": (lambda np_, p: np_.roots(p), [(4,)], _DD),
    "polydiv": (lambda np_, a, b: np_.polydiv(a, b), [(4,), A((2,), "pos")], _DD),
    "linalg.lstsq": (lambda np_, a, b: np_.linalg.lstsq(a, b), [(4, 3), (4,)], _DD),
    "real_if_close": (lambda np_, x: np_.real_if_close(x), [A((3, 4), dtype=np.complex128)], _UF),
    "poly": (lambda np_, x: np_.poly(x), [(3,)], _UF),
    "linalg.eig": (lambda np_, a: np_.linalg.eig(a), [_SQ], _UF),
    "linalg.eigvals": (lambda np_, a: np_.linalg.eigvals(a), [_SQ], _UF),
    "lib.scimath.sqrt": (lambda np_, x: np_.lib.scimath.sqrt(x), [(3, 4)], _UF),
    "lib.scimath.log": (lambda np_, x: np_.lib.scimath.log(x), [(3, 4)], _UF),
    "lib.scimath.log2": (lambda np_, x: np_.lib.scimath.log2(x), [(3, 4)], _UF),
    "lib.scimath.log10": (lambda np_, x: np_.lib.scimath.log10(x), [(3, 4)], _UF),
    "lib.scimath.logn": (lambda np_, x: np_.lib.scimath.logn(2, x), [(3, 4)], _UF),
    "lib.scimath.power": (lambda np_, x: np_.lib.scimath.power(x, 0.5), [(3, 4)], _UF),
    "lib.scimath.arccos": (lambda np_, x: np_.lib.scimath.arccos(x), [(3, 4)], _UF),
    "lib.scimath.arcsin": (lambda np_, x: np_.lib.scimath.arcsin(x), [(3, 4)], _UF),
    "lib.scimath.arctanh": (lambda np_, x: np_.lib.scimath.arctanh(x), [(3, 4)], _UF),
    "min_scalar_type": (lambda np_, x: np_.min_scalar_type(x), [(3, 4)], _UF),
    "allclose": (lambda np_, x, y: np_.allclose(x, y), [(3, 4), (3, 4)], _UF),
    "array_equal": (lambda np_, x, y: np_.array_equal(x, y), [(3, 4), (3, 4)], _UF),
    "array_equiv": (lambda np_, x, y: np_.array_equiv(x, y), [(3, 4), (4,)], _UF),
    "array2string": (lambda np_, x: np_.array2string(x), [(3, 4)], _UF),
    "array_repr": (lambda np_, x: np_.array_repr(x), [(3, 4)], _UF),
    "array_str": (lambda np_, x: np_.array_str(x), [(3, 4)], _UF),
    "may_share_memory": (lambda np_, x, y: np_.may_share_memory(x, y), [(3, 4), (3, 4)], _UF),
    "shares_memory": (lambda np_, x, y: np_.shares_memory(x, y), [(3, 4), (3, 4)], _UF),
    "histogram_bin_edges(bins='auto')": (lambda np_, x: np_.histogram_bin_edges(x, bins="auto"),
                                         [(20,)], _DD),
    "histogram(bins='fd')": (lambda np_, x: np_.histogram(x, bins="fd"), [(20,)], _DD),
    "ix_(bool)": (lambda np_, m: np_.ix_(m), [mask((4,))], _DD),
    "polymul": (lambda np_, a, b: np_.polymul(a, b), [(4,), (2,)], _DD),
}


# ============================================================================ the sweep

def _values(spec: Any, dtype: np.dtype, rng: np.random.Generator) -> Any:
    if isinstance(spec, Idx):
        return rng.integers(spec.low, spec.high, spec.shape).astype(np.intp)
    dt = np.dtype(spec.dtype) if spec.dtype is not None else dtype
    shape, kind = spec.shape, spec.kind
    if dt.kind in "mM":
        v = rng.integers(-5, 5, shape).astype(dt)
        v[rng.random(shape) < 0.3] = np.array("NaT", dt)
        return v
    if kind in ("spd", "wellcond"):
        return _matrix(shape, dt, kind, rng)
    if dt.kind == "b":
        v = rng.random(shape) < 0.5
    elif dt.kind in "iu":
        lo, hi = (-4, 5) if dt.kind == "i" else (0, 9)
        if kind == "pos":
            lo = 1
        v = rng.integers(lo, hi, shape)
    else:
        if kind == "unit":
            v = rng.uniform(-1, 1, shape)
        else:
            v = rng.standard_normal(shape) * 2
        if kind == "pos":
            v = np.abs(v) + 0.25
        if dt.kind == "c":
            v = v + 1j * (rng.standard_normal(shape) * 2)
        if kind == "nan" and len(shape):
            v = np.array(v)
            v[np.indices(shape).sum(axis=0) % 3 == 1] = np.nan
    v = np.asarray(v).astype(dt)
    if kind == "sorted":
        v = np.sort(v, axis=-1)
    return v


def _matrix(shape: tuple, dt: np.dtype, kind: str, rng: np.random.Generator) -> np.ndarray:
    n = shape[-1]
    eye = np.eye(n, dtype=int)
    if dt.kind == "b":
        return np.broadcast_to(eye.astype(bool), shape).copy()
    if dt.kind in "iu":
        m = rng.integers(0 if dt.kind == "u" else -2, 3, shape)
        a = m @ np.swapaxes(m, -1, -2) + n * eye if kind == "spd" else m + (3 * n) * eye
        return a.astype(dt)
    m = rng.standard_normal(shape)
    if dt.kind == "c":
        m = m + 1j * rng.standard_normal(shape)
    a = m @ np.swapaxes(m, -1, -2).conj() + n * eye if kind == "spd" else m + (3 * n) * eye
    return a.astype(dt)


def _place(v: np.ndarray, variant: str, rng: np.random.Generator) -> np.ndarray:
    if variant == "strided" and v.ndim:
        big = np.empty(tuple(2 * d for d in v.shape), v.dtype)
        big[...] = _garbage(big.shape, v.dtype, rng)
        view = big[(slice(None, None, 2),) * v.ndim]
        view[...] = v
        return view
    if variant == "F" and v.ndim >= 2:
        return np.asfortranarray(v)
    return v


def _garbage(shape: tuple, dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    return (rng.integers(0, 2, shape) * 77).astype(dtype)


def _edge_argsets(c: Case) -> list[tuple[str, tuple]]:
    if c.edges is not None:
        return [(f"edge{i}", s) for i, s in enumerate(c.edges)]
    base = c.argsets[0]
    if not any(isinstance(s, A) and s.sweeps for s in base):
        return []
    zero_d = tuple(A((), s.kind) if isinstance(s, A) and s.sweeps else s for s in base)
    empty = tuple(A((0,) + s.shape[1:], s.kind) if isinstance(s, A) and s.sweeps and s.shape else s
                  for s in base)
    out = [("0d", zero_d)]
    if empty != base:
        out.append(("empty", empty))
    return out


# The default (fast) sweep runs every dtype on the argument sets as built, and three dtypes
# on the layout and edge variants, rotating with the case's position so that every dtype
# is met on them across the table; the full sweep (marked slow) runs every dtype everywhere.
N_LAYOUT_DTYPES = 3


def layout_dtypes(c: Case) -> list[np.dtype]:
    i = _INDEX[c.id] * N_LAYOUT_DTYPES
    n = len(c.dtypes)
    return sorted({c.dtypes[(i + k) % n] for k in range(N_LAYOUT_DTYPES)}, key=c.dtypes.index)


def runs(c: Case) -> list[tuple[str, tuple, str]]:
    """(label, argument set, layout variant) triples that :func:`verify` runs per dtype."""
    out = []
    for i, argset in enumerate(c.argsets):
        tag = "" if len(c.argsets) == 1 else f"set{i}-"
        out.append((f"{tag}C", argset, "C"))
        if c.layouts and any(isinstance(s, (A, Idx)) and len(s.shape) for s in argset):
            out.append((f"{tag}strided", argset, "strided"))
            if any(isinstance(s, (A, Idx)) and len(s.shape) >= 2 for s in argset):
                out.append((f"{tag}F", argset, "F"))
    out += [(label, argset, "C") for label, argset in _edge_argsets(c)]
    return out


_BUILT: dict[tuple, list] = {}


def build(argset: tuple, dtype: np.dtype, variant: str, seed: int) -> list:
    """Fresh arguments for one call: the same values for the same (argset, dtype, variant, seed)."""
    key = (argset, dtype, variant, seed)
    template = _BUILT.get(key)
    if template is None:
        template = []
        for k, spec in enumerate(argset):
            if isinstance(spec, Weak):
                template.append(spec.a if seed == 1 else spec.b)
                continue
            rng = np.random.default_rng([seed, k, dtype.num, len(variant)])
            template.append(_place(_values(spec, dtype, rng), variant, rng))
        if len(_BUILT) > 4096:
            _BUILT.clear()
        _BUILT[key] = template
    return [_clone(a) for a in template]


def _clone(a: Any) -> Any:
    """A copy with the same memory layout (a strided view stays a view of a fresh buffer)."""
    if not isinstance(a, np.ndarray):
        return a
    if a.base is not None and not a.flags.forc:
        return a.base.copy()[(slice(None, None, 2),) * a.ndim]
    return a.copy(order="K")


class _quiet:
    """Ignore NumPy's warnings (casts, invalid values) but turn FallbackWarning into an error."""

    def __enter__(self):
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", tracenp.FallbackWarning)
        self._e = np.errstate(all="ignore")
        self._e.__enter__()

    def __exit__(self, *exc):
        self._e.__exit__(*exc)
        self._w.__exit__(*exc)


def _flags(x: Any) -> list:
    leaves, _ = flatten(x)
    return [(v.flags.c_contiguous, v.flags.f_contiguous) for v in leaves if isinstance(v, np.ndarray)]


def _identity(result: Any, args: list) -> list:
    leaves, _ = flatten(result)
    return [next((i for i, a in enumerate(args) if r is a), None) for r in leaves]


def _compare(c: Case, actual: Any, expected: Any, a_args: list, e_args: list, where: str) -> None:
    assert_same(actual, expected, rtol=c.rtol, atol=c.atol, where=f"{where} result")
    for i, (a, e) in enumerate(zip(a_args, e_args)):
        if isinstance(e, np.ndarray):
            assert_same(a, e, rtol=c.rtol, atol=c.atol, where=f"{where} argument {i} after the call")
    assert _identity(actual, a_args) == _identity(expected, e_args), \
        f"{where}: results that are arguments differ from eager"
    if c.flags:
        assert _flags(actual) == _flags(expected), \
            f"{where}: layout {_flags(actual)} != eager {_flags(expected)}"


def _arrays(x: Any) -> bool:
    return any(isinstance(v, (np.ndarray, np.generic)) for v in flatten(x)[0])


def _has_node(nodes: list, names: tuple) -> bool:
    """Whether a node of one of ``names`` is in ``nodes`` (looking inside fused regions)."""
    for node in nodes:
        op = node.op
        if op.name in names or (isinstance(op, MutateOp) and op.inner.name in names):
            return True
        inner = getattr(node.params, "nodes", None)
        if isinstance(inner, list) and _has_node(inner, names):
            return True
    return False


def run_one(c: Case, f: Any, argset: tuple, variant: str, dtype: np.dtype) -> str:
    """One dtype of one variant: ``"ok"``, ``"rejected"`` (eager raises) or ``"FAIL: ..."``."""
    call = f.fn
    e_args = build(argset, dtype, variant, 1)
    try:
        with _quiet():
            expected = call(*e_args)
    except Exception as exc:        # eager rejects: so must the compiled call
        c_args = build(argset, dtype, variant, 1)
        try:
            with _quiet():
                warnings.simplefilter("ignore", tracenp.FallbackWarning)
                f(*c_args)
        except Exception as cexc:  # noqa: BLE001
            if type(cexc) is type(exc):
                return "rejected"
            return (f"FAIL: eager raised {type(exc).__name__}, the compiled call "
                    f"{type(cexc).__name__}: {cexc}")
        return f"FAIL: eager raised {type(exc).__name__}: {exc}; the compiled call did not"
    before = f.trace_count
    known = f.signature(tuple(build(argset, dtype, variant, 1)), {})[0] in f.plans()
    traces = 0 if known else 1       # a variant may share a signature with an earlier one
    try:
        for seed in (1, 2):
            if seed == 2:
                e_args = build(argset, dtype, variant, 2)
                try:
                    with _quiet():
                        expected = call(*e_args)
                except Exception as exc:  # noqa: BLE001
                    return (f"FAIL: bad sample data: eager NumPy raised {type(exc).__name__} on the "
                            f"second data set only: {exc}")
            c_args = build(argset, dtype, variant, seed)
            with _quiet():
                actual = f(*c_args)
            _compare(c, actual, expected, c_args, e_args, f"call {seed}")
            if seed == 1:
                key = f.signature(tuple(c_args), {})[0]
                plan = f.plans().get(key)
                assert type(plan) is Plan, f"fell back to NumPy: {getattr(plan, 'reason', plan)}"
                if _arrays(expected) and not _has_node(plan.graph.nodes, c.nodes):
                    # the optimizer may have rewritten it: the trace itself must have it
                    raw = tracenp.make_graph(call, optimize=False, fuse=False)(
                        *build(argset, dtype, variant, 1))
                    assert _has_node(raw.nodes, c.nodes), \
                        f"the graph has no {'/'.join(c.nodes)} node:\n{raw}"
                assert f.trace_count == before + traces, f"traced {f.trace_count - before} times"
        assert f.trace_count == before + traces, "the second call with the same signature retraced"
    except tracenp.FallbackWarning as w:
        return f"FAIL: fell back to NumPy: {str(w).splitlines()[0]}"
    except AssertionError as e:
        return f"FAIL: {str(e)[:2000]}"
    except Exception as e:  # noqa: BLE001
        return f"FAIL: the compiled call raised {type(e).__name__}: {str(e)[:2000]}"
    return "ok"


@dataclasses.dataclass
class CaseResult:
    case: Case
    outcomes: dict            # (label, dtype name) -> "ok" | "rejected" | "FAIL: ..."

    @property
    def failures(self) -> list[str]:
        return [f"{label} {dt}: {msg}" for (label, dt), msg in self.outcomes.items()
                if msg.startswith("FAIL")]

    @property
    def ok_dtypes(self) -> list[str]:
        """Dtypes that passed on the first argument set as built."""
        first = runs(self.case)[0][0]
        return [dt for (label, dt), msg in self.outcomes.items() if label == first and msg == "ok"]

    @property
    def passed(self) -> bool:
        return not self.failures and bool(self.ok_dtypes)


_RESULTS: dict[tuple[str, bool], CaseResult] = {}


def verify(c: Case, full: bool = False) -> CaseResult:
    """Run case ``c`` (memoized).  ``full``: every dtype on every variant."""
    if (c.id, full) in _RESULTS:
        return _RESULTS[(c.id, full)]
    f = tracenp.compile(lambda *args: c.fn(np, *args))
    f.__name__ = c.id
    outcomes = {}
    for label, argset, variant in runs(c):
        base = label.endswith("C") and not label.startswith("edge")
        for dt in (c.dtypes if full or base else layout_dtypes(c)):
            outcomes[(label, dt.name)] = run_one(c, f, argset, variant, dt)
    result = CaseResult(c, outcomes)
    _RESULTS[(c.id, full)] = result
    return result


def sweep() -> dict[str, CaseResult]:
    """Every case's result (the fast sweep that ``tests/test_functions.py`` runs)."""
    return {c.id: verify(c) for c in CASES}
