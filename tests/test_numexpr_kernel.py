"""numexpr kernels: exact regions run in numexpr bit for bit like NumPy; each of numexpr's
known differences from NumPy (design-notes §3) is routed away or guarded, and a test
here shows the result still equals eager NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import tracenp
from tracenp.config import config
from tracenp.exec.kernels import choose_kernel
from tracenp.optimize.fusion import FusedOp
from tests.oracle import assert_same

N = 70_001
rng = np.random.default_rng(0)
F64 = rng.standard_normal(N)
F64[:9] = [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, 1.7e308, -1e-310, 1.0]
G64 = rng.standard_normal(N)
G64[:9] = [-0.0, 0.0, np.nan, np.inf, 1.0, -5e-324, 1.7e308, 1e-310, np.nan]


@pytest.fixture
def numexpr_kernel():
    old = config.kernel
    config.kernel = "numexpr"
    yield
    config.kernel = old


def _kernels(f, *args):
    g = tracenp.make_graph(f)(*args)
    return [choose_kernel(n.params) for n in g.nodes if isinstance(n.op, FusedOp)]


def _check(f, *args, expect_numexpr: bool):
    with np.errstate(all="ignore"):
        expected = f(*args)
        c = tracenp.compile(f)
        assert_same(c(*args), expected)
        assert_same(c(*args), expected)
    kinds = _kernels(f, *args)
    assert kinds, "the function should have a fused region"
    assert ("numexpr" in kinds) == expect_numexpr, kinds


def test_exact_arithmetic_is_bit_identical(numexpr_kernel):
    def f(x, y):
        return np.where(x > y, x * 2.0 - y, np.maximum(x, y) / 3.0) + np.sqrt(np.abs(x)) * y
    _check(f, F64, G64, expect_numexpr=True)


def test_min_max_nan_and_signed_zero(numexpr_kernel):
    _check(lambda x, y: np.minimum(x, y) - np.maximum(y, x) * 1.5, F64, G64, expect_numexpr=True)


def test_comparisons_logic_and_rounding(numexpr_kernel):
    def f(x, y):
        return np.where((x < y) & ~(x == y) | np.isnan(x), np.floor(x) + np.ceil(y), np.trunc(x - y))
    _check(f, F64, G64, expect_numexpr=True)


# ---- the 15 differences, one by one ---------------------------------------------------
def test_1_float32_with_python_float_goes_to_blocked(numexpr_kernel):
    x = F64.astype(np.float32)
    _check(lambda x, s: x * s + x * 2.5 - 1.0, x, 2.5, expect_numexpr=False)


def test_2_small_ints_wrap_like_numpy(numexpr_kernel):
    x = rng.integers(-128, 127, N).astype(np.int8)
    _check(lambda x: (x + x) * 3 - x, x, expect_numexpr=False)


def test_3_uint64_above_2_63(numexpr_kernel):
    x = np.full(N, 2**63 + 5, dtype=np.uint64)
    _check(lambda x: x + x * 2 - 1, x, expect_numexpr=False)


def test_4_float16_and_complex64_keep_their_type(numexpr_kernel):
    _check(lambda x: x * x + x - 1, F64.astype(np.float16), expect_numexpr=False)
    _check(lambda x: x * x + x - 1, (F64 + 1j * G64).astype(np.complex64), expect_numexpr=False)


def test_5_division_by_constant_is_not_reassociated(numexpr_kernel):
    # x / 3.0 must stay a division (aggressive numexpr would use x * (1/3.0)).
    _check(lambda x: x / 3.0 + x / 7.0 - x / 10.0, F64, expect_numexpr=True)


def test_5_constant_powers_are_not_expanded_by_numexpr(numexpr_kernel):
    _check(lambda x: x ** 2.7 + x * 2.0, np.abs(F64), expect_numexpr=False)


def test_6_int_to_negative_power_raises_like_numpy(numexpr_kernel):
    x = np.arange(1, N + 1)
    c = tracenp.compile(lambda x, y: x ** y + x)
    with pytest.raises(ValueError):
        x ** (-x)
    with pytest.raises(ValueError):
        c(x, -x)


def test_7_integer_floor_division_and_modulo_by_zero(numexpr_kernel):
    x = rng.integers(-50, 50, N)
    y = rng.integers(-3, 3, N)
    _check(lambda x, y: x // y + x % y, x, y, expect_numexpr=False)


def test_8_where_with_int_constants_keeps_numpys_dtype(numexpr_kernel):
    # where(c, 1, 0) is int64 in NumPy (int32 in numexpr): such a region goes to blocked.
    _check(lambda x, y: np.where(x > y, 1, 0) + x * 2.0, F64, G64, expect_numexpr=False)
    _check(lambda x, y: np.where(x > y, 1, 0) * 2 + 1, F64, G64, expect_numexpr=False)
    # In a float64 region, int constants become float literals: NumPy's dtype is kept.
    _check(lambda x, y: np.where(x > y, x, 0) * 2 + 1, F64, G64, expect_numexpr=True)


def test_9_10_reductions_are_not_given_to_numexpr(numexpr_kernel):
    def f(x):
        y = x * 2.0 + 1.0
        return np.max(y), np.sum(x.astype(np.int32) * 3)
    with np.errstate(all="ignore"):
        assert_same(tracenp.compile(f)(F64), f(F64))


def test_11_abs_of_ints_stays_int(numexpr_kernel):
    x = rng.integers(-100, 100, N)
    _check(lambda x: np.abs(x) * 2 + x, x, expect_numexpr=False)


def test_12_many_operands_go_to_blocked(numexpr_kernel):
    arrays = [rng.standard_normal(N) for _ in range(30)]

    def f(*xs):
        acc = xs[0] * 1.0
        for x in xs[1:]:
            acc = acc + x * 2.0
        return acc
    _check(f, *arrays, expect_numexpr=False)


def test_13_big_python_ints(numexpr_kernel):
    x = rng.integers(0, 10, N)
    _check(lambda x: x * 2**40 + 1, x, expect_numexpr=False)
    with pytest.raises(OverflowError):
        np.arange(3, dtype=np.int32) + 2**40
    c = tracenp.compile(lambda x: x + 2**40)
    with pytest.raises(OverflowError):
        c(np.arange(3, dtype=np.int32))


def test_14_no_silent_narrowing_into_out(numexpr_kernel):
    def f(x, out):
        np.multiply(x, 2.0, out=out)
        out += 1
        return out
    x = F64[:1000].copy()
    out1 = np.zeros(1000, np.float32)
    out2 = np.zeros(1000, np.float32)
    with np.errstate(all="ignore"):
        assert_same(tracenp.compile(f)(x, out1), f(x, out2))


def test_15_names_and_literals_are_plain(numexpr_kernel):
    from tracenp.exec.numexpr_kernel import numexpr_text
    g = tracenp.make_graph(lambda x, y: (x + 0.1) * y - 1e-300)(F64, G64)
    text = numexpr_text(g.nodes[0].params)
    assert text == "(((v0 + 0.1) * v1) - 1e-300)"


def test_16_minus_zero_literal_goes_to_blocked(numexpr_kernel):
    """Found by the fuzzer: numexpr keeps one register per constant value, and 0.0 ==
    -0.0, so ``where(x > 1, 0.0, -0.0)`` returns 0.0.  A region with a -0.0 literal is
    not numexpr's; with 0.0 and other literals it still is."""
    import numexpr
    assert np.signbit(numexpr.evaluate("where(x > 1, 0.0, -0.0)", {"x": np.zeros(1)})[0]) \
        == False, "numexpr now tells -0.0 apart: this case may go back to numexpr"  # noqa: E712
    z = np.zeros(N)
    _check(lambda x: np.minimum(x - x * 0.0, -0.0), z, expect_numexpr=False)
    _check(lambda x: np.minimum(x - x * 0.0, 2.0) + x * 0.0, z, expect_numexpr=True)


def test_auto_picks_numexpr_only_for_long_exact_chains(monkeypatch):
    # without numba (which "auto" prefers where installed: tests/test_numba_kernel.py)
    monkeypatch.setattr("tracenp.exec.numba_kernel.available", lambda: False)
    def long_chain(x):
        return 0.25 * x * x * x + 0.75 * x * x - 1.5 * x - 2.0
    big = np.tile(F64, 5)                                 # enough work to fuse at all
    assert _kernels(long_chain, big) == ["numexpr"]
    assert _kernels(lambda x: np.exp(x) * x + 1.0, big) == ["blocked"]
    assert _kernels(long_chain, F64[:100]) == []          # small: not fused at all
