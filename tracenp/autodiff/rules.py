"""Vector-Jacobian rules: one per op, written in plain NumPy.

Each rule maps the cotangent ``g`` of an op's result (and the result ``ans`` and the op's
own arguments) to the cotangents of its arguments.  Rules run on proxies inside a trace,
so what they compute becomes graph nodes.  Broadcasting is undone, and cotangents are
cast to each input's dtype, by the sweep (:func:`tracenp.autodiff.backward.fit`), so a
rule may return a cotangent of the broadcast shape.

Tables, all keyed by op name (``tracenp.graph.catalog``):

* ``UFUNC``: ``rule(g, ans, *inputs) -> tuple`` for a ufunc call (and for the Python
  scalar operators ``py.*``);
* ``FUNC``: ``rule(g, ans, *args, **kwargs) -> dict`` (parameter name -> cotangent, a
  pytree like that argument) for a function, bound with NumPy's own parameter names;
* ``ZERO``: ops whose derivative is zero wherever it exists (``floor``, ``sign``, ...);
* ``NONDIFF``: ops whose results are not differentiable in their inputs (random draws,
  ``*_like`` creation, integer results);
* everything else that NumPy implements in Python is differentiated through its own
  implementation (``decompose``), e.g. ``np.var`` via ``mean``, or ``np.linalg.norm``.

Complex numbers follow JAX's convention: a rule is the transpose of the op's R-linear
derivative under the pairing ``Re(a * b)`` (no conjugation), so holomorphic rules read
exactly as their real versions, and ``grad`` of a real function of ``z`` returns
``conj(df/dz)``-style values (``grad(abs(z)**2) == 2 * conj(z)``).
"""
from __future__ import annotations

import inspect
import math
import types
from typing import Any, Callable

import numpy as np

from .._ndarray import NDARRAY
from ..errors import DifferentiationError, TracenpError
from ..graph.ir import Literal, Node
from ..graph.ops import SETITEM, TARGET, MutateOp
from ..graph.pytree import flatten
from .backward import Cotangent, Sweep, backward, pairs

__all__ = ["UFUNC", "FUNC", "ZERO", "NONDIFF", "apply_rule", "rule_kind"]

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


# ============================================================================ ufuncs
_LN2, _LN10 = math.log(2.0), math.log(10.0)

_u("add", "py.add")(lambda g, ans, x, y: (g, g))
_u("subtract", "py.sub")(lambda g, ans, x, y: (g, -g))
_u("multiply", "py.mul")(lambda g, ans, x, y: (g * y, g * x))
_u("divide", "true_divide", "py.truediv")(lambda g, ans, x, y: (g / y, -g * ans / y))
_u("negative", "py.neg")(lambda g, ans, x: (-g,))
_u("positive", "py.pos")(lambda g, ans, x: (g,))
_u("reciprocal")(lambda g, ans, x: (-g * ans * ans,))
_u("square")(lambda g, ans, x: (g * (2 * x),))
_u("sqrt")(lambda g, ans, x: (g / (2 * ans),))
_u("cbrt")(lambda g, ans, x: (g / (3 * ans * ans),))
_u("exp")(lambda g, ans, x: (g * ans,))
_u("exp2")(lambda g, ans, x: (g * ans * _LN2,))
_u("expm1")(lambda g, ans, x: (g * (ans + 1),))
_u("log")(lambda g, ans, x: (g / x,))
_u("log2")(lambda g, ans, x: (g / (x * _LN2),))
_u("log10")(lambda g, ans, x: (g / (x * _LN10),))
_u("log1p")(lambda g, ans, x: (g / (x + 1),))
_u("sin")(lambda g, ans, x: (g * np.cos(x),))
_u("cos")(lambda g, ans, x: (-g * np.sin(x),))
_u("tan")(lambda g, ans, x: (g * (1 + ans * ans),))
_u("arcsin")(lambda g, ans, x: (g / np.sqrt(1 - x * x),))
_u("arccos")(lambda g, ans, x: (-g / np.sqrt(1 - x * x),))
_u("arctan")(lambda g, ans, x: (g / (1 + x * x),))
_u("sinh")(lambda g, ans, x: (g * np.cosh(x),))
_u("cosh")(lambda g, ans, x: (g * np.sinh(x),))
_u("tanh")(lambda g, ans, x: (g * (1 - ans * ans),))
_u("arcsinh")(lambda g, ans, x: (g / np.sqrt(x * x + 1),))
_u("arccosh")(lambda g, ans, x: (g / np.sqrt(x * x - 1),))
_u("arctanh")(lambda g, ans, x: (g / (1 - x * x),))
_u("deg2rad", "radians")(lambda g, ans, x: (g * (math.pi / 180),))
_u("rad2deg", "degrees")(lambda g, ans, x: (g * (180 / math.pi),))
_u("conjugate", "py.conjugate")(lambda g, ans, x: (np.conjugate(g),))
_u("arctan2")(lambda g, ans, y, x: (g * x / (x * x + y * y), -g * y / (x * x + y * y)))
_u("hypot")(lambda g, ans, x, y: (g * x / ans, g * y / ans))
_u("logaddexp")(lambda g, ans, x, y: (g * np.exp(x - ans), g * np.exp(y - ans)))
_u("logaddexp2")(lambda g, ans, x, y: (g * np.exp2(x - ans), g * np.exp2(y - ans)))
_u("remainder", "mod", "py.mod")(lambda g, ans, x, y: (g, -g * np.floor_divide(x, y)))
_u("fmod")(lambda g, ans, x, y: (g, -g * np.trunc(x / y)))
_u("ldexp")(lambda g, ans, x, n: (np.ldexp(g, n), None))
_u("copysign")(lambda g, ans, x, y: (g * np.where(np.signbit(x) == np.signbit(ans), 1.0, -1.0), None))


