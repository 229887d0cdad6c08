"""Rules of polynomials and of the sequence operations built like them, given as
equivalent code: ``polyval``, ``polyder``, ``polyint``, ``polyfit``, ``vander``,
``correlate`` and ``convolve`` (convolving multiplies polynomials), and ``interp``
(piecewise-linear interpolation).
"""
from __future__ import annotations

import numpy as np

from ...errors import DifferentiationError
from ._common import Via, _f, _H


# ============================================================================ polynomials
@_f("polyval")
def _polyval(g, ans, p, x):
    def impl(p, x):
        y = 0.0 * x
        for i in range(np.shape(p)[0]):
            y = y * x + p[i]
        return y
    return Via(impl, p, x)


@_f("polyder")
def _polyder(g, ans, p, m=1):
    def impl(p):
        for _ in range(int(m)):
            n = np.shape(p)[0] - 1
            p = p[:-1] * np.arange(n, 0, -1)
        return p
    return Via(impl, p)


@_f("polyint")
def _polyint(g, ans, p, m=1, k=None):
    def impl(p, k):
        mm = int(m)
        ks = [0.0] * mm if k is None else (
            [k] * mm if np.ndim(k) == 0 else [k[i] if np.shape(k)[0] > 1 else k[0]
                                             for i in range(mm)])
        for i in range(mm):
            p = np.concatenate([p / np.arange(np.shape(p)[0], 0, -1),
                                np.reshape(ks[i], (1,)).astype(np.result_type(p))])
        return p
    return Via(impl, p, k)


@_f("polyfit")
def _polyfit(g, ans, x, y, deg, rcond=None, full=False, w=None, cov=False):
    if full or cov:
        raise DifferentiationError("the gradient of np.polyfit with full=True or cov=True is "
                                   "not supported")

    def impl(x, y, w):
        lhs = _vander_impl(x, int(deg) + 1, False)
        rhs = y
        if w is not None:
            lhs = lhs * w[:, None]
            rhs = rhs * (w[:, None] if np.ndim(y) == 2 else w)
        lt = _H(lhs) if np.ndim(lhs) == 2 else lhs
        return np.linalg.solve(np.matmul(lt, lhs), np.matmul(lt, rhs))
    return Via(impl, x, y, w)


def _vander_impl(x, N, increasing):
    n = np.shape(x)[0] if N is None else int(N)
    pw = np.arange(n) if increasing else np.arange(n - 1, -1, -1)
    return np.power(x[:, None], pw[None, :])


@_f("vander")
def _vander(g, ans, x, N=None, increasing=False):
    return Via(lambda x: _vander_impl(x, N, increasing), x)


# ============================================================================ convolutions
def _corr_long(a, v, mode, conj):
    """``np.correlate(a, v, mode)`` (conj) or the unconjugated kernel of ``np.convolve``,
    for ``len(a) >= len(v)``: windows of the zero-padded a, times v."""
    n, m = np.shape(a)[0], np.shape(v)[0]
    z = np.zeros(m - 1, dtype=np.result_type(a))
    ap = np.concatenate([z, a, z]) if m > 1 else a
    idx = np.arange(n + m - 1)[:, None] + np.arange(m)[None, :]
    full = np.matmul(ap[idx], np.conjugate(v) if conj else v)
    if mode == "full":
        return full
    if mode == "valid":
        return full[m - 1:n]
    start = m - 1 - m // 2
    return full[start:start + n]


@_f("correlate")
def _correlate(g, ans, a, v, mode="valid"):
    def impl(a, v):
        if np.shape(a)[0] >= np.shape(v)[0]:
            return _corr_long(a, v, mode, True)
        return np.conjugate(_corr_long(v, a, mode, True)[::-1])
    return Via(impl, a, v)


@_f("convolve")
def _convolve(g, ans, a, v, mode="full"):
    def impl(a, v):
        if np.shape(v)[0] > np.shape(a)[0]:
            a, v = v, a
        return _corr_long(a, v[::-1], mode, False)
    return Via(impl, a, v)


# ============================================================================ interpolation
def _traced(v):
    """``v`` as a traced array (a constant one if it is not traced already)."""
    from ...tracer import Tracer
    return v if isinstance(v, Tracer) else np.full(np.shape(v), v)


@_f("interp")
def _interp(g, ans, x, xp, fp, left=None, right=None, period=None):
    if period is not None:
        raise DifferentiationError("the gradient of np.interp with period= is not supported")

    def impl(x, xp, fp, left, right):
        xp, fp = _traced(xp), _traced(fp)     # (np.take dispatches on its array only)
        n = np.shape(xp)[0]
        if n < 2:
            return np.broadcast_to(fp[0], np.shape(x)) if left is None else \
                np.where(x < xp[0], left, fp[0])
        i = np.clip(np.searchsorted(xp, x, side="right"), 1, n - 1)
        x0, x1 = np.take(xp, i - 1), np.take(xp, i)
        f0, f1 = np.take(fp, i - 1), np.take(fp, i)
        y = f0 + (f1 - f0) / (x1 - x0) * (x - x0)
        y = np.where(x < xp[0], fp[0] if left is None else left, y)
        return np.where(x > xp[-1], fp[-1] if right is None else right, y)
    return Via(impl, x, xp, fp, left, right)
