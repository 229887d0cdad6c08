"""The kernel of row regions (tracenp.optimize.rowwise): block by block along the split
axis, each block a few rows (``config.chunk_bytes`` per value), every step one NumPy call
on the block: ufuncs with ``out=`` into per-thread scratch, reductions with the node's own
arguments.  Blocks are spread over the shared thread pool as in the blocked kernel.

Elementwise results are NumPy's bit for bit (the same loops on the same values).  A
reduction of a block's rows is NumPy's reduction of those rows: max/min exactly, sums
NumPy's pairwise sums of each row (of a C-ordered input: the same as the whole array's;
of another layout, within NumPy's own summation error).
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from tracenp._ndarray import NDARRAY

from ..config import config
from ..graph.ir import Var
from ..optimize.fusion import operands_of_call, work_of
from ..optimize.pattern import Const, operands
from ..optimize.rowwise import RowRegion

__all__ = ["run_rows", "row_program"]

_PASS_COST = 8      # as the blocked kernel: a pass over memory costs about 8 cheap ops


class _RowProgram:
    """A row region as steps ``(kind, fn, refs, dest, kwargs)``; kind is "ufunc",
    "where" or "reduce".  References: ("in", k), ("buf", slot) a scratch buffer,
    ("val", k) a block's reduction result, ("out", k), ("const", value)."""

    def __init__(self, region: RowRegion):
        self.region = region
        where: dict[int, tuple] = {v.id: ("in", k) for k, v in enumerate(region.inputs)}
        out_index = {v.id: k for k, v in enumerate(region.outputs)}
        last_use: dict[int, int] = {}
        for s, node in enumerate(region.nodes):
            for v in node.inputs:
                last_use[v.id] = s
        self.slots: list[tuple[np.dtype, bool]] = []    # (dtype, full shape?) per buffer
        free: list[int] = []
        self.n_vals = 0
        self.steps: list[tuple] = []
        for s, node in enumerate(region.nodes):
            o = node.outputs[0]
            kind, fn, ops, kwargs = _step_of(region, node)
            refs = tuple(where[x.id] if isinstance(x, Var) else ("const", x.value if isinstance(x, Const) else x)
                         for x in ops)
            dying = [where[v.id][1] for v in dict.fromkeys(node.inputs, None)
                     if last_use[v.id] == s and where.get(v.id, ("",))[0] == "buf"]
            if o.id in out_index:
                dest = ("out", out_index[o.id])
            elif kind == "reduce":
                dest = ("val", self.n_vals)
                self.n_vals += 1
            else:
                want = (o.aval.dtype, o.aval.shape == region.shape)
                pool = (dying + free) if kind == "ufunc" else free   # where: no aliasing
                slot = next((k for k in pool if self.slots[k] == want), None)
                if slot is None:
                    slot = len(self.slots)
                    self.slots.append(want)
                for lst in (dying, free):
                    if slot in lst:
                        lst.remove(slot)
                dest = ("buf", slot)
            free.extend(dying)
            where[o.id] = dest
            self.steps.append((kind, fn, refs, dest, kwargs))
        self.ref_of = where               # value id -> its reference (numba segments)
        self.work = work_of([n for n in region.nodes if id(n) not in region.reductions]) + len(region.reductions)
        self.itemsize = max([n.outputs[0].aval.dtype.itemsize for n in region.nodes]
                            + [v.aval.dtype.itemsize for v in region.inputs if v.aval.kind == "array"])


# np.sum(a, ...) of an ndarray is np.add.reduce(a, ...) (fromnumeric's _wrapreduction),
# without its Python layers; mean stays np.mean (it divides after summing).
_UFUNC_REDUCE = {"sum": np.add.reduce, "prod": np.multiply.reduce, "max": np.maximum.reduce,
                 "amax": np.maximum.reduce, "min": np.minimum.reduce, "amin": np.minimum.reduce}


def _step_of(region: RowRegion, node: Any) -> tuple:
    kwargs = region.reductions.get(id(node))
    if kwargs is not None:
        fn = _UFUNC_REDUCE.get(node.op.name, node.op.fn)
        return "reduce", fn, [node.inputs[0]], kwargs
    if node.op.name == "where":
        return "where", None, operands_of_call(node, 3), None
    return "ufunc", node.op.ufunc, operands(node), None


def row_program(region: RowRegion) -> _RowProgram:
    prog = getattr(region, "_program", None)
    if prog is None:
        prog = region._program = _RowProgram(region)
    return prog


