"""The graph IR: typed SSA variables, nodes that apply an op, and graphs.

Nodes are kept in a list in execution order (a topological order).  Every walk is
iterative, so graphs of any size are safe from the recursion limit.
"""
from __future__ import annotations
from tracenp._ndarray import NDARRAY

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterable

from .source import SourceInfo
from .types import AbstractValue, abstractify

__all__ = ["Var", "Literal", "Node", "Graph", "GraphInput"]

_ids = itertools.count()


class Var:
    """An SSA value with a static type.  Identity is the variable."""

    __slots__ = ("aval", "id", "hint")

    def __init__(self, aval: AbstractValue, hint: str = ""):
        self.aval = aval
        self.id = next(_ids)
        self.hint = hint

    def __repr__(self) -> str:
        return f"Var({self.id}:{self.aval.short()})"


class Literal(Var):
    """A constant value embedded in the graph.

    ``borrowed`` marks an array that belongs to the user (read through a reference,
    so in-place changes by the user are seen); such constants must never be folded.
    """

    __slots__ = ("value", "borrowed")

    def __init__(self, value: Any, borrowed: bool = False):
        super().__init__(abstractify(value))
        self.value = value
        self.borrowed = borrowed

    def __repr__(self) -> str:
        return f"Literal({_short_value(self.value)})"


def _short_value(v: Any) -> str:
    import numpy as np
    if isinstance(v, NDARRAY):
        if v.size <= 4:
            return np.array2string(v, separator=",").replace("\n", "")
        return f"<{abstractify(v).short()}>"
    return repr(v)


@dataclass(eq=False, slots=True)
class Node:
    """One application of ``op`` to ``inputs`` producing ``outputs``."""

    op: Any                      # an ops.Op
    inputs: tuple[Var, ...]
    outputs: tuple[Var, ...]
    params: Any = None           # op-specific static parameters
    source: SourceInfo | None = None
    view_of: tuple[int, ...] = ()  # input positions whose memory the outputs may share
    rule: str | None = None        # the rewrite rule that created this node, if any

    def __repr__(self) -> str:
        return f"Node({self.op.name})"


@dataclass(frozen=True, slots=True)
class GraphInput:
    """Where an input variable's value comes from at call time.

    kind is ``"arg"`` (flattened argument leaf ``index``), ``"global"`` (``name`` in the
    function's globals) or ``"closure"`` (cell ``index`` of the closure).
    """

    kind: str
    index: int = -1
    name: str = ""


@dataclass(eq=False)
class Graph:
    """A traced function: inputs, nodes in execution order, outputs.

    ``writebacks`` pairs an argument leaf index with the variable holding that
    argument's final contents (the function mutated it in place).
    """

    inputs: list[Var]
    input_sources: list[GraphInput]
    nodes: list[Node]
    outputs: list[Var | Any]       # a Var, or a static Python value
    out_tree: Any = None
    writebacks: list[tuple[int, Var]] = field(default_factory=list)
    name: str = "f"
    report: Any = None             # the optimizer's report (tracenp.optimize.OptimizeReport)

    def vars(self) -> Iterable[Var]:
        yield from self.inputs
        for n in self.nodes:
            yield from n.outputs

    def __len__(self) -> int:
        return len(self.nodes)

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op.name] = counts.get(n.op.name, 0) + 1
        return counts

    def __str__(self) -> str:
        from .printing import format_graph
        return format_graph(self)

    def __repr__(self) -> str:
        return f"<tracenp.Graph {self.name}: {len(self.inputs)} inputs, {len(self.nodes)} nodes>"

    # Pictures (tracenp.graph.dot; docs/graphs.md)
    def to_dot(self) -> str:
        """Graphviz DOT source text of a picture of the graph (needs no Graphviz)."""
        from .dot import to_dot
        return to_dot(self)

    def to_svg(self) -> str:
        """The picture as SVG text, drawn by Graphviz's ``dot`` through the graphviz package
        (``pip install graphviz``, ``apt-get install graphviz``); raises
        ``tracenp.MissingDependencyError`` without them."""
        from .dot import to_svg
        return to_svg(self)

    def render(self, path: Any, format: str | None = None) -> str:
        """Write the picture to ``path`` as ``"svg"``, ``"png"``, ``"pdf"`` or ``"dot"``
        (by default the file's suffix says which); returns the path written."""
        from .dot import render
        return render(self, path, format)

    def _repr_svg_(self) -> str | None:
        """Jupyter's picture of the graph (None without Graphviz: the text repr shows)."""
        from .dot import repr_svg
        return repr_svg(self)