@_u("absolute", "fabs", "py.abs")
def _abs(g, ans, x):
    if np.result_type(x).kind == "c":
        return (g * np.where(ans == 0, 0, np.conjugate(x) / np.where(ans == 0, 1, ans)),)
    return (g * np.sign(x),)


@_u("power", "float_power", "py.pow")
def _power(g, ans, x, y):
    # d/dx x**y = y * x**(y-1), taken as 0 where y == 0 (so 0**0 gives 0, not NaN);
    # d/dy x**y = log(x) * x**y, taken as 0 where x == 0.
    gx = g * np.where(y == 0, 0, y * np.power(x, y - 1))
    gy = None
    if np.result_type(y).kind in "fc":
        gy = g * ans * np.log(np.where(x == 0, 1, x))
    return (gx, gy)


def _select_weight(x, y, wins_x):
    """Weight of x in max/min-like ops: 1 where x wins, 1/2 on ties (as JAX)."""
    return np.where(x == y, 0.5, np.where(wins_x, 1.0, 0.0))


@_u("maximum")
def _maximum(g, ans, x, y):
    w = _select_weight(x, y, (x > y) | np.isnan(x))
    return (g * w, g * (1 - w))


@_u("minimum")
def _minimum(g, ans, x, y):
    w = _select_weight(x, y, (x < y) | np.isnan(x))
    return (g * w, g * (1 - w))


@_u("fmax")
def _fmax(g, ans, x, y):
    w = _select_weight(x, y, (x > y) | np.isnan(y))
    return (g * w, g * (1 - w))


@_u("fmin")
def _fmin(g, ans, x, y):
    w = _select_weight(x, y, (x < y) | np.isnan(y))
    return (g * w, g * (1 - w))


@_u("matmul")
def _matmul(g, ans, a, b):
    a_vec, b_vec = np.ndim(a) == 1, np.ndim(b) == 1
    a2 = np.expand_dims(a, 0) if a_vec else a
    b2 = np.expand_dims(b, -1) if b_vec else b
    g2 = g
    if a_vec:
        g2 = np.expand_dims(g2, -1 if b_vec else -2)
    if b_vec:
        g2 = np.expand_dims(g2, -1)
    ga = np.matmul(g2, np.swapaxes(b2, -1, -2))
    gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
    if a_vec:
        ga = ga[..., 0, :]
    if b_vec:
        gb = gb[..., 0]
    return (ga, gb)


@_u("vecdot")
def _vecdot(g, ans, x1, x2):
    ge = np.expand_dims(g, -1)
    return (np.conjugate(ge * x2), ge * np.conjugate(x1))


@_u("matvec")
def _matvec(g, ans, a, x):
    ge = np.expand_dims(g, -1)
    return (ge * np.expand_dims(x, -2), np.matmul(np.swapaxes(a, -1, -2), ge)[..., 0])


@_u("vecmat")
def _vecmat(g, ans, x, a):
    ge = np.expand_dims(g, -2)
    return (np.conjugate(np.matmul(a, np.swapaxes(ge, -1, -2))[..., 0]),
            np.expand_dims(np.conjugate(x), -1) * ge)


# scipy.special ufuncs (registered under their module-qualified op names)
_SQRT_PI = math.sqrt(math.pi)
_u("scipy.special.erf")(lambda g, ans, x: (g * (2 / _SQRT_PI) * np.exp(-x * x),))
_u("scipy.special.erfc")(lambda g, ans, x: (g * (-2 / _SQRT_PI) * np.exp(-x * x),))
_u("scipy.special.expit")(lambda g, ans, x: (g * ans * (1 - ans),))


# Zero derivative wherever one exists (piecewise constant) — no cotangent flows back.
ZERO = set("""floor ceil trunc rint sign round around fix heaviside floor_divide nextafter
    spacing py.floordiv py.round zeros_like ones_like empty_like""".split())

# Not differentiable in their inputs: random draws (tracenp does not reparameterize).
NONDIFF = {"random.*", "histogram", "histogram2d", "histogramdd", "histogram_bin_edges"}


class Via:
    """A rule's answer "differentiate this instead": a function of the op's arguments,
    built from ops that have rules, that computes the same result."""

    def __init__(self, fn: Callable, *args: Any, **kwargs: Any):
        self.fn, self.args, self.kwargs = fn, args, kwargs


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


def _count(shape: tuple, axis: Any) -> int:
    n = 1
    for a in _axes(axis, len(shape)):
        n *= shape[a]
    return n


