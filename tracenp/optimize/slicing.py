"""Basic slicing moved towards the inputs: a slice of an elementwise result is computed
as the same elementwise ops on slices of their operands.

``(x * y)[1:]`` becomes ``x[1:] * y[1:]``, and a slice of a slice is one slice
(``x[:-1][1:]`` is ``x[1:-1]``).  So only the part that is used is computed, and the
elementwise ops of several overlapping slices of one expression (the shifted terms of a
stencil, or the cotangents of ``x[1:]`` and ``x[:-1]``, which the gradient adds) fuse
into one region that reads views of the inputs, instead of materializing the expression
and copying its slices.

A basic index is kept per axis, as a ``range`` of positions or an int (an axis it
removes): :func:`basic_index`, :func:`compose`, :func:`as_index`.
"""
from __future__ import annotations

from typing import Any, Union

import numpy as np

from ..graph.ir import Literal, Node, Var
from ..graph.ops import GETITEM, SLOT, CallParams, MutateOp
from ..graph.pytree import flatten
from ..graph.types import ARRAY, AbstractValue
from .framework import rule
from .fusion import is_elementwise, operands_of_call
from .pattern import Builder, F, X, operands

__all__ = ["MIN_SIZE", "Region", "basic_index", "compose", "as_index", "is_full", "region_shape"]

Region = tuple[Union[range, int], ...]

_BUDGET = 48          # elementwise nodes one rewrite may create (bounds recomputation)
MIN_SIZE = 1 << 14    # elements: a smaller value is sliced as it is (fewer, cheaper calls)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def basic_index(index: Any, shape: tuple[int, ...]) -> Region | None:
    """``index`` (ints, slices, an Ellipsis) as one entry per axis of ``shape``: the
    ``range`` of positions it keeps, or the int position of an axis it removes.  None for
    anything else (arrays, booleans, ``None``) or an out-of-bounds int."""
    items = index if isinstance(index, tuple) else (index,)
    if sum(i is Ellipsis for i in items) > 1:
        return None
    given = len(items) - any(i is Ellipsis for i in items)
    if given > len(shape):
        return None
    out: list = []
    for item in items:
        if item is Ellipsis:
            out += [range(shape[len(out) + k]) for k in range(len(shape) - given)]
            continue
        d = shape[len(out)]
        if isinstance(item, slice):
            if not all(v is None or _is_int(v) for v in (item.start, item.stop, item.step)):
                return None
            out.append(range(d)[item])
        elif _is_int(item) and -d <= item < d:
            out.append(int(item) % d)
        else:
            return None
    return tuple(out) + tuple(range(d) for d in shape[len(out):])


def compose(inner: Region, outer: Region) -> Region:
    """The region of ``x`` that ``x[inner][outer]`` reads (``outer`` has one entry per
    axis ``inner`` keeps)."""
    it = iter(outer)
    return tuple(e if isinstance(e, int) else _pick(e, next(it)) for e in inner)


def _pick(e: range, r: range | int) -> range | int:
    """``e[r]`` for positions ``r`` within ``e``."""
    if isinstance(r, int) or not len(r):
        return e[r] if isinstance(r, int) else e[0:0]
    step = e.step * r.step
    return range(e[r.start], e[r.start] + step * len(r), step)


def _as_slice(r: range, d: int) -> slice:
    if r.step > 0:
        return slice(r.start or None, None if r.stop >= d else r.stop, None if r.step == 1 else r.step)
    return slice(None if r.start == d - 1 else r.start, None if r.stop < 0 else r.stop, r.step)


def as_index(region: Region, shape: tuple[int, ...]) -> tuple:
    """A NumPy index (ints and slices) that selects ``region`` of an array of ``shape``."""
    index = [e if isinstance(e, int) else _as_slice(e, d) for e, d in zip(region, shape)]
    while index and index[-1] == slice(None):
        index.pop()
    return tuple(index)


def is_full(region: Region, shape: tuple[int, ...]) -> bool:
    return all(isinstance(e, range) and e == range(d) for e, d in zip(region, shape))


def region_shape(region: Region) -> tuple[int, ...]:
    return tuple(len(e) for e in region if isinstance(e, range))


