"""Derivatives traced on stand-ins (tracenp.autodiff.api): which path a trace takes, and
that both paths give the same gradients and the same errors.

``plan.graph.traced_on`` says how a plan was traced: ``"stand-ins"`` (shape-only arrays,
then one run on the data) or ``"data"`` (the arguments themselves).
"""
from __future__ import annotations

import numpy as np
import pytest

import tracenp
import tracenp.autodiff.api as api
from tracenp import DifferentiationError
from tracenp.graph.pytree import flatten

rng = np.random.default_rng(7)


def traced_on(g) -> list[str]:
    return [p.graph.traced_on for p in g.plans().values()]


@pytest.fixture
def stand_ins(monkeypatch):
    """Every derivative is traced on stand-ins where it can, whatever the sizes."""
    monkeypatch.setattr(api, "STAND_INS_FROM", 0)


def both(make, *args):
    """``make()(*args)`` traced on stand-ins (where it can) and on the data: (results, paths)."""
    out = {}
    saved = api.STAND_INS_FROM
    try:
        for name, limit in (("stand-ins", 0), ("data", 1 << 62)):
            api.STAND_INS_FROM = limit
            g = make()
            out[name] = (g(*args), traced_on(g))
    finally:
        api.STAND_INS_FROM = saved
    return out


def assert_same(a, b):
    la, lb = flatten(a)[0], flatten(b)[0]
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
        assert np.shape(x) == np.shape(y) and np.result_type(x) == np.result_type(y)


# ============================================================================ which path

def test_large_arguments_are_traced_on_stand_ins(monkeypatch):
    monkeypatch.setattr(api, "STAND_INS_FROM", 1000)
    x = rng.standard_normal(1000)
    g = tracenp.grad(lambda x: np.sum(np.sin(x) * np.exp(-x ** 2)))
    got = g(x)
    assert traced_on(g) == ["stand-ins"]
    np.testing.assert_allclose(got, np.exp(-x * x) * (np.cos(x) - 2 * x * np.sin(x)))
    g(x + 1.0)                   # the plan is reused, not traced again
    assert g.trace_count == 1


def test_small_arguments_are_traced_on_their_data(monkeypatch):
    monkeypatch.setattr(api, "STAND_INS_FROM", 1000)
    g = tracenp.grad(lambda x: np.sum(x ** 3))
    np.testing.assert_allclose(g(np.arange(4.0)), 3 * np.arange(4.0) ** 2)
    assert traced_on(g) == ["data"]


def test_plain_functions_agree(stand_ins):
    def loss(w, X, y):
        z = X @ w
        return np.mean(np.log(1 + np.exp(z)) - y * z)

    X, w = rng.standard_normal((30, 4)), rng.standard_normal(4)
    y = (rng.random(30) < 0.5).astype(float)
    r = both(lambda: tracenp.grad(loss), w, X, y)
    assert r["stand-ins"][1] == ["stand-ins"] and r["data"][1] == ["data"]
    assert_same(r["stand-ins"][0], r["data"][0])


def test_linalg_inv_runs_on_stand_ins_and_gradients_agree(stand_ins):
    # inv of a zero stand-in fails: the stand-in is retried with identity contents
    A = rng.standard_normal((4, 4)) + 4 * np.eye(4)
    b = rng.standard_normal(4)
    r = both(lambda: tracenp.grad(lambda A: np.sum(np.linalg.inv(A) @ b)), A)
    assert r["stand-ins"][1] == ["stand-ins"]
    assert_same(r["stand-ins"][0], r["data"][0])
    inv = np.linalg.inv(A)
    np.testing.assert_allclose(r["stand-ins"][0], -inv.T @ np.outer(np.ones(4), b) @ inv.T)


def test_singular_data_raises_as_before(stand_ins):
    g = tracenp.grad(lambda A: np.sum(np.linalg.inv(A)))
    with pytest.raises(DifferentiationError, match="Singular matrix"):
        g(np.ones((3, 3)))
    assert not g.plans()            # the plan traced on stand-ins was dropped


def test_first_run_failure_traces_the_data(stand_ins):
    # an index array out of range: fine on a stand-in (zeros), raises on the data
    g = tracenp.grad(lambda x, i: np.sum(x[i]))
    with pytest.raises(DifferentiationError, match="out of bounds"):
        g(np.ones(5), np.array([0, 9]))
    np.testing.assert_allclose(g(np.ones(5), np.array([0, 0, 4])), [2, 0, 0, 0, 1])
    assert traced_on(g) == ["stand-ins"]


def test_rules_checked_on_values_trace_the_data(stand_ins):
    # np.median's rule differentiates equivalent code, checked on the data's values
    x = rng.standard_normal(9)
    r = both(lambda: tracenp.grad(lambda x: np.median(x) * np.sum(x)), x)
    assert r["stand-ins"][1] == ["data"]
    assert_same(r["stand-ins"][0], r["data"][0])


@pytest.mark.parametrize("convert", [
    lambda s: s > 0,                      # if on a traced value
    lambda s: s.item() > 0,
    lambda s: float(s) > 0,
    lambda s: bool(s),
])
def test_data_dependent_control_flow_raises_on_both_paths(stand_ins, convert):
    def f(x):
        if convert(np.sum(x)):
            return np.sum(x ** 2)
        return np.sum(x)

    for limit in (0, 1 << 62):
        api.STAND_INS_FROM = limit
        with pytest.raises(DifferentiationError, match="Python|bool"):
            tracenp.grad(f)(np.ones(3))


