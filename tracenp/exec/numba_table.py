"""The numba layer's table: which ops a fused region may hold to be compiled by numba.

Each op maps to the kinds of its NumPy ufunc loop (the loop ``ufunc.resolve_dtypes``
picks for the operands) that ``tracenp.exec.numba_kernel`` lowers to a scalar statement
whose result is bit for bit NumPy's: ``b`` bool, ``i`` signed and ``u`` unsigned
integers, ``f`` float32 and float64.  Only correctly rounded IEEE operations, integer
arithmetic with NumPy's wrap-around, floor semantics and division-by-zero results,
comparisons, logic, ``where`` and NaN-propagating ``maximum``/``minimum`` (the second
operand wins a tie of signed zeros, in every NumPy loop) qualify.  Float ``fmax``/``fmin``
do not: which zero they return depends on the element's place in NumPy's loop (its SIMD
body returns the second operand, C's ``fmax`` in the tail the first).  Transcendentals (numba calls libm or SVML, 1-3
ULP from NumPy's SIMD loops, measured), ``power``, float16, complex, float
``floor_divide``/``remainder`` and mixed signed/unsigned comparisons are not in the
table: regions with them run in the blocked kernel, which uses NumPy's own loops.

This module does not import numba: ``python -m tracenp.coverage`` lists the layer whether
or not numba is installed.
"""
from __future__ import annotations

__all__ = ["NUMBA", "REDUCE"]

NUMBA: dict[str, str] = {
    "add": "biuf", "subtract": "iuf", "multiply": "biuf", "divide": "f",
    "negative": "iuf", "positive": "iuf", "absolute": "iuf", "fabs": "f", "square": "iuf",
    "reciprocal": "f", "sqrt": "f", "floor": "f", "ceil": "f", "trunc": "f", "rint": "f",
    "copysign": "f", "maximum": "biuf", "minimum": "biuf", "fmax": "biu", "fmin": "biu",
    "less": "biuf", "less_equal": "biuf", "greater": "biuf", "greater_equal": "biuf",
    "equal": "biuf", "not_equal": "biuf",
    "logical_and": "biuf", "logical_or": "biuf", "logical_xor": "biuf", "logical_not": "biuf",
    "bitwise_and": "biu", "bitwise_or": "biu", "bitwise_xor": "biu", "invert": "biu",
    "left_shift": "iu", "right_shift": "iu", "floor_divide": "iu", "remainder": "iu",
    "isnan": "f", "isinf": "f", "isfinite": "f", "signbit": "f",
    "where": "biuf",
}

# Folded closing reductions, by the kind of the reduced value: float sums use NumPy's
# pairwise summation per block (the blocked kernel's partials, bit for bit); integer sums
# wrap like NumPy's; float max/min are left to the blocked kernel (which zero wins a tie).
REDUCE: dict[str, str] = {"sum": "biuf", "mean": "f", "max": "biu", "amax": "biu",
                          "min": "biu", "amin": "biu"}
