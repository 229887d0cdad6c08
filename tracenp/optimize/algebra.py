"""Algebra and specialization rules.

By default no rule changes a result NumPy computes accurately, NaN, inf and the sign of
zero included; rules that would are guarded, or marked ``fast_math``.
"""
from __future__ import annotations

import math

import numpy as np

from ..graph.ir import Var
from .framework import rule
from .pattern import C, Const, F, P, X


def _kind(v) -> str:
    return v.aval.dtype.kind


def _is_float(v) -> bool:
    return _kind(v) in "fc"


def _is_int(v) -> bool:
    return _kind(v) in "biu"


# ---------------------------------------------------------------- identities
@rule("mul_by_one", "canonicalize", P("multiply", X("x"), C(1)))
def _mul_one(b, m):
    """x * 1 -> x (exact for real dtypes; the type check rejects promotions.  Not for
    complex: a complex product with 1+0j turns inf+nan*j parts into nan)."""
    return m["x"] if _kind(m["x"]) != "c" else None


@rule("div_by_one", "canonicalize", P(("divide", "true_divide"), X("x"), C(1)))
def _div_one(b, m):
    """x / 1 -> x (the type check keeps int / 1 -> float as it is; not for complex, as
    mul_by_one)."""
    return m["x"] if _kind(m["x"]) != "c" else None


@rule("sub_zero", "canonicalize", P("subtract", X("x"), C(0, name="zero")))
def _sub_zero(b, m):
    """x - 0 -> x (exact, -0.0 included; but x - (-0.0) turns -0.0 into +0.0: kept)."""
    z = m["zero"].value
    if np.signbit(np.real(z)) or np.signbit(np.imag(z)):
        return None
    return m["x"]


@rule("add_zero_int", "canonicalize", P("add", X("x"), C(0)))
def _add_zero(b, m):
    """x + 0 -> x for integers and bools (for floats -0.0 + 0 is +0.0: see add_zero_float)."""
    return m["x"] if _is_int(m["x"]) else None


@rule("add_zero_float", "canonicalize", P("add", X("x"), C(0)), fast_math=True)
def _add_zero_f(b, m):
    """x + 0 -> x for floats (fast_math: turns -0.0 + 0 into -0.0)."""
    return m["x"]


@rule("double_negation", "canonicalize", P("negative", P("negative", X("x"))))
def _neg_neg(b, m):
    """--x -> x (exact, wraparound included)."""
    return m["x"]


@rule("pow_one", "canonicalize", P("power", X("x"), C(1)))
def _pow_one(b, m):
    """x ** 1 -> x (not for complex: NumPy's complex power changes signed zeros)."""
    return m["x"] if _kind(m["x"]) != "c" else None


@rule("self_subtract", "canonicalize", P("subtract", X("x"), X("x")))
def _self_sub(b, m):
    """x - x -> 0; for floats 0 where x is finite and NaN where it is inf or NaN (as NumPy)."""
    x = m["x"]
    out_aval = m["_node"].outputs[0].aval
    if not _is_float(x):
        return b.full(out_aval, 0)
    if b.fast_math:
        return None                   # self_subtract_fast: a plain zero
    if _kind(x) == "c":
        return None
    t = out_aval.dtype.type
    return b.call("where", b.call("isfinite", x), Const(t(0)), Const(t(np.nan)))


@rule("self_subtract_fast", "canonicalize", P("subtract", X("x"), X("x")), fast_math=True)
def _self_sub_fast(b, m):
    """x - x -> 0 (fast_math: ignores inf and NaN)."""
    return b.full(m["_node"].outputs[0].aval, 0)


# ---------------------------------------------------------------- exp/log
def _no_negative_zero(b, v):
    """``v + 0``: -0.0 becomes +0.0 (what NumPy's exp and log return for a zero result),
    every other value is unchanged.  Skipped under fast_math."""
    return v if b.fast_math else b.call("add", v, 0)