# ============================================================================ reductions
@_f("sum", "nansum_plain")
def _sum(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    ct = _expand(g, np.shape(a), axis, keepdims)
    if _where_given(where):
        ct = np.where(where, ct, 0)
    return {"a": ct}


@_f("add.reduce")
def _add_reduce(g, ans, array, axis=0, dtype=None, out=None, keepdims=False, initial=None,
                where=True):
    return {"array": _sum(g, ans, array, axis, dtype, out, keepdims, initial, where)["a"]}


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
    return _expand(g, shape, axis, keepdims) * (2.0 / max(n - ddof, 0)) * np.conjugate(a - m)


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


def _extreme(g, ans, a, axis, keepdims, where):
    """max/min: the cotangent is shared equally among the tied winners (as JAX)."""
    shape = np.shape(a)
    full = _expand(ans, shape, axis, keepdims)
    hit = (a == full) | (np.isnan(a) & np.isnan(full))
    if _where_given(where):
        hit = hit & where
    n = np.sum(hit, axis=_axes(axis, len(shape)) if shape else None, keepdims=True)
    return _expand(g, shape, axis, keepdims) * hit / np.maximum(n, 1)


@_f("max", "min", "amax", "amin")
def _max(g, ans, a, axis=None, out=None, keepdims=False, initial=None, where=True):
    return {"a": _extreme(g, ans, a, axis, keepdims, where)}


@_f("maximum.reduce", "minimum.reduce", "fmax.reduce", "fmin.reduce")
def _max_reduce(g, ans, array, axis=0, dtype=None, out=None, keepdims=False, initial=None,
                where=True):
    return {"array": _extreme(g, ans, array, axis, keepdims, where)}


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
    if initial is not None:
        ct = ct * initial
    return {"a": ct}


@_f("multiply.reduce")
def _mul_reduce(g, ans, array, axis=0, dtype=None, out=None, keepdims=False, initial=None,
                where=True):
    return {"array": _prod(g, ans, array, axis, dtype, out, keepdims, initial, where)["a"]}


# ============================================================================ scans
def _rev_cumsum(g, axis):
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


@_f("cumsum", "cumulative_sum")
def _cumsum(g, ans, a, axis=None, dtype=None, out=None, include_initial=False):
    if include_initial:
        ax = 0 if axis is None else axis
        g = np.take(g, np.arange(1, g.shape[ax]), axis=ax)
    if axis is None and np.ndim(a) != 1:
        return {"a": np.reshape(_rev_cumsum(np.ravel(g), 0), np.shape(a)),
                "x": np.reshape(_rev_cumsum(np.ravel(g), 0), np.shape(a))}
    ax = 0 if axis is None else axis
    ct = _rev_cumsum(g, ax)
    return {"a": ct, "x": ct}


@_f("add.accumulate")
def _add_accumulate(g, ans, array, axis=0, dtype=None, out=None):
    return {"array": _rev_cumsum(g, axis)}


@_f("cumprod", "cumulative_prod")
def _cumprod(g, ans, a, axis=None, dtype=None, out=None, include_initial=False):
    if include_initial:
        raise DifferentiationError("the gradient of cumulative_prod(include_initial=True) "
                                   "is not supported")
    if axis is None and np.ndim(a) != 1:
        flat = np.ravel(a)
        ct = np.reshape(_rev_cumsum(np.ravel(g) * np.ravel(ans), 0) / flat, np.shape(a))
    else:
        ax = 0 if axis is None else axis
        ct = _rev_cumsum(g * ans, ax) / a
    return {"a": ct, "x": ct}


@_f("multiply.accumulate")
def _mul_accumulate(g, ans, array, axis=0, dtype=None, out=None):
    return {"array": _rev_cumsum(g * ans, axis) / array}


# ============================================================================ shape
def _reshape_back(g, ans, a, *args, **kwargs):
    return {"a": np.reshape(g, np.shape(a))}


for _n in ("reshape", "ravel", "squeeze", "expand_dims"):
    FUNC[_n] = _reshape_back


@_f("atleast_1d", "atleast_2d", "atleast_3d")
def _atleast(g, ans, *arys):
    if len(arys) != 1:
        return {"arys": [np.reshape(gi, np.shape(a)) for gi, a in zip(g, arys)]}
    return {0: np.reshape(g, np.shape(arys[0]))}


@_f("ndarray.flatten")
def _flatten(g, ans, self, *args, **kwargs):
    return {"self": np.reshape(g, np.shape(self))}


def _identity(name):
    def rule(g, ans, *args, **kwargs):
        return {0 if args else name: g}     # an int key: that positional argument
    return rule


for _n, _p in [("astype", "x"), ("copy", "a"), ("asarray", "a"), ("asanyarray", "a"),
               ("ascontiguousarray", "a"), ("asfortranarray", "a"), ("require", "a"),
               ("ndarray.copy", "self"), ("ndarray.astype", "self"), ("ndarray.view", "self"),
               ("broadcast_to", "array"), ("real", "val")]:
    FUNC[_n] = _identity(_p)


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


@_f("repeat")
def _repeat(g, ans, a, repeats, axis=None):
    if not isinstance(repeats, (int, np.integer)):
        raise DifferentiationError("the gradient of np.repeat with per-element repeats is "
                                   "not supported")
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


# ============================================================================ selection
@_f("where")
def _where(g, ans, condition, x=None, y=None):
    return {"x": Cotangent(np.where(condition, g, 0), condition),
            "y": Cotangent(np.where(condition, 0, g), np.logical_not(condition))}


@_f("clip")
def _clip(g, ans, a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue,
          max=np._NoValue, **kwargs):
    lo = a_min if a_min is not np._NoValue else min
    hi = a_max if a_max is not np._NoValue else max
    lo = None if lo is np._NoValue else lo
    hi = None if hi is np._NoValue else hi
    inside = np.ones(np.shape(a), dtype=bool)
    res: dict = {}
    if lo is not None:
        inside = inside & (a >= lo)
        res["a_min"] = res["min"] = np.where(a < lo, g, 0)
    if hi is not None:
        inside = inside & (a <= hi)
        over = (a > hi) if lo is None else (a > hi) & (a >= lo)
        res["a_max"] = res["max"] = np.where(over, g, 0)
    res["a"] = np.where(inside, g, 0)
    return res


def _has_int_index(index: Any) -> bool:
    from ..tracer import Tracer
    items = index if isinstance(index, tuple) else (index,)
    for i in items:
        if isinstance(i, list):
            return True
        if isinstance(i, (NDARRAY, Tracer)) and np.result_type(i).kind in "iu":
            return True
    return False


def _zeros_for(x, g):
    return np.zeros(np.shape(x), dtype=np.result_type(g))


@_f("getitem")
def _getitem(g, ans, a, b):
    ct = _zeros_for(a, g)
    if _has_int_index(b):
        np.add.at(ct, b, g)          # repeated indices accumulate
    else:
        ct[b] = g
    return {"a": ct}


@_f("take")
def _take(g, ans, a, indices, axis=None, out=None, mode="raise"):
    n = np.size(a) if axis is None else np.shape(a)[axis]
    idx = indices
    if mode == "wrap":
        idx = np.mod(indices, n)
    elif mode == "clip":
        idx = np.clip(indices, 0, n - 1)
    if axis is None:
        ct = np.zeros(np.size(a), dtype=np.result_type(g))
        np.add.at(ct, idx, g)
        return {"a": np.reshape(ct, np.shape(a))}
    ct = _zeros_for(a, g)
    np.add.at(ct, (slice(None),) * (axis % np.ndim(a)) + (idx,), g)
    return {"a": ct}


def _along_axis_index(shape: tuple, indices: Any, axis: int) -> tuple:
    """The full index tuple that ``take_along_axis(x, indices, axis)`` reads."""
    nd = len(shape)
    ishape = np.shape(indices)
    index = []
    for d in range(nd):
        if d == axis:
            index.append(indices)
        else:
            shp = [1] * nd
            shp[d] = ishape[d]
            index.append(np.reshape(np.arange(ishape[d]), shp))
    return tuple(index)


def _scatter_add(shape: tuple, index: Any, g: Any) -> Any:
    ct = np.zeros(shape, dtype=np.result_type(g))
    np.add.at(ct, index, g)
    return ct


@_f("take_along_axis")
def _take_along_axis(g, ans, arr, indices, axis=-1):
    if axis is None:
        return {"arr": np.reshape(_scatter_add((np.size(arr),), indices, g), np.shape(arr))}
    ax = axis % np.ndim(arr)
    return {"arr": _scatter_add(np.shape(arr), _along_axis_index(np.shape(arr), indices, ax), g)}


@_f("compress")
def _compress(g, ans, condition, a, axis=None, out=None):
    idx = np.flatnonzero(np.asarray(condition))
    if axis is None:
        ct = np.zeros(np.size(a), dtype=np.result_type(g))
        ct[idx] = g
        return {"a": np.reshape(ct, np.shape(a))}
    ct = _zeros_for(a, g)
    ct[(slice(None),) * (axis % np.ndim(a)) + (idx,)] = g
    return {"a": ct}


@_f("choose")
def _choose(g, ans, a, choices, out=None, mode="raise"):
    return {"choices": [np.where(a == i, g, 0) for i in range(len(choices))]}


@_f("sort")
def _sort(g, ans, a, axis=-1, kind=None, order=None, *, stable=None):
    if axis is None:
        perm = np.argsort(np.ravel(a), kind="stable")
        ct = np.zeros(np.size(a), dtype=np.result_type(g))
        ct[perm] = g
        return {"a": np.reshape(ct, np.shape(a))}
    perm = np.argsort(a, axis=axis, kind="stable")
    return {"a": np.take_along_axis(g, np.argsort(perm, axis=axis, kind="stable"), axis=axis)}


@_f("partition")
def _partition(g, ans, a, kth, axis=-1, kind="introselect", order=None):
    # Each result element is an element of a: match them through stable sorts of both
    # (ties hold equal values, so any matching gives the same gradient).
    src = np.ravel(a) if axis is None else a
    ax = (-1 if axis is None else axis) % np.ndim(src)
    perm_a = np.argsort(src, axis=ax, kind="stable")
    perm_r = np.argsort(ans, axis=ax, kind="stable")
    g_sorted = np.take_along_axis(g, perm_r, axis=ax)
    ct = _scatter_add(np.shape(src), _along_axis_index(np.shape(src), perm_a, ax), g_sorted)
    return {"a": np.reshape(ct, np.shape(a)) if axis is None else ct}


def _sorted_quantile(a, q, axis, keepdims):
    """Linear-interpolation quantiles (NumPy's default method) from a full sort."""
    if axis is None:
        a, axis = np.ravel(a), 0
    ax = axis % np.ndim(a)
    s = np.sort(a, axis=ax)
    n = np.shape(a)[ax]
    qs = np.asarray(q, dtype=np.float64)
    pos = qs * (n - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    frac = (pos - lo).astype(np.result_type(a, 0.5)) if np.result_type(a).kind == "f" else pos - lo
    t_lo = np.moveaxis(np.take(s, lo.ravel(), axis=ax), ax, 0)
    t_hi = np.moveaxis(np.take(s, hi.ravel(), axis=ax), ax, 0)
    fr = np.reshape(frac.ravel(), (-1,) + (1,) * (np.ndim(a) - 1))
    r = t_lo + (t_hi - t_lo) * fr
    r = np.reshape(r, qs.shape + np.shape(r)[1:])
    if keepdims:
        r = np.expand_dims(r, qs.ndim + ax)
    return r


def _quantile_via(a, q, axis, keepdims, method):
    if method != "linear":
        raise DifferentiationError(f"the gradient of quantiles with method={method!r} is not "
                                   f"supported (method='linear' is)")
    from ..tracer import Tracer
    if isinstance(q, Tracer):
        raise DifferentiationError("the gradient of quantiles at traced q is not supported")
    return Via(lambda a: _sorted_quantile(a, q, axis, keepdims), a)


@_f("quantile")
def _quantile(g, ans, a, q, axis=None, out=None, overwrite_input=False, method="linear",
              keepdims=False, *, weights=None, interpolation=None):
    return _quantile_via(a, q, axis, keepdims, method)


@_f("percentile")
def _percentile(g, ans, a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=False, *, weights=None, interpolation=None):
    return _quantile_via(a, np.asarray(q) / 100.0, axis, keepdims, method)


@_f("median")
def _median(g, ans, a, axis=None, out=None, overwrite_input=False, keepdims=False):
    return _quantile_via(a, 0.5, axis, keepdims, "linear")


@_f("pad")
def _pad(g, ans, array, pad_width, mode="constant", **kwargs):
    if mode != "constant":
        raise DifferentiationError(f"the gradient of np.pad(mode={mode!r}) is not supported "
                                   f"(mode='constant' is)")
    nd = np.ndim(array)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.intp).reshape(-1, 2)
                             if np.ndim(pad_width) else np.asarray(pad_width), (nd, 2))
    idx = tuple(slice(int(b), int(b) + n) for (b, _), n in zip(widths, np.shape(array)))
    return {"array": g[idx]}


