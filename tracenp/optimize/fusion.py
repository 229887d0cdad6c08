"""Fusion: partition the graph into convex elementwise regions, each replaced by one
``fused`` node whose body is the region's own sub-graph.

An elementwise node is a plain ufunc call with one output (or ``np.where``, or a cast),
producing an array (not a NumPy scalar).  A region holds nodes of one output shape; its
inputs may broadcast to that shape.  Convexity: a node joins a region only if none of its
inputs depends on the region through a node outside it.  Region outputs are the values
used outside the region (several outputs are fine).  Backends run the body: the blocked
ufunc kernel, or plain NumPy for small sizes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..graph.ir import Graph, Node, Var
from ..graph.ops import Op
from .pattern import operands

__all__ = ["fuse", "FusedOp", "Region", "is_elementwise"]


def is_elementwise(node: Node) -> bool:
    """Can this node live inside a fused region?"""
    if len(node.outputs) != 1 or node.op.effectful:
        return False
    out = node.outputs[0].aval
    if out.kind != "array" or out.ndim == 0 or out.dtype.kind not in "biufc":
        return False
    name = node.op.name
    if getattr(node.op, "method", None) == "__call__":
        ufunc = node.op.ufunc
        if ufunc.nout != 1 or ufunc.signature is not None:
            return False
        ops = operands(node)
    elif name == "where":
        ops = operands_of_call(node, 3)
    else:
        return False
    if ops is None:
        return False
    for o in ops:
        if isinstance(o, Var):
            a = o.aval
            if a.kind == "opaque" or a.dtype.kind not in "biufc" or a.ndim > out.ndim:
                return False
            if any(d not in (1, s) for d, s in zip(a.shape[::-1], out.shape[::-1])):
                return False
    return True


def operands_of_call(node: Node, n: int) -> list | None:
    from .pattern import _flat_positional, Const
    k = _flat_positional(node.params)
    if k != n:
        return None
    slot = {p: i for i, p in enumerate(node.params.slots)}
    return [node.inputs[slot[p]] if p in slot else Const(node.params.statics[p]) for p in range(n)]


@dataclass(eq=False)
class Region:
    """A fused region: its body (nodes in order), inputs, outputs and shape."""

    nodes: list[Node]
    inputs: list[Var]
    outputs: list[Var]
    shape: tuple[int, ...]
    reduce: Node | None = None     # a full reduction folded in: its input is the body's output

    def __repr__(self) -> str:
        return f"Region({len(self.nodes)} ops, {self.shape})"


class FusedOp(Op):
    """Runs a region's body with one of the CPU kernels (see tracenp.exec.kernels)."""

    category = "fused"

    def __init__(self):
        self.name = "fused"

    def evaluate(self, params: Region, inputs: list) -> tuple:
        from ..exec.kernels import run_region
        return run_region(params, inputs)

    def runner(self, params: Region) -> Any:
        """``run(inputs)`` for a plan step: ``evaluate`` without the per-call lookups."""
        from ..exec.kernels import region_runner
        return region_runner(params)

    def format(self, params: Region, names: list[str]) -> str:
        from ..graph.printing import format_region
        return format_region(params, names)


FUSED = FusedOp()
ALL = -1             # "depends on every region": the conservative answer past _MAX_TRACKED
_MAX_TRACKED = 32


