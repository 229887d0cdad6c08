"""Numerical-stability rewrites (the ``stabilize`` phase).

Each rule replaces a formula that loses accuracy, overflows or underflows in floating
point by one that computes the same mathematical value better.  The contract, checked by
``tests/test_stability_accuracy.py`` against mpmath over subnormal-to-overflow grids:
where NumPy's formula is accurate (within 4 ULP) the rewrite is no farther from the true
value than NumPy's plus 1 ULP of rounding noise (a rewrite made of several operations:
within its own bound, 2 ULP in float64, 3 in float32); where NumPy's is not (lost digits,
overflow to inf or NaN, underflow to 0) the rewrite is within 4 ULP; NaN, ±inf and the
sign of an exactly-zero result are NumPy's wherever NumPy's are right.  The guarded
reductions return NumPy's result bit for bit wherever NumPy's formula cannot over- or
underflow.  The framework checks that dtype, shape and kind are kept.

Rules apply to real floating-point operands (and to integers where the first operation
converts them to float, so no integer wraparound is skipped).  Rewrites that need
``np.where`` decline for NumPy scalars (``np.where`` returns a 0-d array, a different
type).  More specific patterns are registered first: at one node the first matching rule
wins (``log(1 + exp(x))`` is softplus before it is ``log1p(exp(x))``).
"""
from __future__ import annotations

import functools
import math
import sys

import numpy as np

from .framework import rule
from .pattern import C, F, Or, P, UfuncRef, X, match, reduced_shape
from ..graph.types import ARRAY, PYSCALAR

_LN2 = math.log(2.0)
_DIVIDE = ("divide", "true_divide")


def _real(v) -> bool:
    return v.aval.dtype.kind == "f"


def _realish(v) -> bool:
    """A real float or an integer/bool (converted to float by the first op)."""
    return v.aval.dtype.kind in "biuf"


def _array(v) -> bool:
    return v.aval.kind == ARRAY


def _plus_zero(b, v):
    """``v + 0``: turns a -0.0 into +0.0 and leaves everything else as it is.  Used where
    the new formula gives -0.0 for an input whose exact result is a true zero that NumPy
    returns as +0.0 (``log1p(-0.0)`` vs ``log(1 + -0.0)``).  Dropped under fast_math."""
    return v if b.fast_math else b.call("add", v, 0)


@functools.lru_cache(maxsize=None)
def exp_limit(dtype: np.dtype) -> float:
    """The largest value of ``dtype`` whose NumPy ``exp`` is finite (709.782712893384 in
    float64, 88.72283 in float32): above it ``exp`` overflows, and softplus(x) is x (from
    x = 37, resp. 17, on exp(-x) is below half an ulp of x)."""
    t = dtype.type
    k = np.log(np.finfo(dtype).max).astype(dtype)
    with np.errstate(all="ignore"):
        while not np.isfinite(np.exp(np.array([k], dtype)))[0]:
            k = np.nextafter(k, t(-np.inf))
        while np.isfinite(np.exp(np.array([np.nextafter(k, t(np.inf))], dtype)))[0]:
            k = np.nextafter(k, t(np.inf))
    return float(k)


_SOFTPLUS_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def softplus(b, x):
    """log(1 + exp(x)) without overflow or lost digits.

    float32/float64 arrays: ``where(x > T, x, log1p(exp(x)))`` with T the largest x
    whose exp is finite (``exp_limit``: the select is true only where exp overflowed, or
    at +inf, which the blocked kernel exploits: tracenp.exec.guards).  log1p(exp(x)) is accurate wherever exp(x) is finite (its relative error
    becomes at most an absolute error of the same size after the log, and for x < 0 it
    keeps every digit of exp(x)), so only the overflow needs the fix-up: two vectorized
    transcendental passes, as many as NumPy's own formula, and one cheap select (one numba
    loop; measured at 1e5 float64, one thread: 140 us against 155 for max(x, 0) +
    log1p(exp(-|x|)), which needs two such loops).  exp overflows where NumPy's formula
    overflows: the same "overflow encountered in exp" RuntimeWarning as NumPy's (under
    the same np.errstate), but the result there is x, not inf.  NumPy scalars (np.where
    would return a 0-d array): max(x, 0) + log1p(exp(-|x|)) (no warnings).  Other dtypes:
    logaddexp(0, x) (one rounding)."""
    dt = x.aval.dtype
    if dt in _SOFTPLUS_DTYPES and _array(x):
        r = b.call("log1p", b.call("exp", x))
        return b.call("where", b.call("greater", x, exp_limit(dt)), x, r)
    if dt in _SOFTPLUS_DTYPES:
        tail = b.call("log1p", b.call("exp", b.call("negative", b.call("absolute", x))))
        return b.call("add", b.call("maximum", x, 0), tail)
    return b.call("logaddexp", 0, x)


