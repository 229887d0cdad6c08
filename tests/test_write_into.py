"""Fused regions written into slices of fresh copies (tracenp.optimize.write_into) and
numba's rows loop for 2-d regions with row-contiguous operands, against eager NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import tracenp
from tracenp.config import config
from tracenp.exec.write_into import copy_outside
from tracenp.optimize import RULES
from tests.oracle import assert_same

numba = pytest.importorskip("numba")
NO_RULES = {"disable": frozenset(RULES)}


@pytest.fixture(params=["numba", "blocked", "auto"])
def kind(request, monkeypatch):
    monkeypatch.setattr(config, "kernel", request.param)
    monkeypatch.setattr(config, "min_fuse_work", 0)
    monkeypatch.setattr(config, "parallel_work", 0)
    return request.param


def gray_scott(U, V, Du, Dv, F, k, dt):
    u, v = U[1:-1, 1:-1], V[1:-1, 1:-1]
    Lu = U[:-2, 1:-1] + U[2:, 1:-1] + U[1:-1, :-2] + U[1:-1, 2:] - 4 * u
    Lv = V[:-2, 1:-1] + V[2:, 1:-1] + V[1:-1, :-2] + V[1:-1, 2:] - 4 * v
    uvv = u * v * v
    Un = U.copy()
    Vn = V.copy()
    Un[1:-1, 1:-1] = u + dt * (Du * Lu - uvv + F * (1 - u))
    Vn[1:-1, 1:-1] = v + dt * (Dv * Lv + uvv - (F + k) * v)
    return Un, Vn


def _nodes(f, *args):
    g = tracenp.make_graph(f, **NO_RULES)(*args)
    return [n.op.name for n in g.nodes]


def _check(f, *args, into=True):
    c = tracenp.compile(f, **NO_RULES)
    with np.errstate(all="ignore"):
        expected = f(*args)
        for _ in range(3):
            assert_same(c(*args), expected)
    if into is not None:
        assert ("fused_into" in _nodes(f, *args)) == into


def _grid(n, m, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).random((n, m)).astype(dtype)


@pytest.mark.parametrize("shape", [(300, 200), (3, 3), (1000, 1), (2, 50000)])
def test_gray_scott_bit_for_bit(kind, shape):
    U, V = _grid(*shape), _grid(*shape, seed=1)
    small = kind == "auto" and (shape[0] - 2) * (shape[1] - 2) < config.min_fuse_elements
    _check(gray_scott, U, V, 0.16, 0.08, 0.035, 0.065, 1.0, into=False if small else True)


def test_the_rows_loop_writes_the_copies(monkeypatch):
    from tracenp.exec import numba_kernel
    monkeypatch.setattr(config, "kernel", "numba")
    seen = []
    real = numba_kernel.run_numba

    def spy(region, inputs, blocked, dests=None):
        out = real(region, inputs, blocked, dests)
        seen.append((bool(dests), out is not None))
        return out
    monkeypatch.setattr(numba_kernel, "run_numba", spy)
    U, V = _grid(300, 200), _grid(300, 200, seed=1)
    _check(gray_scott, U, V, 0.16, 0.08, 0.035, 0.065, 1.0)
    assert seen and all(seen_ == (True, True) for seen_ in seen)


def test_layouts_of_the_sources(kind):
    U = np.asfortranarray(_grid(300, 200))
    V = _grid(600, 400, seed=1)[::2, 1::2]
    _check(gray_scott, U, V, 0.16, 0.08, 0.035, 0.065, 1.0)
    W = _grid(300, 200, seed=2)[::-1]                 # negative row stride: the nd loop
    _check(gray_scott, W, W, 0.16, 0.08, 0.035, 0.065, 1.0, into=None)   # one shared copy


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_dtypes(kind, dtype):
    def f(x):
        y = x.copy()
        y[1:, :-1] = x[:-1, 1:] * 3 + x[1:, :-1] - 1
        return y
    _check(f, (_grid(200, 300) * 100).astype(dtype))


def test_three_dims_and_partial_index(kind):
    def f(x):
        y = x.copy()
        y[1:-1] = x[2:] * 2 - x[:-2]
        return y
    _check(f, _grid(40, 30).reshape(40, 5, 6), into=kind != "auto")    # small: op by op
    _check(f, _grid(400, 300))


@pytest.mark.parametrize("case", ["copy_read_later", "value_used_twice", "step", "cast",
                                  "broadcast", "order"])
def test_declined(kind, case):
    def f(x):
        y = x.copy(order="F") if case == "order" else x.copy()
        v = x[1:, 1:] * 2 + 1
        if case == "copy_read_later":
            s = y.sum()
            y[1:, 1:] = v
            return y, s
        if case == "value_used_twice":
            y[1:, 1:] = v
            return y, v
        if case == "step":
            y[::2, ::2] = x[::2, ::2] * 2 + 1
            return y
        if case == "cast":
            y[1:, 1:] = (x[1:, 1:] * 2 + 1).astype(np.float32) * np.float32(3)
            return y
        if case == "broadcast":
            y[1:, 1:] = x[1:, 1:2] * 2 + 1
            return y
        y[1:, 1:] = v
        return y
    _check(f, _grid(200, 300), into=False)


def test_floating_point_errors_like_numpy(monkeypatch):
    monkeypatch.setattr(config, "kernel", "numba")

    def f(x):
        y = x.copy()
        y[1:-1, 1:-1] = np.sqrt(x[1:-1, 1:-1] - 0.5) * 2 + 1
        return y
    x = _grid(300, 200)
    c = tracenp.compile(f)
    with np.errstate(invalid="ignore"):
        assert_same(c(x), f(x))
    with np.errstate(invalid="raise"):
        with pytest.raises(FloatingPointError):
            f(x)
        with pytest.raises(FloatingPointError):
            c(x)
    with pytest.warns(RuntimeWarning, match="invalid value"):
        c(x)


@pytest.mark.parametrize("index", [(slice(1, -1), slice(2, 5)), (slice(0, 3),), (slice(5, 2),),
                                   (slice(None), slice(None)), (slice(-3, None), slice(0, 0))])
def test_copy_outside(index):
    src = _grid(7, 9)
    dest = np.full_like(src, np.nan)
    copy_outside(dest, src, index)
    dest[index] = src[index]
    assert_same(dest, src)


def test_explain_shows_into(capsys):
    U, V = _grid(300, 200), _grid(300, 200, seed=1)
    tracenp.explain(gray_scott)(U, V, 0.16, 0.08, 0.035, 0.065, 1.0)
    out = capsys.readouterr().out
    assert "into fresh copies" in out
    assert "into out0 -> copy(a)[1:-1, 1:-1], out1 -> copy(b)[1:-1, 1:-1]" in out


def test_check_mode_unfuses_into_copies(kind):
    U, V = _grid(300, 200), _grid(300, 200, seed=1)
    c = tracenp.compile(gray_scott, check=True)
    for _ in range(2):
        assert_same(c(U, V, 0.16, 0.08, 0.035, 0.065, 1.0), gray_scott(U, V, 0.16, 0.08, 0.035, 0.065, 1.0))