@rule("exp_of_log", "canonicalize", P("exp", P("log", X("x"))), approximate=True)
def _exp_log(b, m):
    """exp(log x) -> x where x >= 0, NaN elsewhere (NumPy's NaN for negative x kept, and
    exp(log(-0.0)) = exp(-inf) = +0.0)."""
    x = m["x"]
    if _kind(x) != "f":
        return None
    keep = b.call("greater_equal", x, Const(0))
    out = b.call("where", keep, x, Const(m["_node"].outputs[0].aval.dtype.type(np.nan)))
    return _no_negative_zero(b, out)


@rule("log_of_exp", "stabilize", P("log", P("exp", X("x"))))
def _log_exp(b, m):
    """log(exp x) -> x (finite where exp overflows; NaN and ±inf unchanged, and
    log(exp(-0.0)) = log(1) = +0.0)."""
    x = m["x"]
    return _no_negative_zero(b, x) if _kind(x) == "f" else None


# ---------------------------------------------------------------- powers
def _int_exponent(k: int):
    def test(v) -> bool:
        return (not isinstance(v, (bool, np.bool_))) and isinstance(v, (int, float, np.integer, np.floating)) \
            and float(v) == k
    return test


@rule("square_to_multiply", "specialize", P("power", X("x"), C(test=_int_exponent(2))))
def _square(b, m):
    """x ** 2 -> x * x (the same correctly rounded product; NumPy's square for complex)."""
    x = m["x"]
    return b.call("multiply", x, x) if _kind(x) != "c" else None


@rule("cube_to_multiply", "specialize", P("power", X("x"), C(test=_int_exponent(3))),
      approximate=True)
def _cube(b, m):
    """x ** 3 -> (x * x) * x (within 1 ULP of pow; exact for integers)."""
    x = m["x"]
    if _kind(x) == "c":
        return None
    return b.call("multiply", b.call("multiply", x, x), x)


@rule("pow_half_to_sqrt", "specialize", P("power", X("x"), C(test=lambda v: isinstance(v, (float, np.floating)) and v == 0.5)))
def _pow_half(b, m):
    """power(x, 0.5) -> sqrt(x) for float32/64 (NumPy's power loop does the same; not
    float16's or longdouble's: they call pow, +inf at -inf and +0.0 at -0.0)."""
    x = m["x"]
    return b.call("sqrt", x) if x.aval.dtype in (np.float32, np.float64) else None


@rule("pow_minus_one_to_reciprocal", "specialize", P("power", X("x"), C(test=_int_exponent(-1))))
def _pow_m1(b, m):
    """x ** -1 -> 1 / x for real floats (NumPy's power loop does the same; integers keep
    NumPy's error)."""
    x = m["x"]
    return b.call("divide", Const(x.aval.dtype.type(1)), x) if _kind(x) == "f" else None


@rule("div_by_power_of_two", "specialize",
      P(("divide", "true_divide"), X("x"), C(test=lambda v: isinstance(v, (float, int, np.floating, np.integer))
                                              and not isinstance(v, (bool, np.bool_))
                                              and v != 0 and math.isfinite(float(v))
                                              and math.frexp(abs(float(v)))[0] == 0.5)))
def _div_pow2(b, m):
    """x / c -> x * (1/c) when c is a power of two (then 1/c is exact and so is the product)."""
    x, c = m["x"], m["_node"]
    value = [o for o in _consts(c)][0]
    if _kind(x) != "f":      # complex: x / 2 and x * 0.5 differ in signed zeros and NaN
        return None
    t = m["_node"].outputs[0].aval.dtype.type
    inv = 1 / float(value)   # both c and 1/c must be exact in the result's dtype (1/5e-324
    if not (math.isfinite(inv) and t(inv) == inv and t(value) == value):  # is inf)
        return None
    return b.call("multiply", x, Const(type(value)(1 / value)) if isinstance(value, float) else Const(1.0 / value))


def _consts(node):
    from .pattern import operands
    return [o.value for o in operands(node) if isinstance(o, Const)]