# ------------------------------------------------------------------ log1p / expm1 / softplus
@rule("softplus_from_log_one_plus_exp", "stabilize", P("log", P("add", C(1), P("exp", X("x")))))
def _softplus(b, m):
    """log(1 + exp(x)) -> logaddexp(0, x): no overflow for large x, no lost digits for
    negative x."""
    x = m["x"]
    return softplus(b, x) if _realish(x) else None


@rule("softplus_from_log1p_exp", "stabilize", P("log1p", P("exp", X("x"))))
def _softplus_log1p(b, m):
    """log1p(exp(x)) -> softplus(x) (exp(x) overflows for x > 709)."""
    x = m["x"]
    return softplus(b, x) if _realish(x) else None


def _log1mexp(b, x, plus_zero: bool = True):
    """log(1 - exp(x)) by Mächler's switch: log(-expm1(x)) near 0, log1p(-exp(x)) below
    -log 2, each where it is accurate.  Below x = -745 (exp(x) = 0) log1p gives -0.0,
    turned into +0.0 where the user's formula gives +0.0 (``plus_zero``)."""
    near = b.call("greater", x, -_LN2)
    a = b.call("log", b.call("negative", b.call("expm1", x)))
    c = b.call("log1p", b.call("negative", b.call("exp", x)))
    out = b.call("where", near, a, c)
    return _plus_zero(b, out) if plus_zero else out


@rule("log1mexp_from_log_one_minus_exp", "stabilize",
      P("log", P("subtract", C(1), P("exp", X("x")))))
def _log1mexp_a(b, m):
    """log(1 - exp(x)) -> log1mexp(x) (1 - exp(x) cancels for x near 0)."""
    x = m["x"]
    return _log1mexp(b, x) if _realish(x) and _array(m["_node"].outputs[0]) else None


@rule("log1mexp_from_log1p_neg_exp", "stabilize", P("log1p", P("negative", P("exp", X("x")))))
def _log1mexp_b(b, m):
    """log1p(-exp(x)) -> log1mexp(x) (inaccurate for x near 0)."""
    x = m["x"]
    return _log1mexp(b, x, plus_zero=False) if _realish(x) and _array(m["_node"].outputs[0]) else None


@rule("log1mexp_from_log_neg_expm1", "stabilize", P("log", P("negative", P("expm1", X("x")))))
def _log1mexp_c(b, m):
    """log(-expm1(x)) -> log1mexp(x) (inaccurate for x below -log 2)."""
    x = m["x"]
    return _log1mexp(b, x) if _realish(x) and _array(m["_node"].outputs[0]) else None


@rule("log1p_from_log_add_one", "stabilize", P("log", P("add", C(1), X("x"), name="s")))
def _log1p(b, m):
    """log(1 + x) -> log1p(x) for real float x (1 + x rounds away x's digits when |x| is
    small); log(1 + -0.0) stays +0.0."""
    x = m["x"]
    if not (_real(x) and _real(m["s"])):
        return None
    return _plus_zero(b, b.call("log1p", x))


@rule("log1p_from_log_one_minus", "stabilize", P("log", P("subtract", C(1), X("x"), name="s")))
def _log1p_neg(b, m):
    """log(1 - x) -> log1p(-x) for real float x; log(1 - 0.0) stays +0.0."""
    x = m["x"]
    if not (_real(x) and _real(m["s"])):
        return None
    return _plus_zero(b, b.call("log1p", b.call("negative", x)))


@rule("expm1_from_exp_sub_one", "stabilize",
      Or(P("subtract", P("exp", X("x")), C(1)), P("add", P("exp", X("x")), C(-1))))
def _expm1(b, m):
    """exp(x) - 1 -> expm1(x) (exp(x) - 1 cancels for x near 0); exp(-0.0) - 1 stays +0.0."""
    x = m["x"]
    return _plus_zero(b, b.call("expm1", x)) if _realish(x) else None


