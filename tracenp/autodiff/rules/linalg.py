"""Rules of ``np.linalg`` beyond products and factorizations: ``solve``, ``inv``, ``det``,
``slogdet``, the norms (``norm``, ``vector_norm``, ``matrix_norm``), and, as equivalent
code, ``matrix_power``, ``tensorsolve``, ``tensorinv``, ``cond`` and ``pinv``.
"""
from __future__ import annotations

import numpy as np

from ...errors import DifferentiationError
from ._common import Via, _axes, _expand, _f


# ============================================================================ solving
def _mT_(x):
    return np.swapaxes(x, -1, -2)


@_f("linalg.solve")
def _solve(g, ans, a, b):
    vec = np.ndim(b) == 1
    if vec:             # (b is one vector, solved against each matrix of a stack)
        gb = np.linalg.solve(_mT_(a), np.expand_dims(g, -1))[..., 0]
        ga = -np.expand_dims(gb, -1) * np.expand_dims(ans, -2)
    else:
        gb = np.linalg.solve(_mT_(a), g)
        ga = -np.matmul(gb, _mT_(ans))
    return {"a": ga, "b": gb}


@_f("linalg.inv")
def _inv(g, ans, a):
    t = _mT_(ans)
    return {"a": -np.matmul(np.matmul(t, g), t)}


@_f("linalg.det")
def _det(g, ans, a):
    ge = np.expand_dims(np.expand_dims(g * ans, -1), -1)
    return {"a": ge * _mT_(np.linalg.inv(a))}


@_f("linalg.slogdet")
def _slogdet(g, ans, a):
    g_sign, g_log = g[0], g[1]
    complex_ = np.result_type(a).kind == "c"
    if g_log is None and (g_sign is None or not complex_):
        return {}           # (a real determinant's sign is piecewise constant)
    c = 0.0 if g_log is None else g_log
    if complex_ and g_sign is not None:
        # d sign = sign * 1j * Im(tr(A^-1 dA))
        c = c - 1j * np.real(1j * g_sign * ans[0])
    ge = np.expand_dims(np.expand_dims(c, -1), -1)
    return {"a": ge * _mT_(np.linalg.inv(a))}


# ============================================================================ norms
def _vector_norm_ct(g, ans, x, ord, axis, keepdims):
    shape = np.shape(x)
    ge = _expand(g, shape, axis, keepdims)
    ae = _expand(ans, shape, axis, keepdims)
    absx = np.abs(x)
    unit = np.where(absx == 0, 0, np.conjugate(x) / np.where(absx == 0, 1, absx))  # d|x|
    if ord is None or ord == 2:
        return ge * np.where(ae == 0, 0, np.conjugate(x) / np.where(ae == 0, 1, ae))
    if ord == 1:
        return ge * unit
    if ord == np.inf or ord == -np.inf:
        hit = absx == ae
        n = np.sum(hit, axis=_axes(axis, len(shape)), keepdims=True)
        return ge * unit * hit / np.maximum(n, 1)
    if ord == 0:
        return None
    p = float(ord)
    return ge * unit * np.power(absx, p - 1) / np.power(np.where(ae == 0, 1, ae), p - 1)


def _matrix_norm_impl(x, ord, axis, keepdims):
    """NumPy's matrix norms (ord 1, -1, inf, -inf, 'fro', 'nuc', 2, -2) over ``axis``."""
    nd = np.ndim(x)
    row, col = (int(a) % nd for a in axis)
    if ord in (None, "fro"):
        r = np.sqrt(np.sum(np.real(np.conjugate(x) * x), axis=(row, col)))
    elif ord in (1, -1, np.inf, -np.inf):
        red = np.max if ord in (1, np.inf) else np.min
        if ord in (1, -1):
            r = red(np.sum(np.abs(x), axis=row), axis=col - 1 if col > row else col)
        else:
            r = red(np.sum(np.abs(x), axis=col), axis=row - 1 if row > col else row)
    elif ord in ("nuc", 2, -2):
        sv = np.linalg.svd(np.moveaxis(x, (row, col), (-2, -1)), compute_uv=False)
        r = np.sum(sv, axis=-1) if ord == "nuc" else (np.max(sv, axis=-1) if ord == 2
                                                       else np.min(sv, axis=-1))
    else:
        raise DifferentiationError(f"the gradient of matrix norms with ord={ord!r} is not "
                                   f"supported")
    if keepdims:
        r = np.expand_dims(r, tuple(sorted((row, col))))
    return r


