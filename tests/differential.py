"""Differential checks shared by the ufunc / operator / hypothesis tests.

``check(fn, make_args)`` compiles ``fn`` and compares it with eager NumPy:

* ``make_args(seed)`` builds fresh arguments (called separately for the eager and the
  compiled run, so non-contiguous views and Fortran-ordered arrays keep their layout:
  ``copy.deepcopy`` would make them contiguous);
* results and (possibly mutated) arguments must match exactly (``tests.oracle.assert_same``)
  and, stricter than that, NaN positions and the sign of zeros must match too;
* where eager NumPy raises, the compiled function must raise the same exception type;
* the first call must not fall back (FallbackWarning is an error under pytest) and a
  second call with the same signature but other values (``seeds[1]``) must not retrace
  and must still be right (a plan that baked in the first call's values fails here);
* ``node`` (a predicate on graph nodes) must hold for some node of the traced graph.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

import tracenp
from tests.oracle import assert_same
from tracenp.graph.pytree import flatten

__all__ = ["check", "assert_exact", "graph_ops", "ufunc_node", "RAISED", "special_values",
           "tame_values"]

RAISED = object()   # check() returns this when eager NumPy raised


def _float_parts(x: np.ndarray) -> list[np.ndarray]:
    if x.dtype.kind == "c":
        return [x.real, x.imag]
    if x.dtype.kind == "f":
        return [x]
    return []


def assert_exact(actual: Any, expected: Any, where: str = "", layout: bool = False) -> None:
    """``assert_same`` plus NaN positions and signed zeros (and C/F layout if asked)."""
    assert_same(actual, expected, where=where)
    a_leaves, _ = flatten(actual)
    e_leaves, _ = flatten(expected)
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        tag = f"{where} leaf {i}"
        if isinstance(e, float):
            a, e = np.float64(a), np.float64(e)
        elif isinstance(e, complex):
            a, e = np.complex128(a), np.complex128(e)
        if not isinstance(e, (np.ndarray, np.generic)):
            continue
        a_arr, e_arr = np.asarray(a), np.asarray(e)
        for pa, pe in zip(_float_parts(a_arr), _float_parts(e_arr)):
            na, ne = np.isnan(pa), np.isnan(pe)
            assert np.array_equal(na, ne), f"{tag}: NaN positions differ"
            sa, se = np.signbit(pa) & ~na, np.signbit(pe) & ~ne
            assert np.array_equal(sa, se), f"{tag}: signs differ (signed zeros?)\n{pa}\n{pe}"
        if layout and isinstance(e, np.ndarray) and e.ndim > 1 and e.size > 1:
            assert (a.flags.c_contiguous, a.flags.f_contiguous) == \
                (e.flags.c_contiguous, e.flags.f_contiguous), f"{tag}: memory layout differs"


def graph_ops(fn: Callable, *args: Any) -> list:
    """The ops of the graph traced from ``fn(*args)`` (as traced: before optimization)."""
    return _all_ops(tracenp.trace(fn, args, {}).nodes)


def _all_ops(nodes) -> list:
    """The ops of ``nodes``, looking into the bodies of fused regions."""
    out = []
    for n in nodes:
        out.append(n.op)
        body = getattr(n.params, "nodes", None)
        if isinstance(body, list):
            out += _all_ops(body)
    return out


def ufunc_node(ufunc: np.ufunc, method: str = "__call__") -> Callable[[Any], bool]:
    """A node predicate: the node calls ``ufunc.method`` (in place or not)."""
    def pred(op: Any) -> bool:
        op = getattr(op, "inner", op)
        return getattr(op, "ufunc", None) is ufunc and getattr(op, "method", None) == method
    pred.__name__ = f"{getattr(ufunc, '__name__', ufunc)}.{method}"
    return pred


def _run(fn: Callable, args: tuple) -> tuple[Any, BaseException | None]:
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return fn(*args), None
    except Exception as exc:  # noqa: BLE001 - compared with eager below
        return None, exc


def check(fn: Callable, make_args: Callable[[int], tuple], *, node: Callable | None = None,
          seeds: tuple[int, ...] = (0, 1), layout: bool = False, rtol: float = 0.0,
          compiled: tracenp.CompiledFunction | None = None, where: str = "") -> Any:
    """Compare ``tracenp.compile(fn)`` with ``fn`` on ``make_args(seed)`` for each seed.

    Returns the eager result of the first seed, or ``RAISED`` if eager NumPy raised.
    """
    f = compiled if compiled is not None else tracenp.compile(fn)
    where = where or getattr(fn, "__name__", "fn")
    first = None
    traces = None
    for k, seed in enumerate(seeds):
        eager_args, comp_args = make_args(seed), make_args(seed)
        expected, e_exc = _run(fn, eager_args)
        actual, a_exc = _run(f, comp_args)
        tag = f"{where} seed={seed}"
        if e_exc is not None:
            assert a_exc is not None, f"{tag}: eager raised {e_exc!r}, compiled did not"
            assert type(a_exc) is type(e_exc), f"{tag}: raised {a_exc!r}, eager {e_exc!r}"
            assert str(a_exc) == str(e_exc), f"{tag}: raised {a_exc!r}, eager {e_exc!r}"
            if k == 0:
                return RAISED
            continue
        assert a_exc is None, f"{tag}: compiled raised {a_exc!r}, eager returned"
        if rtol:
            assert_same(actual, expected, rtol=rtol, where=tag)
            assert_same(list(comp_args), list(eager_args), rtol=rtol, where=tag + " args")
        else:
            assert_exact(actual, expected, where=tag, layout=layout)
            assert_exact(list(comp_args), list(eager_args), where=tag + " args")
        if k == 0:
            first = expected
            traces = f.trace_count
            assert traces >= 1, f"{tag}: nothing was traced"
        else:
            assert f.trace_count == traces, f"{tag}: the second call retraced"
    if node is not None:
        # in the plan (fused regions included), or else in the graph as traced (the
        # optimizer may have rewritten it: x / 2 -> x * 0.5)
        graphs = [p.graph for p in f.plans().values() if hasattr(p, "graph")]
        ops = [op for g in graphs for op in _all_ops(g.nodes)]
        if not any(node(op) for op in ops):
            ops = graph_ops(fn, *make_args(seeds[0]))
        assert any(node(op) for op in ops), \
            f"{where}: no {getattr(node, '__name__', 'expected')} node in {[o.name for o in ops]}"
    return first


# ------------------------------------------------------------------ values


def special_values(dt: np.dtype, small_ints: bool = False) -> np.ndarray:
    """Edge-case values of ``dt`` as a 1-d array."""
    kind = dt.kind
    if kind == "b":
        return np.array([False, True])
    if kind in "iu" and small_ints:
        # (no 0: a zero step crashes numpy's private string ufunc _slice with SIGFPE)
        return np.array([-1, 1, 2, 5], dtype=dt) if kind == "i" else np.array([1, 2, 5], dt)
    if kind == "i":
        info = np.iinfo(dt)
        vals = [0, 1, -1, 2, -2, 3, 5, 7, 8, 31, 64, info.max, info.min, info.min + 1,
                info.max - 1]
        return np.array(sorted(set(vals), key=vals.index), dtype=dt)
    if kind == "u":
        info = np.iinfo(dt)
        vals = [0, 1, 2, 3, 5, 7, 8, 31, 64, info.max, info.max - 1]
        return np.array(sorted(set(vals), key=vals.index), dtype=dt)
    if kind == "f":
        fi = np.finfo(dt)
        vals = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 1.5, 2.0, -2.5, 3.0, 10.0, np.inf, -np.inf,
                np.nan, fi.smallest_subnormal, -fi.smallest_subnormal, fi.tiny, fi.eps,
                fi.max, fi.min]
        return np.array(vals, dtype=dt)
    if kind == "c":
        fi = np.finfo(dt)
        parts = [0.0, -0.0, 1.0, -1.5, np.inf, -np.inf, np.nan, fi.smallest_subnormal]
        vals = [complex(r, i) for r in parts for i in parts] + [0.5 + 2j, -3 - 0.25j]
        out = np.empty(len(vals), dtype=dt)
        out.real = [v.real for v in vals]
        out.imag = [v.imag for v in vals]
        return out
    if kind == "M":
        v = np.array([0, 1, -1, 86400, 10**9, -(10**9)], dtype="i8").astype(dt)
        return np.concatenate([v, np.array(["NaT"], dtype=dt)])
    if kind == "m":
        v = np.array([0, 1, -1, 2, 86400, -(10**9)], dtype="i8").astype(dt)
        return np.concatenate([v, np.array(["NaT"], dtype=dt)])
    strs = ["", "a", "Ab", " x y ", "123", "abcabc", "ABC", "Title Case", "\t1 "]
    if kind == "S":
        return np.array([s.encode() for s in strs], dtype="S")
    return np.array(strs, dtype=dt)


def tame_values(dt: np.dtype) -> np.ndarray:
    kind = dt.kind
    if kind == "b":
        return np.array([True, False])
    if kind in "iu":
        return np.array([1, 2, 3], dtype=dt)
    if kind in "fc":
        return np.array([0.25, 0.5, 1.5], dtype=dt)
    if kind in "Mm":
        return np.array([1, 2, 3], dtype="i8").astype(dt)
    if kind == "S":
        return np.array([b"ab", b"b", b"c a"])
    return np.array(["ab", "b", "c a"], dtype=dt)