def fuse(graph: Graph, min_size: int = 2, cost_model: bool = True) -> int:
    """Replace elementwise regions of at least ``min_size`` ops by fused nodes; returns the
    number of regions.  ``cost_model=False`` fuses every region, however small (the dask
    backend: one task per block beats one task per op and block at any size)."""
    region_of: dict[int, int] = {}         # node index -> region id (before merges)
    depends: dict[int, frozenset] = {}     # var id -> regions it depends on (transitively)
    ext_deps: dict[int, set] = {}          # region -> regions its outside inputs depend on
    parent: dict[int, int] = {}
    shapes: dict[int, tuple] = {}
    producer_index: dict[int, int] = {}

    def find(r: int) -> int:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    def reaches(deps: Any, r: int) -> bool:
        """Does a value depending on regions ``deps`` depend on region ``r``?  Through the
        regions' own outside inputs too: a region that grew after a value was made may
        have gained an input that depends on ``r`` (joining ``r`` would make a cycle)."""
        if ALL in deps:           # too many to track: assume it reaches every region
            return True
        stack, seen = [find(d) for d in deps], set()
        while stack:
            d = stack.pop()
            if d == r:
                return True
            if d in seen:
                continue
            seen.add(d)
            if len(seen) > _MAX_TRACKED:
                return True       # too far to follow: assume it does
            for e in ext_deps.get(d, ()):
                if e == ALL:
                    return True
                stack.append(find(e))
        return False

    def bounded(deps: frozenset) -> frozenset:
        return frozenset([ALL]) if len(deps) > _MAX_TRACKED else deps

    next_id = 0
    for i, node in enumerate(graph.nodes):
        deps = bounded(frozenset().union(*(depends.get(v.id, frozenset()) for v in node.inputs)))
        if is_elementwise(node):
            shape = node.outputs[0].aval.shape
            own = {}                                 # input var id -> its region (same shape)
            for v in node.inputs:
                j = producer_index.get(v.id)
                if j is not None and j in region_of:
                    r = find(region_of[j])
                    if shapes[r] == shape:
                        own[v.id] = r
            targets: list[int] = []
            for r in dict.fromkeys(own.values()):
                chosen = targets + [r]
                # convex: every input not produced inside the chosen regions must not
                # depend on any of them; and the chosen regions must not reach each other
                if any(own.get(u.id) not in chosen and
                       any(reaches(depends.get(u.id, ()), t) for t in chosen)
                       for u in node.inputs):
                    continue
                if any(reaches(ext_deps[t], r) or reaches(ext_deps[r], t) for t in targets):
                    continue
                targets.append(r)
            if targets:
                target = targets[0]
                for r in targets[1:]:
                    parent[r] = target
                    ext_deps[target] |= ext_deps.pop(r)
            else:
                target = next_id
                next_id += 1
                parent[target] = target
                shapes[target] = shape
                ext_deps[target] = set()
            for u in node.inputs:
                j = producer_index.get(u.id)
                if not (j is not None and j in region_of and find(region_of[j]) == target):
                    ext_deps[target] |= set(depends.get(u.id, ()))
            if len(ext_deps[target]) > _MAX_TRACKED:
                ext_deps[target] = {ALL}
            region_of[i] = target
        for o in node.outputs:
            producer_index[o.id] = i
            depends[o.id] = bounded(deps | ({region_of[i]} if i in region_of else frozenset()))
    regions: dict[int, list[int]] = {}
    for i, r in region_of.items():
        regions.setdefault(find(r), []).append(i)
    for members in regions.values():
        members.sort()
    final = {v.id for v in graph.outputs if isinstance(v, Var)} | {v.id for _, v in graph.writebacks}
    consumers: dict[int, set[int]] = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            consumers.setdefault(v.id, set()).add(i)
    unit_of: dict[int, int] = {}           # node index -> unit key (first member for regions)
    units: dict[int, Node] = {}
    count = 0
    from ..config import config
    for r, members in regions.items():
        if len(members) < min_size:
            continue
        cheap = (cost_model and config.kernel == "auto"
                 and not worth_fusing([graph.nodes[i] for i in members], shapes[r]))
        small = cheap and _size(shapes[r]) < config.min_fuse_elements
        if small and _size(shapes[r]) < config.min_segment_elements:
            continue        # small or cheap: op by op is the cheapest path
        member_set = set(members)
        body = [graph.nodes[i] for i in members]
        inside = {o.id for n in body for o in n.outputs}
        inputs: list[Var] = []
        seen: set[int] = set()
        for n in body:
            for v in n.inputs:
                if v.id not in inside and v.id not in seen:
                    seen.add(v.id)
                    inputs.append(v)
        outputs = [graph.nodes[i].outputs[0] for i in members
                   if graph.nodes[i].outputs[0].id in final
                   or consumers.get(graph.nodes[i].outputs[0].id, set()) - member_set]
        region = Region(body, inputs, outputs, shapes[r])
        key = members[0]
        closing = _closing_reduction(graph, outputs, consumers, final)
        if closing is not None:
            region.reduce = graph.nodes[closing]
        if cheap and not (_segments_fuse(region) or not small and _numba_fuses(region)):
            continue        # cheap: op by op, unless numba (segments, or one loop) runs it
        if closing is not None:
            k = closing
            outputs = list(graph.nodes[k].outputs)
            unit_of[k] = key
        units[key] = Node(FUSED, tuple(inputs), tuple(outputs), region, body[-1].source)
        for i in members:
            unit_of[i] = key
        count += 1
    if not count:
        return 0
    for i, node in enumerate(graph.nodes):
        if i not in unit_of:
            unit_of[i] = i
            units[i] = node
    graph.nodes = _stable_toposort(units, graph.nodes, unit_of, producer_index)
    return count


