"""Dead-code elimination: drop nodes whose results are never used.

A node is kept, even when unused, if it has an effect (a random draw) or if it may raise
depending on the data, as eager NumPy would: writes (a float into an int array raises
for inf/NaN), indexing with traced index arrays (out of range), integer powers (negative
exponents), linear algebra (singular matrices).  Everything else is dropped when dead.
"""
from __future__ import annotations

from ..graph.ir import Graph, Literal, Node, Var
from ..graph.ops import MutateOp

_MAY_RAISE_CATEGORIES = {"linalg", "mutation", "random", "functional"}
_MAY_RAISE_UFUNCS = {"power", "float_power", "left_shift", "right_shift", "ldexp"}


def may_raise(node: Node) -> bool:
    """Could this node raise an error for some values of its (traced) inputs?"""
    op = node.op
    if isinstance(op, MutateOp) or op.category in _MAY_RAISE_CATEGORIES:
        return True
    if getattr(op, "method", None) is not None:
        return op.name.split(".")[0] in _MAY_RAISE_UFUNCS and \
            any(v.aval.dtype.kind in "iu" for v in node.inputs)
    if op.category in ("indexing",) or op.name in ("take", "take_along_axis", "choose"):
        # an index computed from data may be out of range
        return any(not isinstance(v, Literal) and v.aval.dtype.kind in "iub"
                   for v in node.inputs[1:])
    return False


def eliminate_dead_code(graph: Graph) -> Graph:
    """Remove nodes that contribute to no output, write-back or effect (in place; returns graph)."""
    live: set[int] = {v.id for v in graph.outputs if isinstance(v, Var)}
    live.update(v.id for _, v in graph.writebacks)
    kept = []
    for node in reversed(graph.nodes):
        if node.op.effectful or any(o.id in live for o in node.outputs) or may_raise(node):
            kept.append(node)
            live.update(v.id for v in node.inputs)
    kept.reverse()
    graph.nodes = kept
    return graph