# ------------------------------------------------------------------ sigmoid
def _sigmoid(b, x):
    """1 / (1 + exp(-x)) without overflow: with e = exp(-|x|) <= 1, 1/(1+e) for x >= 0 and
    e/(1+e) below (no warnings, and the subnormal range that exp(-x) overflowing loses)."""
    e = b.call("exp", b.call("negative", b.call("absolute", x)))
    d = b.call("add", 1, e)
    # where(x >= 0, 1, e) / d: one division for both branches (the same two formulas)
    return b.call("divide", b.call("where", b.call("greater_equal", x, 0), 1, e), d)


_E = P("exp", P("negative", P("absolute", X("x"))), name="_e")
SIGMOID = Or(
    P(_DIVIDE, C(1), P("add", C(1), P("exp", P("negative", X("x"))))),          # 1/(1+exp(-x))
    P(_DIVIDE, P("exp", X("x")), P("add", C(1), P("exp", X("x")))),             # exp(x)/(1+exp(x))
    P(_DIVIDE, F("where", P("greater_equal", X("x"), C(0)), C(1), _E),          # _sigmoid's form
      P("add", C(1), _E)),
)
"""A sigmoid of ``x`` as users write it, or as the sigmoid rules emit it."""


def _sigmoid_ok(m) -> bool:
    return _real(m["x"]) and _array(m["_node"].outputs[0])


@rule("stable_sigmoid", "stabilize", P(_DIVIDE, C(1), P("add", C(1), P("exp", P("negative", X("x"))))))
def _stable_sigmoid(b, m):
    """1 / (1 + exp(-x)) -> the overflow-free sigmoid (exp(-x) overflows for x < -709)."""
    return _sigmoid(b, m["x"]) if _sigmoid_ok(m) else None


@rule("stable_sigmoid_from_exp_ratio", "stabilize",
      P(_DIVIDE, P("exp", X("x")), P("add", C(1), P("exp", X("x")))))
def _stable_sigmoid_ratio(b, m):
    """exp(x) / (1 + exp(x)) -> the overflow-free sigmoid (inf/inf = NaN for x > 709)."""
    return _sigmoid(b, m["x"]) if _sigmoid_ok(m) else None


@rule("log_sigmoid_to_neg_softplus", "stabilize", P("log", SIGMOID))
def _log_sigmoid(b, m):
    """log(sigmoid(x)) -> -softplus(-x), computed as 0 - logaddexp(0, -x) (log(1) = +0.0
    stays +0.0 at x = +inf)."""
    x = m["x"]
    if not _real(x):
        return None
    return b.call("subtract", 0, b.call("logaddexp", 0, b.call("negative", x)))


@rule("one_minus_sigmoid", "stabilize", P("subtract", C(1), SIGMOID))
def _one_minus_sigmoid(b, m):
    """1 - sigmoid(x) -> sigmoid(-x) (1 - sigmoid(x) cancels for large x)."""
    x = m["x"]
    if not (_real(x) and _array(m["_node"].outputs[0])):
        return None
    return _sigmoid(b, b.call("negative", x))


# ------------------------------------------------------------------ logsumexp / softmax
def _reduction(x, kw: dict):
    """(axis, keepdims, n) of a sum over ``x`` with these keywords, or None if the rewrite
    does not apply (other keywords, an empty reduction, a non-float or non-array x)."""
    if not (_real(x) and x.aval.kind == ARRAY) or set(kw) - {"axis", "keepdims"}:
        return None
    axis = kw.get("axis")
    keepdims = kw.get("keepdims", False)
    if not isinstance(keepdims, (bool, np.bool_)):
        return None
    shape = x.aval.shape
    try:
        reduced_shape(shape, axis, True)      # validates axis
    except (TypeError, ValueError):
        return None
    ndim = len(shape)
    axes = range(ndim) if axis is None else {
        a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))}
    n = 1
    for a in axes:
        n *= shape[a]
    if n == 0:
        return None          # np.max of an empty axis raises; NumPy's log(0) = -inf stays
    return axis, bool(keepdims), n


_SHIFTED = P("subtract", X("z"), F(("max", "amax"), X("z"), kw="_k"))


def _already_shifted(b, x) -> bool:
    """x is ``z - max(z, ...)``: the user's code is the stable form already."""
    return match(_SHIFTED, x, b._producer) is not None


def _limits(x, n: int) -> tuple[float, float]:
    """(hi, lo): below hi, n * exp(max) cannot overflow; above lo, exp is a normal number
    (half a unit of margin on each side, for the comparison in x's own dtype)."""
    fi = np.finfo(x.aval.dtype)
    return (math.log(float(fi.max)) - math.log(n) - 0.5,
            math.log(float(fi.smallest_normal)) + 0.5)