REDUCTIONS = {"sum", "max", "min", "amax", "amin", "mean"}


def _closing_reduction(graph: Graph, outputs: list[Var], consumers: dict, final: set) -> int | None:
    """The index of a full reduction (``np.sum(y)``, ``y.max()``, ...) that is the only use
    of a single-output region's result, or None."""
    from .pattern import _flat_positional
    if len(outputs) != 1 or outputs[0].id in final:
        return None
    users = consumers.get(outputs[0].id, set())
    if len(users) != 1:
        return None
    k = next(iter(users))
    node = graph.nodes[k]
    if node.op.name not in REDUCTIONS or len(node.inputs) != 1 or len(node.outputs) != 1:
        return None
    if _flat_positional(node.params) != 1 or node.params.slots != (0,):
        return None
    dt = outputs[0].aval.dtype
    if node.op.name == "mean" and dt.kind != "f" or dt.kind == "f" and dt.itemsize < 4:
        return None          # mean of ints/float16 upcasts internally: keep NumPy's own
    if outputs[0].aval.size == 0:
        return None
    return k


# Relative cost per element of an op (a cheap IEEE op is 1): the cost model's one table.
_OP_COST = {**{n: 20 for n in """exp exp2 expm1 log log2 log10 log1p sin cos tan sinh cosh
                tanh arcsin arccos arctan arctan2 arcsinh arccosh arctanh power float_power
                logaddexp logaddexp2 hypot cbrt""".split()},
            "sqrt": 4, "divide": 2, "true_divide": 2, "floor_divide": 4, "remainder": 4,
            "where": 2}


def work_of(nodes: list[Node]) -> int:
    """The cost model's work per element of a region (foreign ufuncs, like scipy's erf,
    count as transcendental)."""
    total = 0
    for n in nodes:
        name = n.op.name
        foreign = getattr(n.op, "ufunc", None) is not None and getattr(np, name, None) is None
        total += 20 if foreign else _OP_COST.get(name, 1)
    return total


def worth_fusing(nodes: list[Node], shape: tuple) -> bool:
    """Blocked kernels pay for threads and blocks; NumPy's own op-by-op path (with its
    temporaries elided by the plan) wins for small or cheap regions (measured: docs/kernels.md)."""
    from ..config import config
    size = _size(shape)
    return size >= config.min_fuse_elements and size * work_of(nodes) >= config.min_fuse_work


def _numba_fuses(region: Region) -> bool:
    """A cheap region is still worth fusing where numba can run it (one pass, no
    temporaries: ``(x - y) ** 2`` summed at 10^6 elements runs in half NumPy's time)."""
    from ..exec.numba_kernel import available, numba_program
    return available() and numba_program(region) is not None


def _segments_fuse(region: Region) -> bool:
    """A cheap region (from ``config.min_segment_elements`` elements) is worth fusing where
    it runs blocked with numba segments (runs of exact ops as one loop each): fewer calls
    and passes than op by op.  (Below ``min_fuse_elements`` a whole-numba region is not:
    its call costs more than NumPy's few ops.)"""
    from ..exec.kernels import runs_segmented
    return runs_segmented(region)


def _size(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _stable_toposort(units: dict[int, Node], nodes: list[Node], unit_of: dict[int, int],
                     producer_index: dict[int, int]) -> list[Node]:
    """Order units by data dependencies (and effect order), otherwise by original position."""
    import heapq
    deps: dict[int, set[int]] = {k: set() for k in units}
    last_effect = None
    for k in sorted(units):
        node = units[k]
        for v in node.inputs:
            j = producer_index.get(v.id)
            if j is not None and unit_of[j] != k:
                deps[k].add(unit_of[j])
        if node.op.effectful:
            if last_effect is not None:
                deps[k].add(last_effect)
            last_effect = k
    users: dict[int, list[int]] = {k: [] for k in units}
    for k, ds in deps.items():
        for d in ds:
            users[d].append(k)
    pending = {k: len(ds) for k, ds in deps.items()}
    ready = [k for k, n in pending.items() if n == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        k = heapq.heappop(ready)
        order.append(units[k])
        for u in users[k]:
            pending[u] -= 1
            if pending[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(units):
        raise RuntimeError("fusion produced a cycle (a non-convex region)")
    return order
