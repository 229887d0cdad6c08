"""Python operators on traced arrays, against eager NumPy.

All binary operators (``+ - * / // % ** @ & | ^ << >>``, comparisons, ``divmod``), the
unary ones (``- + ~ abs``) and the in-place forms, on arrays of every numeric dtype,
with Python scalars on either side (literals in the function body, static ``int``
arguments and weak ``float``/``complex`` arguments), with NumPy scalars, and with 0-d
arrays: the *type* of every result (``np.float64`` vs 0-d ``ndarray`` vs Python float)
must match eager NumPy exactly, and so must every error (``OverflowError`` for
``int8_array + 300``, ``UFuncTypeError`` for ``int_array /= 2``).
"""
from __future__ import annotations

import operator

import numpy as np
import pytest

import tracenp
from tests.differential import RAISED, check, special_values, ufunc_node

BINARY = {
    "add": (operator.add, np.add), "sub": (operator.sub, np.subtract),
    "mul": (operator.mul, np.multiply), "truediv": (operator.truediv, np.divide),
    "floordiv": (operator.floordiv, np.floor_divide), "mod": (operator.mod, np.remainder),
    "pow": (operator.pow, np.power), "and": (operator.and_, np.bitwise_and),
    "or": (operator.or_, np.bitwise_or), "xor": (operator.xor, np.bitwise_xor),
    "lshift": (operator.lshift, np.left_shift), "rshift": (operator.rshift, np.right_shift),
    "lt": (operator.lt, np.less), "le": (operator.le, np.less_equal),
    "gt": (operator.gt, np.greater), "ge": (operator.ge, np.greater_equal),
    "eq": (operator.eq, np.equal), "ne": (operator.ne, np.not_equal),
    "divmod": (divmod, np.divmod),
}
MATMUL = (operator.matmul, np.matmul)
UNARY = {"neg": (operator.neg, np.negative), "pos": (operator.pos, np.positive),
         "invert": (operator.invert, np.invert), "abs": (abs, np.absolute)}
INPLACE = {"add": operator.iadd, "sub": operator.isub, "mul": operator.imul,
           "truediv": operator.itruediv, "floordiv": operator.ifloordiv, "mod": operator.imod,
           "pow": operator.ipow, "and": operator.iand, "or": operator.ior, "xor": operator.ixor,
           "lshift": operator.ilshift, "rshift": operator.irshift}

ALL_DTYPES = [np.dtype(c) for c in "?bhiqBHIQefdFD"]
DEFAULT_DTYPES = [np.dtype(c) for c in "?bqBQefdD"]
MIXED = [("b", "B"), ("q", "Q"), ("f", "q"), ("e", "f"), ("?", "f"), ("F", "d"), ("Q", "e"),
         ("h", "I")]

# Python scalars: ints (static), floats and complex (weak), bools
INT_SCALARS = [0, 1, -1, 2, 7, 127, 128, 255, 256, -129, 2**31, 2**63 - 1, 2**64]
FLOAT_SCALARS = [0.0, -0.0, 2.5, -1.5, float("inf"), float("nan"), 1e300, 5e-324]
OTHER_SCALARS = [True, False, 1j, 1.5 - 2j]


def _dtype_params(dtypes=ALL_DTYPES):
    return [pytest.param(d, id=d.name, marks=() if d in DEFAULT_DTYPES else pytest.mark.slow)
            for d in dtypes]


def _vals(d: np.dtype, seed: int) -> np.ndarray:
    v = special_values(d)
    return v if seed == 0 else v[np.random.default_rng(seed).permutation(len(v))]


def _grid(d1: np.dtype, d2: np.dtype, seed: int) -> tuple:
    return _vals(d1, seed)[:, None], _vals(d2, seed + 1)[None, :]


def _node(name: str, uf):
    """The node ``x op c`` records: ``x ** 2`` is np.square, like ndarray.__pow__."""
    if name != "pow":
        return ufunc_node(uf)
    alts = [ufunc_node(u) for u in (np.power, np.square, np.sqrt, np.reciprocal)]

    def pred(op):
        return any(a(op) for a in alts)
    pred.__name__ = "power/square/sqrt/reciprocal"
    return pred


