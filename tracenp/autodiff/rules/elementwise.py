"""Rules of elementwise ops: the ufuncs and the Python scalar operators (``py.*``), a
tuple of cotangents per call (``UFUNC``), and the elementwise functions ``where``,
``clip``, ``select``, ``piecewise``, ``nan_to_num``, ``angle`` and ``i0`` (``FUNC``).
"""
from __future__ import annotations

import math

import numpy as np

from ..._ndarray import NDARRAY
from ..backward import Cotangent
from ._common import Via, _f, _u


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


def _split(g, x, y, wins_x):
    """The cotangents of max/min-like ops: ``g`` goes to the winner, half of it to each on
    ties (as JAX).  Selected from ``g`` (no weight array to store between the forward and
    the backward pass)."""
    tie = x == y
    half = g * 0.5
    return (np.where(tie, half, np.where(wins_x, g, 0)), np.where(tie, half, np.where(wins_x, 0, g)))


@_u("maximum")
def _maximum(g, ans, x, y):
    return _split(g, x, y, (x > y) | np.isnan(x))


@_u("minimum")
def _minimum(g, ans, x, y):
    return _split(g, x, y, (x < y) | np.isnan(x))


@_u("fmax")
def _fmax(g, ans, x, y):
    return _split(g, x, y, (x > y) | np.isnan(y))


@_u("fmin")
def _fmin(g, ans, x, y):
    return _split(g, x, y, (x < y) | np.isnan(y))


# scipy.special ufuncs (registered under their module-qualified op names)
_SQRT_PI = math.sqrt(math.pi)
_u("scipy.special.erf")(lambda g, ans, x: (g * (2 / _SQRT_PI) * np.exp(-x * x),))
_u("scipy.special.erfc")(lambda g, ans, x: (g * (-2 / _SQRT_PI) * np.exp(-x * x),))
_u("scipy.special.expit")(lambda g, ans, x: (g * ans * (1 - ans),))


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


# ============================================================================ functions
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
    from ...tracer import Tracer

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