def _cov_impl(m, y, rowvar, bias, ddof, dtype):
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
    n = x.shape[1]
    xc = x - np.mean(x, axis=1, keepdims=True)
    c = np.matmul(xc, np.conjugate(xc.T)) / max(n - ddof, 0)
    return np.squeeze(c)


@_f("cov")
def _cov(g, ans, m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None,
         *, dtype=None):
    if fweights is not None or aweights is not None:
        raise DifferentiationError("the gradient of np.cov with weights is not supported")
    return Via(lambda m, y: _cov_impl(m, y, rowvar, bias, ddof, dtype), m, y)


@_f("corrcoef")
def _corrcoef(g, ans, x, y=None, rowvar=True, *, dtype=None, **kwargs):
    def impl(x, y):
        c = _cov_impl(x, y, rowvar, False, None, dtype)
        d = np.diag(c)
        sd = np.sqrt(np.real(d))
        return np.clip(c / sd[:, None] / sd[None, :], -1, 1)
    return Via(impl, x, y)


def _vector_norm_ct(g, ans, x, ord, axis, keepdims):
    shape = np.shape(x)
    ge = _expand(g, shape, axis, keepdims)
    ae = _expand(ans, shape, axis, keepdims)
    absx = np.abs(x)
    unit = np.where(absx == 0, 0, np.conjugate(x) / np.where(absx == 0, 1, absx))  # d|x|
    if ord is None or ord == 2:
        return ge * np.where(ae == 0, 0, np.conjugate(x) / np.where(ae == 0, 1, ae))
    if ord == 1:
        return ge * unit
    if ord == np.inf or ord == -np.inf:
        hit = absx == ae
        n = np.sum(hit, axis=_axes(axis, len(shape)), keepdims=True)
        return ge * unit * hit / np.maximum(n, 1)
    if ord == 0:
        return None
    p = float(ord)
    return ge * unit * np.power(absx, p - 1) / np.power(np.where(ae == 0, 1, ae), p - 1)


