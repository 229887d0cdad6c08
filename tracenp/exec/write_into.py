"""Running fused regions into slices of fresh copies (tracenp.optimize.write_into).

Each copy is allocated as ``ndarray.copy()`` would (C order), only the part outside the
assigned slice is copied from the source, and the region's numba rows loop writes the
slice.  Where that loop does not answer (not compiled yet, another kernel kind, flags to
report, operands it does not take), the region runs as usual and its output is copied in:
the same values as ``copy`` then ``setitem``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..optimize.write_into import IntoRegion

__all__ = ["run_into", "copy_outside"]


def copy_outside(dest: Any, src: Any, index: tuple[slice, ...]) -> None:
    """``dest[...] = src`` except inside ``dest[index]``: the box's complement as at most
    two boxes per axis."""
    bounds = [range(*s.indices(n)) for s, n in zip(index, src.shape)]
    inner: list[slice] = []
    for d, r in enumerate(bounds):
        rest = (slice(None),) * (src.ndim - d - 1)
        lo, hi = r.start, max(r.start, r.stop)
        for part in (slice(0, lo), slice(hi, src.shape[d])):
            if part.stop > part.start:
                at = tuple(inner) + (part,) + rest
                dest[at] = src[at]
        inner.append(slice(lo, hi))


def run_into(params: IntoRegion, inputs: list) -> tuple:
    """The region's outputs, those at ``params.positions`` as the filled copies."""
    from ..config import config
    from . import numba_kernel as nk
    from .kernels import choose_kernel, compile_region, run_region
    region = params.region
    n = len(region.inputs)
    ins, sources = list(inputs[:n]), inputs[n:]
    fulls, dests = [], {}
    for pos, src, index in zip(params.positions, sources, params.indices):
        full = np.empty(src.shape, src.dtype)
        copy_outside(full, src, index)
        fulls.append(full)
        dests[pos] = full[index]
    prog = compile_region(region)
    out = None
    kernel = prog.kernel if prog.kernel_for == config.kernel else choose_kernel(region)
    if kernel == "numba":
        out = nk.run_numba(region, ins + list(prog.extra), prog, dests)
    if out is None:
        out = run_region(region, ins)
        for pos, dest in dests.items():
            np.copyto(dest, out[pos])
    result = list(out)
    for pos, full in zip(params.positions, fulls):
        result[pos] = full
    return tuple(result)
