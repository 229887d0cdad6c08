"""Fused regions and the blocked kernel, against eager NumPy (bit for bit)."""
from __future__ import annotations

import numpy as np
import pytest

import tracenp
from tracenp.config import config
from tracenp.optimize import RULES
from tracenp.optimize.fusion import FusedOp
from tests.oracle import assert_same

N = 3 * config.min_fuse_elements + 17          # several blocks, a ragged last one


@pytest.fixture(autouse=True)
def _fuse_every_region(monkeypatch):
    """These tests are about the kernels: regions are fused whatever the cost model says."""
    monkeypatch.setattr(config, "min_fuse_work", 0)
    monkeypatch.setattr(config, "parallel_work", 0)     # and use the threads, however small
# The kernels are tested bit for bit: rewrite rules (which may improve accuracy) are off.
NO_RULES = {"disable": frozenset(RULES)}


def _fused_nodes(f, *args, **opts):
    opts = {**NO_RULES, **opts}
    g = tracenp.make_graph(f, **opts)(*args)
    return [n for n in g.nodes if isinstance(n.op, FusedOp)]


def _check(f, *args, fused=1, **opts):
    opts = {**NO_RULES, **opts}
    c = tracenp.compile(f, **opts)
    with np.errstate(all="ignore"):
        expected = f(*args)
        assert_same(c(*args), expected)
        assert_same(c(*args), expected)
    assert c.trace_count == 1
    assert len(_fused_nodes(f, *args, **opts)) == fused


def logistic(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.complex64, np.complex128])
def test_logistic_bit_identical(dtype):
    x = (np.random.default_rng(0).standard_normal(N) * 30).astype(dtype)
    _check(logistic, x)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64, np.uint64, np.bool_])
def test_integer_wraparound_and_bools(dtype):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2 if dtype is np.bool_ else 100, N).astype(dtype)

    def f(a):
        return (a * a + a) ^ (a << 1) if dtype is not np.bool_ else (a & ~a) | a
    _check(f, x)


def test_special_values_and_weak_scalars():
    x = np.random.default_rng(2).standard_normal(N).astype(np.float32)
    x[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4e38, -1e-38]

    def f(a, s):
        return np.sqrt(a * s) - np.log(np.abs(a) + 1) / s, np.maximum(a, 0.5 * s)
    _check(f, x, 2.5)


