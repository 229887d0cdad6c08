"""Testing helpers: ``check_grads`` compares tracenp's derivatives with finite differences."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .autodiff import vjp as _vjp
from .errors import GradientMismatch
from .graph.pytree import flatten, unflatten

__all__ = ["check_grads", "GradientMismatch"]


_EPS = {np.dtype(np.float64): 1e-6, np.dtype(np.complex128): 1e-6,
        np.dtype(np.float32): 2e-3, np.dtype(np.complex64): 2e-3,
        np.dtype(np.float16): 5e-2}
_TOL = {np.dtype(np.float64): 1e-5, np.dtype(np.complex128): 1e-5,
        np.dtype(np.float32): 2e-2, np.dtype(np.complex64): 2e-2,
        np.dtype(np.float16): 2e-1}


def _dtype(x: Any) -> np.dtype:
    return np.result_type(x) if not isinstance(x, float) else np.dtype(np.float64)


def _random_like(rng: np.random.Generator, x: Any) -> Any:
    dt = _dtype(x)
    shape = np.shape(x)
    v = rng.standard_normal(shape)
    if dt.kind == "c":
        v = v + 1j * rng.standard_normal(shape)
    if isinstance(x, float):
        return float(v)
    return np.asarray(v).astype(dt)


def _inner(a: Any, b: Any) -> float:
    """``Re(sum(a * b))``: the pairing under which tracenp's (and JAX's) cotangents are
    transposes (no conjugation)."""
    leaves_a = a if isinstance(a, (tuple, list)) else (a,)
    leaves_b = b if isinstance(b, (tuple, list)) else (b,)
    total = 0.0
    for x, y in zip(leaves_a, leaves_b):
        total += float(np.real(np.sum(np.asarray(x, dtype=np.complex128) *
                                      np.asarray(y, dtype=np.complex128))))
    return total


def _shift(args: tuple, idx: Sequence[int], dirs: list, t: float) -> tuple:
    out = list(args)
    for i, d in zip(idx, dirs):
        x = args[i]
        if isinstance(x, float):
            out[i] = x + t * d
        else:
            dt = _dtype(x)
            out[i] = (np.asarray(x, dtype=np.complex128 if dt.kind == "c" else np.float64)
                      + t * np.asarray(d)).astype(dt)
    return tuple(out)


def check_grads(f: Callable, args: Sequence[Any], order: int = 1, *,
                argnums: Sequence[int] | None = None, eps: float | None = None,
                rtol: float | None = None, seed: int = 0) -> None:
    """Check the derivatives of ``f`` at ``args`` against central finite differences.

    Along a random direction ``v`` (in every differentiated argument) and a random output
    cotangent ``c``: ``Re<c, (f(x + eps v) - f(x - eps v)) / 2 eps>`` must equal
    ``Re<vjp(f)(c), v>``.  With ``order=2`` the same check runs on the pullback itself
    (a second derivative through a gradient graph), and so on.  Raises
    :class:`GradientMismatch` with both numbers when they differ.
    """
    args = tuple(args)
    idx = tuple(range(len(args))) if argnums is None else tuple(argnums)
    rng = np.random.default_rng(seed)
    _check(f, args, idx, order, eps, rtol, rng)


def _check(f: Callable, args: tuple, idx: tuple, order: int, eps: float | None,
           rtol: float | None, rng: np.random.Generator) -> None:
    def g(*diff_args):
        full = list(args)
        for i, a in zip(idx, diff_args):
            full[i] = a
        return f(*full)

    sub = tuple(args[i] for i in idx)
    dts = [_dtype(a) for a in sub]
    worst = max(dts, key=lambda d: _EPS.get(d, 1e-6))
    step = eps if eps is not None else _EPS.get(worst, 1e-6)
    tol = rtol if rtol is not None else _TOL.get(worst, 1e-5)
    out = f(*args)
    out_leaves, out_tree = flatten(out)
    ct = tuple(_random_like(rng, o) for o in out_leaves)
    ct_arg = unflatten(out_tree, list(ct))
    dirs = [_random_like(rng, a) for a in sub]
    scale = [max(1.0, float(np.max(np.abs(a)))) if np.size(a) else 1.0 for a in sub]
    h = step * max(scale)
    plus = g(*_shift(sub, range(len(sub)), dirs, h))
    minus = g(*_shift(sub, range(len(sub)), dirs, -h))
    plus, minus = flatten(plus)[0], flatten(minus)[0]
    fd = [(np.asarray(p, dtype=np.complex128) - np.asarray(m, dtype=np.complex128)) / (2 * h)
          for p, m in zip(plus, minus)]
    numeric = _inner(ct, fd)
    _, pullback = _vjp(g, *sub)
    cts = pullback(ct_arg)
    analytic = _inner(cts, dirs)
    denom = max(1.0, abs(numeric), abs(analytic))
    if not abs(numeric - analytic) <= tol * denom:
        raise GradientMismatch(
            f"check_grads({getattr(f, '__name__', 'f')}): the derivative along a random "
            f"direction is {analytic!r} by tracenp and {numeric!r} by finite differences "
            f"(step {h:g}, order {order})")
    if order > 1:
        def pulled(*diff_args):
            return _vjp(lambda *a: f(*_merge(args, idx, a)), *diff_args)[1](ct_arg)
        _check(pulled, sub, tuple(range(len(sub))), order - 1, eps, rtol, rng)


def _merge(args: tuple, idx: tuple, diff_args: tuple) -> tuple:
    full = list(args)
    for i, a in zip(idx, diff_args):
        full[i] = a
    return tuple(full)