def _weak_exponent_specialized(name: str, d: np.dtype) -> bool:
    """``x ** p`` with a Python float ``p``: NumPy computes sqrt(x) when ``p == 0.5`` (for
    float16 and complex arrays that differs from power), so tracenp specializes on ``p``."""
    return name == "pow" and (d.kind == "c" or d == np.float16)


def _named(fn, name):
    fn.__name__ = name
    return fn


# ------------------------------------------------------------------ array (op) array

@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("d", _dtype_params())
def test_binary_array_array(name, d):
    op, uf = BINARY[name]
    fn = _named(lambda x, y: op(x, y), f"{name}_arrays")
    check(fn, lambda s: _grid(d, d, s), node=ufunc_node(uf))


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("d1, d2", [pytest.param(np.dtype(a), np.dtype(b), id=f"{a}{b}")
                                    for a, b in MIXED])
def test_binary_mixed_dtypes(name, d1, d2):
    op, uf = BINARY[name]
    fn = _named(lambda x, y: op(x, y), f"{name}_mixed")
    check(fn, lambda s: _grid(d1, d2, s), node=ufunc_node(uf))
    check(_named(lambda x, y: op(y, x), f"{name}_mixed_r"), lambda s: _grid(d1, d2, s))


@pytest.mark.parametrize("d", _dtype_params())
def test_matmul_operator(d):
    op, uf = MATMUL

    def make(s):
        v = _vals(d, s)
        return np.resize(v, (2, 3, 4)), np.resize(v[::-1], (4, 5)), np.resize(v, 4)

    check(lambda a, b, v: (a @ b, v @ b, a @ v, v @ v), make, node=ufunc_node(uf))

    def imatmul(a, b):
        b2 = b[:, :4].copy()
        a @= b2          # in place on an argument (square right operand)
        return a
    check(imatmul, lambda s: (np.resize(_vals(d, s), (3, 4)), np.resize(_vals(d, s + 1), (4, 4))))


# ------------------------------------------------------------------ array (op) Python scalar

# the default run's share of the scalars above (every scalar runs under -m slow)
DEFAULT_SCALARS = [0, -1, 2, 128, 2**63 - 1, 2**64, -0.0, float("nan"), 2.5, 1e300, True,
                   1.5 - 2j]