@_f("linalg.norm")
def _norm(g, ans, x, ord=None, axis=None, keepdims=False):
    nd = np.ndim(x)
    if axis is None and (ord is None or (ord == "fro" and nd == 2) or (nd == 1)):
        return {"x": _vector_norm_ct(g, ans, x, 2 if ord in (None, "fro") else ord, None, keepdims)}
    if isinstance(axis, (int, np.integer)) or (isinstance(axis, tuple) and len(axis) == 1):
        return {"x": _vector_norm_ct(g, ans, x, ord, axis, keepdims)}
    if ord in (None, "fro"):
        return {"x": _vector_norm_ct(g, ans, x, 2, axis, keepdims)}
    raise DifferentiationError(f"the gradient of matrix norms with ord={ord!r} is not supported")


@_f("linalg.vector_norm")
def _vnorm(g, ans, x, /, *, axis=None, keepdims=False, ord=2):
    return {"x": _vector_norm_ct(g, ans, x, ord, axis, keepdims)}


@_f("linalg.matrix_norm")
def _mnorm(g, ans, x, /, *, keepdims=False, ord="fro"):
    if ord != "fro":
        raise DifferentiationError(f"the gradient of matrix norms with ord={ord!r} is not supported")
    return {"x": _vector_norm_ct(g, ans, x, 2, (-2, -1), keepdims)}


