"""tracenp.grad and friends: the API, the worked examples, and what must raise.

The rules themselves are checked one by one in tests/test_autodiff_rules.py.
"""
from __future__ import annotations

import numpy as np
import pytest

import tracenp
from tracenp import DifferentiationError
from tracenp.testing import GradientMismatch, check_grads

rng = np.random.default_rng(0)


def f2(x, y):
    return np.sum(np.sin(x) * y ** 2)


X = rng.standard_normal((2, 3))
Y = rng.standard_normal(3)


# ============================================================================ the API

def test_grad_argnums_int_and_tuple():
    gx = tracenp.grad(f2)(X, Y)
    np.testing.assert_allclose(gx, np.cos(X) * Y ** 2)
    gy = tracenp.grad(f2, argnums=1)(X, Y)
    np.testing.assert_allclose(gy, np.sum(np.sin(X) * 2 * Y, axis=0))
    both = tracenp.grad(f2, argnums=(0, 1))(X, Y)
    assert isinstance(both, tuple) and len(both) == 2
    np.testing.assert_allclose(both[0], gx)
    np.testing.assert_allclose(both[1], gy)
    gneg = tracenp.grad(f2, argnums=-1)(X, Y)
    np.testing.assert_allclose(gneg, gy)


def test_value_and_grad():
    v, g = tracenp.value_and_grad(f2)(X, Y)
    np.testing.assert_allclose(v, f2(X, Y))
    np.testing.assert_allclose(g, np.cos(X) * Y ** 2)
    v, (gx, gy) = tracenp.value_and_grad(f2, argnums=(0, 1))(X, Y)
    np.testing.assert_allclose(gy, np.sum(np.sin(X) * 2 * Y, axis=0))


def test_vjp_both_spellings():
    def f(x, y):
        return np.sin(x) * y, np.sum(x)
    ct = (np.ones((2, 3)), np.array(2.0))
    out, pull = tracenp.vjp(f, X, Y)
    np.testing.assert_allclose(out[0], np.sin(X) * Y)
    cx, cy = pull(ct)
    np.testing.assert_allclose(cx, np.cos(X) * Y + 2.0)
    np.testing.assert_allclose(cy, np.sum(np.sin(X), axis=0))
    out2, pull2 = tracenp.vjp(f)(X, Y)
    for a, b in zip(pull2(ct), (cx, cy)):
        np.testing.assert_allclose(a, b)
    # a function of one argument, a plain array output
    out, pull = tracenp.vjp(lambda x: x ** 2, X)
    np.testing.assert_allclose(pull(np.ones_like(X))[0], 2 * X)


def test_vjp_wrong_cotangent_raises():
    _, pull = tracenp.vjp(lambda x: x * 2, X)
    with pytest.raises(DifferentiationError, match="shape"):
        pull(np.ones(3))


def test_jacobian_and_hessian():
    def f(x):
        return np.sin(x) * x[0]
    x = np.array([0.3, -1.2, 2.0])
    J = tracenp.jacobian(f)(x)
    want = np.diag(np.cos(x) * x[0])
    want[:, 0] += np.sin(x)
    np.testing.assert_allclose(J, want)
    assert J.shape == (3, 3)
    J2 = tracenp.jacobian(lambda x: x @ x.T)(X)
    assert J2.shape == (2, 2, 2, 3)
    H = tracenp.hessian(lambda x: np.sum(x ** 3) + x[0] * x[1])(x)
    want = np.diag(6 * x)
    want[0, 1] = want[1, 0] = 1
    np.testing.assert_allclose(H, want)


def test_has_aux():
    def f(x):
        return np.sum(x ** 2), {"mean": np.mean(x)}
    g, aux = tracenp.grad(f, has_aux=True)(X)
    np.testing.assert_allclose(g, 2 * X)
    np.testing.assert_allclose(aux["mean"], np.mean(X))
    (v, aux), g = tracenp.value_and_grad(f, has_aux=True)(X)
    np.testing.assert_allclose(v, np.sum(X ** 2))
    with pytest.raises(DifferentiationError, match="has_aux"):
        tracenp.grad(lambda x: np.sum(x), has_aux=True)(X)


