"""Vector-Jacobian rules: one per op, written in plain NumPy.

Each rule maps the cotangent ``g`` of an op's result (and the result ``ans`` and the op's
own arguments) to the cotangents of its arguments.  Rules run on proxies inside a trace,
so what they compute becomes graph nodes.  Broadcasting is undone, and cotangents are
cast to each input's dtype, by the sweep (:func:`tracenp.autodiff.backward.fit`), so a
rule may return a cotangent of the broadcast shape.

Tables, all keyed by op name (``tracenp.graph.catalog``):

* ``UFUNC``: ``rule(g, ans, *inputs) -> tuple`` for a ufunc call (and for the Python
  scalar operators ``py.*``); other methods of a ufunc with a rule (``reduce``,
  ``accumulate``, ``reduceat``, ``outer``) are differentiated as the equivalent calls;
* ``FUNC``: ``rule(g, ans, *args, **kwargs)`` for a function, bound with NumPy's own
  parameter names.  It returns a dict (parameter name -> cotangent, a pytree like that
  argument), or one of: a :class:`Via` (differentiate this equivalent code instead),
  a :class:`Linear` (the derivative as a linear map of tangents: its transpose is
  swept), ``SELECT`` (the call only moves elements: :func:`_selection`);
* ``SELECTIONS``: functions that only move elements (``np.insert``, ``np.tile``, ...);
* ``MUTATE``: in-place writes (``x[i] = v``, ``np.put``, ``np.add.at``, ``ndarray.sort``);
  any call with ``out=`` is differentiated as the same call without it;
* ``ZERO``: ops whose derivative is zero wherever it exists (``floor``, ``sign``, ...);
* ``NONDIFF``: ops with integer or boolean results, and random draws; a cotangent that
  reaches one (a float result: random draws, histogram densities) raises;
* ``NO_RULE_YET``: ops with no rule yet, and why: ``grad`` raises, naming the line;
* everything else that NumPy implements in Python is differentiated through its own
  implementation (``decompose``), e.g. ``np.ptp`` via ``max`` and ``min``.

A rule that differentiates equivalent code (a :class:`Via`) is checked, on the trace's
values, to compute the op's own result: where it does not (an argument the rule does not
cover), ``grad`` raises instead of returning a wrong gradient.  :data:`GRAD` is the
``grad`` column of ``docs/supported.md`` (``tracenp.coverage``).

Complex numbers follow JAX's convention: a rule is the transpose of the op's R-linear
derivative under the pairing ``Re(a * b)`` (no conjugation), so holomorphic rules read
exactly as their real versions, and ``grad`` of a real function of ``z`` returns
``conj(df/dz)``-style values (``grad(abs(z)**2) == 2 * conj(z)``).
"""
from __future__ import annotations

import inspect
import math
import types
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from .._ndarray import NDARRAY
from ..errors import DifferentiationError, TracenpError
from ..graph.ir import Literal, Node
from ..graph.ops import TARGET, MutateOp
from ..graph.pytree import LEAF, flatten, unflatten
from .backward import Cotangent, Sweep, backward, pairs

__all__ = ["UFUNC", "FUNC", "ZERO", "NONDIFF", "NO_RULE_YET", "MUTATE", "SELECTIONS", "Via",
           "Linear", "SELECT", "GRAD", "apply_rule", "rule_kind"]

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


@_u("divmod", "py.divmod")
def _divmod(g, ans, x, y):
    gr = g[1]           # the quotient is piecewise constant
    return (None, None) if gr is None else (gr, -gr * ans[0])


@_u("modf")
def _modf(g, ans, x):
    return (g[0],)      # the integral part is piecewise constant


@_u("frexp")
def _frexp(g, ans, x):
    return (None,) if g[0] is None else (np.ldexp(g[0], -ans[1]),)   # x = m * 2**e


_u("py.real")(lambda g, ans, x: (g,))
_u("py.imag")(lambda g, ans, x: (np.multiply(g, -1j),))


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
ZERO = set("""floor ceil trunc rint round around fix floor_divide spacing py.floordiv
    py.round zeros_like ones_like empty_like""".split())


@_u("sign")
def _sign(g, ans, x):
    # piecewise constant for reals; z / |z| for complex (NumPy 2)
    if np.result_type(x).kind != "c":
        return (None,)
    r = np.abs(x)
    ct = (g - np.real(g * ans) * np.conjugate(ans)) / np.where(r == 0, 1, r)
    return (np.where(r == 0, 0, ct),)

# nextafter(x, y) is x moved by one unit in the last place: x's derivative is 1.
_u("nextafter")(lambda g, ans, x, y: (g, None))
# heaviside(x, h0) is h0 where x == 0 (piecewise constant in x).
_u("heaviside")(lambda g, ans, x, h0: (None, g * (x == 0)))



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


# ============================================================================ shape
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


# ============================================================================ selection
@_f("where")
def _where(g, ans, condition, x=None, y=None):
    return {"x": Cotangent(np.where(condition, g, 0), condition),
            "y": Cotangent(np.where(condition, 0, g), np.logical_not(condition))}


@_f("clip")
def _clip(g, ans, a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue,
          max=np._NoValue, **kwargs):
    # clip(a, lo, hi) is minimum(maximum(a, lo), hi): hi wins where maximum(a, lo) > hi
    # (even where lo > hi), lo where a < lo <= hi, a where lo <= a <= hi.
    lo = a_min if a_min is not np._NoValue else min
    hi = a_max if a_max is not np._NoValue else max
    lo = None if lo is np._NoValue else lo
    hi = None if hi is np._NoValue else hi
    res: dict = {}
    inside = None
    if lo is not None:
        inside = a >= lo
        low = a < lo
        if hi is not None:
            low = low & (lo <= hi)
        res["a_min"] = res["min"] = np.where(low, g, 0)
    if hi is not None:
        top = np.maximum(a, lo) if lo is not None else a
        over = top > hi
        res["a_max"] = res["max"] = np.where(over, g, 0)
        inside = (a <= hi) if inside is None else inside & (a <= hi)
    res["a"] = g if inside is None else np.where(inside, g, 0)
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


def _along_axis_index(shape: tuple, indices: Any, axis: int, out_shape: tuple | None = None) -> tuple:
    """The full index tuple that ``take_along_axis(x, indices, axis)`` reads (``indices``
    and ``x`` broadcast against each other in the other dimensions, to ``out_shape``)."""
    nd = len(shape)
    out_shape = tuple(np.shape(indices)) if out_shape is None else tuple(out_shape)
    index = []
    for d in range(nd):
        if d == axis:
            index.append(indices)
        else:
            shp = [1] * nd
            shp[d] = out_shape[d]
            n = out_shape[d] if shape[d] != 1 else 1
            index.append(np.reshape(np.arange(n), [n if i == d else 1 for i in range(nd)]) if
                         n == out_shape[d] else np.zeros(shp, dtype=np.intp))
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
    return {"arr": _scatter_add(np.shape(arr),
                                _along_axis_index(np.shape(arr), indices, ax, np.shape(ans)), g)}


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
    n = len(choices)
    if mode == "wrap":
        a = np.mod(a, n)
    elif mode == "clip":
        a = np.clip(a, 0, n - 1)
    return {"choices": [np.where(a == i, g, 0) for i in range(n)]}


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
    from ..tracer import Tracer
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


@_f("pad")
def _pad(g, ans, array, pad_width, mode="constant", **kwargs):
    from ..tracer import Tracer
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


def _matrix_norm_impl(x, ord, axis, keepdims):
    """NumPy's matrix norms (ord 1, -1, inf, -inf, 'fro', 'nuc', 2, -2) over ``axis``."""
    nd = np.ndim(x)
    row, col = (int(a) % nd for a in axis)
    if ord in (None, "fro"):
        r = np.sqrt(np.sum(np.real(np.conjugate(x) * x), axis=(row, col)))
    elif ord in (1, -1, np.inf, -np.inf):
        red = np.max if ord in (1, np.inf) else np.min
        if ord in (1, -1):
            r = red(np.sum(np.abs(x), axis=row), axis=col - 1 if col > row else col)
        else:
            r = red(np.sum(np.abs(x), axis=col), axis=row - 1 if row > col else row)
    elif ord in ("nuc", 2, -2):
        sv = np.linalg.svd(np.moveaxis(x, (row, col), (-2, -1)), compute_uv=False)
        r = np.sum(sv, axis=-1) if ord == "nuc" else (np.max(sv, axis=-1) if ord == 2
                                                       else np.min(sv, axis=-1))
    else:
        raise DifferentiationError(f"the gradient of matrix norms with ord={ord!r} is not "
                                   f"supported")
    if keepdims:
        r = np.expand_dims(r, tuple(sorted((row, col))))
    return r


