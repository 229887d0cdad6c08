"""Rules of products of arrays: the gufuncs ``matmul``, ``vecdot``, ``matvec`` and
``vecmat``, ``dot``, ``vdot``, ``inner``, ``outer`` and ``einsum`` (the cotangents are
einsums of the others), and ``kron``, ``cross``, ``tensordot``, ``linalg.multi_dot`` and the
``linalg`` spellings, given as equivalent code.
"""
from __future__ import annotations

import numpy as np

from ._common import Via, _f, _u


# ============================================================================ gufuncs
@_u("matmul")
def _matmul(g, ans, a, b):
    a_vec, b_vec = np.ndim(a) == 1, np.ndim(b) == 1
    if b_vec and not a_vec and np.ndim(a) == 2:
        # matrix @ vector: the gradients are a vector-matrix product (gemv, as a hand-written
        # gradient would do) and an outer product, not matrix products with one column
        return (np.multiply.outer(g, b), np.matmul(g, a))
    if a_vec and not b_vec and np.ndim(b) == 2:
        return (np.matmul(b, g), np.multiply.outer(a, g))
    a2 = np.expand_dims(a, 0) if a_vec else a
    b2 = np.expand_dims(b, -1) if b_vec else b
    g2 = g
    if a_vec:
        g2 = np.expand_dims(g2, -1 if b_vec else -2)
    if b_vec:
        g2 = np.expand_dims(g2, -1)
    ga = np.matmul(g2, np.swapaxes(b2, -1, -2))
    gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
    if a_vec:
        ga = ga[..., 0, :]
    if b_vec:
        gb = gb[..., 0]
    return (ga, gb)


@_u("vecdot")
def _vecdot(g, ans, x1, x2):
    ge = np.expand_dims(g, -1)
    return (np.conjugate(ge * x2), ge * np.conjugate(x1))


@_u("matvec")
def _matvec(g, ans, a, x):
    ge = np.expand_dims(g, -1)
    return (ge * np.expand_dims(x, -2), np.matmul(np.swapaxes(a, -1, -2), ge)[..., 0])


@_u("vecmat")
def _vecmat(g, ans, x, a):
    ge = np.expand_dims(g, -2)
    return (np.conjugate(np.matmul(a, np.swapaxes(ge, -1, -2))[..., 0]),
            np.expand_dims(np.conjugate(x), -1) * ge)


# ============================================================================ dot and einsum
@_f("dot")
def _dot(g, ans, a, b, out=None):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return {"a": g * b, "b": g * a}
    if np.ndim(b) <= 2:
        ga, gb = _matmul(g, ans, a, b)
        return {"a": ga, "b": gb}
    letters = "abcdefghijklmnopqrstuvw"
    na, nb = np.ndim(a), np.ndim(b)
    sa = letters[:na]
    sb = letters[na:na + nb - 2] + sa[-1] + letters[na + nb - 2]
    so = sa[:-1] + sb[:-2] + sb[-1]
    return _einsum_cts(g, f"{sa},{sb}->{so}", [a, b], {"a": 0, "b": 1})


@_f("vdot")
def _vdot(g, ans, a, b):
    return {"a": np.reshape(np.conjugate(g * np.ravel(b)), np.shape(a)),
            "b": np.reshape(g * np.conjugate(np.ravel(a)), np.shape(b))}


@_f("inner")
def _inner(g, ans, a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return {"a": g * b, "b": g * a}
    letters = "abcdefghijklmnopqrstuvw"
    na, nb = np.ndim(a), np.ndim(b)
    sa = letters[:na - 1] + "z"
    sb = letters[na - 1:na + nb - 2] + "z"
    return _einsum_cts(g, f"{sa},{sb}->{sa[:-1] + sb[:-1]}", [a, b], {"a": 0, "b": 1})


@_f("outer")
def _outer(g, ans, a, b, out=None):
    return {"a": np.reshape(np.matmul(g, np.ravel(b)), np.shape(a)),
            "b": np.reshape(np.matmul(np.ravel(a), g), np.shape(b))}


def _parse_einsum(subscripts: str, shapes: list) -> tuple[list[str], str]:
    sub = subscripts.replace(" ", "")
    if "->" in sub:
        ins, out = sub.split("->")
    else:
        ins, out = sub, None
    parts = ins.split(",")
    used = set(c for c in sub if c.isalpha())
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used]
    ell_n = max((len(s) - (len(p) - 3) for p, s in zip(parts, shapes) if "..." in p), default=0)
    ell = "".join(free[:ell_n])
    fixed = []
    for p, s in zip(parts, shapes):
        if "..." in p:
            k = len(s) - (len(p) - 3)
            p = p.replace("...", ell[ell_n - k:] if k else "")
        fixed.append(p)
    if out is None:
        counts: dict[str, int] = {}
        for p in fixed:
            for c in p:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return fixed, out


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum_cts(g, subscripts, operands, names):
    shapes = [np.shape(o) for o in operands]
    ins, out = _parse_einsum(subscripts, shapes)
    used = set("".join(ins) + out)
    spare = iter([c for c in _LETTERS if c not in used])
    res: dict = {}
    for name, i in names.items():
        sub = ins[i]
        uniq = "".join(dict.fromkeys(sub))
        dims = {c: shapes[i][k] for k, c in enumerate(sub)}
        others = [(ins[j], operands[j]) for j in range(len(operands)) if j != i]
        present = set(out).union(*(set(s) for s, _ in others))
        target = "".join(c for c in uniq if c in present)
        spec = ",".join([out] + [s for s, _ in others]) + "->" + target
        ct = np.einsum(spec, g, *[o for _, o in others])
        if target != uniq:      # indices summed inside this operand alone: broadcast back
            ct = np.reshape(ct, [dims[c] if c in target else 1 for c in uniq])
            ct = np.broadcast_to(ct, [dims[c] for c in uniq])
        if uniq != sub:         # a repeated index (a diagonal): back onto the diagonal
            seen: set = set()
            full, eyes = "", []
            for c in sub:
                if c in seen:
                    d = next(spare)
                    full += d
                    eyes.append((c + d, dims[c]))
                else:
                    seen.add(c)
                    full += c
            ct = np.einsum(",".join([uniq] + [e for e, _ in eyes]) + "->" + full, ct,
                           *[np.eye(n) for _, n in eyes])
        res[name] = ct
    return res


