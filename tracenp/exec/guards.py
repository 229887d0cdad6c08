"""Overflow-guarded selects of the blocked kernel.

The stable softplus (``tracenp.optimize.stability.softplus``) is
``where(greater(x, K), x, log1p(exp(x)))`` with ``K`` the largest ``x`` whose ``exp`` is
finite.  Its select is true only where ``exp(x)`` overflowed, or at ``x = +inf`` (where
``log1p(exp(x))`` is ``inf = x`` already).  NumPy's ``exp`` loop raises the overflow flag
of the floating-point status when it overflows (what its "overflow encountered in exp"
warning reads), and the flags are the thread's own.  So the blocked kernel reads the flag
right after the ``exp`` step, writes ``log1p`` straight into the select's destination, and
runs the select only if the flag is up: one flag read (0.2 us) in place of a pass over
the block (a numba select of 10^4 float64 costs 1.5 us).  The result is the same select,
bit for bit, in every case.

A guard is a pattern over a blocked program's steps (``find``); ``_Program`` applies it
when the platform's flags can be read (``flag_reader``).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform
from typing import Any, Callable

import numpy as np

from ..graph.ir import Var
from ..optimize.pattern import Const
from ..optimize.stability import exp_limit

__all__ = ["find", "flag_reader", "overflow_bit"]

# fenv.h's FE_OVERFLOW
_OVERFLOW = {"x86_64": 8, "amd64": 8, "aarch64": 4, "arm64": 4}
_FE_ALL = 0x3F


def overflow_bit() -> int | None:
    return _OVERFLOW.get(platform.machine().lower())


@functools.lru_cache(maxsize=1)
def flag_reader() -> Callable[[], int] | None:
    """``read()``: the calling thread's floating-point status flags (the C library's
    ``fetestexcept``), or None where they cannot be read."""
    if overflow_bit() is None:
        return None
    try:
        name = ctypes.util.find_library("m")
        fn = ctypes.CDLL(name).fetestexcept
    except (OSError, AttributeError, TypeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return functools.partial(fn, _FE_ALL)        # (no Python frame: 0.05 us a read)


def _const(x: Any) -> Any:
    if isinstance(x, Const):
        return x.value
    if isinstance(x, (int, float)):
        return x
    return None


def find(nodes: list, outputs: set) -> list[tuple[int, int, int, int]]:
    """The softplus selects of a region's nodes: ``(e, l, c, w)`` node indices of
    ``e = exp(x)``, ``l = log1p(e)``, ``c = greater(x, K)`` (``K`` at least the dtype's
    ``exp_limit``) and ``w = where(c, x, l)``, where ``e``, ``l`` and ``c`` are used only
    there (not region outputs)."""
    from ..optimize.fusion import operands_of_call
    from ..optimize.pattern import operands
    index = {n.outputs[0].id: i for i, n in enumerate(nodes)}
    uses: dict[int, int] = {}
    for n in nodes:
        for v in n.inputs:
            uses[v.id] = uses.get(v.id, 0) + 1
    found = []
    for w, node in enumerate(nodes):
        if node.op.name != "where":
            continue
        ops = operands_of_call(node, 3)
        if ops is None or not all(isinstance(o, Var) for o in ops):
            continue
        cv, xv, lv = ops
        c, l_ = index.get(cv.id), index.get(lv.id)
        if c is None or l_ is None or nodes[c].op.name != "greater" or nodes[l_].op.name != "log1p":
            continue
        dt = xv.aval.dtype
        if dt not in (np.dtype(np.float64), np.dtype(np.float32)) or node.outputs[0].aval.dtype != dt:
            continue
        cops, lops = operands(nodes[c]), operands(nodes[l_])
        if not cops or not lops or cops[0] is not xv or not isinstance(lops[0], Var):
            continue
        k = _const(cops[1])
        e = index.get(lops[0].id)
        if k is None or e is None or nodes[e].op.name != "exp":
            continue
        eops = operands(nodes[e])
        if not eops or eops[0] is not xv or nodes[e].outputs[0].aval.dtype != dt:
            continue
        if not float(k) >= exp_limit(dt):
            continue
        inner = [nodes[i].outputs[0].id for i in (e, l_, c)]
        if any(uses.get(v, 0) != 1 or v in outputs for v in inner) or not e < l_ < w or c > w:
            continue
        found.append((e, l_, c, w))
    return found