def test_decorators():
    @tracenp.grad
    def g(x):
        return np.sum(x ** 3)

    @tracenp.value_and_grad(argnums=1)
    def vg(x, y):
        return np.sum(x * y)
    np.testing.assert_allclose(g(X), 3 * X ** 2)
    v, gy = vg(X, Y)
    np.testing.assert_allclose(gy, X.sum(axis=0))


def test_composes_with_compile_and_itself():
    @tracenp.compile
    def model(x):
        return np.sum(np.tanh(x) ** 2)

    g = tracenp.grad(model)
    t = np.tanh(X)
    np.testing.assert_allclose(g(X), 2 * t * (1 - t ** 2))

    @tracenp.compile
    def step(x):
        return x - 0.1 * tracenp.grad(model)(x)
    np.testing.assert_allclose(step(X), X - 0.1 * 2 * t * (1 - t ** 2))

    d2 = tracenp.grad(lambda x: tracenp.grad(lambda y: np.sum(y ** 3))(x)[1])
    np.testing.assert_allclose(d2(np.array([1.0, 2.0, 3.0])), [0.0, 12.0, 0.0])
    dd = tracenp.grad(tracenp.grad(lambda x: x ** 3))
    np.testing.assert_allclose(dd(2.0), 12.0)


def test_pytree_arguments():
    params = {"w": rng.standard_normal(3), "b": np.array(0.5)}
    batch = (rng.standard_normal((4, 3)), rng.standard_normal(4))

    def loss(p, data):
        x, y = data
        r = x @ p["w"] + p["b"] - y
        return np.mean(r ** 2)
    g = tracenp.grad(loss)(params, batch)
    assert set(g) == {"w", "b"}
    x, y = batch
    r = x @ params["w"] + params["b"] - y
    np.testing.assert_allclose(g["w"], 2 * x.T @ r / 4)
    np.testing.assert_allclose(g["b"], 2 * np.mean(r))
    gd = tracenp.grad(loss, argnums=1)(params, batch)
    assert isinstance(gd, tuple) and gd[0].shape == (4, 3)
    gl = tracenp.grad(lambda xs: np.sum(xs[0] * xs[1]))([X, X * 2])
    assert isinstance(gl, list)
    np.testing.assert_allclose(gl[0], 2 * X)


def test_float32_gradients_stay_float32():
    x = X.astype(np.float32)
    g = tracenp.grad(lambda x: np.sum(np.exp(x) * 2.0))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * np.exp(x), rtol=1e-6)
    H = tracenp.hessian(lambda x: np.sum(x ** 3))(x[0])
    assert H.dtype == np.float32
    gx, gy = tracenp.grad(lambda a, b: np.sum(a * b), argnums=(0, 1))(x, Y)
    assert gx.dtype == np.float32 and gy.dtype == np.float64


def test_python_float_arguments():
    assert tracenp.grad(lambda x: x ** 3 + 2 * x)(2.0) == pytest.approx(14.0)
    g = tracenp.grad(lambda s, x: np.sum(s * x), argnums=0)(1.5, X)
    assert g == pytest.approx(X.sum())
    v, g = tracenp.value_and_grad(lambda x: np.sin(x))(0.5)
    assert v == pytest.approx(np.sin(0.5)) and g == pytest.approx(np.cos(0.5))


def test_constant_output_has_zero_gradient():
    g = tracenp.grad(lambda x: 3.0)(X)
    np.testing.assert_array_equal(g, np.zeros_like(X))
    g = tracenp.grad(lambda x, y: np.sum(y), argnums=0)(X, Y)
    np.testing.assert_array_equal(g, np.zeros_like(X))


# ============================================================================ logistic regression

def _logistic_data():
    r = np.random.default_rng(7)
    A = r.standard_normal((50, 4))
    y = np.sign(r.standard_normal(50))
    w = r.standard_normal(4) * 0.3
    return w, A, y


