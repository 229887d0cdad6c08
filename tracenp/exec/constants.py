"""Operands in generated kernels (numba, CUDA): constants converted to a loop's dtype
exactly as NumPy does, and what NumPy's loop resolution takes for each operand."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._ndarray import NDARRAY
from ..graph.types import PYSCALAR
from ..optimize.pattern import Const

__all__ = ["as_loop_dtype", "operand_descr"]


def as_loop_dtype(value: Any, dt: np.dtype) -> Any:
    """``value`` (a constant operand) converted to ``dt`` as NumPy converts it, as a NumPy
    scalar; None where NumPy would warn or raise (an overflow), so no kernel bakes it in."""
    try:
        with np.errstate(all="raise"):
            v = np.asarray(value).astype(dt) if isinstance(value, (NDARRAY, np.generic)) \
                else np.array(value, dtype=dt)
    except (FloatingPointError, OverflowError, ValueError, TypeError):
        return None
    return v[()]


def operand_descr(o: Any) -> tuple[Any, np.dtype]:
    """What ``resolve_dtypes`` takes for an operand (a Python type for a weak scalar), and
    its dtype."""
    if isinstance(o, Const):
        v = o.value
        if isinstance(v, (bool, np.bool_)):
            return np.dtype(np.bool_), np.dtype(np.bool_)
        if type(v) in (int, float, complex):
            return type(v), (np.dtype(np.int64) if type(v) is int else np.asarray(v).dtype)
        dt = np.asarray(v).dtype
        return dt, dt
    av = o.aval
    if av.kind == PYSCALAR and av.dtype.kind != "b":
        return {"f": float, "i": int, "c": complex}[av.dtype.kind], av.dtype
    return av.dtype, av.dtype
