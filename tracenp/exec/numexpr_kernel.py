"""Fused regions as precompiled numexpr kernels.

A region qualifies only if numexpr computes exactly what NumPy does.  The numexpr/NumPy
differences (../shared/design-notes.md §3) and how each is handled:

1. float32 * Python float gives float64 in numexpr; 2. small ints computed as int32;
3. uint64 read as int64; 4. float16/complex64 widened; 11. abs/fmod of ints give float;
13. big Python ints silently int64; 14. out= casting narrows silently:
   -> only regions whose every value is float64 or bool qualify, and the output buffer
      has the region's own dtype (no casting).
5. 'aggressive' optimization rewrites x/c and powers -> compiled with optimization='none';
   power is not in the table at all.
6. int ** negative, 7. // and % on ints -> not in the table (no integer regions).
8. where needs a bool condition -> conditions are bool by the dtype rule; constants are
   written as float literals, so where(c, 1, 0) in a float64 region stays float64.
9./10. reductions (NaN-skipping min/max, int32 sums) -> reductions are never given to numexpr.
12. ~64 operands -> regions with more than 24 inputs do not qualify.
15. the string is made of plain generated names and repr() literals only; operands are
    passed explicitly to a precompiled NumExpr object (no frame lookup, no re_evaluate).
16. a compiled NumExpr object keeps its buffers on itself: two threads calling one at once
    corrupt memory (numexpr issue #569) -> each thread calls its own copy.
17. constants share one register per value, and 0.0 == -0.0: ``where(x > 1, 0.0, -0.0)``
    returns 0.0 -> a region with a -0.0 literal does not qualify (found by the fuzzer).
Transcendentals (libm, a few ULP from NumPy's SIMD loops) are excluded: only EXACT ops.
"""
from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
from tracenp._ndarray import NDARRAY

from ..graph.ir import Literal, Var
from ..optimize.fusion import Region, operands_of_call
from ..optimize.pattern import Const, operands
from .numexpr_table import EXACT, NUMEXPR

__all__ = ["numexpr_program", "run_numexpr", "numexpr_text"]

_OK_DTYPES = (np.dtype(np.float64), np.dtype(np.bool_))
_KIND = {np.dtype(np.float64): b"d", np.dtype(np.bool_): b"b"}     # numexpr's type codes
_BOOL_OPS = frozenset("""less less_equal greater greater_equal equal not_equal logical_and
    logical_or logical_not bitwise_and bitwise_or invert isnan isinf isfinite signbit
    where""".split())
_MAX_INPUTS = 24
_NONE = object()


def _literal(value: Any, dtype: np.dtype) -> str | None:
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, np.float32):
        f = float(value)
        if isinstance(value, (int, np.integer)) and float(int(f)) != value:
            return None
        if math.isnan(f) or math.isinf(f) or (f == 0.0 and math.copysign(1.0, f) < 0):
            return None     # -0.0: numexpr keeps one register per constant value (0.0 == -0.0)
        return repr(f)
    return None


class _NumExprProgram:
    """A region's numexpr kernel.  A compiled ``NumExpr`` object keeps its execution
    buffers on itself, so one object called from two threads at once corrupts memory
    (numexpr issue #569): each thread calls its own copy (``for_thread``)."""

    def __init__(self, text: str, names: list[str], compiled: Any, signature: list):
        self.text = text
        self.names = names
        self.compiled = compiled
        self.signature = signature
        self._owner = threading.get_ident()
        self._local = threading.local()

    def for_thread(self) -> Any:
        if threading.get_ident() == self._owner:
            return self.compiled
        mine = getattr(self._local, "compiled", None)
        if mine is None:
            from numexpr.necompiler import NumExpr
            mine = self._local.compiled = NumExpr(self.text, signature=self.signature,
                                                  optimization="none")
        return mine


def numexpr_text(region: Region) -> str | None:
    prog = numexpr_program(region)
    return None if prog is None else prog.text


def numexpr_program(region: Region) -> _NumExprProgram | None:
    """The compiled numexpr kernel of a region, or None if the region does not qualify."""
    cached = getattr(region, "_numexpr", _NONE)
    if cached is not _NONE:
        return cached
    region._numexpr = prog = _build(region)
    return prog


def _build(region: Region) -> _NumExprProgram | None:
    if len(region.outputs) != 1 or len(region.inputs) > _MAX_INPUTS or region.reduce is not None:
        return None
    names: dict[int, str] = {}
    sig = []
    for k, v in enumerate(region.inputs):
        if isinstance(v, Literal) or v.aval.dtype not in _OK_DTYPES or v.aval.kind == "opaque":
            if isinstance(v, Literal) and v.aval.ndim == 0:
                continue
            return None
        names[v.id] = f"v{k}"
        sig.append((f"v{k}", v.aval.dtype.type))
    expr: dict[int, str] = {}
    for node in region.nodes:
        name = node.op.name
        if name not in EXACT or node.outputs[0].aval.dtype not in _OK_DTYPES:
            return None
        # arithmetic on bools is NumPy's logic (True + True is True, abs(True) is True)
        # but numexpr's numbers (abs of a bool is a float32): float64 values only
        arithmetic = name not in _BOOL_OPS
        if arithmetic and node.outputs[0].aval.dtype != np.float64:
            return None
        ops = operands(node) if name != "where" else operands_of_call(node, 3)
        parts = []
        for o in ops:
            if isinstance(o, Var) and not isinstance(o, Literal):
                if o.aval.dtype not in _OK_DTYPES or (arithmetic and o.aval.dtype != np.float64):
                    return None
                parts.append(expr.get(o.id) or names[o.id])
            else:
                value = o.value if isinstance(o, (Const, Literal)) else o
                lit = _literal(value, node.outputs[0].aval.dtype)
                if lit is None:
                    return None
                parts.append(lit)
        expr[node.outputs[0].id] = NUMEXPR[name].format(*parts)
    text = expr[region.outputs[0].id]
    if len(text) > 4000:
        return None
    from numexpr.necompiler import NumExpr
    try:
        compiled = NumExpr(text, signature=sig, optimization="none")
    except Exception:
        return None
    if compiled.fullsig[:1] != _KIND[region.outputs[0].aval.dtype]:
        return None               # numexpr would compute another type than NumPy
    return _NumExprProgram(text, [n for n, _ in sig], compiled, sig)


def run_numexpr(region: Region, inputs: list) -> tuple:
    prog = numexpr_program(region)
    args = [x for v, x in zip(region.inputs, inputs) if not (isinstance(v, Literal) and v.aval.ndim == 0)]
    out = np.empty(region.shape, region.outputs[0].aval.dtype)
    args = [np.broadcast_to(a, region.shape) if isinstance(a, NDARRAY) and a.shape != region.shape
            else a for a in args]
    prog.for_thread()(*args, out=out, order="K", casting="no", ex_uses_vml=False)
    return (out,)