@pytest.mark.parametrize("full", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("d", _dtype_params())
def test_binary_with_python_literal(name, d, full):
    """A Python scalar written in the function body, on either side (reflected ops)."""
    op, uf = BINARY[name]
    for c in (INT_SCALARS + FLOAT_SCALARS + OTHER_SCALARS) if full else DEFAULT_SCALARS:
        make = (lambda s: (_vals(d, s),))
        check(_named(lambda x: op(x, c), f"x {name} {c!r}"), make)
        check(_named(lambda x: op(c, x), f"{c!r} {name} x"), make)
    check(_named(lambda x: op(x, 2), f"x {name} 2"), lambda s: (_vals(d, s),),
          node=_node(name, uf))


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("d", _dtype_params())
def test_binary_with_scalar_argument(name, d):
    """A Python scalar passed as an argument: ints are static, floats/complex are weak
    (a second call with another value must not retrace)."""
    op, uf = BINARY[name]
    for first, second in [(2.5, -0.0), (float("nan"), 1e300), (-1.5, float("inf")),
                          (1j, 2.5 - 1j), (3, 3), (-1, -1), (300, 300), (True, True)]:
        if _weak_exponent_specialized(name, d) and type(first) is float:
            second = first  # a new exponent value retraces here (see test_nep50)

        def make(s, first=first, second=second):
            return _vals(d, s), (first if s == 0 else second)
        check(_named(lambda x, c: op(x, c), f"x {name} arg"), make)
        check(_named(lambda x, c: op(c, x), f"arg {name} x"), make)


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("d", _dtype_params())
def test_unary(name, d):
    op, uf = UNARY[name]
    fn = _named(lambda x: (op(x), op(x[0]), op(x.reshape(-1, 1)[:, 0][::2])), name)
    check(fn, lambda s: (_vals(d, s),), node=ufunc_node(uf))


# ------------------------------------------------------------------ in place

@pytest.mark.parametrize("name", list(INPLACE))
@pytest.mark.parametrize("d", _dtype_params())
def test_inplace_on_argument(name, d):
    iop = INPLACE[name]

    def on_arg(x, y):
        iop(x, y)          # x op= y: written back into the caller's array

    def on_arg_returned(x, y):
        x = iop(x, y)
        return x

    def on_view(x, y):
        v = x[:, 1:]
        v = iop(v, y[:, :1])
        return x.sum(axis=0) if x.dtype.kind != "b" else x.any(axis=0)

    def on_local(x, y):
        a = x.copy()
        a = iop(a, y)
        a = iop(a, y[:1])
        return a, x

    def with_scalar(x):
        x = iop(x, 3)
        return x

    def with_weak(x, c):
        x = iop(x, c)
        return x

    def make(s):
        a, b = _grid(d, d, s)
        return np.broadcast_to(a, (a.shape[0], b.shape[1])).copy(), \
            np.broadcast_to(b, (a.shape[0], b.shape[1])).copy()

    for fn in (on_arg, on_arg_returned, on_view, on_local):
        fn.__name__ = f"{name}:{fn.__name__}"
        check(fn, make, node=ufunc_node(BINARY[name][1]))
    check(with_scalar, lambda s: (make(s)[0],))
    second = 2.5 if _weak_exponent_specialized(name, d) else -0.5
    check(with_weak, lambda s: (make(s)[0], 2.5 if s == 0 else second))


def test_inplace_returns_the_argument():
    @tracenp.compile
    def f(x, y):
        x += y
        x *= 2
        return x

    x, y = np.arange(6.0).reshape(2, 3), np.ones(3)
    for _ in range(2):
        x0 = x.copy()
        r = f(x, y)
        assert r is x
        np.testing.assert_array_equal(x, (x0 + 1) * 2)
    assert f.trace_count == 1


def test_inplace_errors_like_numpy():
    """int array /= 2 raises UFuncTypeError; uint8 array += 300 raises OverflowError."""
    def idiv(x):
        x /= 2
        return x

    def iadd_big(x):
        x += 300
        return x

    def iadd_float(x):
        x += 1.5
        return x

    for fn, d in ((idiv, "i4"), (iadd_big, "u1"), (iadd_float, "i8"), (idiv, "?")):
        assert check(fn, lambda s: (np.arange(4).astype(d),)) is RAISED
    x = np.arange(4, dtype="i4")
    with pytest.raises(TypeError):
        tracenp.compile(idiv)(x)
    np.testing.assert_array_equal(x, np.arange(4))   # untouched, like eager


# ------------------------------------------------------------------ NumPy scalars and 0-d arrays

def test_numpy_scalars_in_the_body():
    def fn(x, y):
        return (np.float32(2) * x, x * np.int8(3), np.float64(2) ** y, np.uint8(200) + y,
                np.int16(7) // x, x < np.float16(1.5), np.complex64(1j) * x, -np.float32(3) + x)

    def make(s):
        return _vals(np.dtype("f"), s), np.arange(5, dtype=np.uint8) + s
    check(fn, make, node=ufunc_node(np.multiply))


def test_numpy_scalar_arguments():
    """NumPy scalars passed in are traced (strong types): np.float32 * Python float stays
    float32, np.float64 * float32 array is float64."""
    def fn(s, t, x):
        return s * 2.5, s + t, t * x, s * x, -s, abs(t), s < t, divmod(s, t), s ** 2

    def make(k):
        return np.float32(1.5 + k), np.float64(-2.0 - k), _vals(np.dtype("f"), k)
    r = check(fn, make)
    assert type(r[0]) is np.float32 and type(r[1]) is np.float64 and r[3].dtype == np.float32


def test_result_types_of_reductions_and_items():
    """Full reductions give NumPy scalars, 0-d arithmetic gives NumPy scalars, and
    indexing gives NumPy scalars or 0-d arrays exactly as eager does."""
    def fn(x, x0):
        s = np.sum(x)
        return (s, x.sum(), x.max(), np.mean(x), s * 2, s * 2.5, s + x0, x[0], x[0] + 1,
                x0 + 1, -x0, x0 * 2.5, x0[()], x0[...], x[1, ...], np.sum(x, keepdims=True),
                s > 0, x.sum(axis=0), np.add.reduce(x, axis=None), x0 + x, x.dtype.type(3) * s)

    def make(k):
        return np.arange(6.0).reshape(3, 2) + k, np.array(2.0 + k)
    r = check(fn, make)
    assert type(r[0]) is np.float64 and type(r[9]) is np.float64 and type(r[13]) is np.ndarray


@pytest.mark.parametrize("d", _dtype_params(DEFAULT_DTYPES))
def test_zero_d_arrays_with_operators(d):
    def fn(a, b, c):
        return a + b, a * c, c - a, a < b, a == b, -a if a.dtype.kind != "b" else ~a, \
            divmod(a, b) if a.dtype.kind not in "cb" else a

    def make(s):
        v = _vals(d, s)
        return np.array(v[0]), np.array(v[-1]), 2.5 if s == 0 else -7.0
    check(fn, make)


def test_inplace_on_zero_d_argument_and_numpy_scalar():
    def fn(x0, x):
        x0 += 1.5             # a 0-d array: in place, stays a 0-d array (written back)
        s = x.sum()
        s += 1                # a NumPy scalar: rebinds
        s *= x0
        t = x[0]
        t -= 2
        return x0, s, t

    check(fn, lambda k: (np.array(1.0 + k), np.arange(4.0) - k))


def test_operator_chains_with_reflected_scalars():
    def fn(x, dt):
        return 1 - x, 2 / (1 + x * x), 3 ** -x, (dt - x) * dt, 2 ** (x / dt), 1 % (x + 3), \
            7 // (x + 2), 1 << np.arange(4), 256 >> np.arange(4), 5 & np.arange(4), \
            True ^ (x > 0), divmod(7.5, x + 2)

    check(fn, lambda k: (np.linspace(-2, 2, 9) + k, 0.5 + k))


@pytest.mark.parametrize("d", ["F", "D", "e", "f", "d", "l", "L", "?"])
def test_numpy_scalar_math_matches_eager(d):
    """Operators between NumPy scalars run NumPy's scalar math, which is not always the
    ufunc loop (complex products with inf/nan parts, complex comparisons with nan, abs of
    complex): the compiled function must give what eager Python gives."""
    def fn(x, w):
        out = []
        for i in range(len(x)):
            s = x[i]                      # a NumPy scalar
            out += [s * 2, 2 * s, s * w, s < 1, s == s, abs(s), s * s, s - x[0], s ** 2]
            if d not in "FD?":
                out += [divmod(s, 3), s // 2, s % 3]
            if d in "lL?":
                out += [s & 1, s ^ x[0], ~s, s << 1]
            else:
                out += [-s, +s, s / 3]
        return out

    def make(k):
        v = special_values(np.dtype(d))
        return (v if k == 0 else v[::-1].copy()), (2.5 if k == 0 else -0.5)
    check(fn, make)


def test_none_index_constant_and_returned_argument():
    """Regression (generated replay code): a None constant (x[None]) next to a returned
    argument."""
    def fn(x):
        return x[None], x, x[..., None] + 1

    check(fn, lambda k: (np.array(bool(k)),))
    check(fn, lambda k: (np.arange(3.0) + k,))


@pytest.mark.parametrize("d", ["F", "D", "f", "d", "e"])
def test_inplace_operand_is_the_target(d):
    """``z *= z`` and ``x **= x`` on arguments: NumPy's loops take another path when an
    operand *is* the output (complex multiply of one element, power), so replay must
    alias them as eager does, even when it writes into a copy."""
    def square_in_place(z, w):
        z *= z
        w **= w
        v = w[1:]
        v **= v
        return z, w

    def make(k):
        rng = np.random.default_rng(k)
        z = np.array(rng.standard_normal() * 10 + 3j).astype(d) if d in "FD" else \
            np.array(rng.standard_normal() * 10).astype(d)
        w = (rng.random(17) * 3).astype(d)
        return z, w
    for k in range(4):
        check(square_in_place, lambda s: make(s + 2 * k))


@pytest.mark.parametrize("d", [np.dtype(c) for c in "?bhilBHILefdFD"], ids=lambda d: d.name)
def test_cast_chains_match_eager(d):
    """x.astype(t1).astype(t2) for every t1, t2 (the optimizer collapses some chains:
    only where every value, inf/NaN/out-of-range included, stays the same)."""
    codes = "?bhilBHILefdFD"

    def fn(x):
        return [x.astype(t1).astype(t2) for t1 in codes for t2 in codes]

    check(fn, lambda k: (_vals(d, k),))
