"""Constants in generated kernels: converted to a loop's dtype exactly as NumPy does."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._ndarray import NDARRAY

__all__ = ["as_loop_dtype"]


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