@_f("linalg.norm")
def _norm(g, ans, x, ord=None, axis=None, keepdims=False):
    nd = np.ndim(x)
    if axis is None and (ord is None or (ord == "fro" and nd == 2) or (nd == 1)):
        return {"x": _vector_norm_ct(g, ans, x, 2 if ord in (None, "fro") else ord, None, keepdims)}
    if isinstance(axis, (int, np.integer)) or (isinstance(axis, tuple) and len(axis) == 1):
        return {"x": _vector_norm_ct(g, ans, x, ord, axis, keepdims)}
    if ord in (None, "fro"):
        return {"x": _vector_norm_ct(g, ans, x, 2, axis, keepdims)}
    ax = (0, 1) if axis is None else tuple(axis)
    return Via(lambda x: _matrix_norm_impl(x, ord, ax, keepdims), x)


@_f("linalg.vector_norm")
def _vnorm(g, ans, x, /, *, axis=None, keepdims=False, ord=2):
    return {"x": _vector_norm_ct(g, ans, x, ord, axis, keepdims)}


@_f("linalg.matrix_norm")
def _mnorm(g, ans, x, /, *, keepdims=False, ord="fro"):
    if ord == "fro":
        return {"x": _vector_norm_ct(g, ans, x, 2, (-2, -1), keepdims)}
    return Via(lambda x: _matrix_norm_impl(x, ord, (-2, -1), keepdims), x)


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


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum_cts(g, subscripts, operands, names):
    shapes = [np.shape(o) for o in operands]
    ins, out = _parse_einsum(subscripts, shapes)
    used = set("".join(ins) + out)
    spare = iter([c for c in _LETTERS if c not in used])
    res: dict = {}
    for name, i in names.items():
        sub = ins[i]
        uniq = "".join(dict.fromkeys(sub))
        dims = {c: shapes[i][k] for k, c in enumerate(sub)}
        others = [(ins[j], operands[j]) for j in range(len(operands)) if j != i]
        present = set(out).union(*(set(s) for s, _ in others))
        target = "".join(c for c in uniq if c in present)
        spec = ",".join([out] + [s for s, _ in others]) + "->" + target
        ct = np.einsum(spec, g, *[o for _, o in others])
        if target != uniq:      # indices summed inside this operand alone: broadcast back
            ct = np.reshape(ct, [dims[c] if c in target else 1 for c in uniq])
            ct = np.broadcast_to(ct, [dims[c] for c in uniq])
        if uniq != sub:         # a repeated index (a diagonal): back onto the diagonal
            seen: set = set()
            full, eyes = "", []
            for c in sub:
                if c in seen:
                    d = next(spare)
                    full += d
                    eyes.append((c + d, dims[c]))
                else:
                    seen.add(c)
                    full += c
            ct = np.einsum(",".join([uniq] + [e for e, _ in eyes]) + "->" + full, ct,
                           *[np.eye(n) for _, n in eyes])
        res[name] = ct
    return res


def _sublist_subscripts(operands: tuple) -> tuple[str, list[int]]:
    """``einsum(a, [0, 1], b, [1, 2], [0, 2])`` as ``"ab,bc->ac"`` and the positions of
    the arrays among the operands."""
    def letters(sub):
        return "".join("..." if x is Ellipsis else _LETTERS[int(x)] for x in sub)
    n = len(operands) // 2
    parts = [letters(operands[2 * k + 1]) for k in range(n)]
    spec = ",".join(parts)
    if len(operands) % 2:
        spec += "->" + letters(operands[-1])
    return spec, [2 * k for k in range(n)]


@_f("einsum")
def _einsum(g, ans, *operands, out=None, **kwargs):
    if operands and isinstance(operands[0], str):
        subscripts, pos = operands[0], list(range(1, len(operands)))
    else:
        subscripts, pos = _sublist_subscripts(operands)
    arrays = [operands[p] for p in pos]
    cts = _einsum_cts(g, subscripts, arrays, {k: k for k in range(len(arrays))})
    full: list = [None] * len(operands)
    for k, p in enumerate(pos):
        full[p] = cts[k]
    return {"operands": full}


def _mT_(x):
    return np.swapaxes(x, -1, -2)


@_f("linalg.solve")
def _solve(g, ans, a, b):
    vec = np.ndim(b) == 1
    if vec:             # (b is one vector, solved against each matrix of a stack)
        gb = np.linalg.solve(_mT_(a), np.expand_dims(g, -1))[..., 0]
        ga = -np.expand_dims(gb, -1) * np.expand_dims(ans, -2)
    else:
        gb = np.linalg.solve(_mT_(a), g)
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
    g_sign, g_log = g[0], g[1]
    complex_ = np.result_type(a).kind == "c"
    if g_log is None and (g_sign is None or not complex_):
        return {}           # (a real determinant's sign is piecewise constant)
    c = 0.0 if g_log is None else g_log
    if complex_ and g_sign is not None:
        # d sign = sign * 1j * Im(tr(A^-1 dA))
        c = c - 1j * np.real(1j * g_sign * ans[0])
    ge = np.expand_dims(np.expand_dims(c, -1), -1)
    return {"a": ge * _mT_(np.linalg.inv(a))}


# ============================================================================ via NumPy code
# Functions NumPy implements in Python, but whose implementation does not trace (it
# converts its arguments with NumPy's own asarray, or writes into a fresh array): the
# same computation, written with functions that have rules.  A Via's forward values are
# never used; only its derivatives are (the op's own result stays the result).

class Linear(Via):
    """A rule's answer "the derivative is this linear map of the argument tangents":
    ``fn(*tangents)`` returns the tangent of the result (the op's result structure); the
    cotangent is its transpose, found by sweeping ``fn`` backwards from zero tangents."""


def _transpose_linear(sweep: Sweep, node: Node, outs: list, lin: Linear) -> list:
    from ..tracer import Tracer
    ctx = sweep.ctx
    prim = [p for p in lin.args if isinstance(p, Tracer)]
    zs = [np.zeros(np.shape(p), dtype=np.result_type(p)) for p in prim]
    start = len(ctx.nodes)
    it = iter(zs)
    res = lin.fn(*[next(it) if isinstance(p, Tracer) else None for p in lin.args])
    leaves, _ = flatten(res)
    produced = [leaves[i] for i in node.params.out_arrays] if len(leaves) > 1 or \
        node.params.out_tree != "*" else leaves
    seeds: dict[int, Cotangent] = {}
    for leaf, ct in zip(produced, outs):
        if ct is None or not isinstance(leaf, Tracer):
            continue
        v = leaf.graph_var.id
        seeds[v] = Cotangent(ct.value if v not in seeds else np.add(seeds[v].value, ct.value))
    if not seeds:
        return []
    cts = backward(ctx, ctx.nodes[start:], seeds, [z.graph_var for z in zs], sweep)
    return [(p.graph_var, Cotangent(c)) for p, c in zip(prim, cts) if c is not None]


def _traced(v):
    """``v`` as a traced array (a constant one if it is not traced already)."""
    from ..tracer import Tracer
    return v if isinstance(v, Tracer) else np.full(np.shape(v), v)


def _H(x):
    return np.conjugate(np.swapaxes(x, -1, -2))


def _along(v, ndim, axis):
    """A 1-d ``v`` shaped to broadcast along ``axis`` of an ``ndim``-d array."""
    shape = [1] * ndim
    shape[axis] = -1
    return np.reshape(v, shape)


def _sl(ndim, axis, s):
    return (slice(None),) * (axis % ndim) + (s,)


# ---------------------------------------------------------------------------- scans
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


@_f("nancumsum")
def _nancumsum(g, ans, a, axis=None, dtype=None, out=None):
    return Via(lambda a: np.cumsum(np.where(np.isnan(a), 0, a), axis=axis), a)


@_f("nancumprod")
def _nancumprod(g, ans, a, axis=None, dtype=None, out=None):
    return Via(lambda a: np.cumprod(np.where(np.isnan(a), 1, a), axis=axis), a)


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


# ---------------------------------------------------------------------------- nan-reductions
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


# ---------------------------------------------------------------------------- elementwise
@_f("nan_to_num")
def _nan_to_num(g, ans, x, copy=True, nan=0.0, posinf=None, neginf=None):
    def real(x, nan, posinf, neginf):
        big = np.finfo(np.result_type(x)).max
        r = np.where(np.isnan(x), nan, x)
        r = np.where(np.isposinf(x), big if posinf is None else posinf, r)
        return np.where(np.isneginf(x), -big if neginf is None else neginf, r)

    def impl(x, nan, posinf, neginf):
        if np.result_type(x).kind == "c":
            return real(np.real(x), nan, posinf, neginf) + \
                1j * real(np.imag(x), nan, posinf, neginf)
        return real(x, nan, posinf, neginf)
    return Via(impl, x, nan, posinf, neginf)


