"""Overflow-guarded selects of the blocked kernel (tracenp.exec.guards): the stable softplus
``where(x > K, x, log1p(exp(x)))`` runs its select only if ``exp`` raised the overflow
flag, and its result is the select's, bit for bit, in every case."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracenp
from tracenp.config import config
from tracenp.exec import guards
from tracenp.optimize.fusion import FusedOp
from tracenp.optimize.stability import exp_limit
from tests.oracle import assert_same


def softplus(x):
    return np.log(1 + np.exp(x))


def _expected(x):
    k = exp_limit(x.dtype)
    with np.errstate(all="ignore"):
        return np.where(x > k, x, np.log1p(np.exp(x)))


def _programs(c):
    return [n.params._program for plan in c._cache.values() for n in plan.graph.nodes
            if isinstance(n.op, FusedOp) and getattr(n.params, "_program", None) is not None]


def _edges(dtype, n, seed=0, spots=()):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 20).astype(dtype)
    k = dtype(exp_limit(np.dtype(dtype)))
    special = [k, np.nextafter(k, dtype(np.inf)), np.nextafter(k, dtype(-np.inf)), np.inf,
               -np.inf, np.nan, 0.0, -0.0, 1e4, -1e4, 37.0, -745.0]
    for i, at in enumerate(spots):
        x[at] = special[i % len(special)]
    return x


needs_flags = pytest.mark.skipif(guards.flag_reader() is None,
                                 reason="the floating-point flags cannot be read here")


@needs_flags
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, spots", [(3000, ()), (3000, range(12)), (100_000, [99_990]),
                                      (100_000, range(0, 100_000, 7919))])
def test_guarded_softplus_is_the_select_bit_for_bit(dtype, n, spots, monkeypatch):
    monkeypatch.setattr(config, "chunk_bytes", 1 << 14)      # several blocks at 1e5
    x = _edges(dtype, n, spots=spots)
    c = tracenp.compile(softplus)
    with np.errstate(all="ignore"):
        for _ in range(3):
            got = c(x)
            assert_same(got, _expected(x))
            assert np.array_equal(np.signbit(got), np.signbit(_expected(x)))
    progs = _programs(c)
    assert len(progs) == 1 and len(progs[0].guarded) == 2
    assert [s[0] for s in progs[0].steps] == ["flag", "ufunc", "skip", "guard"]


@needs_flags
def test_overflow_in_one_share_of_the_threads(monkeypatch):
    monkeypatch.setattr(config, "parallel_work", 0)
    monkeypatch.setattr(config, "chunk_bytes", 1 << 12)
    monkeypatch.setattr(config, "threads", 2)
    c = tracenp.compile(softplus)
    for at in (5, 1500, 99_999):                 # the caller's share, a worker's, the tail
        x = _edges(np.float64, 100_000, seed=at)
        x[at] = 800.0
        with np.errstate(all="ignore"):
            assert_same(c(x), _expected(x))


@needs_flags
def test_warnings_and_errors_are_numpys():
    x = _edges(np.float64, 5000)
    c = tracenp.compile(softplus)
    c(x)
    x[17] = 1000.0
    with pytest.warns(RuntimeWarning, match="overflow encountered in exp"):
        c(x)
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        c(x)
    x[17] = 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c(x)                                      # no overflow: no warning


def test_without_flags_the_select_always_runs(monkeypatch):
    guards.flag_reader.cache_clear()
    monkeypatch.setattr(guards, "flag_reader", lambda: None)
    x = _edges(np.float64, 5000, spots=range(12))
    c = tracenp.compile(softplus)
    with np.errstate(all="ignore"):
        assert_same(c(x), _expected(x))
    assert all(not p.guarded for p in _programs(c))


@needs_flags
def test_shared_values_are_not_guarded():
    def f(x):
        e = np.exp(x)
        return np.log(1 + e), e                   # exp(x) is also an output
    x = _edges(np.float64, 5000, spots=range(12))
    c = tracenp.compile(f)
    with np.errstate(all="ignore"):
        got = c(x)
        assert_same(got[1], np.exp(x))
        assert_same(got[0], _expected(x))


@needs_flags
def test_explain_names_the_guard(capsys):
    tracenp.explain(softplus)(_edges(np.float64, 5000))
    out = capsys.readouterr().out
    assert "overflow guard" in out


def test_exp_limit_is_the_last_finite_exp():
    for dt in (np.float64, np.float32):
        k = dt(exp_limit(np.dtype(dt)))
        with np.errstate(all="ignore"):
            assert np.isfinite(np.exp(np.full(100, k))).all()
            assert np.isinf(np.exp(np.full(100, np.nextafter(k, dt(np.inf))))).all()