# ============================================================================ linear algebra
@_f("dot")
def _dot(g, ans, a, b, out=None):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return {"a": g * b, "b": g * a}
    if np.ndim(b) <= 2:
        ga, gb = _matmul(g, ans, a, b)
        return {"a": ga, "b": gb}
    letters = "abcdefghijklmnopqrstuvw"
    na, nb = np.ndim(a), np.ndim(b)
    sa = letters[:na]
    sb = letters[na:na + nb - 2] + sa[-1] + letters[na + nb - 2]
    so = sa[:-1] + sb[:-2] + sb[-1]
    return _einsum_cts(g, f"{sa},{sb}->{so}", [a, b], {"a": 0, "b": 1})


@_f("vdot")
def _vdot(g, ans, a, b):
    return {"a": np.reshape(np.conjugate(g * np.ravel(b)), np.shape(a)),
            "b": np.reshape(g * np.conjugate(np.ravel(a)), np.shape(b))}


@_f("inner")
def _inner(g, ans, a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return {"a": g * b, "b": g * a}
    letters = "abcdefghijklmnopqrstuvw"
    na, nb = np.ndim(a), np.ndim(b)
    sa = letters[:na - 1] + "z"
    sb = letters[na - 1:na + nb - 2] + "z"
    return _einsum_cts(g, f"{sa},{sb}->{sa[:-1] + sb[:-1]}", [a, b], {"a": 0, "b": 1})


@_f("outer")
def _outer(g, ans, a, b, out=None):
    return {"a": np.reshape(np.matmul(g, np.ravel(b)), np.shape(a)),
            "b": np.reshape(np.matmul(np.ravel(a), g), np.shape(b))}


def _parse_einsum(subscripts: str, shapes: list) -> tuple[list[str], str]:
    sub = subscripts.replace(" ", "")
    if "->" in sub:
        ins, out = sub.split("->")
    else:
        ins, out = sub, None
    parts = ins.split(",")
    used = set(c for c in sub if c.isalpha())
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used]
    ell_n = max((len(s) - (len(p) - 3) for p, s in zip(parts, shapes) if "..." in p), default=0)
    ell = "".join(free[:ell_n])
    fixed = []
    for p, s in zip(parts, shapes):
        if "..." in p:
            k = len(s) - (len(p) - 3)
            p = p.replace("...", ell[ell_n - k:] if k else "")
        fixed.append(p)
    if out is None:
        counts: dict[str, int] = {}
        for p in fixed:
            for c in p:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return fixed, out


def _einsum_cts(g, subscripts, operands, names):
    shapes = [np.shape(o) for o in operands]
    ins, out = _parse_einsum(subscripts, shapes)
    res: dict = {}
    for name, i in names.items():
        sub = ins[i]
        if len(set(sub)) != len(sub):
            raise DifferentiationError(f"the gradient of einsum with a repeated index in one "
                                       f"operand ({sub!r}) is not supported")
        others = [(ins[j], operands[j]) for j in range(len(operands)) if j != i]
        present = set(out).union(*(set(s) for s, _ in others))
        target = "".join(c for c in sub if c in present)
        spec = ",".join([out] + [s for s, _ in others]) + "->" + target
        ct = np.einsum(spec, g, *[o for _, o in others])
        if target != sub:       # indices summed inside this operand alone: broadcast back
            ct = np.reshape(ct, [shapes[i][k] if c in target else 1 for k, c in enumerate(sub)])
            ct = np.broadcast_to(ct, shapes[i])
        res[name] = ct
    return res


@_f("einsum")
def _einsum(g, ans, *operands, out=None, **kwargs):
    if not operands or not isinstance(operands[0], str):
        raise DifferentiationError("the gradient of einsum is supported for the subscripts "
                                   "string form only")
    subscripts, arrays = operands[0], list(operands[1:])
    cts = _einsum_cts(g, subscripts, arrays, {k: k for k in range(len(arrays))})
    return {"operands": [None] + [cts[k] for k in range(len(arrays))]}


def _mT_(x):
    return np.swapaxes(x, -1, -2)


@_f("linalg.solve")
def _solve(g, ans, a, b):
    vec = np.ndim(b) == 1
    gb = np.linalg.solve(_mT_(a), g)
    if vec:
        ga = -np.expand_dims(gb, -1) * np.expand_dims(ans, -2)
    else:
        ga = -np.matmul(gb, _mT_(ans))
    return {"a": ga, "b": gb}


@_f("linalg.inv")
def _inv(g, ans, a):
    t = _mT_(ans)
    return {"a": -np.matmul(np.matmul(t, g), t)}


@_f("linalg.det")
def _det(g, ans, a):
    ge = np.expand_dims(np.expand_dims(g * ans, -1), -1)
    return {"a": ge * _mT_(np.linalg.inv(a))}


@_f("linalg.slogdet")
def _slogdet(g, ans, a):
    g_log = g[1]
    if g_log is None:
        return {}
    ge = np.expand_dims(np.expand_dims(g_log, -1), -1)
    return {"a": ge * _mT_(np.linalg.inv(a))}


# ============================================================================ in-place writes
def _copy_with_region(sweep: Sweep, node: Node, g: Any, value: Any, index: Any = None) -> Any:
    """A copy of ``g`` whose written region (``index`` within the chain) holds ``value``."""
    out = np.copy(g)
    region = out
    for step in node.params.chain:
        region = step.apply(region)
    if index is None:
        region[...] = value
    else:
        region[index] = value
    return out