@_f("angle")
def _angle(g, ans, z, deg=False):
    def impl(z):
        r = np.arctan2(np.imag(z), np.real(z))
        return r * (180 / math.pi) if deg else r
    return Via(impl, z)


@_f("i0")
def _i0(g, ans, x):
    from numpy.lib._function_base_impl import _i0_1, _i0_2

    def impl(x):
        x = np.abs(x)
        small = x <= 8.0
        return np.where(small, _i0_1(np.where(small, x, 0.0)), _i0_2(np.where(small, 9.0, x)))
    return Via(impl, x)


@_f("piecewise")
def _piecewise(g, ans, x, condlist, funclist, *args, **kw):
    from ..tracer import Tracer

    def impl(x, condlist):
        if isinstance(condlist, (list, tuple)) and condlist and \
                isinstance(condlist[0], (list, tuple, NDARRAY, Tracer)):
            conds = list(condlist)
        else:
            conds = [condlist]
        shape = np.shape(x)
        conds = [np.broadcast_to(c, shape) for c in conds]
        if len(conds) == len(funclist) - 1:
            other = conds[0]
            for c in conds[1:]:
                other = other | c
            conds.append(np.logical_not(other))
        y = np.zeros(shape, dtype=np.result_type(x))
        for c, fn in zip(conds, funclist):
            y = np.where(c, fn(x, *args, **kw) if callable(fn) else fn, y)
        return y
    return Via(impl, x, condlist)


@_f("select")
def _select(g, ans, condlist, choicelist, default=0):
    def impl(conds, choices, default):
        r = default
        for c, v in reversed(list(zip(conds, choices))):
            r = np.where(c, v, r)
        return np.broadcast_to(r, np.shape(ans))
    return Via(impl, condlist, choicelist, default)


@_f("interp")
def _interp(g, ans, x, xp, fp, left=None, right=None, period=None):
    if period is not None:
        raise DifferentiationError("the gradient of np.interp with period= is not supported")

    def impl(x, xp, fp, left, right):
        xp, fp = _traced(xp), _traced(fp)     # (np.take dispatches on its array only)
        n = np.shape(xp)[0]
        if n < 2:
            return np.broadcast_to(fp[0], np.shape(x)) if left is None else \
                np.where(x < xp[0], left, fp[0])
        i = np.clip(np.searchsorted(xp, x, side="right"), 1, n - 1)
        x0, x1 = np.take(xp, i - 1), np.take(xp, i)
        f0, f1 = np.take(fp, i - 1), np.take(fp, i)
        y = f0 + (f1 - f0) / (x1 - x0) * (x - x0)
        y = np.where(x < xp[0], fp[0] if left is None else left, y)
        return np.where(x > xp[-1], fp[-1] if right is None else right, y)
    return Via(impl, x, xp, fp, left, right)


@_f("sort_complex")
def _sort_complex(g, ans, a):
    return Via(lambda a: np.sort(a).astype(np.result_type(ans)), a)


# ---------------------------------------------------------------------------- creation
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


# ---------------------------------------------------------------------------- products
@_f("kron")
def _kron(g, ans, a, b):
    def impl(a, b):
        nd = max(np.ndim(a), np.ndim(b))
        sa = (1,) * (nd - np.ndim(a)) + tuple(np.shape(a))
        sb = (1,) * (nd - np.ndim(b)) + tuple(np.shape(b))
        ea = np.reshape(a, [d for i in range(nd) for d in (sa[i], 1)])
        eb = np.reshape(b, [d for i in range(nd) for d in (1, sb[i])])
        return np.reshape(ea * eb, [sa[i] * sb[i] for i in range(nd)])
    return Via(impl, a, b)


def _cross_impl(a, b, axisa=-1, axisb=-1, axisc=-1):
    a = np.moveaxis(a, axisa, -1)
    b = np.moveaxis(b, axisb, -1)
    na, nb = np.shape(a)[-1], np.shape(b)[-1]
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    if na == 2 and nb == 2:
        return a0 * b1 - a1 * b0
    a2 = a[..., 2] if na == 3 else 0.0 * a0
    b2 = b[..., 2] if nb == 3 else 0.0 * b0
    cp = np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return np.moveaxis(cp, -1, axisc)