def logistic_loss(w, A, y):
    z = A @ w
    return np.mean(np.log(1 + np.exp(-y * z))) + 0.05 * np.sum(w ** 2)


def test_logistic_regression_gradient_and_hessian_by_hand():
    w, A, y = _logistic_data()
    n = len(y)
    s = 1 / (1 + np.exp(y * (A @ w)))            # sigma(-y z)
    grad_hand = -(A.T @ (y * s)) / n + 0.1 * w
    p = 1 / (1 + np.exp(-(A @ w)))
    hess_hand = (A.T * (p * (1 - p))) @ A / n + 0.1 * np.eye(4)
    np.testing.assert_allclose(tracenp.grad(logistic_loss)(w, A, y), grad_hand, rtol=1e-10)
    np.testing.assert_allclose(tracenp.hessian(logistic_loss)(w, A, y), hess_hand, rtol=1e-10)
    v, g = tracenp.value_and_grad(logistic_loss)(w, A, y)
    np.testing.assert_allclose(v, logistic_loss(w, A, y))
    check_grads(logistic_loss, (w, A, y), order=2, argnums=(0,))
    # gradient descent reduces the loss
    w2 = w.copy()
    for _ in range(20):
        w2 = w2 - 0.5 * tracenp.grad(logistic_loss)(w2, A, y)
    assert logistic_loss(w2, A, y) < logistic_loss(w, A, y)


# ============================================================================ where, ties

def test_where_without_nan():
    f = tracenp.grad(lambda x: np.sum(np.where(x > 0, np.sqrt(x), 0.0)))
    g = f(np.array([0.0, 1.0, 4.0, -2.0]))
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, [0.0, 0.5, 0.25, 0.0])
    # log guarded the same way, through a broadcast condition, and twice differentiated
    h = tracenp.hessian(lambda x: np.sum(np.where(x > 0, np.log(x), x)))(np.array([0.0, 2.0]))
    np.testing.assert_allclose(h, np.diag([0.0, -0.25]))
    gb = tracenp.grad(lambda x: np.sum(np.where(np.array([True, False]), 1 / x, 0.0)))(
        np.array([[1.0, 0.0], [2.0, 0.0]]))
    np.testing.assert_allclose(gb, [[-1.0, 0.0], [-0.25, 0.0]])


def test_max_min_ties_split_equally_like_jax():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]])
    np.testing.assert_allclose(tracenp.grad(lambda x: np.max(x))(x), [[0, .5, .5], [0, 0, 0]])
    np.testing.assert_allclose(tracenp.grad(lambda x: np.sum(np.max(x, axis=1)))(x),
                               [[0, .5, .5], [.5, .5, 0]])
    np.testing.assert_allclose(tracenp.grad(lambda x: np.amin(x))(np.array([1.0, 1.0, 1.0, 2.0])),
                               [1 / 3, 1 / 3, 1 / 3, 0])
    np.testing.assert_allclose(tracenp.grad(lambda x: np.sum(np.maximum(x, 1.0)))(
        np.array([1.0, 2.0, 0.0])), [0.5, 1.0, 0.0])


# ============================================================================ writes

def test_setitem_into_array_created_inside():
    def f(x):
        y = np.zeros((3, 4))
        y[0] = x[:4]
        y[1:, ::2] = x[4:8].reshape(2, 2) * 2
        y[2, 1] = np.sum(x)
        return np.sum(y ** 2)
    x = rng.standard_normal(8)
    check_grads(f, (x,), order=2)
    g = tracenp.grad(f)(x)
    want = np.zeros(8)
    want[:4] = 2 * x[:4]
    want[4:8] = 8 * x[4:8]
    want += 2 * np.sum(x)
    np.testing.assert_allclose(g, want)


