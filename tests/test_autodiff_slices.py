"""Gradients through slices: the cotangents of several basic slices of one array are
assembled once (``tracenp.autodiff.backward.Scatter``), and the optimizer computes slices
of elementwise expressions from slices of their operands (``slice_of_elementwise``).

Each gradient is checked element by element against central finite differences, and
along random directions to second order (``check_grads``); the rule is checked on
forward functions against eager NumPy.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

import tracenp
from tracenp.optimize import slicing
from tracenp.testing import check_grads

RNG = np.random.default_rng(7)


@pytest.fixture(params=["small", "big"])
def assembly(request, monkeypatch):
    """Both ways of assembling slices' cotangents: into a zero buffer (small arrays), and
    by pieces, each computed from slices of the inputs (as for big arrays)."""
    if request.param == "big":
        monkeypatch.setattr(slicing, "MIN_SIZE", 0)
    return request.param


def fd_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """The gradient of a real scalar ``f`` at ``x`` by central differences."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


def check(f, x, order: int = 2):
    got = tracenp.grad(f)(x)
    assert got.shape == x.shape and got.dtype == x.dtype
    np.testing.assert_allclose(got, fd_grad(f, x), rtol=1e-6, atol=1e-7)
    check_grads(f, (x,), order=order)


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


CASES_1D = {
    "overlapping": lambda x: np.sum(x[1:] * x[:-1] ** 2) + np.sum(np.sin(x[2:]) * x[:-2]),
    "same slice twice": lambda x: np.sum(x[1:] ** 2) + np.sum(np.exp(x[1:])),
    "one slice": lambda x: np.sum(np.cos(x[3:-2])),
    "slice and whole": lambda x: np.sum(x ** 3) + np.sum(x[2:] * x[:-2]),
    "strided": lambda x: np.sum(x[::2] ** 2) + np.sum(np.sin(x[1::3])) + np.sum(x[1::2] * x[::2][:len(x[1::2])]),
    "strided and unit": lambda x: np.sum(x[1:] ** 2) + np.sum(x[::3] ** 3),
    "negative steps": lambda x: np.sum(x[::-1] * x) + np.sum(x[-2::-2] ** 3) + np.sum(np.sin(x[7:1:-1])),
    "reversed overlap": lambda x: np.sum(x[1:][::-1] * x[:-1]),
    "ints": lambda x: x[0] * x[-1] + x[3] ** 2 + np.sum(x[1:] * x[2]),
    "int array and slice": lambda x: np.sum(x[[0, 2, 2, 5]] ** 2) + np.sum(x[1:] * x[:-1]),
    "bool mask and slice": lambda x: np.sum(x[x > 0] ** 2) + np.sum(np.tanh(x[2:])),
    "empty slice": lambda x: np.sum(x[4:4] * 3) + np.sum(x[1:] ** 2),
    "slice of slice": lambda x: np.sum(x[1:][1:] * x[:-1][:-1]),
    "rosenbrock": rosenbrock,
}


@pytest.mark.parametrize("name", sorted(CASES_1D))
def test_slices_1d(name, assembly):
    check(CASES_1D[name], RNG.standard_normal(11))


@pytest.mark.parametrize("name", ["overlapping", "strided and unit", "negative steps", "ints",
                                  "bool mask and slice", "rosenbrock"])
def test_slices_1d_pushed_through_ops(name):
    """At sizes where slices are computed from slices of the inputs: the same gradient."""
    x = RNG.standard_normal(20000)
    f = CASES_1D[name]
    if name in ("overlapping", "rosenbrock"):
        fired = tracenp.explain(tracenp.grad(f), print_report=False)(x).rules_fired
        assert "slice_of_elementwise" in fired
    np.testing.assert_allclose(tracenp.grad(f)(x),
                               tracenp.grad(f, disable={"slice_of_elementwise"})(x), rtol=1e-12)


CASES_2D = {
    "rows": lambda X: np.sum(X[1:] * X[:-1]),
    "columns": lambda X: np.sum(np.sin(X[:, 1:]) * X[:, :-1]),
    "both axes": lambda X: np.sum(X[1:, 1:] * X[:-1, :-1] ** 2) + np.sum(X[1:, :-1] * X[:-1, 1:]),
    "ellipsis": lambda X: np.sum(X[..., 1:] ** 2 * X[..., :-1]),
    "int rows and columns": lambda X: np.sum(X[0] * X[-1]) + np.sum(X[:, 1] ** 3) + X[2, 3] * X[1, 1:].sum(),
    "strided both": lambda X: np.sum(X[::2, ::-1] ** 2) + np.sum(X[1:, ::2]),
    "fancy and slice": lambda X: np.sum(X[[0, 0, 2], 1:] ** 2) + np.sum(X[1:, :] * X[:-1, :]),
}


