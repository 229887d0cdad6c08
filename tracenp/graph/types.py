"""Abstract values: the static type (shape, dtype, kind) of every graph value."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tracenp._ndarray import NDARRAY

__all__ = ["AbstractValue", "abstractify", "ARRAY", "NPSCALAR", "PYSCALAR", "OPAQUE"]

ARRAY = "array"        # numpy.ndarray
NPSCALAR = "npscalar"  # numpy.generic (what eager NumPy returns from full reductions)
PYSCALAR = "pyscalar"  # a Python float/complex/int: a *weak* scalar under NEP 50
OPAQUE = "opaque"      # a random generator (a value the graph passes along, never inspects)

_SHORT = {
    "bool": "bool", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
    "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64",
    "float16": "f16", "float32": "f32", "float64": "f64", "longdouble": "f128",
    "complex64": "c64", "complex128": "c128",
}
_PY_DTYPE = {float: np.dtype(np.float64), complex: np.dtype(np.complex128),
             int: np.dtype(np.int64), bool: np.dtype(np.bool_)}


@dataclass(frozen=True, slots=True)
class AbstractValue:
    """Shape, dtype and kind of a value.  ``weak`` marks a Python scalar (NEP 50)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    kind: str = ARRAY

    @property
    def weak(self) -> bool:
        return self.kind == PYSCALAR

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def short(self) -> str:
        """Compact spelling: ``f64[2,3]`` (array), ``f64`` (NumPy scalar), ``float~`` (weak)."""
        if self.kind == PYSCALAR:
            return {np.float64: "float~", np.complex128: "complex~", np.int64: "int~",
                    np.bool_: "bool~"}.get(self.dtype.type, f"{self.dtype}~")
        name = _SHORT.get(self.dtype.name, self.dtype.str)
        if self.kind == NPSCALAR:
            return name
        if self.kind == OPAQUE:
            return "rng"
        return f"{name}[{','.join(map(str, self.shape))}]"

    def __str__(self) -> str:
        return self.short()


def abstractify(value: Any) -> AbstractValue:
    """The abstract value of a concrete NumPy array, NumPy scalar or Python scalar."""
    t = type(value)
    if t in _PY_DTYPE:
        return AbstractValue((), _PY_DTYPE[t], PYSCALAR)
    if isinstance(value, NDARRAY):
        return AbstractValue(value.shape, value.dtype, ARRAY)
    if isinstance(value, np.generic):
        return AbstractValue((), value.dtype, NPSCALAR)
    if isinstance(value, (np.random.Generator, np.random.RandomState)):
        return AbstractValue((), np.dtype(object), OPAQUE)
    raise TypeError(f"not an array value: {t.__name__}")
