"""Rules of the matrix factorizations ``linalg.cholesky``, ``eigh``, ``eigvalsh``, ``svd``,
``svdvals`` and ``qr``: their derivatives as linear maps of the input's tangent
(:class:`~tracenp.autodiff.rules.Linear`), or equivalent code.
"""
from __future__ import annotations

import numpy as np

from ...errors import DifferentiationError
from ._common import Linear, Via, _f, _H


def _hermitian_of(da, upper):
    """The Hermitian matrix a factorization reads from one triangle of ``da``."""
    n = np.shape(da)[-1]
    part = np.triu(da, 1) if upper else np.tril(da, -1)
    return part + _H(part) + np.real(da) * np.eye(n)     # (LAPACK reads the real diagonal)


@_f("linalg.cholesky")
def _cholesky(g, ans, a, /, *, upper=False):
    if upper:
        return Via(lambda a: _H(np.linalg.cholesky(_H(a))), a)
    L = ans
    n = np.shape(a)[-1]

    def lin(da):
        linv = np.linalg.inv(L)
        x = np.matmul(np.matmul(linv, _hermitian_of(da, False)), _H(linv))
        phi = np.tril(x) - 0.5 * x * np.eye(n)
        return np.matmul(L, phi)
    return Linear(lin, a)


@_f("linalg.eigh")
def _eigh(g, ans, a, UPLO="L"):
    w, v = ans[0], ans[1]
    n = np.shape(a)[-1]

    def lin(da):
        eye = np.eye(n)
        m = np.matmul(np.matmul(_H(v), _hermitian_of(da, UPLO == "U")), v)
        dw = np.real(np.diagonal(m, axis1=-2, axis2=-1))
        diffs = w[..., None, :] - w[..., :, None] + eye
        f = 1 / diffs - eye
        return dw, np.matmul(v, f * m)
    return Linear(lin, a)


@_f("linalg.eigvalsh")
def _eigvalsh(g, ans, a, UPLO="L"):
    return Via(lambda a: np.linalg.eigh(a, UPLO=UPLO)[0], a)


def _svd_hermitian(a, compute_uv):
    w, u = np.linalg.eigh(a)
    sgn = np.sign(w)
    s = np.abs(w)
    sidx = np.argsort(s, axis=-1)[..., ::-1]
    sgn = np.take_along_axis(sgn, sidx, axis=-1)
    s = np.take_along_axis(s, sidx, axis=-1)
    if not compute_uv:
        return s
    u = np.take_along_axis(u, sidx[..., None, :], axis=-1)
    vt = _H(u * sgn[..., None, :])
    return u, s, vt


@_f("linalg.svd")
def _svd(g, ans, a, full_matrices=True, compute_uv=True, hermitian=False):
    if hermitian:
        return Via(lambda a: _svd_hermitian(a, compute_uv), a)
    if not compute_uv:
        return Via(lambda a: np.linalg.svd(a, full_matrices=False)[1], a)
    m, n = np.shape(a)[-2:]
    k = min(m, n)
    if full_matrices and m != n:
        if g[0] is not None or g[2] is not None:
            raise DifferentiationError(
                "the gradient through the singular vectors of np.linalg.svd(full_matrices=True)"
                " of a non-square matrix is not defined (the extra vectors are not unique)",
                hint="pass full_matrices=False")
        # only s is used: differentiate a reduced decomposition (a node of its own)
        return Via(lambda a: (ans[0], np.linalg.svd(a, full_matrices=False)[1], ans[2]), a)
    u = ans[0][..., :, :k]
    s = ans[1]
    vh = ans[2][..., :k, :]

    def lin(da):
        ut, v = _H(u), _H(vh)
        s_row = s[..., None, :]
        s_col = s[..., :, None]
        ds_mat = np.matmul(np.matmul(ut, da), v)
        ds = np.real(np.diagonal(ds_mat, axis1=-2, axis2=-1))
        diffs = (s_row + s_col) * (s_row - s_col)
        zero = diffs == 0
        f = np.where(zero, 0, 1 / np.where(zero, 1, diffs))
        dss = s_row * ds_mat
        sds = s_col * ds_mat
        s_inv = np.where(s == 0, 0, 1 / np.where(s == 0, 1, s))
        diag = 0.5 * (ds_mat - _H(ds_mat)) * (np.eye(k) * s_inv[..., None, :])
        du = np.matmul(u, f * (dss + _H(dss)) + diag)
        dv = np.matmul(v, f * (sds + _H(sds)))
        if m > n:
            dav = np.matmul(da, v)
            du = du + (dav - np.matmul(u, np.matmul(ut, dav))) / s_row
        if n > m:
            dahu = np.matmul(_H(da), u)
            dv = dv + (dahu - np.matmul(v, np.matmul(vh, dahu))) / s_row
        return du, ds, _H(dv)       # (only the cotangent of s reaches U's extra columns)
    return Linear(lin, a)


@_f("linalg.svdvals")
def _svdvals(g, ans, x, /):
    return Via(lambda a: np.linalg.svd(a, full_matrices=False)[1], x)


def _qr_jvp(q, r, dx):
    n = np.shape(r)[-1]
    dx_rinv = np.matmul(dx, np.linalg.inv(r))
    qt_dx_rinv = np.matmul(_H(q), dx_rinv)
    low = np.tril(qt_dx_rinv, -1)
    do = low - _H(low)
    if np.result_type(qt_dx_rinv).kind == "c":
        do = do + np.eye(n) * (qt_dx_rinv - np.real(qt_dx_rinv))
    dq = np.matmul(q, do - qt_dx_rinv) + dx_rinv
    dr = np.matmul(qt_dx_rinv - do, r)
    return dq, dr


@_f("linalg.qr")
def _qr(g, ans, a, mode="reduced"):
    m, n = np.shape(a)[-2:]
    if mode == "r":
        return Via(lambda a: np.linalg.qr(a)[1], a)
    if mode == "raw":
        raise DifferentiationError("the gradient of np.linalg.qr(mode='raw') is not supported")
    if mode == "complete" and m > n:
        raise DifferentiationError(
            "the gradient of np.linalg.qr(mode='complete') of a tall matrix is not defined "
            "(the extra columns of Q are not unique)", hint="use mode='reduced'")
    q, r = ans[0], ans[1]

    def lin(da):
        if m >= n:
            return _qr_jvp(q, r, da)
        dq, dr1 = _qr_jvp(q, r[..., :, :m], da[..., :, :m])
        dr2 = np.matmul(_H(dq), a[..., :, m:]) + np.matmul(_H(q), da[..., :, m:])
        return dq, np.concatenate([dr1, dr2], axis=-1)
    return Linear(lin, a)