def _uniform_array(v) -> bool:
    """A constant array whose elements are all equal (a broadcast scalar, as gradient
    graphs make: the cotangent ``1.0`` spread over a reduced array's shape)."""
    from ..graph.ir import Literal
    if not isinstance(v, Literal) or v.borrowed:
        return False
    a = v.value
    if not isinstance(a, np.ndarray) or a.ndim == 0 or a.size == 0 or a.dtype.kind not in "biufc":
        return False
    first = a.flat[0]
    if first != first:          # NaN
        return False
    return bool(all(s == 0 for s in a.strides) or np.all(a == first))


def _uniform_scalar(b, v):
    """The one value a constant array repeats (as a NumPy scalar of its dtype), looking
    through ``broadcast_to``; None if ``v`` is not such an array."""
    from ..graph.ir import Literal
    node = b.producer(v)
    if node is not None and node.op.name == "negative" and len(node.inputs) == 1 \
            and node.params is not None and not node.params.treedef[2][1][2]:
        c = _uniform_scalar(b, node.inputs[0])   # -(broadcast c): -c
        return None if c is None else np.negative(c)
    if node is not None and node.op.name == "broadcast_to" and len(node.inputs) == 1:
        v = node.inputs[0]
        if isinstance(v, Literal) and not v.borrowed and isinstance(v.value, np.ndarray) \
                and v.value.size == 1 and v.value.dtype.kind in "biufc":
            return v.value.dtype.type(v.value.flat[0])
    if not _uniform_array(v):
        return None
    u = v.value
    return u.dtype.type(u.flat[0])        # a NumPy scalar: the array's own (strong) dtype


def _with_scalar(b, m, name: str):
    x, u = m["x"], m["u"]
    c = _uniform_scalar(b, u)
    if c is None:                       # the pattern binds in one order: try the other
        x, u = u, x
        c = _uniform_scalar(b, u)
    if c is None:
        return None
    if name in ("subtract", "divide"):  # not commutative: keep the operands' order
        return b.call(name, c, x) if u is m["x"] else b.call(name, x, c)
    if name == "multiply" and c == 1 and isinstance(x, Var) and x.aval.dtype.kind in "biuf" \
            and np.result_type(x.aval.dtype, c) == x.aval.dtype:
        return x        # x * ones: x itself (mul_by_one's case; this phase's rules do not
                        # revisit the nodes they emit)
    return b.call(name, x, c)


@rule("uniform_array_factor", "canonicalize", P("multiply", X("x"), X("u")))
def _uniform_factor(b, m):
    """x * full(shape, c) -> x * c: a constant array that only repeats one value is a
    scalar of its dtype (gradient graphs make them: the cotangent 1.0 broadcast over a
    reduced array).  Same promotion (a NumPy scalar is as strong as an array of its
    dtype), same values; the type check rejects it when the array broadcast x to a bigger
    shape."""
    return _with_scalar(b, m, "multiply")


@rule("uniform_array_term", "canonicalize", P("add", X("x"), X("u")))
def _uniform_term(b, m):
    """x + full(shape, c) -> x + c, as ``uniform_array_factor``."""
    return _with_scalar(b, m, "add")


@rule("uniform_array_difference", "canonicalize", P("subtract", X("x"), X("u")))
def _uniform_difference(b, m):
    """x - full(shape, c) -> x - c (and c - x), as ``uniform_array_factor``."""
    return _with_scalar(b, m, "subtract")


@rule("uniform_array_quotient", "canonicalize", P(("divide", "true_divide"), X("x"), X("u")))
def _uniform_quotient(b, m):
    """x / full(shape, c) -> x / c (and c / x), as ``uniform_array_factor``."""
    return _with_scalar(b, m, "divide")


@rule("where_constant_condition", "canonicalize",
      F("where", C(test=lambda v: isinstance(v, (bool, np.bool_)), name="cond"), X("a"), X("b")))
def _where_const(b, m):
    """where(True, a, b) -> a and where(False, a, b) -> b, when the chosen branch already
    has the result's shape and dtype (the type check rejects it otherwise)."""
    return m["a"] if bool(m["cond"].value) else m["b"]