def _region(node: Node, x: Any) -> Any:
    for step in node.params.chain:
        x = step.apply(x)
    return x


def _mutate_rule(sweep: Sweep, node: Node, g: Any) -> list:
    """A functional in-place write: the written region's cotangent goes to what was
    written, the rest of the buffer's to the buffer before the write."""
    op: MutateOp = node.op
    inner = op.inner
    ins = [sweep.proxy(v) for v in node.inputs]
    args, kwargs = node.params.call.fill(ins[1:])
    base_var = node.inputs[0]
    region_g = _region(node, g)
    out: list = []
    ufunc = getattr(inner, "ufunc", None)
    method = getattr(inner, "method", None)
    if inner is SETITEM:
        _, index, value = args
        sub = region_g[index]
        out.append((base_var, _copy_with_region(sweep, node, g, 0, index)))
        out += pairs(value, sub)
        return out
    if ufunc is not None and method == "__call__":
        kw = dict(kwargs)
        kw.pop("out", None)
        kw.pop("casting", None)
        where = kw.pop("where", True)
        # The written value, computed functionally (a new node), then its own rule.
        start = len(sweep.ctx.nodes)
        res = ufunc(*args, **kw)
        k = int(inner.name.rpartition("[out=")[2].rstrip("]")) if "[out=" in inner.name else 0
        value = res[k] if isinstance(res, tuple) else res
        new_nodes = sweep.ctx.nodes[start:]
        ct_v = region_g if not _where_given(where) else np.where(where, region_g, 0)
        keep = 0 if not _where_given(where) else np.where(where, 0, region_g)
        out.append((base_var, _copy_with_region(sweep, node, g, keep)))
        vvar = getattr(value, "graph_var", None)
        if vvar is not None and new_nodes:
            wrt = [v for v in node.inputs[1:] if not isinstance(v, Literal)]
            cts = backward(sweep.ctx, new_nodes, {vvar.id: Cotangent(ct_v)}, wrt, sweep)
            out += [(v, c) for v, c in zip(wrt, cts) if c is not None]
        return out
    if ufunc is not None and method == "at":
        target, indices = args[0], args[1]
        b = args[2] if len(args) > 2 else None
        if ufunc is np.add or ufunc is np.subtract:
            out.append((base_var, g))
            if b is not None:
                sub = region_g[indices]
                out += pairs(b, sub if ufunc is np.add else -sub)
            return out
    if inner.name == "copyto":
        bound = inspect.signature(np.copyto).bind(*args, **kwargs).arguments
        where = bound.get("where", True)
        src = bound["src"]
        if _where_given(where):
            out.append((base_var, _copy_with_region(sweep, node, g, np.where(where, 0, region_g))))
            out += pairs(src, np.where(where, region_g, 0))
        else:
            out.append((base_var, _copy_with_region(sweep, node, g, 0)))
            out += pairs(src, region_g)
        return out
    if inner.name == "ndarray.fill":
        out.append((base_var, _copy_with_region(sweep, node, g, 0)))
        out += pairs(args[1], np.sum(region_g))
        return out
    if inner.name == "ndarray.sort":
        old = _region(node, ins[0])
        axis = kwargs.get("axis", args[1] if len(args) > 1 else -1)
        perm = np.argsort(old, axis=axis, kind="stable")
        unsorted = np.take_along_axis(region_g, np.argsort(perm, axis=axis, kind="stable"),
                                      axis=axis)
        out.append((base_var, _copy_with_region(sweep, node, g, unsorted)))
        return out
    raise DifferentiationError(f"no gradient rule for the in-place {inner.name}",
                               source=node.source)


# ============================================================================ dispatch
def rule_kind(name: str, op: Any = None) -> str | None:
    """How op ``name`` is differentiated: 'rule', 'zero', 'nondiff', 'decompose', or None."""
    if name in UFUNC or name in FUNC:
        return "rule"
    if name in ZERO:
        return "zero"
    if name in NONDIFF or name.startswith("random.") or (op is not None and op.category in
                                                         ("random", "bits")):
        return "nondiff"
    if isinstance(op, MutateOp):
        return "rule"
    fn = getattr(op, "fn", None)
    if isinstance(getattr(fn, "_implementation", None), types.FunctionType):
        return "decompose"
    if isinstance(fn, types.FunctionType) and getattr(fn, "__module__", "").startswith("numpy"):
        return "decompose"
    return None


_SIGS: dict[Callable, inspect.Signature] = {}


def _bind(rule: Callable, g: Any, ans: Any, args: tuple, kwargs: dict) -> inspect.BoundArguments:
    sig = _SIGS.get(rule)
    if sig is None:
        sig = _SIGS[rule] = inspect.signature(rule)
    return sig.bind(g, ans, *args, **kwargs)


