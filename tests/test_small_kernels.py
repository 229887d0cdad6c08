"""The small-size paths of the CPU kernels: regions with numba segments fused from
``config.min_segment_elements`` on (one block, blocked kernel), the one-block shortcut
and the settled-kernel shortcut of ``run_region``.  Results are compared bit for bit
with the same graph run op by op (``config.kernel = "numpy"``), and with eager NumPy."""
from __future__ import annotations

import contextlib
import threading
from typing import Any

import numpy as np
import pytest

import tracenp
from tracenp.config import config
from tracenp.exec import numba_kernel
from tracenp.optimize.fusion import FusedOp
from tests.oracle import assert_same

pytestmark = pytest.mark.skipif(not numba_kernel.available(), reason="numba not installed")

T = config.min_segment_elements
SIZES = [T - 1, T, T + 1, config.min_fuse_elements - 1, config.min_fuse_elements]


def logistic(x):
    return 1 / (1 + np.exp(-x))


def softplus(x):
    return np.log(1 + np.exp(x))


def ratio(x, y):
    return x / (x - y) + 1.0


@contextlib.contextmanager
def configured(**settings: Any):
    old = {k: getattr(config, k) for k in settings}
    for k, v in settings.items():
        setattr(config, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(config, k, v)


@pytest.fixture
def compile_now(monkeypatch):
    """Segments compile at their first call (no rent, no background thread)."""
    monkeypatch.setattr(config, "numba_background", False)
    monkeypatch.setattr(config, "numba_compile_seconds", 0.0)
    monkeypatch.setattr(numba_kernel, "_compile_estimate", lambda prog: 0.0)


def _fused(f, *args):
    g = tracenp.make_graph(f)(*args)
    return [n for n in g.nodes if isinstance(n.op, FusedOp)]


def _op_by_op(f, *args):
    with configured(kernel="numpy"):
        return tracenp.compile(f)(*args)


@pytest.mark.parametrize("f", [logistic, softplus])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_segmented_small_regions_match_op_by_op(f, dtype, n, compile_now):
    x = (np.random.default_rng(n).standard_normal(n) * 40).astype(dtype)
    x[:4] = [np.inf, -np.inf, np.nan, -0.0]
    assert len(_fused(f, x)) == (1 if n >= T else 0)
    c = tracenp.compile(f)
    with np.errstate(all="ignore"):
        expected = _op_by_op(f, x)
        for _ in range(3):                  # renting, compiling, compiled
            assert_same(c(x), expected)
        eager = f(x)
    assert eager.dtype == expected.dtype and eager.shape == expected.shape
    # (values against eager NumPy: the rewrites' accuracy, tests/test_stability_accuracy.py)
    if n >= T:
        region = _fused(f, x)[0].params
        kinds = {n.params._program.kernel for plan in c._cache.values()
                 for n in plan.graph.nodes if isinstance(n.op, FusedOp)}
        assert kinds == {"blocked"} and region.shape == (n,)


def test_tiny_inputs_stay_op_by_op():
    x = np.linspace(-3, 3, 11)
    assert not _fused(logistic, x)
    assert_same(tracenp.compile(logistic)(x), _op_by_op(logistic, x))


@pytest.mark.parametrize("n", [T, 3 * T + 5])
def test_small_regions_warn_like_numpy(n, compile_now):
    x = np.ones(n)
    x[7] = 0.0
    with configured(min_fuse_work=0, min_fuse_elements=T):
        c = tracenp.compile(ratio)
        for _ in range(3):
            with pytest.warns(RuntimeWarning):
                c(x, x)
            with np.errstate(all="raise"), pytest.raises(FloatingPointError):
                c(x, x)
            with np.errstate(all="ignore"):
                assert_same(c(x, x), ratio(x, x))


@pytest.mark.parametrize("order", ["C", "F", "strided"])
def test_one_block_regions_of_any_layout(order, compile_now):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((40, 60))
    if order == "F":
        a = np.asfortranarray(a)
    elif order == "strided":
        a = rng.standard_normal((40, 120))[:, ::2]
    b = rng.standard_normal(60).astype(np.float32)
    f = lambda a, b: np.exp(-np.abs(a * b + 1.0)) * (a - b) / (a * a + 1.0)  # noqa: E731
    with configured(min_fuse_work=0, min_fuse_elements=1, kernel="blocked"):
        c = tracenp.compile(f)
        for _ in range(3):
            assert_same(c(a, b), f(a, b))


def test_one_block_scratch_is_per_thread(compile_now):
    rng = np.random.default_rng(6)
    xs = [rng.standard_normal(2 * T) * 10 for _ in range(4)]
    c = tracenp.compile(logistic)
    expected = [_op_by_op(logistic, x) for x in xs]
    errors = []

    def run(k: int) -> None:
        try:
            for _ in range(200):
                assert_same(c(xs[k]), expected[k])
        except AssertionError as e:          # pragma: no cover (reported below)
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_settled_shortcut_follows_config_changes(compile_now):
    x = np.random.default_rng(7).standard_normal(2 * T)
    c = tracenp.compile(logistic)
    expected = _op_by_op(logistic, x)
    for kernel in ("auto", "blocked", "numpy", "auto"):
        with configured(kernel=kernel):
            for _ in range(2):
                assert_same(c(x), expected)


@pytest.mark.parametrize("f", [logistic, softplus])
def test_settled_one_block_run_is_taken_and_exact(f, compile_now):
    """Once its segments are compiled, a 1-d one-block region skips the block set-up
    (``_Program.one_block``); the result stays op by op's, bit for bit, across kernels."""
    x = (np.random.default_rng(3).standard_normal(1000) * 30)
    x[:4] = [np.inf, -np.inf, np.nan, -0.0]
    c = tracenp.compile(f)
    with np.errstate(all="ignore"):
        expected = _op_by_op(f, x)
        for _ in range(3):
            assert_same(c(x), expected)
        progs = [n.params._program for plan in c._cache.values()
                 for n in plan.graph.nodes if isinstance(n.op, FusedOp)]
        assert len(progs) == 1 and progs[0].one_block is not None
        assert progs[0].one_block[0] == config.kernel
        assert progs[0].settled.__code__.co_filename == "<tracenp one block>"   # its runner
        for kernel in ("blocked", "auto"):
            with configured(kernel=kernel):
                assert_same(c(x), expected)
        y = x[::2].copy()                   # another signature, another plan
        assert_same(c(y), _op_by_op(f, y))


def test_folded_sum_with_segments_keeps_its_blocks(monkeypatch, compile_now):
    """A folded sum's partials follow the blocks: compiling the region's numba segments
    (which makes the blocks of a region without a reduction larger) must not change the
    sum from one call to the next; it stays within NumPy's summation error of eager."""
    monkeypatch.setattr(config, "chunk_bytes", 1 << 13)     # many blocks at this size
    f = lambda x, y: np.sum(np.exp(x * 1e-3) * y * 2.0 + x * y)    # noqa: E731
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal(200_000) + 1e3, rng.standard_normal(200_000)
    c = tracenp.compile(f)
    values = {float(c(x, y)) for _ in range(3)}       # before and after the compile
    progs = [n.params._program for plan in c._cache.values()
             for n in plan.graph.nodes if isinstance(n.op, FusedOp)]
    assert len(progs) == 1 and progs[0]._segment_steps is not None   # segments did run
    assert len(values) == 1
    np.testing.assert_allclose(values.pop(), f(x, y), rtol=1e-12)