@_f("linalg.norm")
def _norm(g, ans, x, ord=None, axis=None, keepdims=False):
    nd = np.ndim(x)
    if axis is None and (ord is None or (ord == "fro" and nd == 2) or (nd == 1)):
        return {"x": _vector_norm_ct(g, ans, x, 2 if ord in (None, "fro") else ord, None, keepdims)}
    if isinstance(axis, (int, np.integer)) or (isinstance(axis, tuple) and len(axis) == 1):
        return {"x": _vector_norm_ct(g, ans, x, ord, axis, keepdims)}
    if ord in (None, "fro"):
        return {"x": _vector_norm_ct(g, ans, x, 2, axis, keepdims)}
    ax = (0, 1) if axis is None else tuple(axis)
    return Via(lambda x: _matrix_norm_impl(x, ord, ax, keepdims), x)


@_f("linalg.vector_norm")
def _vnorm(g, ans, x, /, *, axis=None, keepdims=False, ord=2):
    return {"x": _vector_norm_ct(g, ans, x, ord, axis, keepdims)}


@_f("linalg.matrix_norm")
def _mnorm(g, ans, x, /, *, keepdims=False, ord="fro"):
    if ord == "fro":
        return {"x": _vector_norm_ct(g, ans, x, 2, (-2, -1), keepdims)}
    return Via(lambda x: _matrix_norm_impl(x, ord, (-2, -1), keepdims), x)


# ============================================================================ via NumPy code
@_f("linalg.matrix_power")
def _matrix_power(g, ans, a, n):
    def impl(a):
        k = int(n)
        if k == 0:          # the identity: a constant, no gradient
            return np.broadcast_to(np.eye(np.shape(a)[-1]), np.shape(a)) * 1.0
        if k < 0:
            a, k = np.linalg.inv(a), -k
        r = a
        for _ in range(k - 1):
            r = np.matmul(r, a)
        return r
    return Via(impl, a)


@_f("linalg.tensorsolve")
def _tensorsolve(g, ans, a, b, axes=None):
    def impl(a, b):
        an = np.ndim(a)
        if axes is not None:
            allaxes = list(range(an))
            for k in axes:
                allaxes.remove(k)
                allaxes.insert(an, k)
            a = np.transpose(a, allaxes)
        oldshape = np.shape(a)[-(an - np.ndim(b)):]
        prod = int(np.prod(oldshape))
        r = np.linalg.solve(np.reshape(a, (prod, prod)), np.ravel(b))
        return np.reshape(r, oldshape)
    return Via(impl, a, b)


@_f("linalg.tensorinv")
def _tensorinv(g, ans, a, ind=2):
    def impl(a):
        shape = np.shape(a)
        prod = int(np.prod(shape[ind:]))
        return np.reshape(np.linalg.inv(np.reshape(a, (prod, -1))), shape[ind:] + shape[:ind])
    return Via(impl, a)


@_f("linalg.cond")
def _cond(g, ans, x, p=None):
    def impl(x):
        if p in (None, 2, -2):
            s = np.linalg.svd(x, compute_uv=False)
            return s[..., 0] / s[..., -1] if p in (None, 2) else s[..., -1] / s[..., 0]
        return _matrix_norm_impl(x, p, (-2, -1), False) * \
            _matrix_norm_impl(np.linalg.inv(x), p, (-2, -1), False)
    return Via(impl, x)


@_f("linalg.pinv")
def _pinv(g, ans, a, rcond=None, hermitian=False, *, rtol=np._NoValue):
    def impl(a):
        if rcond is None:
            rc = 1e-15 if rtol is np._NoValue else (
                max(np.shape(a)[-2:]) * np.finfo(np.result_type(a)).eps if rtol is None else rtol)
        else:
            rc = rcond
        u, s, vt = np.linalg.svd(np.conjugate(a), full_matrices=False, hermitian=hermitian)
        cutoff = np.expand_dims(np.asarray(rc), -1) * np.max(s, axis=-1, keepdims=True)
        large = s > cutoff
        sinv = np.where(large, 1 / np.where(large, s, 1), 0)
        return np.matmul(np.swapaxes(vt, -1, -2), sinv[..., None] * np.swapaxes(u, -1, -2))
    return Via(impl, a)
