"""NEP 50 promotion with weak Python scalars, against eager NumPy.

A Python ``float``/``complex`` argument of a compiled function is traced as a *weak*
scalar: ``x_float32 * dt`` stays float32, a new ``dt`` does not retrace, and the new
value is used.  Python ``int`` arguments are static (specialized on), and out-of-range
ones raise ``OverflowError`` exactly where eager NumPy does.  Arithmetic between weak
scalars stays Python arithmetic (``dt * 2`` is a Python float).
"""
from __future__ import annotations

import numpy as np
import pytest

import tracenp
from tests.differential import RAISED, check, special_values, ufunc_node


def _arr(d, seed=0, n=7):
    v = special_values(np.dtype(d))
    if seed:
        v = v[np.random.default_rng(seed).permutation(len(v))]
    return np.resize(v, n)


FLOAT_PAIRS = [(2.5, -0.75), (0.1, 1e300), (float("nan"), float("inf")), (-0.0, 3.0),
               (5e-324, -1e-310)]


# ------------------------------------------------------------------ weak floats keep the array's dtype

@pytest.mark.parametrize("d", ["?", "b", "B", "h", "i", "l", "L", "e", "f", "d", "F", "D"])
@pytest.mark.parametrize("first, second", FLOAT_PAIRS)
def test_array_times_weak_float(d, first, second):
    def fn(x, dt):
        return x * dt, dt * x, x + dt, dt - x, x / dt, dt / x, x < dt, x ** 2 * dt

    r = check(fn, lambda s: (_arr(d, s), first if s == 0 else second), node=ufunc_node(np.multiply))
    assert r[0].dtype == np.result_type(np.dtype(d), 1.0)   # float32 * 2.5 is float32


def test_float32_stays_float32_and_new_values_do_not_retrace():
    @tracenp.compile
    def step(x, dt):
        return x + dt * (x * x - 1.0)

    x = np.linspace(-1, 1, 5, dtype=np.float32)
    for dt in (0.5, 0.25, -3.0, float("inf"), 1e-40):
        with np.errstate(all="ignore"):
            got = step(x, dt)
            want = x + dt * (x * x - 1.0)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
    assert step.trace_count == 1
    g = tracenp.make_graph(step)(x, 0.5)
    assert "float~" in str(g)        # the weak scalar is an input of the graph


def test_weak_scalar_arithmetic_stays_python():
    def fn(dt, x):
        a = dt * 2
        b = 2 / dt
        c = -dt + dt ** 2 - abs(dt) // 0.5 % 3.0
        q, r = divmod(dt, 0.75)
        return a, b, c, q, r, x * a, dt * np.float32(2), np.float32(2) * dt, dt.real, \
            (dt * 1j).imag, dt.conjugate()

    r = check(fn, lambda s: (1.25 if s == 0 else -7.5, _arr("f", s)))
    assert [type(v) for v in r[:5]] == [float] * 5
    assert r[5].dtype == np.float32 and type(r[6]) is np.float32 and type(r[7]) is np.float32


def test_returned_weak_scalars_are_python_floats():
    def fn(dt, c):
        return dt, c, dt + 1, c * dt, c.real, round(dt, 2)

    r = check(fn, lambda s: ((0.5, 1 + 2j) if s == 0 else (-2.0, 3 - 1j)))
    assert [type(v) for v in r] == [float, complex, float, complex, float, float]


@pytest.mark.parametrize("d", ["?", "b", "e", "f", "d", "F", "D"])
def test_weak_complex(d):
    def fn(x, c, dt):
        return x * c, c + x, x * (c * dt), (c - dt) / (x + 2), x * dt + c

    r = check(fn, lambda s: (_arr(d, s), (1.5 - 2j) if s == 0 else complex("nan+1j"),
                             0.5 if s == 0 else 2.0))
    assert r[0].dtype == np.result_type(np.dtype(d), 1j)   # float32 * 1j is complex64


def test_zero_d_arrays_and_numpy_scalars_are_not_weak():
    def fn(x, a0, s, dt):
        return x * a0, x * s, x * dt, a0 * dt, s * dt

    def make(k):
        return _arr("f", k), np.array(2.5 + k), np.float64(-1.5 - k), 0.5 + k

    r = check(fn, make)
    assert r[0].dtype == np.float64 and r[1].dtype == np.float64 and r[2].dtype == np.float32

    # a Python float and a NumPy float64 are different signatures, with different results
    f = tracenp.compile(lambda x, v: x * v)
    x = _arr("f")
    assert f(x, 2.0).dtype == np.float32 and f(x, np.float64(2.0)).dtype == np.float64
    assert f.trace_count == 2