# ============================================================================ the rules
def _static_index(node: Node) -> Region | None:
    """The region a basic ``getitem`` node reads of its array, else None."""
    if node.op is not GETITEM or len(node.inputs) != 1 or node.params.slots != (0,):
        return None
    (x, index), _ = node.params.fill([node.inputs[0]])
    if x.aval.kind != ARRAY:
        return None
    return basic_index(index, x.aval.shape)


def getitem(b: Builder, x: Var, region: Region) -> Var:
    """A node ``x[region]`` (a view) emitted by ``b``."""
    leaves, treedef = flatten(((x, as_index(region, x.aval.shape)), {}))
    statics = (SLOT,) + tuple(leaves[1:])
    out = Var(AbstractValue(region_shape(region), x.aval.dtype, ARRAY))
    b.nodes.append(Node(GETITEM, (x,), (out,), CallParams(treedef, statics, (0,)), b.source,
                        view_of=(0,), rule=b.rule))
    return out


def _elementwise_operands(node: Node) -> tuple[str, list] | None:
    if not is_elementwise(node):
        return None
    if node.op.name == "where":
        ops = operands_of_call(node, 3)
        return ("where", ops) if ops is not None else None
    ops = operands(node)
    return (node.op.ufunc, ops) if ops is not None else None


def _only_read_elementwise(b: Builder, v: Var) -> bool:
    """Every use of ``v`` is an elementwise op or a basic slice (so a slice of it may be
    recomputed: no reduction, product or output needs its memory)."""
    for n in b.uses(v):
        if n is None or isinstance(n.op, MutateOp):
            return False
        if _static_index(n) is None and not is_elementwise(n):
            return False
    return True


def _operand_region(region: Region, shape: tuple[int, ...], aval: AbstractValue) -> Region:
    """``region`` of a result of ``shape`` as the region of a broadcast operand."""
    lead = len(shape) - aval.ndim
    out = []
    for e, d in zip(region[lead:], aval.shape):
        if d == 1:        # a broadcast axis: its one element
            out.append(0 if isinstance(e, int) else range(1))
        else:
            out.append(e)
    return tuple(out)


class _Sinker:
    """Builds ``v[region]`` by pushing the slice through elementwise producers."""

    def __init__(self, b: Builder):
        self.b = b
        self.budget = _BUDGET
        self.moved = False          # composed with a slice or pushed through an op

    def slice(self, v: Any, region: Region) -> Any:
        if not isinstance(v, Var) or isinstance(v, Literal) and v.aval.ndim == 0:
            return v
        if is_full(region, v.aval.shape):
            return v
        node = self.b.producer(v)
        if node is not None:
            inner = _static_index(node)
            if inner is not None:
                self.moved = True
                return self.slice(node.inputs[0], compose(inner, region))
            ew = _elementwise_operands(node) if self.budget > 0 and v.aval.size >= MIN_SIZE else None
            if ew is not None and _only_read_elementwise(self.b, v):
                self.budget -= 1
                self.moved = True
                fn, ops = ew
                sliced = [self.slice(o, _operand_region(region, v.aval.shape, o.aval))
                          if isinstance(o, Var) else o for o in ops]
                return self.b.call(fn, *sliced)
        return getitem(self.b, v, region)


@rule("slice_of_elementwise", "canonicalize", F("getitem", X("x"), X("index")))
def _slice_of_elementwise(b, m):
    """``(x op y)[s]`` -> ``x[s] op y[s]``, for a basic index s (ints and slices), when
    every use of the sliced value (of 2**14 elements or more) is elementwise or a basic
    slice; ``x[s1][s2]`` -> ``x[s]`` (one view).  Slices of one expression that overlap
    compute the overlap once per slice."""
    node = m["_node"]
    region = _static_index(node)
    x = m["x"]
    if region is None or not isinstance(x, Var) or is_full(region, x.aval.shape):
        return None
    if _writes_through(b, node.outputs[0]):
        return None         # written in place: it must stay a view
    sinker = _Sinker(b)
    out = sinker.slice(x, region)
    return out if sinker.moved else None


def _writes_through(b: Builder, v: Var, depth: int = 8) -> bool:
    """Is ``v``, or a view of it, written in place (then it must stay a view)?"""
    for n in b.uses(v):
        if n is None:
            continue
        if isinstance(n.op, MutateOp):
            return True
        if n.view_of and (depth == 0 or any(_writes_through(b, o, depth - 1) for o in n.outputs)):
            return True
    return False