def test_broadcasting_rows_mode():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((N // 64, 64))
    b = rng.standard_normal(64)
    c = rng.standard_normal((N // 64, 1))

    def f(a, b, c):
        return np.tanh(a * b + c) - np.exp(-(a - c) ** 2)
    _check(f, a, b, c)


def test_non_contiguous_and_fortran_inputs():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((2 * N // 64, 64))[::2]
    b = np.asfortranarray(rng.standard_normal((N // 64, 64)))
    _check(lambda a, b: np.sin(a) * np.cos(b) + a / (1 + b * b), a, b)


def test_multi_output_region_and_where():
    x = np.random.default_rng(5).standard_normal(N)

    def f(x):
        y = x * 2.0
        z = np.where(y > 0, y, np.exp(y) - 1)
        return y, z + 1.0
    _check(f, x)


def test_region_output_used_by_non_elementwise_op():
    x = np.random.default_rng(6).standard_normal(N)

    def f(x):
        e = np.exp(x - 1.0)
        return e / np.sum(e)
    c = tracenp.compile(f)
    assert_same(c(x), f(x))


def test_single_thread_equals_threads():
    x = np.random.default_rng(7).standard_normal(N)
    old = config.threads
    try:
        config.threads = 1
        one = tracenp.compile(logistic, **NO_RULES)(x)
        config.threads = 4
        many = tracenp.compile(logistic, **NO_RULES)(x)
    finally:
        config.threads = old
    assert_same(one, many)
    assert_same(one, logistic(x))


def test_errstate_raise_reaches_worker_threads():
    x = np.zeros(N)
    c = tracenp.compile(lambda x: 1.0 / x + x)
    c(np.ones(N))
    with np.errstate(divide="raise"):
        with pytest.raises(FloatingPointError):
            c(x)


@pytest.mark.parametrize("where", [0, N // 2, N - 1])
def test_errstate_raise_in_one_share_of_the_blocks(where):
    """One block raises (the calling thread's share, or a worker's): the call raises, after
    every share has finished."""
    x = np.ones(N)
    c = tracenp.compile(lambda x: 1.0 / x + x)
    c(x)
    x[where] = 0.0
    with np.errstate(divide="raise"):
        with pytest.raises(FloatingPointError):
            c(x)
    with np.errstate(divide="ignore"):
        assert_same(c(x), 1.0 / x + x)


def test_cost_model_keeps_cheap_regions_op_by_op(monkeypatch):
    monkeypatch.setattr(config, "min_fuse_work", 2_500_000)
    # without numba (tests/test_numba_kernel.py: numba fuses cheap regions it can compile)
    monkeypatch.setattr("tracenp.exec.numba_kernel.available", lambda: False)
    x = np.random.default_rng(12).standard_normal(100_000)
    cheap = lambda x: np.sum((x - 1.0) * (x + 1.0))
    costly = lambda x: np.exp(-x * x) * np.sin(x)
    assert len(_fused_nodes(cheap, x)) == 0
    assert len(_fused_nodes(costly, x)) == 1
    _check(cheap, x, fused=0)
    _check(costly, x, fused=1)


def test_small_inputs_are_not_fused():
    # Below config.min_fuse_elements the cheapest path is op by op (generated straight-line
    # code): no region is formed.
    x = np.linspace(-3, 3, 11)
    _check(logistic, x, fused=0)


def test_fusion_can_be_switched_off():
    x = np.ones(N)
    assert not _fused_nodes(logistic, x, fuse=False)


# ---- full reductions folded into a region -----------------------------------------
def _folded(f, *args):
    return [n.params.reduce.op.name for n in _fused_nodes(f, *args) if n.params.reduce is not None]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.uint8])
@pytest.mark.parametrize("name", ["sum", "max", "min", "mean"])
def test_folded_reduction_matches_numpy(name, dtype):
    rng = np.random.default_rng(8)
    x = (rng.standard_normal(N) * 10).astype(dtype)
    red = getattr(np, name)

    def f(x):
        return red(x * 3 + x)
    c = tracenp.compile(f)
    with np.errstate(all="ignore"):
        expected = f(x)
        got = c(x)
    assert type(got) is type(expected) and got.dtype == expected.dtype
    if dtype in (np.float32, np.float64) and name in ("sum", "mean"):
        # pairwise sums per block, then over blocks: within NumPy's own summation error
        bound = N * np.finfo(dtype).eps * np.sum(np.abs(x * 3 + x), dtype=np.float64)
        assert abs(float(got) - float(expected)) <= bound
    else:
        assert got == expected
    expect_fold = not (name == "mean" and np.dtype(dtype).kind != "f")
    assert (_folded(f, x) == [name]) == expect_fold


def test_folded_max_propagates_nan_and_is_thread_independent():
    x = np.random.default_rng(9).standard_normal(N)
    x[N // 2] = np.nan
    f = lambda x: np.max(np.abs(x) - 1.0)
    assert np.isnan(tracenp.compile(f)(x))
    y = np.random.default_rng(10).standard_normal(N)
    g = lambda y: np.sum(y * y + 1.0)
    old = config.threads
    try:
        config.threads = 1
        one = tracenp.compile(g)(y)
        config.threads = 3
        three = tracenp.compile(g)(y)
    finally:
        config.threads = old
    assert one == three
    expected = g(y)
    assert abs(one - expected) <= N * np.finfo(np.float64).eps * np.sum(y * y + 1.0)


def test_reduction_used_elsewhere_is_not_folded():
    x = np.random.default_rng(11).standard_normal(N)

    def f(x):
        y = x * 2.0 + 1.0
        return np.sum(y), y
    assert _folded(f, x) == []
    assert_same(tracenp.compile(f)(x), f(x))


@pytest.mark.parametrize("kernel", ["auto", "blocked", "numba", "numpy"])
@pytest.mark.parametrize("layout", ["F", "transposed-slice"])
def test_folded_sum_of_values_numpy_keeps_in_fortran_order(kernel, layout, monkeypatch):
    """NumPy's intermediates follow their inputs' layout (a transposed input gives
    Fortran-ordered values) and np.sum adds in memory order: a folded float sum of such a
    region is NumPy's, bit for bit (found by the long fuzz: 1 ulp off in C order)."""
    monkeypatch.setattr(config, "kernel", kernel)
    monkeypatch.setattr(config, "min_fuse_elements", 1)
    monkeypatch.setattr(config, "min_fuse_work", 1)
    rng = np.random.default_rng(11)
    a = rng.standard_normal((301, 203)).T if layout == "F" else rng.standard_normal((400, 300)).T[::2, 5:]
    b = rng.standard_normal((a.shape[0], 1))

    def f(a, b):
        return np.sum((a * 3.0 + b) / 7.0), np.mean(np.exp(a) - b)
    c = tracenp.compile(f, **NO_RULES)
    expected = f(a, b)
    assert np.sum(np.ascontiguousarray((a * 3.0 + b) / 7.0)) != expected[0]   # order matters
    for _ in range(3):
        assert_same(c(a, b), expected)
