"""Dead-code elimination: drop nodes whose results are never used (effects are kept)."""
from __future__ import annotations

from ..graph.ir import Graph, Var


def eliminate_dead_code(graph: Graph) -> Graph:
    """Remove nodes that contribute to no output, write-back or effect (in place; returns graph)."""
    live: set[int] = {v.id for v in graph.outputs if isinstance(v, Var)}
    live.update(v.id for _, v in graph.writebacks)
    kept = []
    for node in reversed(graph.nodes):
        if node.op.effectful or any(o.id in live for o in node.outputs):
            kept.append(node)
            live.update(v.id for v in node.inputs)
    kept.reverse()
    graph.nodes = kept
    return graph