# ------------------------------------------------------------------ Python ints

INT_CASES = [("b", 300), ("b", 127), ("b", -129), ("B", 255), ("B", 256), ("B", -1),
             ("h", 40000), ("l", 2**63), ("l", 2**63 - 1), ("L", -1), ("L", 2**64 - 1),
             ("L", 2**64), ("e", 2**64), ("f", 10**40), ("?", 2)]


@pytest.mark.parametrize("d, n", INT_CASES, ids=[f"{d}{n}" for d, n in INT_CASES])
def test_python_int_literal_like_numpy(d, n):
    """``x_int8 + 300`` raises OverflowError where eager does; in-range ints keep the dtype."""
    def literal(x):
        return x + n

    def argument(x, k):
        return x * k, k - x

    def compare(x, k):     # comparisons with out-of-range Python ints are defined
        return x < k, x == k, k >= x

    r = check(literal, lambda s: (_arr(d, s),))
    if r is not RAISED:
        assert r.dtype == np.result_type(np.dtype(d), 1) or d == "?"
    check(argument, lambda s: (_arr(d, s), n))
    assert check(compare, lambda s: (_arr(d, s), n), node=ufunc_node(np.less)) is not RAISED


def test_int8_plus_300_raises_overflow_error():
    f = tracenp.compile(lambda x: x + 300)
    with pytest.raises(OverflowError, match="300 out of bounds for int8"):
        f(np.arange(3, dtype=np.int8))


def test_int_arguments_are_static():
    f = tracenp.compile(lambda x, n: x + n)
    x = np.arange(4, dtype=np.uint8)
    np.testing.assert_array_equal(f(x, 250), x + 250)     # wraps like NumPy: uint8
    assert f(x, 250).dtype == np.uint8 and f.trace_count == 1
    np.testing.assert_array_equal(f(x, 3), x + 3)
    assert f.trace_count == 2                             # a new int is a new signature
    with pytest.raises(OverflowError):
        f(x, 256)


def test_uint8_plus_python_int_wraps():
    def fn(x):
        return x + 200, x * 3, 255 - x, x - 1, (x + 255) // 2

    check(fn, lambda s: (np.arange(0, 256, 17, dtype=np.uint8) + s,))


# ------------------------------------------------------------------ control flow on a weak float

def test_weak_float_in_control_flow_specializes():
    @tracenp.compile
    def f(x, dt):
        if dt > 1.0:
            return x * dt
        return x - dt

    x = np.arange(3.0, dtype=np.float32)
    for dt in (2.0, 0.5, 3.0, 0.25):
        np.testing.assert_array_equal(f(x, dt), x * dt if dt > 1 else x - dt)
        assert f(x, dt).dtype == np.float32
    assert f.trace_count >= 2


def test_weak_exponent_on_float16_and_complex_specializes():
    """NumPy computes ``x ** 0.5`` as sqrt(x), which for float16 and complex differs from
    np.power(x, 0.5): the exponent is specialized on there (and only there)."""
    for d in ("e", "F", "D"):
        f = tracenp.compile(lambda x, p: x ** p)
        x = _arr(d)
        for p in (0.5, 2.0, 0.5, 1.5):
            with np.errstate(all="ignore"):
                want, got = x ** p, f(x, p)
            check_same = np.testing.assert_array_equal
            check_same(got, want)
            assert got.dtype == want.dtype
        assert f.trace_count == 4   # 0.5 (traced weak, then specialized), 2.0, 1.5
    f = tracenp.compile(lambda x, p: x ** p)
    for p in (0.5, 2.0, 1.5):
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(f(_arr("d"), p), _arr("d") ** p)
    assert f.trace_count == 1


def test_square_of_bool_array_is_int8_like_numpy():
    def fn(b):
        return b ** 2, b ** 3, np.power(b, 2)

    r = check(fn, lambda s: (np.array([True, False, bool(s)]),))
    assert r[0].dtype == np.int8 and r[1].dtype == np.int64