def _sublist_subscripts(operands: tuple) -> tuple[str, list[int]]:
    """``einsum(a, [0, 1], b, [1, 2], [0, 2])`` as ``"ab,bc->ac"`` and the positions of
    the arrays among the operands."""
    def letters(sub):
        return "".join("..." if x is Ellipsis else _LETTERS[int(x)] for x in sub)
    n = len(operands) // 2
    parts = [letters(operands[2 * k + 1]) for k in range(n)]
    spec = ",".join(parts)
    if len(operands) % 2:
        spec += "->" + letters(operands[-1])
    return spec, [2 * k for k in range(n)]


@_f("einsum")
def _einsum(g, ans, *operands, out=None, **kwargs):
    if operands and isinstance(operands[0], str):
        subscripts, pos = operands[0], list(range(1, len(operands)))
    else:
        subscripts, pos = _sublist_subscripts(operands)
    arrays = [operands[p] for p in pos]
    cts = _einsum_cts(g, subscripts, arrays, {k: k for k in range(len(arrays))})
    full: list = [None] * len(operands)
    for k, p in enumerate(pos):
        full[p] = cts[k]
    return {"operands": full}


# ============================================================================ via NumPy code
@_f("kron")
def _kron(g, ans, a, b):
    def impl(a, b):
        nd = max(np.ndim(a), np.ndim(b))
        sa = (1,) * (nd - np.ndim(a)) + tuple(np.shape(a))
        sb = (1,) * (nd - np.ndim(b)) + tuple(np.shape(b))
        ea = np.reshape(a, [d for i in range(nd) for d in (sa[i], 1)])
        eb = np.reshape(b, [d for i in range(nd) for d in (1, sb[i])])
        return np.reshape(ea * eb, [sa[i] * sb[i] for i in range(nd)])
    return Via(impl, a, b)


def _cross_impl(a, b, axisa=-1, axisb=-1, axisc=-1):
    a = np.moveaxis(a, axisa, -1)
    b = np.moveaxis(b, axisb, -1)
    na, nb = np.shape(a)[-1], np.shape(b)[-1]
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    if na == 2 and nb == 2:
        return a0 * b1 - a1 * b0
    a2 = a[..., 2] if na == 3 else 0.0 * a0
    b2 = b[..., 2] if nb == 3 else 0.0 * b0
    cp = np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return np.moveaxis(cp, -1, axisc)


@_f("cross")
def _cross(g, ans, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    return Via(lambda a, b: _cross_impl(a, b, axisa, axisb, axisc), a, b)


@_f("linalg.cross")
def _linalg_cross(g, ans, x1, x2, /, *, axis=-1):
    return Via(lambda a, b: _cross_impl(a, b, axis, axis, axis), x1, x2)


def _tensordot_impl(a, b, axes):
    na, nb = np.ndim(a), np.ndim(b)
    if isinstance(axes, (int, np.integer)):
        ax_a, ax_b = list(range(na - axes, na)), list(range(axes))
    else:
        ax_a, ax_b = axes
        ax_a = [int(ax_a)] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
        ax_b = [int(ax_b)] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
        ax_a, ax_b = [x % na for x in ax_a], [x % nb for x in ax_b]
    la = list(_LETTERS[:na])
    lb = list(_LETTERS[na:na + nb])
    for i, j in zip(ax_a, ax_b):
        lb[j] = la[i]
    out = [la[k] for k in range(na) if k not in ax_a] + [lb[k] for k in range(nb) if k not in ax_b]
    return np.einsum(f"{''.join(la)},{''.join(lb)}->{''.join(out)}", a, b)


@_f("tensordot")
def _tensordot(g, ans, a, b, axes=2):
    return Via(lambda a, b: _tensordot_impl(a, b, axes), a, b)


@_f("linalg.tensordot")
def _linalg_tensordot(g, ans, x1, x2, /, *, axes=2):
    return Via(lambda a, b: _tensordot_impl(a, b, axes), x1, x2)


@_f("linalg.outer")
def _linalg_outer(g, ans, x1, x2, /):
    return Via(lambda a, b: np.multiply.outer(a, b), x1, x2)


@_f("linalg.matmul")
def _linalg_matmul(g, ans, x1, x2, /):
    return Via(lambda a, b: np.matmul(a, b), x1, x2)


@_f("linalg.vecdot")
def _linalg_vecdot(g, ans, x1, x2, /, *, axis=-1):
    return Via(lambda a, b: np.vecdot(a, b, axis=axis), x1, x2)


@_f("linalg.multi_dot")
def _multi_dot(g, ans, arrays, *, out=None):
    def impl(arrays):
        r = arrays[0]
        for x in arrays[1:]:
            r = np.matmul(r, x)
        return r
    return Via(impl, arrays)