def _units(prog: _RowProgram, per_unit: int, total: int) -> int:
    """Rows per block: ``config.chunk_bytes`` per value, twice that when the region needs
    at most two scratch buffers (measured: fewer Python steps per row, still in L2); up to
    four times more while every thread still gets four blocks: each block's turn costs the
    threads a hand-over of the GIL per NumPy call (softmax of 1000x1000 on 2 cores: 1.39 ms
    in 512 KiB blocks, 0.96 ms in 2 MiB ones; at 300x1000 the smaller blocks win)."""
    size = config.chunk_bytes * (2 if len(prog.slots) <= 2 else 1)
    base = max(1, size // (prog.itemsize * per_unit))
    return max(base, min(4 * base, total // (4 * max(1, config.threads))))


def _block_index(x: Any, split: int, nd: int, total: int) -> int | None:
    """The axis of ``x`` to cut along the region's split axis, or None (broadcast)."""
    if not isinstance(x, NDARRAY) or total == 1:
        return None
    j = split - (nd - x.ndim)
    return j if j >= 0 and x.shape[j] == total else None


def run_rows(region: RowRegion, inputs: list) -> tuple:
    """Run a row region on its inputs; returns its outputs."""
    from .kernels import _scratch, run_shares
    prog = row_program(region)
    shape, p = region.shape, region.split
    nd, total = len(shape), shape[p]
    per_unit = math.prod(shape) // total
    reduced = shape[:region.axis] + (1,) + shape[region.axis + 1:]
    outs = [np.empty(v.aval.shape, v.aval.dtype) for v in region.outputs]
    cuts = [_block_index(x, p, nd, total) for x in inputs]
    units = _units(prog, per_unit, total)
    chunks = [(a, min(a + units, total)) for a in range(0, total, units)]
    err = np.geterr()
    n_threads = min(config.threads, len(chunks))
    if total * per_unit * max(prog.work, _PASS_COST) < config.parallel_work:
        n_threads = 1
    dtypes = [dt for dt, _ in prog.slots]
    steps, rent = prog.steps, False
    if config.kernel in ("auto", "numba") and nd == 2:
        from . import numba_kernel as nk
        steps = nk.row_segment_steps(prog) or steps
        rent = steps is prog.steps and bool(nk.row_segments(prog))
    t0 = time.perf_counter() if rent else 0.0
    whole = list(shape)

    def work(group: list[tuple[int, int]]) -> None:
        scratch = _scratch(dtypes, units * per_unit)
        views: dict[int, list] = {}          # block length -> scratch views of that shape
        with np.errstate(**err):
            for a, b in group:
                bufs = views.get(b - a)
                if bufs is None:
                    bufs = views[b - a] = _views(scratch, prog.slots, shape, reduced, p, b - a)
                ins = [x if j is None else x[(slice(None),) * j + (slice(a, b),)]
                       for x, j in zip(inputs, cuts)]
                cut = (slice(None),) * p + (slice(a, b),)
                whole[p] = b - a
                _run_steps(prog, steps, ins, bufs, [o[cut] for o in outs], whole)

    if n_threads <= 1:
        work(chunks)
    else:
        run_shares(work, [chunks[i::n_threads] for i in range(n_threads)])
    if rent:
        nk.pay_row_rent(prog, time.perf_counter() - t0)
    return tuple(outs)


def _views(scratch: list, slots: list, shape: tuple, reduced: tuple, p: int, k: int) -> list:
    """Scratch buffers as arrays of a block's shapes (``k`` units along axis ``p``)."""
    full = shape[:p] + (k,) + shape[p + 1:]
    red = reduced[:p] + (k,) + reduced[p + 1:]
    return [buf[:math.prod(full if is_full else red)].reshape(full if is_full else red)
            for buf, (_, is_full) in zip(scratch, slots)]


def _run_steps(prog: _RowProgram, steps: list, ins: list, bufs: list, outs: list,
               block: list) -> None:
    """One block (``block``: its shape) through ``steps``: the program's, or those with
    numba segments (``("seg", segment, loop, the run's own steps, None)``)."""
    spaces = {"in": ins, "buf": bufs, "val": [None] * prog.n_vals, "out": outs}

    def get(ref: tuple) -> Any:
        return ref[1] if ref[0] == "const" else spaces[ref[0]][ref[1]]

    todo = list(reversed(steps))
    while todo:
        kind, fn, refs, dest, kwargs = todo.pop()
        if kind == "seg":
            if not fn.run(refs, get, block[0], block[1]):
                todo.extend(reversed(dest))      # the run's NumPy steps, on this block
            continue
        if kind == "reduce":
            r = fn(get(refs[0]), **kwargs)
            if dest[0] == "val":
                spaces["val"][dest[1]] = r
            else:
                np.copyto(outs[dest[1]], r)
            continue
        d = spaces[dest[0]][dest[1]]
        if kind == "ufunc":
            fn(*[get(r) for r in refs], out=d)
        else:
            c, a, b = (get(r) for r in refs)
            np.copyto(d, b, casting="unsafe")
            np.copyto(d, a, casting="unsafe", where=c)


def describe(region: RowRegion) -> str:
    """``tracenp.explain``'s line for a row region: its blocks."""
    prog = row_program(region)
    shape, p = region.shape, region.split
    per_unit = math.prod(shape) // shape[p]
    units = _units(prog, per_unit, shape[p])
    what = "rows" if p == 0 else "columns"
    text = (f"blocks of {min(units, shape[p])} {what} (axis {p}), NumPy's loops and "
            f"reductions per block, {len(prog.slots)} scratch buffer(s) per thread")
    from .numba_kernel import row_segments
    segs = row_segments(prog)
    if segs:
        text += "\n      numba segments (one rows loop each, once compiled): " + ", ".join(
            f"t{s.first}..t{s.last}" for s in segs)
    return text