def test_setitem_last_write_wins():
    def f(x, v):
        y = x * 1.0
        y[[0, 0, 1]] = v           # y[0] gets v[1]: v[0]'s write is lost
        return np.sum(y * np.array([1.0, 10.0, 100.0]))
    gx, gv = tracenp.grad(f, argnums=(0, 1))(np.ones(3), np.ones(3))
    np.testing.assert_allclose(gx, [0, 0, 100])
    np.testing.assert_allclose(gv, [0, 1, 10])


def test_inplace_updates():
    def f(x, y):
        z = x.copy()
        z += y
        z[1] += y[0] * 2
        z[:, 0] *= x[:, 1]
        np.add(z, y, out=z)
        np.multiply(z, 2.0, out=z, where=x > 0)
        z **= 2
        return np.sum(z)
    check_grads(f, (X, Y), order=2)

    def g(a, b):
        c = np.zeros_like(a)
        np.add(a, b, out=c)
        np.add.at(c, [0, 0, 1], 1.5 * a[0])
        return np.sum(c ** 2)
    check_grads(g, (rng.standard_normal(3), rng.standard_normal(3)), order=2)


def test_inplace_on_argument_and_views():
    def f(x):
        x = x.copy()
        v = x[1:]
        v -= x[:-1]           # a view of the same buffer
        x[0] = 0.0
        return np.sum(x * np.arange(1.0, 5.0))
    x = np.array([1.0, 2.0, 4.0, 8.0])
    g = tracenp.grad(f)(x)
    check_grads(f, (x,), order=2)
    e = 1e-6
    fd = [(f(x + e * np.eye(4)[i]) - f(x - e * np.eye(4)[i])) / (2 * e) for i in range(4)]
    np.testing.assert_allclose(g, fd, atol=1e-6)


# ============================================================================ complex

def test_complex_jax_convention():
    z = np.array([3 + 4j, 1 - 1j, -2j])
    g = tracenp.grad(lambda z: np.sum(np.abs(z) ** 2))(z)
    np.testing.assert_allclose(g, 2 * np.conj(z))
    g = tracenp.grad(lambda z: np.sum(np.real(z * np.conj(z))))(z)
    np.testing.assert_allclose(g, 2 * np.conj(z))
    # holomorphic f: d Re f = Re(f'(z) dz), so the cotangent of Re f is f'(z) itself
    g = tracenp.grad(lambda z: np.real(np.sum(z ** 3)))(z)
    np.testing.assert_allclose(g, 3 * z ** 2)
    check_grads(lambda z: np.exp(z) * np.conj(z), (z,), order=2)
    # a real input's cotangent is real
    x = np.array([0.5, -1.0])
    g = tracenp.grad(lambda x: np.real(np.sum(np.exp(1j * x))))(x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, -np.sin(x))


def test_complex_output_needs_vjp():
    with pytest.raises(DifferentiationError, match="real scalar"):
        tracenp.grad(lambda z: np.sum(z ** 2))(np.array([1 + 1j]))


# ============================================================================ what raises

def test_integer_and_boolean_inputs_raise():
    with pytest.raises(DifferentiationError, match="int64"):
        tracenp.grad(lambda x: np.sum(x * 1.0))(np.arange(3))
    with pytest.raises(DifferentiationError, match="bool"):
        tracenp.grad(lambda x: np.sum(x * 1.0))(np.array([True, False]))
    with pytest.raises(DifferentiationError, match="int"):
        tracenp.grad(lambda x: x * 2.0)(3)
    # an integer argument left out of argnums is fine
    g = tracenp.grad(lambda x, n: np.sum(x ** n))(X, 2)
    np.testing.assert_allclose(g, 2 * X)


def test_integer_intermediates_carry_no_gradient():
    g = tracenp.grad(lambda x: np.sum(x.astype(np.int64) * x))(np.array([1.5, 2.5]))
    np.testing.assert_allclose(g, [1.0, 2.0])
    g = tracenp.grad(lambda x: np.sum(x[np.argmax(x)] * x))(np.array([1.0, 3.0, 2.0]))
    np.testing.assert_allclose(g, [3.0, 9.0, 3.0])