@_f("cross")
def _cross(g, ans, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    return Via(lambda a, b: _cross_impl(a, b, axisa, axisb, axisc), a, b)


@_f("linalg.cross")
def _linalg_cross(g, ans, x1, x2, /, *, axis=-1):
    return Via(lambda a, b: _cross_impl(a, b, axis, axis, axis), x1, x2)


def _tensordot_impl(a, b, axes):
    na, nb = np.ndim(a), np.ndim(b)
    if isinstance(axes, (int, np.integer)):
        ax_a, ax_b = list(range(na - axes, na)), list(range(axes))
    else:
        ax_a, ax_b = axes
        ax_a = [int(ax_a)] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
        ax_b = [int(ax_b)] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
        ax_a, ax_b = [x % na for x in ax_a], [x % nb for x in ax_b]
    la = list(_LETTERS[:na])
    lb = list(_LETTERS[na:na + nb])
    for i, j in zip(ax_a, ax_b):
        lb[j] = la[i]
    out = [la[k] for k in range(na) if k not in ax_a] + [lb[k] for k in range(nb) if k not in ax_b]
    return np.einsum(f"{''.join(la)},{''.join(lb)}->{''.join(out)}", a, b)


@_f("tensordot")
def _tensordot(g, ans, a, b, axes=2):
    return Via(lambda a, b: _tensordot_impl(a, b, axes), a, b)


@_f("linalg.tensordot")
def _linalg_tensordot(g, ans, x1, x2, /, *, axes=2):
    return Via(lambda a, b: _tensordot_impl(a, b, axes), x1, x2)


@_f("linalg.outer")
def _linalg_outer(g, ans, x1, x2, /):
    return Via(lambda a, b: np.multiply.outer(a, b), x1, x2)


@_f("linalg.matmul")
def _linalg_matmul(g, ans, x1, x2, /):
    return Via(lambda a, b: np.matmul(a, b), x1, x2)


@_f("linalg.vecdot")
def _linalg_vecdot(g, ans, x1, x2, /, *, axis=-1):
    return Via(lambda a, b: np.vecdot(a, b, axis=axis), x1, x2)


@_f("linalg.multi_dot")
def _multi_dot(g, ans, arrays, *, out=None):
    def impl(arrays):
        r = arrays[0]
        for x in arrays[1:]:
            r = np.matmul(r, x)
        return r
    return Via(impl, arrays)


@_f("linalg.matrix_power")
def _matrix_power(g, ans, a, n):
    def impl(a):
        k = int(n)
        if k == 0:          # the identity: a constant, no gradient
            return np.broadcast_to(np.eye(np.shape(a)[-1]), np.shape(a)) * 1.0
        if k < 0:
            a, k = np.linalg.inv(a), -k
        r = a
        for _ in range(k - 1):
            r = np.matmul(r, a)
        return r
    return Via(impl, a)


@_f("linalg.tensorsolve")
def _tensorsolve(g, ans, a, b, axes=None):
    def impl(a, b):
        an = np.ndim(a)
        if axes is not None:
            allaxes = list(range(an))
            for k in axes:
                allaxes.remove(k)
                allaxes.insert(an, k)
            a = np.transpose(a, allaxes)
        oldshape = np.shape(a)[-(an - np.ndim(b)):]
        prod = int(np.prod(oldshape))
        r = np.linalg.solve(np.reshape(a, (prod, prod)), np.ravel(b))
        return np.reshape(r, oldshape)
    return Via(impl, a, b)


@_f("linalg.tensorinv")
def _tensorinv(g, ans, a, ind=2):
    def impl(a):
        shape = np.shape(a)
        prod = int(np.prod(shape[ind:]))
        return np.reshape(np.linalg.inv(np.reshape(a, (prod, -1))), shape[ind:] + shape[:ind])
    return Via(impl, a)


@_f("linalg.cond")
def _cond(g, ans, x, p=None):
    def impl(x):
        if p in (None, 2, -2):
            s = np.linalg.svd(x, compute_uv=False)
            return s[..., 0] / s[..., -1] if p in (None, 2) else s[..., -1] / s[..., 0]
        return _matrix_norm_impl(x, p, (-2, -1), False) * \
            _matrix_norm_impl(np.linalg.inv(x), p, (-2, -1), False)
    return Via(impl, x)


@_f("linalg.pinv")
def _pinv(g, ans, a, rcond=None, hermitian=False, *, rtol=np._NoValue):
    def impl(a):
        if rcond is None:
            rc = 1e-15 if rtol is np._NoValue else (
                max(np.shape(a)[-2:]) * np.finfo(np.result_type(a)).eps if rtol is None else rtol)
        else:
            rc = rcond
        u, s, vt = np.linalg.svd(np.conjugate(a), full_matrices=False, hermitian=hermitian)
        cutoff = np.expand_dims(np.asarray(rc), -1) * np.max(s, axis=-1, keepdims=True)
        large = s > cutoff
        sinv = np.where(large, 1 / np.where(large, s, 1), 0)
        return np.matmul(np.swapaxes(vt, -1, -2), sinv[..., None] * np.swapaxes(u, -1, -2))
    return Via(impl, a)


# ---------------------------------------------------------------------------- polynomials
@_f("polyval")
def _polyval(g, ans, p, x):
    def impl(p, x):
        y = 0.0 * x
        for i in range(np.shape(p)[0]):
            y = y * x + p[i]
        return y
    return Via(impl, p, x)


@_f("polyder")
def _polyder(g, ans, p, m=1):
    def impl(p):
        for _ in range(int(m)):
            n = np.shape(p)[0] - 1
            p = p[:-1] * np.arange(n, 0, -1)
        return p
    return Via(impl, p)


@_f("polyint")
def _polyint(g, ans, p, m=1, k=None):
    def impl(p, k):
        mm = int(m)
        ks = [0.0] * mm if k is None else (
            [k] * mm if np.ndim(k) == 0 else [k[i] if np.shape(k)[0] > 1 else k[0]
                                             for i in range(mm)])
        for i in range(mm):
            p = np.concatenate([p / np.arange(np.shape(p)[0], 0, -1),
                                np.reshape(ks[i], (1,)).astype(np.result_type(p))])
        return p
    return Via(impl, p, k)


@_f("polyfit")
def _polyfit(g, ans, x, y, deg, rcond=None, full=False, w=None, cov=False):
    if full or cov:
        raise DifferentiationError("the gradient of np.polyfit with full=True or cov=True is "
                                   "not supported")

    def impl(x, y, w):
        lhs = _vander_impl(x, int(deg) + 1, False)
        rhs = y
        if w is not None:
            lhs = lhs * w[:, None]
            rhs = rhs * (w[:, None] if np.ndim(y) == 2 else w)
        lt = _H(lhs) if np.ndim(lhs) == 2 else lhs
        return np.linalg.solve(np.matmul(lt, lhs), np.matmul(lt, rhs))
    return Via(impl, x, y, w)


def _vander_impl(x, N, increasing):
    n = np.shape(x)[0] if N is None else int(N)
    pw = np.arange(n) if increasing else np.arange(n - 1, -1, -1)
    return np.power(x[:, None], pw[None, :])


@_f("vander")
def _vander(g, ans, x, N=None, increasing=False):
    return Via(lambda x: _vander_impl(x, N, increasing), x)


# ---------------------------------------------------------------------------- convolutions
def _corr_long(a, v, mode, conj):
    """``np.correlate(a, v, mode)`` (conj) or the unconjugated kernel of ``np.convolve``,
    for ``len(a) >= len(v)``: windows of the zero-padded a, times v."""
    n, m = np.shape(a)[0], np.shape(v)[0]
    z = np.zeros(m - 1, dtype=np.result_type(a))
    ap = np.concatenate([z, a, z]) if m > 1 else a
    idx = np.arange(n + m - 1)[:, None] + np.arange(m)[None, :]
    full = np.matmul(ap[idx], np.conjugate(v) if conj else v)
    if mode == "full":
        return full
    if mode == "valid":
        return full[m - 1:n]
    start = m - 1 - m // 2
    return full[start:start + n]


@_f("correlate")
def _correlate(g, ans, a, v, mode="valid"):
    def impl(a, v):
        if np.shape(a)[0] >= np.shape(v)[0]:
            return _corr_long(a, v, mode, True)
        return np.conjugate(_corr_long(v, a, mode, True)[::-1])
    return Via(impl, a, v)


@_f("convolve")
def _convolve(g, ans, a, v, mode="full"):
    def impl(a, v):
        if np.shape(v)[0] > np.shape(a)[0]:
            a, v = v, a
        return _corr_long(a, v[::-1], mode, False)
    return Via(impl, a, v)


# ---------------------------------------------------------------------------- functional
@_f("apply_along_axis")
def _apply_along_axis(g, ans, func1d, axis, arr, *args, **kwargs):
    def impl(arr, *args):
        nd = np.ndim(arr)
        ax = axis % nd
        x = np.moveaxis(arr, ax, -1)
        outer = np.shape(x)[:-1]
        res = [func1d(x[idx], *args, **kwargs) for idx in np.ndindex(*outer)]
        rshape = np.shape(res[0])
        r = np.reshape(np.stack(res), outer + rshape)
        k = len(rshape)
        return np.moveaxis(r, tuple(range(len(outer), len(outer) + k)),
                           tuple(range(ax, ax + k))) if k else r
    return Via(impl, arr, *args)


@_f("apply_over_axes")
def _apply_over_axes(g, ans, func, a, axes):
    def impl(a):
        val = a
        n = np.ndim(a)
        for ax in (axes if np.ndim(axes) else (axes,)):
            ax = int(ax) % n
            res = func(val, ax)
            val = res if np.ndim(res) == np.ndim(val) else np.expand_dims(res, ax)
        return val
    return Via(impl, a)


# ---------------------------------------------------------------------------- FFT
def _fit_len(ct, axis, n_in):
    """``ct`` cut or zero-padded along ``axis`` to ``n_in`` (undoing fft's n=/s=)."""
    nd = np.ndim(ct)
    ax = axis % nd
    n = np.shape(ct)[ax]
    if n > n_in:
        return ct[_sl(nd, ax, slice(0, n_in))]
    if n < n_in:
        shape = list(np.shape(ct))
        shape[ax] = n_in - n
        return np.concatenate([ct, np.zeros(shape, dtype=np.result_type(ct))], axis=ax)
    return ct


def _fft_axes(a, s, axes, default=None):
    nd = np.ndim(a)
    if axes is None:
        axes = default if default is not None else (
            list(range(nd)) if s is None else list(range(nd - len(s), nd)))
    return [int(x) % nd for x in axes]


@_f("fft.fft")
def _fft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    return {"a": _fit_len(np.fft.fft(g, axis=axis, norm=norm), axis, np.shape(a)[axis])}


@_f("fft.ifft")
def _ifft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    return {"a": _fit_len(np.fft.ifft(g, axis=axis, norm=norm), axis, np.shape(a)[axis])}


def _fftn_ct(transform, g, a, s, axes, norm, default=None):
    axes = _fft_axes(a, s, axes, default)
    ct = transform(g, axes=axes, norm=norm)
    for ax in axes:
        ct = _fit_len(ct, ax, np.shape(a)[ax])
    return ct


@_f("fft.fftn")
def _fftn(g, ans, a, s=None, axes=None, norm=None, out=None):
    return {"a": _fftn_ct(np.fft.fftn, g, a, s, axes, norm)}


@_f("fft.ifftn")
def _ifftn(g, ans, a, s=None, axes=None, norm=None, out=None):
    return {"a": _fftn_ct(np.fft.ifftn, g, a, s, axes, norm)}


@_f("fft.fft2")
def _fft2(g, ans, a, s=None, axes=(-2, -1), norm=None, out=None):
    return {"a": _fftn_ct(np.fft.fftn, g, a, s, axes, norm)}


@_f("fft.ifft2")
def _ifft2(g, ans, a, s=None, axes=(-2, -1), norm=None, out=None):
    return {"a": _fftn_ct(np.fft.ifftn, g, a, s, axes, norm)}


@_f("fft.rfft")
def _rfft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    nd = np.ndim(a)
    ax = axis % nd
    n = np.shape(a)[ax] if n is None else n
    shape = list(np.shape(g))
    shape[ax] = n - shape[ax]
    gp = np.concatenate([g, np.zeros(shape, dtype=np.result_type(g))], axis=ax) if shape[ax] else g
    return {"a": _fit_len(np.real(np.fft.fft(gp, axis=ax, norm=norm)), ax, np.shape(a)[ax])}


@_f("fft.irfft")
def _irfft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    nd = np.ndim(a)
    ax = axis % nd
    m = np.shape(a)[ax]
    n = 2 * (m - 1) if n is None else n
    k = n // 2 + 1
    w = np.full(k, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    scale = {None: 1.0 / n, "backward": 1.0 / n, "ortho": 1.0 / math.sqrt(n), "forward": 1.0}[norm]
    ct = np.conjugate(np.fft.rfft(g, n=n, axis=ax)) * _along(w * scale, nd, ax)
    return {"a": _fit_len(ct, ax, m)}


_SWAP_NORM = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


@_f("fft.hfft")
def _hfft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    nn = (np.shape(a)[axis] - 1) * 2 if n is None else n
    return Via(lambda a: np.fft.irfft(np.conjugate(a), nn, axis, norm=_SWAP_NORM[norm]), a)


@_f("fft.ihfft")
def _ihfft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    nn = np.shape(a)[axis] if n is None else n
    return Via(lambda a: np.conjugate(np.fft.rfft(a, nn, axis, norm=_SWAP_NORM[norm])), a)


def _rfftn_impl(a, s, axes, norm, default=None):
    axes = _fft_axes(a, s, axes, default)
    s = [np.shape(a)[ax] for ax in axes] if s is None else list(s)
    r = np.fft.rfft(a, s[-1], axes[-1], norm=norm)
    for n, ax in zip(s[:-1], axes[:-1]):
        r = np.fft.fft(r, n, ax, norm=norm)
    return r


def _irfftn_impl(a, s, axes, norm, default=None):
    axes = _fft_axes(a, s, axes, default)
    if s is None:
        s = [np.shape(a)[ax] for ax in axes]
        s[-1] = (np.shape(a)[axes[-1]] - 1) * 2
    s = list(s)
    r = a
    for n, ax in zip(s[:-1], axes[:-1]):
        r = np.fft.ifft(r, n, ax, norm=norm)
    return np.fft.irfft(r, s[-1], axes[-1], norm=norm)


@_f("fft.rfftn")
def _rfftn(g, ans, a, s=None, axes=None, norm=None, out=None):
    return Via(lambda a: _rfftn_impl(a, s, axes, norm), a)


@_f("fft.rfft2")
def _rfft2(g, ans, a, s=None, axes=(-2, -1), norm=None, out=None):
    return Via(lambda a: _rfftn_impl(a, s, axes, norm), a)


@_f("fft.irfftn")
def _irfftn(g, ans, a, s=None, axes=None, norm=None, out=None):
    return Via(lambda a: _irfftn_impl(a, s, axes, norm), a)


@_f("fft.irfft2")
def _irfft2(g, ans, a, s=None, axes=(-2, -1), norm=None, out=None):
    return Via(lambda a: _irfftn_impl(a, s, axes, norm), a)


# ---------------------------------------------------------------------------- decompositions
def _hermitian_of(da, upper):
    """The Hermitian matrix a factorization reads from one triangle of ``da``."""
    n = np.shape(da)[-1]
    part = np.triu(da, 1) if upper else np.tril(da, -1)
    return part + _H(part) + np.real(da) * np.eye(n)     # (LAPACK reads the real diagonal)


@_f("linalg.cholesky")
def _cholesky(g, ans, a, /, *, upper=False):
    if upper:
        return Via(lambda a: _H(np.linalg.cholesky(_H(a))), a)
    L = ans
    n = np.shape(a)[-1]

    def lin(da):
        linv = np.linalg.inv(L)
        x = np.matmul(np.matmul(linv, _hermitian_of(da, False)), _H(linv))
        phi = np.tril(x) - 0.5 * x * np.eye(n)
        return np.matmul(L, phi)
    return Linear(lin, a)


@_f("linalg.eigh")
def _eigh(g, ans, a, UPLO="L"):
    w, v = ans[0], ans[1]
    n = np.shape(a)[-1]

    def lin(da):
        eye = np.eye(n)
        m = np.matmul(np.matmul(_H(v), _hermitian_of(da, UPLO == "U")), v)
        dw = np.real(np.diagonal(m, axis1=-2, axis2=-1))
        diffs = w[..., None, :] - w[..., :, None] + eye
        f = 1 / diffs - eye
        return dw, np.matmul(v, f * m)
    return Linear(lin, a)


@_f("linalg.eigvalsh")
def _eigvalsh(g, ans, a, UPLO="L"):
    return Via(lambda a: np.linalg.eigh(a, UPLO=UPLO)[0], a)


def _svd_hermitian(a, compute_uv):
    w, u = np.linalg.eigh(a)
    sgn = np.sign(w)
    s = np.abs(w)
    sidx = np.argsort(s, axis=-1)[..., ::-1]
    sgn = np.take_along_axis(sgn, sidx, axis=-1)
    s = np.take_along_axis(s, sidx, axis=-1)
    if not compute_uv:
        return s
    u = np.take_along_axis(u, sidx[..., None, :], axis=-1)
    vt = _H(u * sgn[..., None, :])
    return u, s, vt


@_f("linalg.svd")
def _svd(g, ans, a, full_matrices=True, compute_uv=True, hermitian=False):
    if hermitian:
        return Via(lambda a: _svd_hermitian(a, compute_uv), a)
    if not compute_uv:
        return Via(lambda a: np.linalg.svd(a, full_matrices=False)[1], a)
    m, n = np.shape(a)[-2:]
    k = min(m, n)
    if full_matrices and m != n:
        if g[0] is not None or g[2] is not None:
            raise DifferentiationError(
                "the gradient through the singular vectors of np.linalg.svd(full_matrices=True)"
                " of a non-square matrix is not defined (the extra vectors are not unique)",
                hint="pass full_matrices=False")
        # only s is used: differentiate a reduced decomposition (a node of its own)
        return Via(lambda a: (ans[0], np.linalg.svd(a, full_matrices=False)[1], ans[2]), a)
    u = ans[0][..., :, :k]
    s = ans[1]
    vh = ans[2][..., :k, :]

    def lin(da):
        ut, v = _H(u), _H(vh)
        s_row = s[..., None, :]
        s_col = s[..., :, None]
        ds_mat = np.matmul(np.matmul(ut, da), v)
        ds = np.real(np.diagonal(ds_mat, axis1=-2, axis2=-1))
        diffs = (s_row + s_col) * (s_row - s_col)
        zero = diffs == 0
        f = np.where(zero, 0, 1 / np.where(zero, 1, diffs))
        dss = s_row * ds_mat
        sds = s_col * ds_mat
        s_inv = np.where(s == 0, 0, 1 / np.where(s == 0, 1, s))
        diag = 0.5 * (ds_mat - _H(ds_mat)) * (np.eye(k) * s_inv[..., None, :])
        du = np.matmul(u, f * (dss + _H(dss)) + diag)
        dv = np.matmul(v, f * (sds + _H(sds)))
        if m > n:
            dav = np.matmul(da, v)
            du = du + (dav - np.matmul(u, np.matmul(ut, dav))) / s_row
        if n > m:
            dahu = np.matmul(_H(da), u)
            dv = dv + (dahu - np.matmul(v, np.matmul(vh, dahu))) / s_row
        return du, ds, _H(dv)       # (only the cotangent of s reaches U's extra columns)
    return Linear(lin, a)


@_f("linalg.svdvals")
def _svdvals(g, ans, x, /):
    return Via(lambda a: np.linalg.svd(a, full_matrices=False)[1], x)


def _qr_jvp(q, r, dx):
    n = np.shape(r)[-1]
    dx_rinv = np.matmul(dx, np.linalg.inv(r))
    qt_dx_rinv = np.matmul(_H(q), dx_rinv)
    low = np.tril(qt_dx_rinv, -1)
    do = low - _H(low)
    if np.result_type(qt_dx_rinv).kind == "c":
        do = do + np.eye(n) * (qt_dx_rinv - np.real(qt_dx_rinv))
    dq = np.matmul(q, do - qt_dx_rinv) + dx_rinv
    dr = np.matmul(qt_dx_rinv - do, r)
    return dq, dr


@_f("linalg.qr")
def _qr(g, ans, a, mode="reduced"):
    m, n = np.shape(a)[-2:]
    if mode == "r":
        return Via(lambda a: np.linalg.qr(a)[1], a)
    if mode == "raw":
        raise DifferentiationError("the gradient of np.linalg.qr(mode='raw') is not supported")
    if mode == "complete" and m > n:
        raise DifferentiationError(
            "the gradient of np.linalg.qr(mode='complete') of a tall matrix is not defined "
            "(the extra columns of Q are not unique)", hint="use mode='reduced'")
    q, r = ans[0], ans[1]

    def lin(da):
        if m >= n:
            return _qr_jvp(q, r, da)
        dq, dr1 = _qr_jvp(q, r[..., :, :m], da[..., :, :m])
        dr2 = np.matmul(_H(dq), a[..., :, m:]) + np.matmul(_H(q), da[..., :, m:])
        return dq, np.concatenate([dr1, dr2], axis=-1)
    return Linear(lin, a)


# ============================================================================ selections
class _Select:
    """A rule's answer "this call only moves elements around": its transpose is found by
    running the NumPy function itself on integer labels (see :func:`_selection`)."""

    def __repr__(self) -> str:
        return "SELECT"


SELECT = _Select()

# Functions whose result only copies elements of their array arguments (or constants)
# into new positions, independently of the values: each has the selection rule.
SELECTIONS = set("""fliplr flipud rot90 diagflat lib.stride_tricks.sliding_window_view tile
    array_split split hsplit vsplit dsplit unstack column_stack hstack vstack dstack block
    append insert delete resize rollaxis meshgrid fft.fftshift fft.ifftshift ix_""".split())

_LABEL = 1 << 40


def _selection(sweep: Sweep, node: Node, outs: list, args: tuple, kwargs: dict) -> list:
    """The transpose of a selection: the op is run (plain NumPy, outside the graph) on
    integer labels in place of its traced arguments; each result element then names the
    argument element it copies (or none: a constant), and the cotangent is gathered back
    with constant indices.  Run twice, with two label offsets, to tell labels from
    constants the function wrote."""
    from ..tracer import Tracer, _evaluating
    leaves, treedef = flatten((args, kwargs))
    spots = [i for i, x in enumerate(leaves) if isinstance(x, Tracer)]
    for i in spots:
        if np.ndim(leaves[i]) == 0 and np.result_type(leaves[i]).kind not in "fc":
            # (an integer array is data, moved like the rest; a traced integer scalar may
            # be a parameter deciding the selection, which labels cannot follow)
            raise DifferentiationError(f"the gradient of {node.op.name} with a traced integer "
                                       f"scalar argument is not supported",
                                       hint="pass it as a Python int")
    shapes = [tuple(np.shape(leaves[i])) for i in spots]
    sizes = [int(np.prod(sh, dtype=np.int64)) for sh in shapes]
    starts = [int(v) for v in np.cumsum([0] + sizes)]
    fn = node.op.fn

    def run(offset: int) -> list:
        ls = list(leaves)
        for i, sh, s0, n in zip(spots, shapes, starts, sizes):
            ls[i] = (np.arange(n, dtype=np.int64) + (offset + s0)).reshape(sh)
        a, k = unflatten(treedef, ls)
        k = {key: v for key, v in k.items() if key not in ("dtype", "casting", "out")}
        res = fn(*a, **k)
        rl, _ = flatten(res)
        if len(rl) > 1 or node.params.out_tree != LEAF:
            rl = [rl[i] for i in node.params.out_arrays]
        return [np.asarray(r) for r in rl]

    plans = []          # per output: [(input k, positions, gather order or scatter idx)]
    with _evaluating(sweep.ctx):        # constants: plain NumPy
        r1, r2 = run(_LABEL), run(2 * _LABEL)
        for l1, l2 in zip(r1, r2):
            src = np.where(l2 - l1 == _LABEL, l1 - _LABEL, -1).ravel()
            plan = []
            for k, (s0, n) in enumerate(zip(starts, sizes)):
                pos = np.flatnonzero((src >= s0) & (src < s0 + n))
                if pos.size == 0:
                    continue
                idx = src[pos] - s0
                if idx.size == n and np.array_equal(np.sort(idx), np.arange(n)):
                    take = pos[np.argsort(idx, kind="stable")]
                    plan.append((k, "gather", None if np.array_equal(take, np.arange(src.size))
                                 else take))
                else:
                    plan.append((k, "scatter", (pos, idx)))
            plans.append((l1.shape, plan))
    cts: dict[int, Any] = {}
    for ct, (oshape, plan) in zip(outs, plans):
        if ct is None:
            continue
        g = ct.value
        gflat = np.ravel(g) if tuple(np.shape(g)) == oshape else \
            np.ravel(np.broadcast_to(g, oshape))
        for k, how, data in plan:
            if how == "gather":
                c = gflat if data is None else gflat[data]
            else:
                pos, idx = data
                c = np.zeros(sizes[k], dtype=np.result_type(g))
                np.add.at(c, idx, gflat[pos])
            c = np.reshape(c, shapes[k])
            cts[k] = c if k not in cts else np.add(cts[k], c)
    out = []
    for k, c in cts.items():
        v = _var_of(leaves[spots[k]])
        if v is not None:
            out.append((v, Cotangent(c)))
    return out


def _var_of(x: Any) -> Any:
    from ..tracer import Tracer
    return x.graph_var if isinstance(x, Tracer) else None


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


def _replace_target(tree: Any, value: Any) -> Any:
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [value if x is TARGET else x for x in leaves])


# inner op name -> (position, keyword) of the value it writes
_WRITES = {"setitem": (2, None), "copyto": (1, "src"), "put": (2, "v"), "ndarray.put": (2, None),
           "putmask": (2, "values"), "place": (2, "vals"), "fill_diagonal": (1, "val"),
           "put_along_axis": (2, "values"), "ndarray.fill": (1, None)}


def _write_rule(sweep: Sweep, node: Node, g: Any, args: tuple, kwargs: dict) -> list:
    """An overwrite (``x[i] = v``, ``np.put``, ``np.copyto``, ...): positions written keep
    none of the old cotangent; each value element gets the cotangent of the positions it
    landed in.  Both maps come from the write itself, replayed in the graph on a mask and
    on float labels, so traced indices, broadcasting, cycling values and repeated indices
    (the last write wins) follow NumPy exactly."""
    from ..tracer import Tracer
    inner = node.op.inner
    pos, kw = _WRITES[inner.name]
    region_g = _region(node, g)
    shape = tuple(np.shape(region_g))
    args, kwargs = list(args), dict(kwargs)
    if kw is not None and kw in kwargs:
        value = kwargs[kw]
    else:
        value = args[pos]
    base_var = node.inputs[0]
    # Common writes first: each position written once, straight from the value.
    if inner.name == "setitem" and not _has_int_index(args[1]):
        return [(base_var, _copy_with_region(sweep, node, g, 0, args[1]))] + \
            pairs(value, region_g[args[1]])
    where = kwargs.get("where", args[3] if len(args) > 3 else True)
    if inner.name == "ndarray.fill" or (inner.name == "copyto" and not _where_given(where)):
        return [(base_var, _copy_with_region(sweep, node, g, 0))] + \
            pairs(value, region_g if inner.name == "copyto" else np.sum(region_g))

    def write(target: Any, v: Any) -> Any:
        a, k = list(args), dict(kwargs)
        if kw is not None and kw in k:
            k[kw] = v
        else:
            a[pos] = v
        a, k = _replace_target((a, k), target)
        inner.fn(*a, **k)
        return target

    vleaves, vtree = flatten(value)
    zeros = unflatten(vtree, [np.zeros(np.shape(x)) if isinstance(x, Tracer) else 0.0 * np.ones(np.shape(x))
                              for x in vleaves])
    keep = write(np.ones(shape), zeros)
    out = [(base_var, _copy_with_region(sweep, node, g, region_g * keep))]
    diff = [i for i, x in enumerate(vleaves) if isinstance(x, Tracer) and
            np.result_type(x).kind in "fc"]
    if not diff:
        return out
    labels, starts, off = [], {}, 1
    for i, x in enumerate(vleaves):
        n = int(np.size(x)) if isinstance(x, Tracer) else 0
        if i in diff:
            starts[i] = off
            labels.append(np.arange(off, off + n, dtype=np.float64).reshape(np.shape(x)))
            off += n
        else:
            labels.append(np.zeros(np.shape(x)))
    lab = write(np.zeros(shape), unflatten(vtree, labels))
    idx = np.ravel(lab).astype(np.intp)
    acc = np.zeros(off, dtype=np.result_type(region_g))
    np.add.at(acc, idx, np.ravel(region_g))
    for i in diff:
        x = vleaves[i]
        n = int(np.size(x))
        out.append((x.graph_var, np.reshape(acc[starts[i]:starts[i] + n], np.shape(x))))
    return out


def _at_rule(sweep: Sweep, node: Node, g: Any, args: tuple, kwargs: dict) -> list:
    """``np.add.at(x, i, b)`` / ``np.subtract.at``: x's cotangent passes through, each b
    element gets the cotangent of the position it was added to (repeats included)."""
    inner = node.op.inner
    indices = args[1]
    b = args[2] if len(args) > 2 else None
    out = [(node.inputs[0], g)]
    if b is not None:
        sub = _region(node, g)[indices]
        out += pairs(b, sub if inner.ufunc is np.add else -sub)
    return out


def _sort_inplace_rule(sweep: Sweep, node: Node, g: Any, args: tuple, kwargs: dict) -> list:
    old = _region(node, sweep.proxy(node.inputs[0]))
    new = _region(node, sweep.proxy(node.outputs[0]))
    region_g = _region(node, g)
    axis = kwargs.get("axis", args[1] if len(args) > 1 and node.op.inner.name == "ndarray.sort"
                      else args[2] if len(args) > 2 else -1)
    if axis is None:
        axis = -1
    ct = _match_sorted(old, new, region_g, axis)
    return [(node.inputs[0], _copy_with_region(sweep, node, g, ct))]


def _match_sorted(a: Any, r: Any, g: Any, axis: int) -> Any:
    """The cotangent of ``a`` for a result ``r`` holding a's elements reordered along
    ``axis`` (sort, partition): elements matched through stable sorts of both."""
    ax = axis % np.ndim(a)
    perm_a = np.argsort(a, axis=ax, kind="stable")
    perm_r = np.argsort(r, axis=ax, kind="stable")
    g_sorted = np.take_along_axis(g, perm_r, axis=ax)
    return np.take_along_axis(g_sorted, np.argsort(perm_a, axis=ax, kind="stable"), axis=ax)


def _ufunc_out_rule(sweep: Sweep, node: Node, g: Any, args: tuple, kwargs: dict) -> list:
    """A call with ``out=`` (``np.add(a, b, out=c)``, ``np.sum(x, out=o)``, ``x += y``):
    the written value is computed again functionally (new nodes) and swept."""
    inner = node.op.inner
    kw = dict(kwargs)
    kw.pop("out", None)
    ufunc = getattr(inner, "ufunc", None)
    method = getattr(inner, "method", None)
    where = True
    if ufunc is not None:
        kw.pop("casting", None)
        if method == "__call__":
            where = kw.pop("where", True)
        fn = getattr(ufunc, method)
    else:
        fn = inner.fn
    region_g = _region(node, g)
    start = len(sweep.ctx.nodes)
    res = fn(*args, **kw)
    k = int(inner.name.rpartition("[out=")[2].rstrip("]")) if "[out=" in inner.name else 0
    value = res[k] if isinstance(res, (tuple, list)) else res
    new_nodes = sweep.ctx.nodes[start:]
    ct_v = region_g if not _where_given(where) else np.where(where, region_g, 0)
    keep = 0 if not _where_given(where) else np.where(where, 0, region_g)
    out: list = [(node.inputs[0], _copy_with_region(sweep, node, g, keep))]
    vvar = getattr(value, "graph_var", None)
    if vvar is not None and new_nodes:
        wrt = [v for v in node.inputs[1:] if not isinstance(v, Literal)]
        cts = backward(sweep.ctx, new_nodes, {vvar.id: Cotangent(ct_v)}, wrt, sweep)
        out += [(v, c) for v, c in zip(wrt, cts) if c is not None]
    return out


def _zero_at_rule(sweep: Sweep, node: Node, g: Any, args: tuple, kwargs: dict) -> list:
    """``np.floor.at(x, i)`` and other piecewise-constant ufuncs: the positions written get
    no cotangent, the others keep theirs."""
    region_g = _region(node, g)
    mask = np.ones(np.shape(region_g))
    mask[args[1]] = 0.0
    return [(node.inputs[0], _copy_with_region(sweep, node, g, region_g * mask))]


MUTATE: dict[str, Callable] = {name: _write_rule for name in _WRITES}
MUTATE.update({"add.at": _at_rule, "subtract.at": _at_rule, "ndarray.sort": _sort_inplace_rule,
               "ndarray.partition": _sort_inplace_rule})


def _has_out(kwargs: dict) -> bool:
    out = kwargs.get("out")
    return out is TARGET or (isinstance(out, tuple) and any(o is TARGET for o in out))


def _as_traced(g: Any, like: Any) -> Any:
    from ..tracer import Tracer
    if isinstance(g, Tracer):
        return g
    return np.full(np.shape(like), g, dtype=np.result_type(like, g))


def _mutate_rule(sweep: Sweep, node: Node, g: Any) -> list:
    """A functional in-place write: the written region's cotangent goes to what was
    written, the rest of the buffer's to the buffer before the write."""
    op: MutateOp = node.op
    inner = op.inner
    ins = [sweep.proxy(v) for v in node.inputs]
    args, kwargs = node.params.call.fill(ins[1:])
    g = _as_traced(g, ins[0])
    rule = MUTATE.get(inner.name)
    if rule is not None:
        return rule(sweep, node, g, args, kwargs)
    kind = rule_kind(op.name, op)
    if kind == "no_rule":
        raise DifferentiationError(f"no gradient rule for the in-place {inner.name} yet: "
                                   f"{NO_RULE_YET.get(inner.name, _no_rule_reason(inner))}",
                                   source=node.source)
    if kind == "nondiff":
        raise DifferentiationError(f"{inner.name} is not differentiable: "
                                   f"{_nondiff_reason(inner.name, inner)}", source=node.source)
    if _has_out(kwargs):
        return _ufunc_out_rule(sweep, node, g, args, kwargs)
    raise DifferentiationError(f"no gradient rule for the in-place {inner.name}",
                               source=node.source)


# ============================================================================ ufunc methods
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
    from ..tracer import Tracer
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


# ============================================================================ dispatch
# Integer or boolean results (or no float input): nothing to differentiate.
NONDIFF = set("""all any argmax argmin argsort argpartition lexsort count_nonzero searchsorted
    digitize nanargmax nanargmin isclose iscomplex isreal isin isneginf isposinf
    ravel_multi_index unravel_index diag_indices_from tril_indices_from triu_indices_from
    linalg.matrix_rank packbits unpackbits zeros ones empty arange eye identity tri
    histogram histogram2d histogramdd histogram_bin_edges fromfunction
    py.lt py.le py.gt py.ge py.eq py.ne py.and py.or py.xor py.lshift py.rshift py.invert
    """.split())

_NONDIFF_WHY = {
    "histogram": "histogram counts are integers (with weights or density=True, or bin edges "
                 "taken from the data, their gradient is not implemented)",
}
for _n in ("histogram2d", "histogramdd", "histogram_bin_edges"):
    _NONDIFF_WHY[_n] = _NONDIFF_WHY["histogram"]
for _n in ("zeros", "ones", "empty", "arange", "eye", "identity", "tri", "fromfunction"):
    _NONDIFF_WHY[_n] = "it builds an array from shapes and Python numbers, not from its inputs"

# Ops with no gradient rule yet, and why.  grad raises DifferentiationError naming the line.
NO_RULE_YET: dict[str, str] = {}


def _declare_ufunc_at() -> None:
    """``ufunc.at`` applies the ufunc once per index, repeated indices one after another:
    add/subtract have a rule, piecewise-constant ufuncs a zero one, the rest none yet."""
    for name in dir(np):
        u = getattr(np, name)
        if not isinstance(u, np.ufunc) or u.__name__ != name or u.signature is not None \
                or u.nout != 1 or not _ufunc_has_float_output(u):
            continue
        if name in ZERO:
            MUTATE[f"{name}.at"] = _zero_at_rule
        elif f"{name}.at" not in MUTATE:
            NO_RULE_YET[f"{name}.at"] = (
                f"np.{name}.at applies {name} once per index (repeated indices compose); only "
                f"np.add.at and np.subtract.at have a rule")


def _no_rule_reason(op: Any) -> str:
    u = getattr(op, "ufunc", None)
    if u is not None and getattr(op, "method", None) == "at":
        return (f"{u.__name__}.at applies repeated indices one after another; only "
                f"np.add.at and np.subtract.at have a rule")
    return "not implemented"


def _ufunc_has_float_output(u: np.ufunc) -> bool:
    for t in u.types:
        for c in t.split("->")[1]:
            if c not in "OmM" and np.dtype(c).kind in "fc":
                return True
    return False


_declare_ufunc_at()


def _ufunc_base(op: Any) -> str | None:
    """The op name of the ufunc's ``__call__`` (``add`` for ``add.reduce``/``add[out=1]``)."""
    u = getattr(op, "ufunc", None)
    if u is None:
        return None
    from ..graph.ops import ufunc_op
    return ufunc_op(u, "__call__").name


def _ufunc_rule(op: Any) -> Callable | None:
    rule = UFUNC.get(op.name) or UFUNC.get(_ufunc_base(op) or "")
    if rule is None and getattr(op, "ufunc", None) is not None:
        rule = _foreign_ufunc_rule(op.ufunc)
    return rule


_FOREIGN: dict[int, Callable | None] = {}


def _foreign_ufunc_rule(u: np.ufunc) -> Callable | None:
    """Rules for ufuncs of other libraries (scipy.special), matched by identity."""
    if id(u) in _FOREIGN:
        return _FOREIGN[id(u)]
    rule = None
    if getattr(np, u.__name__, None) is not u:
        try:
            import scipy.special as sp
        except ImportError:
            sp = None
        if sp is not None and getattr(sp, u.__name__, None) is u:
            rule = UFUNC.get(f"scipy.special.{u.__name__}")
    _FOREIGN[id(u)] = rule
    return rule


def _nondiff_reason(name: str, op: Any) -> str:
    if name in _NONDIFF_WHY:
        return _NONDIFF_WHY[name]
    if op is not None and (op.category == "random" or name.startswith(("random.", "Generator.",
                                                                        "RandomState."))):
        return ("random draws are not differentiated in their parameters (tracenp does not "
                "reparameterize); draw standard noise and transform it, e.g. "
                "loc + scale * np.random.standard_normal(shape)")
    return "its result is an integer or boolean array"


def rule_kind(name: str, op: Any = None) -> str | None:
    """How op ``name`` is differentiated: ``'rule'`` (a rule in UFUNC, FUNC, MUTATE or a
    selection), ``'zero'``, ``'nondiff'``, ``'no_rule'`` (declared in NO_RULE_YET: grad
    raises), ``'decompose'`` (through NumPy's own Python implementation), or None
    (nothing: grad raises)."""
    if isinstance(op, MutateOp):
        inner = op.inner
        if inner.name in MUTATE:
            return "rule"
        if inner.name in NO_RULE_YET:
            return "no_rule"
        u = getattr(inner, "ufunc", None)
        if u is not None and getattr(inner, "method", None) == "at":
            return "nondiff" if not _ufunc_has_float_output(u) else "no_rule"
        return rule_kind(inner.name, inner)
    if name in NO_RULE_YET:
        return "no_rule"
    if name in FUNC or name in SELECTIONS:
        return "rule"
    if name in ZERO:
        return "zero"
    if name in NONDIFF or name.startswith(("random.", "Generator.", "RandomState.")) or \
            (op is not None and op.category in ("random", "bits")):
        return "nondiff"
    if name in UFUNC:
        return "rule"
    u = getattr(op, "ufunc", None)
    if u is not None:
        if not _ufunc_has_float_output(u):
            return "nondiff"
        method = getattr(op, "method", "__call__")
        base = _ufunc_base(op)
        if method == "at":
            return "rule" if name in MUTATE else "no_rule"
        if base in ZERO:
            return "zero"
        if _ufunc_rule(op) is not None:
            return "rule"
        return None
    if name.startswith("ndarray.") and name in MUTATE:
        return "rule"
    if op is not None and op.category == "mutation" and name in MUTATE:
        return "rule"
    fn = getattr(op, "fn", None)
    if isinstance(getattr(fn, "_implementation", None), types.FunctionType):
        return "decompose"
    if isinstance(fn, types.FunctionType) and getattr(fn, "__module__", "").startswith("numpy"):
        return "decompose"
    return None


class _GradTable(Mapping):
    """The ``grad`` layer of :mod:`tracenp.coverage`: the ops ``tracenp.grad``
    differentiates (by a rule, through NumPy's own code, or as a zero), by name;
    ``describe(name)`` is the cell the supported-function table shows."""

    CELLS = {"rule": "yes", "decompose": "NumPy", "zero": "zero", "nondiff": "n/a",
             "no_rule": "no", None: "no"}

    def kind(self, name: str) -> str | None:
        from ..graph.ops import REGISTRY
        op = REGISTRY.get(name)
        return rule_kind(name, op) if op is not None else None

    def __getitem__(self, name: str) -> str:
        k = self.kind(name)
        if k not in ("rule", "decompose", "zero"):
            raise KeyError(name)
        return k

    def __iter__(self):
        from ..graph.ops import REGISTRY
        return iter([n for n in list(REGISTRY) if n in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.kind(name) in ("rule", "decompose", "zero")

    def describe(self, name: str) -> str:
        return self.CELLS[self.kind(name)]


GRAD = _GradTable()

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
    try:
        if isinstance(op, MutateOp):
            g = outs[0].value
            return [(v, c if isinstance(c, Cotangent) else Cotangent(c))
                    for v, c in _mutate_rule(sweep, node, g)]
        kind = rule_kind(name, op)
        if kind == "zero":
            return []
        if kind == "nondiff":
            raise DifferentiationError(f"{name} is not differentiable: "
                                       f"{_nondiff_reason(name, op)}", source=node.source)
        if kind == "no_rule":
            raise DifferentiationError(f"no gradient rule for {name} yet: {NO_RULE_YET[name]}",
                                       source=node.source,
                                       hint="rewrite the line with functions that have rules "
                                            "(docs/supported.md, column grad)")
        return _apply(sweep, node, outs, op, name)
    except DifferentiationError as e:
        if e.source is None:
            e.source = node.source
        raise
    except TracenpError as e:
        raise DifferentiationError(f"the gradient of {name} could not be built: {e.reason}",
                                   source=node.source) from e


def _apply(sweep: Sweep, node: Node, outs: list, op: Any, name: str) -> list:
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
    method = getattr(op, "method", None)
    ufunc = getattr(op, "ufunc", None)
    if name.startswith("py.") or (ufunc is not None and method == "__call__"):
        rule = UFUNC.get(name) if name.startswith("py.") else _ufunc_rule(op)
        if rule is not None:
            if ufunc is not None and ufunc.signature is not None and \
                    ("axes" in kwargs or "axis" in kwargs):
                via = _gufunc_axes_via(ufunc, args, kwargs)
                return _decompose(sweep, node, outs, via.args, via.kwargs, impl=via.fn)
            nin = ufunc.nin if ufunc is not None else len(args)
            cts = rule(g, ans, *args[:nin])
            if _where_given(kwargs.get("where", True)):
                cts = tuple(None if c is None else np.where(kwargs["where"], c, 0) for c in cts)
            if mask is not None:
                cts = tuple(None if c is None else np.where(mask, c, 0) for c in cts)
            res = pairs(tuple(args[:nin]), cts)
            return [(v, Cotangent(c, mask)) for v, c in res]
    if ufunc is not None and method in _METHOD_IMPL and name not in FUNC:
        impl = _METHOD_IMPL[method]
        return _decompose(sweep, node, outs, args, kwargs,
                          impl=lambda *a, **k: impl(ufunc, *a, **k))
    if name in SELECTIONS:
        return _selection(sweep, node, outs, args, kwargs)
    rule = FUNC.get(name)
    if rule is not None:
        bound = _bind(rule, g, ans, args, kwargs)
        cts = rule(*bound.args, **bound.kwargs)
        if cts is SELECT:
            return _selection(sweep, node, outs, args, kwargs)
        if isinstance(cts, Linear):
            return _transpose_linear(sweep, node, outs, cts)
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
    via = impl is not None
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
    except DifferentiationError:
        raise
    except TracenpError as e:
        if via:
            raise DifferentiationError(f"the gradient of {op.name} could not be built: "
                                       f"{e.reason}", source=node.source) from e
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
    if via:
        _check_same_values(sweep, node, produced, outs)
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
    cts = backward(ctx, ctx.nodes[start:], seeds, wrt, sweep, masks=True) if seeds else []
    return direct + [(v, c) for v, c in zip(wrt, cts) if c is not None]


_RTOL = {8: 1e-6, 16: 1e-6, 4: 1e-3, 2: 2e-2}


def _check_same_values(sweep: Sweep, node: Node, produced: list, outs: list) -> None:
    """The equivalent code a rule differentiates must compute the op's own values here
    (else its derivative is not the op's): checked on this trace's values, so a rule that
    does not fit a call raises instead of returning a wrong gradient."""
    from ..tracer import Tracer, _evaluating
    with _evaluating(sweep.ctx):
        for leaf, var, ct in zip(produced, node.outputs, outs):
            if ct is None or not isinstance(leaf, Tracer):
                continue
            want = np.asarray(sweep.value(var))
            got = np.asarray(sweep.value(leaf.graph_var))
            ok = got.shape == want.shape
            if ok and want.size:
                rtol = _RTOL.get(np.result_type(want).itemsize, 1e-6)
                if np.result_type(want).kind == "c":
                    rtol = _RTOL.get(np.result_type(want).itemsize // 2, 1e-6)
                fin = np.isfinite(want)
                scale = float(np.max(np.abs(want[fin]))) if fin.any() else 1.0
                ok = bool(np.all(np.abs(got[fin] - want[fin]) <= rtol * max(scale, 1.0)))
            if not ok:
                raise DifferentiationError(
                    f"the gradient of {node.op.name} is not available for this call: the "
                    f"equivalent code its rule differentiates computes other values here "
                    f"(NumPy's {node.op.name} does not follow its documented definition for "
                    f"these arguments, or the rule does not cover them)", source=node.source)
