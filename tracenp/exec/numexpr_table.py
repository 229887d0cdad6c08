"""The numexpr layer's table: how each op is spelled in a numexpr expression.

Only ops whose numexpr result is bit-for-bit NumPy's are marked ``exact``: IEEE
arithmetic, comparisons, ``where``, sqrt, abs, rounding, min/max (NaN-propagating, the
same signed zeros).  Transcendentals use numexpr's scalar libm (a few ULP from NumPy's
SIMD loops): they are spelled here but used only when ``exact`` is not required.
Regions are given to numexpr only when every value is float64 or bool (see
``tracenp.exec.numexpr_kernel`` for the list of numexpr's differences from NumPy that this
avoids).
"""
from __future__ import annotations

__all__ = ["NUMEXPR", "EXACT"]

NUMEXPR: dict[str, str] = {
    "add": "({0} + {1})", "subtract": "({0} - {1})", "multiply": "({0} * {1})",
    "divide": "({0} / {1})", "negative": "(-{0})", "positive": "{0}",
    "absolute": "abs({0})", "fabs": "abs({0})", "sqrt": "sqrt({0})", "square": "({0} * {0})",
    "floor": "floor({0})", "ceil": "ceil({0})", "trunc": "trunc({0})",
    "copysign": "copysign({0}, {1})", "maximum": "maximum({0}, {1})",
    "minimum": "minimum({0}, {1})",
    "less": "({0} < {1})", "less_equal": "({0} <= {1})", "greater": "({0} > {1})",
    "greater_equal": "({0} >= {1})", "equal": "({0} == {1})", "not_equal": "({0} != {1})",
    "logical_and": "({0} & {1})", "logical_or": "({0} | {1})", "logical_not": "(~{0})",
    "bitwise_and": "({0} & {1})", "bitwise_or": "({0} | {1})", "invert": "(~{0})",  # bool only
    "isnan": "isnan({0})", "isinf": "isinf({0})", "isfinite": "isfinite({0})",
    "signbit": "signbit({0})", "where": "where({0}, {1}, {2})",
    # inexact (libm): spelled, not used for exact kernels
    "exp": "exp({0})", "log": "log({0})", "log1p": "log1p({0})", "expm1": "expm1({0})",
    "log10": "log10({0})", "log2": "log2({0})", "sin": "sin({0})", "cos": "cos({0})",
    "tan": "tan({0})", "tanh": "tanh({0})", "sinh": "sinh({0})", "cosh": "cosh({0})",
    "arcsin": "arcsin({0})", "arccos": "arccos({0})", "arctan": "arctan({0})",
    "arctan2": "arctan2({0}, {1})", "hypot": "hypot({0}, {1})",
}

EXACT = frozenset("""add subtract multiply divide negative positive absolute fabs sqrt square
    floor ceil trunc copysign maximum minimum less less_equal greater greater_equal equal
    not_equal logical_and logical_or logical_not bitwise_and bitwise_or invert isnan isinf isfinite signbit where""".split())
