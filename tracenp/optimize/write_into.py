"""Fused regions that write into copies: ``Un = U.copy(); Un[1:-1, 1:-1] = <region>``.

When a fused region's output is used only by a slice assignment into a fresh copy
(``ndarray.copy()``) used by nothing else, the region writes its output straight into the
new array's slice and only the rest of the copy (the border) is copied: no full-size
temporary, no second pass over it.  The pass runs after ``fuse``, on the CPU path only;
tracenp.exec.write_into runs the nodes.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..graph.ir import Graph, Node, Var
from ..graph.ops import TARGET, CallOp, MutateOp, Op
from .fusion import FusedOp, Region

__all__ = ["write_into", "IntoOp", "IntoRegion"]


@dataclass(eq=False)
class IntoRegion:
    """A fused region whose outputs at ``positions`` go into copies of the extra inputs
    (one per position, after the region's own), at ``indices`` (tuples of slices)."""

    region: Region
    positions: tuple[int, ...]
    indices: tuple[tuple[slice, ...], ...]
    tail: list[Node]          # the copy and setitem nodes it replaces (verify.unfuse)


class IntoOp(Op):
    """Runs a fused region into slices of fresh copies (tracenp.exec.write_into)."""

    category = "fused"

    def __init__(self):
        self.name = "fused_into"

    def evaluate(self, params: IntoRegion, inputs: list) -> tuple:
        from ..exec.write_into import run_into
        return run_into(params, inputs)

    def format(self, params: IntoRegion, names: list[str]) -> str:
        from ..graph.ops import _fmt_slice
        n = len(params.region.inputs)
        body = FusedOp().format(params.region, names[:n])
        into = ", ".join(f"out{p} -> copy({b})[{', '.join(_fmt_slice(s) for s in idx)}]"
                         for p, b, idx in zip(params.positions, names[n:], params.indices))
        return f"{body} into {into}"


INTO = IntoOp()


def _slice_target(node: Node) -> tuple[Var, tuple[slice, ...], Var] | None:
    """``(buffer, index, value)`` of ``buffer[index] = value`` with basic unit-step slices
    and a value of exactly the slice's shape and the buffer's dtype, else None."""
    if node.op.name != "setitem!" or not isinstance(node.op, MutateOp) or node.params.chain:
        return None
    if len(node.inputs) != 2:
        return None
    try:
        args, kwargs = node.params.call.fill(list(node.inputs[1:]))
    except Exception:
        return None
    if kwargs or len(args) != 3 or args[0] is not TARGET or args[2] is not node.inputs[1]:
        return None
    buf, value, index = node.inputs[0], node.inputs[1], args[1]
    index = index if isinstance(index, tuple) else (index,)
    shape = buf.aval.shape
    if (buf.aval.kind != "array" or value.aval.kind != "array" or len(index) > len(shape)
            or not all(isinstance(s, slice) and s.step in (None, 1) for s in index)
            or not all(isinstance(b, (int, type(None))) for s in index for b in (s.start, s.stop))):
        return None
    want = tuple(len(range(*s.indices(n))) for s, n in zip(index, shape)) + shape[len(index):]
    if value.aval.shape != want or value.aval.dtype != buf.aval.dtype or not buf.aval.ndim:
        return None
    return buf, index, value


def _plain_copy(node: Node | None) -> Var | None:
    """The source of ``a.copy()`` (C order, no arguments), else None."""
    if (node is None or node.op.name != "ndarray.copy" or not isinstance(node.op, CallOp)
            or len(node.inputs) != 1 or node.params.slots != (0,) or len(node.params.statics) != 1):
        return None
    return node.inputs[0]


def write_into(graph: Graph) -> int:
    """Let fused regions write into the copies their outputs are assigned into; returns
    how many regions now do."""
    final = {v.id for v in graph.outputs if isinstance(v, Var)} | {v.id for _, v in graph.writebacks}
    producer: dict[int, int] = {}
    users: dict[int, list[int]] = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            users.setdefault(v.id, []).append(i)
        for o in node.outputs:
            producer[o.id] = i
    plans: dict[int, list[tuple]] = {}          # fused node index -> (pos, source, index, setitem, copy)
    for k, node in enumerate(graph.nodes):
        hit = _slice_target(node)
        if hit is None:
            continue
        buf, index, value = hit
        f, c = producer.get(value.id), producer.get(buf.id)
        fused = graph.nodes[f] if f is not None else None
        src = _plain_copy(graph.nodes[c] if c is not None else None)
        if (src is None or not isinstance(getattr(fused, "op", None), FusedOp)
                or fused.params.reduce is not None or src.aval.kind != "array"
                or users.get(value.id) != [k] or users.get(buf.id) != [k]
                or value.id in final or buf.id in final
                or (producer.get(src.id, -1) > f)):
            continue
        pos = list(fused.outputs).index(value)
        plans.setdefault(f, []).append((pos, src, index, k, c))
    if not plans:
        return 0
    drop: set[int] = set()
    replace: dict[int, Node] = {}
    for f, items in plans.items():
        fused = graph.nodes[f]
        outputs = list(fused.outputs)
        for pos, _, _, k, c in items:
            outputs[pos] = graph.nodes[k].outputs[0]
            drop.update((k, c))
        tail = [graph.nodes[c] for *_, c in items] + [graph.nodes[k] for *_, k, _ in items]
        params = IntoRegion(fused.params, tuple(p for p, *_ in items),
                            tuple(i for _, _, i, _, _ in items), tail)
        replace[f] = Node(INTO, tuple(fused.inputs) + tuple(s for _, s, *_ in items),
                          tuple(outputs), params, fused.source)
    graph.nodes = [replace.get(i, n) for i, n in enumerate(graph.nodes) if i not in drop]
    return len(plans)