def test_python_float_control_flow_specializes(stand_ins):
    def f(x, t):
        if t > 0:
            return np.sum(x * t)
        return np.sum(x ** 2)

    x = rng.standard_normal(5)
    g = tracenp.grad(f)
    np.testing.assert_allclose(g(x, 2.0), np.full(5, 2.0))
    np.testing.assert_allclose(g(x, -1.0), 2 * x)
    assert set(traced_on(g)) == {"stand-ins"}


# ============================================================================ in place

def test_writes_into_arrays_computed_from_arguments_trace_the_data(stand_ins):
    def layout(x):              # a copy on the data (x.T is not contiguous), a view on a stand-in
        y = x.reshape(2, 3).T.reshape(-1)
        y[0] = 100.0
        return np.sum(x * y)

    def like(x):
        w = np.zeros_like(x)
        w[1:] = x[:-1] ** 2
        return np.sum(w * x)

    def copy_then_reshaped(x):  # z is a copy of y on the data: the write does not reach it
        y = x.copy()
        z = y.reshape(2, 3).T.reshape(-1)
        y[0] = 5.0
        return np.sum(z * x)

    x = rng.standard_normal(6)
    for f in (layout, like, copy_then_reshaped):
        r = both(lambda: tracenp.grad(f), x.copy())
        assert r["stand-ins"][1] == ["data"], f.__name__
        assert_same(r["stand-ins"][0], r["data"][0])


def test_writes_into_new_arrays_stay_on_stand_ins(stand_ins):
    def created(x):
        w = np.zeros(6)
        w[1:] = x[:-1] ** 2
        return np.sum(w * x)

    def copied(x):
        y = x.copy()
        y[::2] = 0.0
        y[1:3] *= x[:2]
        return np.sum(y * x)

    x = rng.standard_normal(6)
    for f in (created, copied):
        r = both(lambda: tracenp.grad(f), x.copy())
        assert r["stand-ins"][1] == ["stand-ins"], f.__name__
        assert_same(r["stand-ins"][0], r["data"][0])
    r = both(lambda: tracenp.hessian(created), x)
    assert r["stand-ins"][1] == ["stand-ins"]
    assert_same(r["stand-ins"][0], r["data"][0])


def test_writes_into_arguments(stand_ins):
    def f(x):
        x[0] = 1.0
        return np.sum(x ** 2)

    x = rng.standard_normal(4)
    a, b = x.copy(), x.copy()
    api.STAND_INS_FROM = 0
    ga = tracenp.grad(f)(a)
    api.STAND_INS_FROM = 1 << 62
    gb = tracenp.grad(f)(b)
    assert_same(ga, gb)
    np.testing.assert_array_equal(a, b)             # the argument is written back alike
    ro = x.copy()
    ro.flags.writeable = False
    with pytest.raises(DifferentiationError, match="read-only"):
        tracenp.grad(f)(ro)


# ============================================================================ transforms

def f2(x, y):
    return np.sum(np.sin(x) * y ** 2)


X = rng.standard_normal((2, 3))
Y = rng.standard_normal(3)


@pytest.mark.parametrize("name,make,args", [
    ("argnums", lambda: tracenp.grad(f2, argnums=(0, 1)), (X, Y)),
    ("value_and_grad", lambda: tracenp.value_and_grad(f2), (X, Y)),
    ("has_aux", lambda: tracenp.grad(lambda x: (np.sum(x ** 2), x.mean()), has_aux=True), (X,)),
    ("grad_grad", lambda: tracenp.grad(lambda x: np.sum(tracenp.grad(lambda u: np.sum(u ** 3))(x))),
     (Y,)),
    ("hessian", lambda: tracenp.hessian(lambda x: np.sum(np.exp(x) * x[::-1])), (Y,)),
    ("jacobian", lambda: tracenp.jacobian(lambda x: np.tanh(x) * x[0]), (Y,)),
    ("pytree", lambda: tracenp.grad(lambda p: np.sum(p["w"] * p["b"][0] ** 2)),
     ({"w": X, "b": [Y, 1.5]},)),
    ("complex", lambda: tracenp.grad(lambda z: np.sum(np.abs(z * z) ** 2)),
     (X + 1j * X[::-1],)),
    ("aliased", lambda: tracenp.grad(lambda a, b: np.sum(a * b)), (Y, Y)),
    ("float32", lambda: tracenp.grad(lambda x: np.sum(np.exp(x) ** 2)), (Y.astype(np.float32),)),
])
def test_transforms_agree(stand_ins, name, make, args):
    r = both(make, *args)
    assert r["stand-ins"][1] == ["stand-ins"], name
    assert_same(r["stand-ins"][0], r["data"][0])


def test_vjp_and_compiled_grad(stand_ins):
    out, pull = tracenp.vjp(lambda x: np.sin(x) * x, Y)
    np.testing.assert_allclose(pull(np.ones(3))[0], np.cos(Y) * Y + np.sin(Y))
    cg = tracenp.compile(tracenp.grad(f2))          # traced inline, on the data
    np.testing.assert_allclose(cg(X, Y), np.cos(X) * Y ** 2)