def _max(b, x, axis):
    return b.call("max", x, axis=axis, keepdims=True)


def _logsumexp_shift(b, x, axis, n: int):
    """The slice max where NumPy's log(sum(exp(x))) over- or underflows (the sum is inf,
    or subnormal or 0), else 0: there NumPy's result is kept bit for bit.  A non-finite
    max (an inf or NaN in the slice, all -inf) gives 0, so NumPy's own inf/NaN arithmetic
    happens unchanged."""
    hi, lo = _limits(x, n)
    mx = _max(b, x, axis)
    far = b.call("logical_or", b.call("greater", mx, hi), b.call("less", mx, lo))
    return b.call("where", b.call("logical_and", b.call("isfinite", mx), far), mx, 0)


def _softmax_shift(b, x, axis, n: int):
    """0 where NumPy's exp(x) / sum(exp(x)) is accurate (the sum cannot overflow, and no
    exp underflows unless its quotient does too: max >= 0 or min's exp is normal), so
    there the result is NumPy's bit for bit; elsewhere the max rounded to an integer (an
    integer shift makes x - shift exact for every element when the max is negative, the
    underflow case; _exp_shifted makes up for the rounding of the others)."""
    hi, lo = _limits(x, n)
    mx = _max(b, x, axis)
    mn = b.call("min", x, axis=axis, keepdims=True)
    low_ok = b.call("logical_or", b.call("greater_equal", mx, 0), b.call("greater_equal", mn, lo))
    safe = b.call("logical_and", b.call("less_equal", mx, hi), low_ok)
    shift = b.call("logical_and", b.call("isfinite", mx), b.call("logical_not", safe))
    return b.call("where", shift, b.call("rint", mx), 0)


def _broadcasts_as_keepdims(x, denom, axis) -> bool:
    """The reduced denominator lines up with the slices it was summed over."""
    kept = reduced_shape(x.aval.shape, axis, True)
    d = denom.aval.shape
    return (1,) * (len(kept) - len(d)) + tuple(d) == kept if len(d) <= len(kept) else False


@rule("logsumexp_from_log_sum_exp", "stabilize", P("log", F("sum", P("exp", X("x")), kw="kw")))
def _logsumexp(b, m):
    """log(sum(exp(x), axis, keepdims)) -> log(sum(exp(x - s))) + s, where s is the max of
    the slice where plain NumPy over- or underflows and 0 elsewhere (so there the result is
    NumPy's, bit for bit).  All -inf slices give -inf, as in NumPy; an inf gives inf, a NaN
    NaN."""
    x, kw = m["x"], m["kw"]
    info = _reduction(x, kw)
    if info is None or _already_shifted(b, x):
        return None
    axis, keepdims, n = info
    out = m["_node"].outputs[0]
    s = _logsumexp_shift(b, x, axis, n)
    r = b.call("log", b.call("sum", b.call("exp", b.call("subtract", x, s)), **kw))
    if not keepdims:
        s = b.call("reshape", s, out.aval.shape)
    return b.call("add", r, s)


_SOFTMAX = P(_DIVIDE, P("exp", X("x")), F("sum", P("exp", X("x")), kw="kw", bind="den"))


@rule("stable_softmax", "stabilize", _SOFTMAX)
def _softmax(b, m):
    """exp(x) / sum(exp(x), axis) -> exp(x - s) / sum(exp(x - s), axis), s an integer near
    the slice max where plain NumPy over- or underflows (inf/inf, 0/0, lost digits), 0
    elsewhere (NumPy's result bit for bit).  Applies when the sums line up with their
    slices (keepdims=True, or the reduced axes are leading ones)."""
    x, kw = m["x"], m["kw"]
    info = _reduction(x, kw)
    if info is None or _already_shifted(b, x) or not _broadcasts_as_keepdims(x, m["den"], info[0]):
        return None
    users = b.uses(m["_node"].outputs[0])
    if "log_softmax" in b.active and users and all(u is not None and u.op.name == "log" for u in users):
        return None                         # only log(softmax): log_softmax's turn
    axis, _, n = info
    e = _exp_shifted(b, x, _softmax_shift(b, x, axis, n))
    return b.call("divide", e, b.call("sum", e, axis=axis, keepdims=True))