@pytest.mark.parametrize("name", sorted(CASES_2D))
def test_slices_2d(name, assembly):
    check(CASES_2D[name], RNG.standard_normal((4, 5)))


def test_slices_of_float32_and_complex(assembly):
    x = RNG.standard_normal(9).astype(np.float32)
    g = tracenp.grad(rosenbrock)(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, tracenp.grad(rosenbrock)(x.astype(np.float64)), rtol=1e-4)
    z = RNG.standard_normal(6) + 1j * RNG.standard_normal(6)
    check_grads(lambda z: np.sum(np.abs(z[1:] - z[:-1]) ** 2), (z,), order=2)


def test_many_int_indices_in_a_loop(assembly):
    def f(x):
        s = 0.0
        for i in range(len(x) - 1):
            s = s + x[i] * x[i + 1]
        return s
    check(f, RNG.standard_normal(12), order=1)


def test_setitem_into_arrays_made_inside(assembly):
    def stencil(x):
        u = np.zeros_like(x)
        u[1:-1] = x[2:] - 2 * x[1:-1] + x[:-2]
        u += 0.5 * x
        u[::2] *= x[::2]
        return np.sum(u ** 2)

    def shifted(x):
        y = x.copy()
        y[1:] += y[:-1]          # the written region overlaps what is read
        y[:3] = np.sin(x[-3:])
        return np.sum(y ** 2 * x)

    def rows(X):
        Y = np.empty_like(X)
        Y[0] = X[0]
        Y[1:] = X[1:] - X[:-1]
        Y[:, ::2] *= 2
        return np.sum(Y ** 2)

    check(stencil, RNG.standard_normal(10))
    check(shifted, RNG.standard_normal(10))
    check(rows, RNG.standard_normal((4, 5)))


def test_rosenbrock_gradient_is_one_region():
    """No zero buffer, no writes, nothing materialized at x's size but the result: the
    slices' cotangents are concatenated pieces, the middle one computed from views of x."""
    n = 20000
    x = RNG.standard_normal(n)
    e = tracenp.explain(tracenp.grad(rosenbrock), print_report=False)(x)
    final = dict(e.listings)["specialize"]
    assert "zeros(" not in final and not any(line.count(" = ") > 1 for line in final.splitlines())
    assert not any(f"[{n - 1}]" in line for line in final.splitlines()), final
    assert [line for line in final.splitlines() if f"[{n}]" in line and "lambda" not in line] \
        == [line for line in final.splitlines() if "concatenate" in line], final
    want = np.zeros_like(x)
    t = x[1:] - x[:-1] ** 2
    want[:-1] = -400.0 * x[:-1] * t - 2 * (1 - x[:-1])
    want[1:] += 200.0 * t
    np.testing.assert_allclose(tracenp.grad(rosenbrock)(x), want, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- the rewrite, forward
def _same(f, *args):
    got, want = tracenp.compile(f)(*args), f(*args)
    for a, b in zip(got, want) if isinstance(want, tuple) else [(got, want)]:
        np.testing.assert_array_equal(a, b, strict=True)
    return tracenp.explain(f, print_report=False)(*args).rules_fired


def test_slice_rule_keeps_writes_through_views():
    x = RNG.standard_normal(8)

    def write_view(x):
        y = x * 2
        z = y[1:]
        z[0] = 5.0              # writes into y
        return y + z.sum()

    def write_base(x):
        y = x + 1
        z = y[2:]
        y[3] = -1.0             # z sees it
        return z * 2

    assert "slice_of_elementwise" not in _same(write_view, x)
    _same(write_base, x)
    _same(write_view, RNG.standard_normal(20000))
    _same(write_base, RNG.standard_normal(20000))


def test_slice_rule_cases():
    x = RNG.standard_normal((6000, 5))         # big enough to be pushed through ops
    assert "slice_of_elementwise" in _same(lambda x: (np.exp(x) * 2)[1:, ::2] + 1, x)
    _same(lambda x: (x + np.arange(5.0))[::-1, 3], x)                # broadcast operand
    _same(lambda x: np.where(x > 0, x, 0.5 * x)[2], x)
    _same(lambda x: (x * x.sum(axis=0))[1:], x)
    _same(lambda x: ((x - 1)[1:], x - 1), x)                         # also returned whole
    _same(lambda x: (x[1:] - x[:-1])[::2, 1:] * 3, x)
    _same(lambda x: (x.astype(np.int32) + 1)[:, 1:], x)


def test_slice_rule_stays_bounded():
    """A stencil iterated many times: the slices are pushed up within a budget."""
    def smooth(u):
        for _ in range(25):
            u = u[1:] + u[:-1]
        return u
    x = RNG.standard_normal(20000)
    t0 = time.perf_counter()
    np.testing.assert_allclose(tracenp.compile(smooth)(x), smooth(x), rtol=1e-12)
    assert time.perf_counter() - t0 < 30