def test_untraceable_control_flow_raises_naming_the_line():
    def bumpy(x):
        if x.sum() > 0:             # Python control flow on a traced value
            return np.sum(x ** 2)
        return np.sum(x)
    with pytest.raises(DifferentiationError) as info:
        tracenp.grad(bumpy)(np.ones(3))
    msg = str(info.value)
    assert "test_autodiff.py" in msg and "if x.sum() > 0:" in msg


def test_unsupported_function_raises_naming_the_line():
    def f(x):
        u = np.unique(x)            # data-dependent shape: not traced
        return np.sum(u)
    with pytest.raises(DifferentiationError) as info:
        tracenp.grad(f)(np.array([1.0, 2.0, 2.0]))
    msg = str(info.value)
    assert "test_autodiff.py" in msg and "np.unique(x)" in msg

    def g(x):
        y = x.copy()
        np.multiply.at(y, [0, 0], 2.0)   # no gradient rule yet
        return np.sum(y)
    with pytest.raises(DifferentiationError, match="multiply.at") as info:
        tracenp.grad(g)(np.ones(3))
    assert "np.multiply.at(y, [0, 0], 2.0)" in str(info.value)


def test_never_silently_wrong():
    """Where a rule does not cover a call, grad raises: it does not return zeros."""
    def f(x):
        return np.sum(np.linalg.svd(x)[0])      # singular vectors of a full_matrices SVD
    with pytest.raises(DifferentiationError, match="full_matrices"):
        tracenp.grad(f)(rng.standard_normal((4, 3)))

    def g(x):
        return np.power.reduce(x)               # NumPy's 1-d power.reduce is no left fold
    with pytest.raises(DifferentiationError, match="not available"):
        tracenp.grad(g)(np.array([1.2, 0.7, 1.9]))

    def h(x):
        return np.sum(np.random.normal(x, 1.0))  # a draw is not differentiated
    with pytest.raises(DifferentiationError, match="random"):
        tracenp.grad(h)(np.ones(2))

    # and check_grads itself reports a wrong derivative
    def bad(x):
        return np.floor(x * 1e6) / 1e6          # zero derivative, slope 1 numerically
    with pytest.raises(GradientMismatch):
        check_grads(bad, (np.array([0.3, 0.7]),), order=1, eps=1e-3)


def test_argument_errors():
    with pytest.raises(DifferentiationError, match="argnums"):
        tracenp.grad(f2, argnums=5)(X, Y)
    with pytest.raises(DifferentiationError, match="real scalar"):
        tracenp.grad(lambda x: x * 2)(X)
    with pytest.raises(TypeError):
        tracenp.grad(f2)(X)


@pytest.mark.parametrize("n", [3, 30_000])      # traced on the data, and on stand-ins
def test_an_array_passed_twice_is_two_independent_arguments(n):
    """As in JAX: grad(f)(a, a) differentiates through the first position only."""
    a = np.linspace(-1.0, 2.0, n)
    f = lambda x, y: np.sum(x * y[::-1])                        # noqa: E731
    np.testing.assert_array_equal(tracenp.grad(f)(a, a), a[::-1])
    gx, gy = tracenp.grad(f, argnums=(0, 1))(a, a)
    np.testing.assert_array_equal(gx, a[::-1])
    np.testing.assert_array_equal(gy, a[::-1])
    np.testing.assert_array_equal(tracenp.grad(lambda p: np.sum(p[0] * p[1]))((a, a))[0], a)
    b = a + 1                                                   # then distinct objects
    np.testing.assert_array_equal(tracenp.grad(f)(a, b), b[::-1])
    out, pb = tracenp.vjp(lambda x, y: x * y, a, a)
    np.testing.assert_array_equal(pb(np.ones(n))[0], a)
    if n == 3:
        np.testing.assert_array_equal(tracenp.hessian(lambda x, y: np.sum(x * x * y))(a, a),
                                      np.diag(2 * a))