def apply_rule(sweep: Sweep, node: Node, outs: list, active: set) -> list[tuple[Any, Cotangent]]:
    """The (input variable, Cotangent) contributions of one node's rule."""
    op = node.op
    name = op.name
    if isinstance(op, MutateOp):
        g = outs[0].value
        return [(v, c if isinstance(c, Cotangent) else Cotangent(c))
                for v, c in _mutate_rule(sweep, node, g)]
    if name in ZERO or name in NONDIFF or name.startswith("random.") or op.category == "random":
        return []
    ins = [sweep.proxy(v) for v in node.inputs]
    args, kwargs = node.params.fill(ins)
    single = len(node.outputs) == 1 and node.params.out_tree == "*"
    ans = sweep.proxy(node.outputs[0]) if single else [sweep.proxy(o) for o in node.outputs]
    mask = None
    if single:
        g = outs[0].value
        mask = outs[0].mask
    else:
        g = [None if c is None else c.value for c in outs]
        ans = _unflatten_outputs(node, ans)
        g = _unflatten_outputs(node, g)
    rule = UFUNC.get(name)
    try:
        if rule is not None and (getattr(op, "method", None) == "__call__" or name.startswith("py.")):
            nin = getattr(getattr(op, "ufunc", None), "nin", len(args))
            cts = rule(g, ans, *args[:nin])
            if _where_given(kwargs.get("where", True)):
                cts = tuple(None if c is None else np.where(kwargs["where"], c, 0) for c in cts)
            if mask is not None:
                cts = tuple(None if c is None else np.where(mask, c, 0) for c in cts)
            res = pairs(tuple(args[:nin]), cts)
            return [(v, Cotangent(c, mask)) for v, c in res]
        rule = FUNC.get(name)
        if rule is not None:
            bound = _bind(rule, g, ans, args, kwargs)
            cts = rule(*bound.args, **bound.kwargs)
            if isinstance(cts, Via):
                return _decompose(sweep, node, outs, cts.args, cts.kwargs, impl=cts.fn)
            result = []
            for pname, ct in cts.items():
                if isinstance(pname, int):
                    target = args[pname]
                elif pname in bound.arguments:
                    target = bound.arguments[pname]
                else:
                    continue
                if isinstance(ct, Cotangent):
                    result += [(v, Cotangent(c, ct.mask)) for v, c in pairs(target, ct.value)]
                else:
                    result += [(v, Cotangent(c)) for v, c in pairs(target, ct)]
            return result
        return _decompose(sweep, node, outs, args, kwargs)
    except DifferentiationError as e:
        if e.source is None:
            e.source = node.source
        raise
    except TracenpError as e:
        raise DifferentiationError(f"the gradient of {name} could not be built: {e.reason}",
                                   source=node.source) from e


def _unflatten_outputs(node: Node, values: list) -> Any:
    from ..graph.pytree import unflatten
    p = node.params
    if p.out_tree == "*":
        return values[0]
    leaves = [None] * _count_leaves(p.out_tree)
    for j, i in enumerate(p.out_arrays):
        leaves[i] = values[j]
    return unflatten(p.out_tree, leaves)


def _count_leaves(tree: Any) -> int:
    if tree == "*":
        return 1
    n, stack = 0, [tree]
    while stack:
        t = stack.pop()
        if t == "*":
            n += 1
        else:
            stack.extend(t[2])
    return n


def _decompose(sweep: Sweep, node: Node, outs: list, args: tuple, kwargs: dict,
               impl: Callable | None = None) -> list:
    """Differentiate a NumPy function through its own Python implementation (or the
    equivalent ``impl`` a rule gave): trace it again on proxies (more nodes, made of ops
    that have rules) and sweep those."""
    op = node.op
    fn = getattr(op, "fn", None)
    if impl is None:
        impl = getattr(fn, "_implementation", None)
    if not isinstance(impl, types.FunctionType):
        impl = fn if isinstance(fn, types.FunctionType) and \
            getattr(fn, "__module__", "").startswith("numpy") else None
    if impl is None:
        raise DifferentiationError(
            f"no gradient rule for {op.name} (it is implemented in C, and tracenp has no "
            f"rule for it yet)", source=node.source,
            hint="see docs/autodiff.md for the differentiable functions; rewrite the line "
                 "with functions that have rules, or report the missing rule")
    ctx = sweep.ctx
    start = len(ctx.nodes)
    try:
        res = impl(*args, **kwargs)
    except TracenpError as e:
        raise DifferentiationError(
            f"no gradient rule for {op.name}, and its NumPy implementation does not trace "
            f"({type(e).__name__}: {e.reason})", source=node.source) from e
    except Exception as e:
        raise DifferentiationError(
            f"no gradient rule for {op.name}, and its NumPy implementation does not trace "
            f"({type(e).__name__}: {e})", source=node.source) from e
    leaves, _ = flatten(res)
    produced = [leaves[i] for i in node.params.out_arrays] if len(leaves) > 1 or \
        node.params.out_tree != "*" else leaves
    seeds: dict[int, Cotangent] = {}
    direct: list = []
    in_ids = {v.id for v in node.inputs}
    for leaf, ct in zip(produced, outs):
        if ct is None:
            continue
        v = getattr(leaf, "graph_var", None)
        if v is None:
            continue
        if v.id in in_ids:
            direct.append((v, Cotangent(ct.value, ct.mask)))
        elif v.id in seeds:
            seeds[v.id] = Cotangent(np.add(seeds[v.id].value, ct.value))
        else:
            seeds[v.id] = Cotangent(ct.value, ct.mask)
    wrt = [v for v in node.inputs if not isinstance(v, Literal)]
    cts = backward(ctx, ctx.nodes[start:], seeds, wrt, sweep) if seeds else [None] * len(wrt)
    return direct + [(v, Cotangent(c)) for v, c in zip(wrt, cts) if c is not None]
