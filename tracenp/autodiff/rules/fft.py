"""Rules of ``np.fft``: the complex transforms' cotangents are transforms of the
cotangent (cut or zero-padded back to the input's length); the real and Hermitian ones are
given as equivalent code where that is simpler.
"""
from __future__ import annotations

import math

import numpy as np

from ._common import Via, _along, _f, _sl


def _fit_len(ct, axis, n_in):
    """``ct`` cut or zero-padded along ``axis`` to ``n_in`` (undoing fft's n=/s=)."""
    nd = np.ndim(ct)
    ax = axis % nd
    n = np.shape(ct)[ax]
    if n > n_in:
        return ct[_sl(nd, ax, slice(0, n_in))]
    if n < n_in:
        shape = list(np.shape(ct))
        shape[ax] = n_in - n
        return np.concatenate([ct, np.zeros(shape, dtype=np.result_type(ct))], axis=ax)
    return ct


def _fft_axes(a, s, axes, default=None):
    nd = np.ndim(a)
    if axes is None:
        axes = default if default is not None else (
            list(range(nd)) if s is None else list(range(nd - len(s), nd)))
    return [int(x) % nd for x in axes]


@_f("fft.fft")
def _fft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    return {"a": _fit_len(np.fft.fft(g, axis=axis, norm=norm), axis, np.shape(a)[axis])}


@_f("fft.ifft")
def _ifft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    return {"a": _fit_len(np.fft.ifft(g, axis=axis, norm=norm), axis, np.shape(a)[axis])}


def _fftn_ct(transform, g, a, s, axes, norm, default=None):
    axes = _fft_axes(a, s, axes, default)
    ct = transform(g, axes=axes, norm=norm)
    for ax in axes:
        ct = _fit_len(ct, ax, np.shape(a)[ax])
    return ct


@_f("fft.fftn")
def _fftn(g, ans, a, s=None, axes=None, norm=None, out=None):
    return {"a": _fftn_ct(np.fft.fftn, g, a, s, axes, norm)}


@_f("fft.ifftn")
def _ifftn(g, ans, a, s=None, axes=None, norm=None, out=None):
    return {"a": _fftn_ct(np.fft.ifftn, g, a, s, axes, norm)}


@_f("fft.fft2")
def _fft2(g, ans, a, s=None, axes=(-2, -1), norm=None, out=None):
    return {"a": _fftn_ct(np.fft.fftn, g, a, s, axes, norm)}


@_f("fft.ifft2")
def _ifft2(g, ans, a, s=None, axes=(-2, -1), norm=None, out=None):
    return {"a": _fftn_ct(np.fft.ifftn, g, a, s, axes, norm)}


@_f("fft.rfft")
def _rfft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    nd = np.ndim(a)
    ax = axis % nd
    n = np.shape(a)[ax] if n is None else n
    shape = list(np.shape(g))
    shape[ax] = n - shape[ax]
    gp = np.concatenate([g, np.zeros(shape, dtype=np.result_type(g))], axis=ax) if shape[ax] else g
    return {"a": _fit_len(np.real(np.fft.fft(gp, axis=ax, norm=norm)), ax, np.shape(a)[ax])}


@_f("fft.irfft")
def _irfft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    nd = np.ndim(a)
    ax = axis % nd
    m = np.shape(a)[ax]
    n = 2 * (m - 1) if n is None else n
    k = n // 2 + 1
    w = np.full(k, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    scale = {None: 1.0 / n, "backward": 1.0 / n, "ortho": 1.0 / math.sqrt(n), "forward": 1.0}[norm]
    ct = np.conjugate(np.fft.rfft(g, n=n, axis=ax)) * _along(w * scale, nd, ax)
    return {"a": _fit_len(ct, ax, m)}


_SWAP_NORM = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


@_f("fft.hfft")
def _hfft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    nn = (np.shape(a)[axis] - 1) * 2 if n is None else n
    return Via(lambda a: np.fft.irfft(np.conjugate(a), nn, axis, norm=_SWAP_NORM[norm]), a)


@_f("fft.ihfft")
def _ihfft(g, ans, a, n=None, axis=-1, norm=None, out=None):
    nn = np.shape(a)[axis] if n is None else n
    return Via(lambda a: np.conjugate(np.fft.rfft(a, nn, axis, norm=_SWAP_NORM[norm])), a)


def _rfftn_impl(a, s, axes, norm, default=None):
    axes = _fft_axes(a, s, axes, default)
    s = [np.shape(a)[ax] for ax in axes] if s is None else list(s)
    r = np.fft.rfft(a, s[-1], axes[-1], norm=norm)
    for n, ax in zip(s[:-1], axes[:-1]):
        r = np.fft.fft(r, n, ax, norm=norm)
    return r


def _irfftn_impl(a, s, axes, norm, default=None):
    axes = _fft_axes(a, s, axes, default)
    if s is None:
        s = [np.shape(a)[ax] for ax in axes]
        s[-1] = (np.shape(a)[axes[-1]] - 1) * 2
    s = list(s)
    r = a
    for n, ax in zip(s[:-1], axes[:-1]):
        r = np.fft.ifft(r, n, ax, norm=norm)
    return np.fft.irfft(r, s[-1], axes[-1], norm=norm)


@_f("fft.rfftn")
def _rfftn(g, ans, a, s=None, axes=None, norm=None, out=None):
    return Via(lambda a: _rfftn_impl(a, s, axes, norm), a)


@_f("fft.rfft2")
def _rfft2(g, ans, a, s=None, axes=(-2, -1), norm=None, out=None):
    return Via(lambda a: _rfftn_impl(a, s, axes, norm), a)


@_f("fft.irfftn")
def _irfftn(g, ans, a, s=None, axes=None, norm=None, out=None):
    return Via(lambda a: _irfftn_impl(a, s, axes, norm), a)


@_f("fft.irfft2")
def _irfft2(g, ans, a, s=None, axes=(-2, -1), norm=None, out=None):
    return Via(lambda a: _irfftn_impl(a, s, axes, norm), a)
