"""Row-wise fusion: axis reductions with ``keepdims`` folded into the elementwise work
around them (softmax, log-softmax, layer norm, row normalisation).

A *row region* holds, for one array shape ``S`` and one reduced axis:

* reductions (``sum``, ``prod``, ``max``, ``min``, ``amax``, ``amin``, ``mean``) of an
  ``S``-shaped value over that axis with ``keepdims=True``;
* elementwise nodes (see ``fusion.is_elementwise``) of shape ``S`` or of the reduced
  shape ``R`` (``S`` with 1 at the axis), whose inputs broadcast to it.

Every value then depends only on its own slice along another axis (the *split* axis: 0,
or the last one when axis 0 is reduced), so tracenp.exec.rowwise runs the region block
by block along it, each block (a few rows) staying in cache across all its steps.  Regions
start at a reduction and grow in node order; a node joins a region that produces one of
its inputs when none of its other inputs depends on that region (convexity).  The pass
runs before ``fuse``, on the CPU path only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..graph.ir import Graph, Node, Var
from ..graph.ops import CallOp, Op
from .fusion import _stable_toposort, is_elementwise

__all__ = ["fuse_rows", "RowRegion", "RowwiseOp", "reduction_axis"]

REDUCERS = {"sum", "prod", "max", "min", "amax", "amin", "mean"}
_KWARGS = {"axis", "keepdims", "dtype"}
_ALL = -1                      # "depends on every region" (past _MAX_TRACKED)
_MAX_TRACKED = 32
# A block holds at least one unit (everything but the split axis): a unit larger than
# this would not stay in cache, and the region would gain nothing.
_MAX_UNIT_BYTES = 1 << 20


@dataclass(eq=False)
class RowRegion:
    """A row region: its body in order, inputs, outputs, shape and reduced axis."""

    nodes: list[Node]
    inputs: list[Var]
    outputs: list[Var]
    shape: tuple[int, ...]
    axis: int
    reductions: dict[int, dict] = field(default_factory=dict)  # node id -> call kwargs
    reduce = None                  # (printing: no full reduction closes the region)

    @property
    def split(self) -> int:
        """The axis the kernel cuts into blocks."""
        return 0 if self.axis else len(self.shape) - 1

    def __repr__(self) -> str:
        return f"RowRegion({len(self.nodes)} ops, {self.shape}, axis={self.axis})"


class RowwiseOp(Op):
    """Runs a row region block by block (tracenp.exec.rowwise)."""

    category = "fused"

    def __init__(self):
        self.name = "rowwise"

    def evaluate(self, params: RowRegion, inputs: list) -> tuple:
        from ..exec.rowwise import run_rows
        return run_rows(params, inputs)

    def format(self, params: RowRegion, names: list[str]) -> str:
        from ..graph.printing import format_region
        body = format_region(params, names)          # "fused[shape]{ ... }"
        shape = ",".join(map(str, params.shape))
        return f"rowwise[{shape}; axis={params.axis}]" + body[body.index("{"):]


ROWWISE = RowwiseOp()


def reduction_axis(node: Node) -> tuple[int, dict] | None:
    """``(axis, kwargs)`` of a reduction over one axis of an array of at least 2-d with
    ``keepdims=True`` (and at most a ``dtype``), else None."""
    from ..exec.interpreter import flat_arguments
    if (node.op.name not in REDUCERS or not isinstance(node.op, CallOp)
            or len(node.inputs) != 1 or len(node.outputs) != 1):
        return None
    flat = flat_arguments(node.params)
    if flat is None:
        return None
    spec, kwargs = flat
    if not spec or spec[0] != ("in", 0) or len(spec) > 2 or set(kwargs) - _KWARGS:
        return None
    if len(spec) == 2:
        if "axis" in kwargs:
            return None
        kwargs = {**kwargs, "axis": spec[1][1]}
    axis = kwargs.get("axis")
    if isinstance(axis, tuple) and len(axis) == 1:
        axis = axis[0]
    a, out = node.inputs[0].aval, node.outputs[0].aval
    if (kwargs.get("keepdims") is not True or not isinstance(axis, (int, np.integer))
            or isinstance(axis, bool) or a.kind != "array" or out.kind != "array"
            or a.ndim < 2 or a.dtype.kind not in "biufc" or not -a.ndim <= axis < a.ndim):
        return None
    axis = int(axis) % a.ndim
    if out.shape != _reduced(a.shape, axis):
        return None
    return axis, {**kwargs, "axis": axis}


def _reduced(shape: tuple, axis: int) -> tuple:
    return shape[:axis] + (1,) + shape[axis + 1:]


@dataclass(eq=False)
class _Group:
    shape: tuple
    axis: int
    members: list[int]
    reductions: dict[int, dict]


def _fits(node: Node, group: _Group) -> dict | bool:
    """The reduction kwargs if ``node`` is a reduction of the group's kind, True if it
    is an elementwise node of one of its shapes, else False."""
    red = reduction_axis(node)
    if red is not None:
        axis, kwargs = red
        return kwargs if axis == group.axis and node.inputs[0].aval.shape == group.shape else False
    if not is_elementwise(node):
        return False
    return node.outputs[0].aval.shape in (group.shape, _reduced(group.shape, group.axis))


def _grow(graph: Graph) -> list[_Group]:
    """Regions in node order (convex, not yet filtered)."""
    groups: list[_Group] = []
    group_of: dict[int, int] = {}            # node index -> group
    producer: dict[int, int] = {}            # var id -> node index
    depends: dict[int, frozenset] = {}       # var id -> groups it depends on
    for i, node in enumerate(graph.nodes):
        deps = frozenset().union(*(depends.get(v.id, frozenset()) for v in node.inputs))
        if len(deps) > _MAX_TRACKED:
            deps = frozenset([_ALL])
        owners = dict.fromkeys(group_of[producer[v.id]] for v in node.inputs
                               if producer.get(v.id) in group_of)
        red = reduction_axis(node)
        if red is not None:       # another reduction of the same rows joins their region
            owners.update(dict.fromkeys(g for g in range(len(groups) - 1, -1, -1)
                                        if groups[g].axis == red[0]
                                        and groups[g].shape == node.inputs[0].aval.shape))
        for g in owners:
            fit = _fits(node, groups[g])
            if fit is False:
                continue
            if any(group_of.get(producer.get(v.id)) != g and
                   (g in depends.get(v.id, ()) or _ALL in depends.get(v.id, ()))
                   for v in node.inputs):
                continue             # joining would make the region non-convex
            groups[g].members.append(i)
            if isinstance(fit, dict):
                groups[g].reductions[i] = fit
            group_of[i] = g
            break
        else:
            if red is not None and node.inputs[0].aval.size:
                group_of[i] = len(groups)
                groups.append(_Group(node.inputs[0].aval.shape, red[0], [i], {i: red[1]}))
        for o in node.outputs:
            producer[o.id] = i
            depends[o.id] = deps | ({group_of[i]} if i in group_of else frozenset())
    return groups


def _worth_it(graph: Graph, group: _Group) -> bool:
    """Some elementwise work on the full shape, a unit that fits in cache, and (with the
    cost model) enough elements to pay for the blocks."""
    from ..config import config
    nodes = [graph.nodes[i] for i in group.members]
    if not any(i not in group.reductions and graph.nodes[i].outputs[0].aval.shape == group.shape
               for i in group.members):
        return False
    size = int(np.prod(group.shape))
    split = 0 if group.axis else len(group.shape) - 1
    itemsize = max(o.aval.dtype.itemsize for n in nodes for o in n.outputs)
    if size // group.shape[split] * itemsize > _MAX_UNIT_BYTES:
        return False
    # measured on 2 cores, softmax of 1000-wide rows: op by op 166 us against 177 us in
    # rows at 1e5 elements; rows win from about 2e5 (3e5: 429 against 488 us)
    return config.kernel != "auto" or size >= max(config.min_fuse_elements,
                                                  config.min_rowwise_elements)


def fuse_rows(graph: Graph) -> int:
    """Replace row regions by ``rowwise`` nodes; returns how many."""
    from ..config import config
    if config.kernel not in ("auto", "blocked", "numba"):
        return 0
    groups = [g for g in _grow(graph) if _worth_it(graph, g)]
    if not groups:
        return 0
    final = {v.id for v in graph.outputs if isinstance(v, Var)} | {v.id for _, v in graph.writebacks}
    users: dict[int, set[int]] = {}
    producer: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            users.setdefault(v.id, set()).add(i)
        for o in node.outputs:
            producer[o.id] = i
    unit_of: dict[int, int] = {}
    units: dict[int, Node] = {}
    for g in groups:
        units[g.members[0]] = _region_node(graph, g, users, final)
        for i in g.members:
            unit_of[i] = g.members[0]
    for i, node in enumerate(graph.nodes):
        if i not in unit_of:
            unit_of[i] = i
            units[i] = node
    graph.nodes = _stable_toposort(units, graph.nodes, unit_of, producer)
    return len(groups)


def _region_node(graph: Graph, g: _Group, users: dict, final: set) -> Node:
    body = [graph.nodes[i] for i in g.members]
    member_set = set(g.members)
    inside = {o.id for n in body for o in n.outputs}
    inputs: list[Var] = []
    for n in body:
        for v in n.inputs:
            if v.id not in inside and all(v is not u for u in inputs):
                inputs.append(v)
    outputs = [n.outputs[0] for i, n in zip(g.members, body)
               if n.outputs[0].id in final or users.get(n.outputs[0].id, set()) - member_set]
    reductions = {id(graph.nodes[i]): kw for i, kw in g.reductions.items()}
    region = RowRegion(body, inputs, outputs, g.shape, g.axis, reductions)
    return Node(ROWWISE, tuple(inputs), tuple(outputs), region, body[-1].source)