def _exp_shifted(b, x, s):
    """exp(x - s) to working accuracy although x - s rounds (an element far below a large
    max): d = x - s with its rounding error r from TwoSum, exp(x - s) = exp(d) * (1 + r).
    Where s is 0, r is 0 and the result is exp(x) bit for bit; r is 0 at ±inf and NaN."""
    d = b.call("subtract", x, s)
    t = b.call("subtract", d, x)
    r = b.call("subtract", b.call("subtract", x, b.call("subtract", d, t)), b.call("add", s, t))
    r = b.call("where", b.call("isfinite", r), r, 0)
    return b.call("multiply", b.call("exp", d), b.call("add", 1, r))


@rule("log_softmax", "stabilize", P("log", _SOFTMAX))
def _log_softmax(b, m):
    """log(exp(x) / sum(exp(x), axis)) -> y - log1p(k - 1 + t), with y = x - max (0 at the
    k maxima of the slice) and t the sum of exp(y) over the other elements: no overflow or
    underflow, and the log-probability of a dominant element (near 0) keeps its digits,
    which NumPy's formula loses.  (stable_softmax leaves a softmax that is only
    ever logged to this rule.)"""
    x, kw = m["x"], m["kw"]
    info = _reduction(x, kw)
    if info is None or not _broadcasts_as_keepdims(x, m["den"], info[0]):
        return None
    axis, _, n = info
    mx = _max(b, x, axis)
    y = b.call("subtract", x, b.call("where", b.call("isfinite", mx), mx, 0))
    top = b.call("equal", y, 0)
    t = b.call("sum", b.call("where", top, 0, b.call("exp", y)), axis=axis, keepdims=True)
    one = x.aval.dtype.type(1)
    k = b.call("sum", b.call("where", top, one, x.aval.dtype.type(0)), axis=axis, keepdims=True)
    lse = b.call("log1p", b.call("add", b.call("subtract", k, one), t))
    return b.call("subtract", y, lse)


# ------------------------------------------------------------------ sqrt, log, erf
def _two(v) -> bool:
    return (not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, float, np.integer, np.floating))
            and float(v) == 2.0)


@rule("sqrt_of_square_to_abs", "stabilize",
      P("sqrt", Or(P("square", X("x")), P("multiply", X("x"), X("x")),
                    P(("power", "py.pow"), X("x"), C(test=_two)))))
def _sqrt_square(b, m):
    """sqrt(x**2) -> |x| for real floats: exact where x*x over- or underflows, the same
    everywhere else (sqrt of a correctly rounded square is |x| in binary floating point);
    negative x, -0.0 (+0.0), ±inf (inf) and NaN as NumPy.  Python floats keep their
    OverflowError."""
    x = m["x"]
    if not _real(x) or x.aval.kind == PYSCALAR:
        return None
    return b.call("absolute", x)


@rule("log_of_sqrt", "stabilize", P("log", P("sqrt", X("x"))))
def _log_sqrt(b, m):
    """log(sqrt(x)) -> 0.5 * log(x) (the rounding of sqrt costs digits where the log is
    near 0); negative x NaN, 0 -inf, inf inf as NumPy."""
    x = m["x"]
    return b.call("multiply", 0.5, b.call("log", x)) if _realish(x) else None


_ERF = UfuncRef("scipy.special", "erf")


@rule("erfc_from_one_minus_erf", "stabilize", P("subtract", C(1), P(_ERF, X("x"))))
def _erfc(b, m):
    """1 - scipy.special.erf(x) -> scipy.special.erfc(x) (1 - erf(x) cancels for x > 0:
    it is 0 from x = 5.9 on).  As accurate as scipy's erfc (cephes: within about 430 ULP
    in float64, far better than the cancellation it replaces)."""
    x = m["x"]
    special = sys.modules.get("scipy.special")
    if special is None or not _realish(x):
        return None
    return b.call(special.erfc, x)


# ------------------------------------------------------------------ where
@rule("where_zero_sink_mul", "stabilize",
      P("multiply", X("x"), Or(F("where", X("c"), C(0, name="_z0"), X("f")),
                                F("where", X("c"), X("f"), C(0, name="_z1")))),
      gradient_only=True)
def _where_sink(b, m):
    """x * where(c, 0, f) -> where(c, 0, x * f): the gradient of the branch not taken
    stays out of x's gradient.  Gradient graphs only: in a forward graph it would turn
    inf * 0 and NaN * 0 (NaN) into 0, and -x * 0 (-0.0) into +0.0."""
    x, c, f = m["x"], m["c"], m["f"]
    xf = b.call("multiply", x, f)
    if "_z0" in m:
        return b.call("where", c, m["_z0"], xf)
    return b.call("where", c, xf, m["_z1"])
