"""Differential checks of a compiled function against eager NumPy (the oracle).

``check(fn, argsets)`` compiles ``fn`` and, for each argument set, calls eager NumPy on
one deep copy and the compiled function on another, then compares the results *and*
the argument arrays after the call (mutation), and object identity where eager returns
one of its arguments.  The first set traces; every later set must replay the cached
plan (``trace_count`` unchanged), so a pass-through tracer or a wrong plan both fail.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any, Callable, Sequence

import numpy as np

import tracenp
from tracenp.compiler import Plan
from tracenp.graph.pytree import flatten
from tests.oracle import assert_same


def _identity_map(result: Any, args: Any) -> list[int | None]:
    """For each result leaf, the index of the argument leaf it *is* (or None)."""
    r_leaves, _ = flatten(result)
    a_leaves, _ = flatten(args)
    out = []
    for r in r_leaves:
        hit = None
        if isinstance(r, np.ndarray):
            for i, a in enumerate(a_leaves):
                if r is a:
                    hit = i
                    break
        out.append(hit)
    return out


def compare_call(fn: Callable, f: Any, args: tuple, kwargs: dict | None = None, *,
                 rtol: float = 0.0, atol: float = 0.0, where: str = "") -> Any:
    """One eager call and one compiled call on private copies; compare everything.

    ``args`` may be a zero-argument callable that builds the arguments: it is called once
    per run, which keeps layouts (views, strides) that ``copy.deepcopy`` would lose.
    """
    kwargs = kwargs or {}
    if callable(args):
        eager_args, comp_args = tuple(args()), tuple(args())
        eager_kwargs, comp_kwargs = copy.deepcopy(kwargs), copy.deepcopy(kwargs)
    else:
        eager_args, eager_kwargs = copy.deepcopy((args, kwargs))
        comp_args, comp_kwargs = copy.deepcopy((args, kwargs))
    expected = fn(*eager_args, **eager_kwargs)
    actual = f(*comp_args, **comp_kwargs)
    assert_same(actual, expected, rtol=rtol, atol=atol, where=f"{where} result")
    _same_args(comp_args, eager_args, rtol, atol, where)
    _same_args(comp_kwargs, eager_kwargs, rtol, atol, where)
    ids_e = _identity_map(expected, (eager_args, eager_kwargs))
    ids_a = _identity_map(actual, (comp_args, comp_kwargs))
    assert ids_a == ids_e, f"{where}: result identity {ids_a} != eager {ids_e}"
    share_e = _sharing_map(expected, (eager_args, eager_kwargs))
    share_a = _sharing_map(actual, (comp_args, comp_kwargs))
    assert share_a == share_e, \
        f"{where}: results sharing memory with arguments {share_a} != eager {share_e}"
    return actual


def _sharing_map(result: Any, args: Any) -> list[tuple[int, ...]]:
    """For each result leaf, the argument leaves whose memory it shares (views of them)."""
    r_leaves, _ = flatten(result)
    a_leaves, _ = flatten(args)
    return [tuple(i for i, a in enumerate(a_leaves)
                  if isinstance(r, np.ndarray) and isinstance(a, np.ndarray)
                  and np.shares_memory(r, a))
            for r in r_leaves]


def _same_args(actual: Any, expected: Any, rtol: float, atol: float, where: str) -> None:
    a_leaves, _ = flatten(actual)
    e_leaves, _ = flatten(expected)
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        if isinstance(e, np.ndarray):
            assert_same(a, e, rtol=rtol, atol=atol, where=f"{where} argument leaf {i}")
        elif isinstance(e, np.random.Generator):
            assert a.bit_generator.state == e.bit_generator.state, f"{where}: generator {i} state"
        elif isinstance(e, np.random.RandomState):
            sa, se = a.get_state(legacy=False), e.get_state(legacy=False)
            assert repr(sa) == repr(se), f"{where}: RandomState {i} state"


def check(fn: Callable, argsets: Sequence[tuple], *, rtol: float = 0.0, atol: float = 0.0,
          kwargsets: Sequence[dict] | None = None, compiled: Any = None,
          traces: int = 1, **compile_kw: Any) -> Any:
    """Compile ``fn`` and compare it with eager NumPy on every argument set.

    All argument sets must share one call signature: ``traces`` (default 1) traces in
    total, every plan a real :class:`Plan` (no fallback), no FallbackWarning.
    """
    assert len(argsets) >= 2, "call at least twice: the second call must replay the plan"
    f = compiled if compiled is not None else tracenp.compile(fn, **compile_kw)
    kwargsets = kwargsets or [{}] * len(argsets)
    with warnings.catch_warnings():
        warnings.simplefilter("error", tracenp.FallbackWarning)
        for n, (args, kwargs) in enumerate(zip(argsets, kwargsets)):
            compare_call(fn, f, args, kwargs, rtol=rtol, atol=atol, where=f"call {n}")
            if n == 0:
                after_first = f.trace_count
    assert f.trace_count == after_first == traces, \
        f"expected {traces} trace(s), got {after_first} then {f.trace_count}"
    plans = f.plans().values()
    assert plans and all(type(p) is Plan for p in plans), "the function fell back to NumPy"
    return f


def check_raises_like(fn: Callable, f: Any, args: tuple) -> BaseException:
    """Eager and compiled calls raise the same exception type and message."""
    eager_args, comp_args = copy.deepcopy(args), copy.deepcopy(args)
    with_eager = _raises(fn, eager_args)
    with_comp = _raises(f, comp_args)
    assert with_eager is not None, "eager NumPy did not raise"
    assert type(with_comp) is type(with_eager), f"{with_comp!r} != {with_eager!r}"
    assert str(with_comp) == str(with_eager)
    _same_args(comp_args, eager_args, 0.0, 0.0, "after the error")
    return with_comp


def _raises(fn: Callable, args: tuple) -> BaseException | None:
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001 - we compare whatever NumPy raises
        return e
    return None


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)
