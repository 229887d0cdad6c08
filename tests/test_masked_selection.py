"""x[mask] with a traced mask: elementwise use, assignment back, full reductions."""
from __future__ import annotations

import numpy as np
import pytest

import tracenp
from tests.oracle import assert_same


def _both(f, *args, rtol=0.0):
    c = tracenp.compile(f)
    for k in range(2):
        a = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
        b = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
        assert_same(c(*a), f(*b), rtol=rtol)
        args = tuple(np.roll(x, 3) if isinstance(x, np.ndarray) else x for x in args)
    assert c.trace_count == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.complex64])
def test_full_reductions_of_a_selection(dtype):
    x = (np.random.default_rng(0).standard_normal(1000) * 10).astype(dtype)
    m = np.random.default_rng(1).random(1000) > 0.3

    def f(x, m):
        return x[m].sum(), np.prod(x[m] * 0 + 1), x[m].any(), np.all(x[m] != 0)
    # sums are pairwise over the array with unselected elements zeroed: the same algorithm,
    # another grouping, so float results agree within summation error, not bit for bit
    rtol = {np.float32: 1e-5, np.float64: 1e-12, np.complex64: 1e-5}.get(dtype, 0.0)
    _both(f, x, m, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_mean_of_selection_keeps_numpys_dtype(dtype):
    x = (np.random.default_rng(2).standard_normal(4096) * 100).astype(dtype)
    _both(lambda x: x[x > 0].mean(), x, rtol=1e-6 if dtype is np.float32 else 1e-12)


def test_complex64_square_of_selection_uses_numpys_square():
    z = (np.random.default_rng(3).standard_normal(64) + 1j).astype(np.complex64)

    def f(z):
        i = np.abs(z) < 2
        z[i] = z[i] ** 2 + 0.5j
        return z
    _both(f, z)


def test_mandelbrot_style_iteration():
    def mandel(c, maxiter):
        z = np.zeros_like(c)
        n = np.zeros(c.shape, dtype=np.int64)
        for k in range(maxiter):
            i = np.less(np.abs(z), 2.0)
            n[i] = k
            z[i] = z[i] ** 2 + c[i]
        return z, n
    x = np.linspace(-2, 1, 40)
    c = (x + 1j * x[:, None]).astype(np.complex128)
    cf = tracenp.compile(mandel, static_argnums=1)
    with np.errstate(all="ignore"):
        assert_same(cf(c, 20), mandel(c, 20))


def test_other_uses_still_fall_back():
    x = np.arange(10.0)
    with pytest.raises(tracenp.DataDependentShapeError):
        tracenp.compile(lambda x: x[x > 3].max(), strict=True)(x)
    with pytest.raises(tracenp.DataDependentShapeError):
        tracenp.compile(lambda x: np.sum(x[x > 3], axis=0, keepdims=True), strict=True)(x)
