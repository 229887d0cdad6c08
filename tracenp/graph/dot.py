"""Pictures of graphs: Graphviz DOT text, and SVG or PNG drawn by Graphviz's ``dot``.

``to_dot(graph)`` needs nothing but tracenp.  ``to_svg``, ``render`` and ``repr_svg`` (for
Jupyter) run the DOT text through the ``graphviz`` Python package and Graphviz's ``dot``
program; when either is missing they raise :class:`~tracenp.errors.MissingDependencyError`
(``repr_svg`` returns None instead, so Jupyter shows the text repr).

The picture: graph inputs (green) at the top, outputs (blue) at the bottom, one box per op
with its result types as the text listing prints them (``c:f64[2,2] = exp(b)``), the line
of the user's code that recorded it (``model.py:12``), and, filled amber, the name of the
rewrite rule that produced it.  A fused node is drawn as a cluster around its body, labelled
with its shape and kernel kind.  Scalars and small array constants are written inline, as in
the listing; larger constant arrays are small grey nodes of their own.

The walk is iterative and linear: graphs of any size turn into DOT text quickly (``dot``
itself needs far longer to lay out many thousands of nodes).
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
from typing import Any

from tracenp._ndarray import NDARRAY

from .ir import Graph, Literal, Node, Var
from .printing import var_namer

__all__ = ["to_dot", "to_svg", "render", "repr_svg", "pipe", "quote", "FORMATS",
           "REPR_MAX_NODES"]

FORMATS = ("svg", "png", "pdf")   # what render/pipe ask dot for ("dot" writes the DOT text)
REPR_MAX_NODES = 1000             # Jupyter's picture: larger graphs show the text repr
MAX_LABEL = 72                    # characters of an op's line in its box (the tooltip has all)
LONG_EDGE = 40                    # a value used more than this many nodes later: a stub node

_INPUT_FILL = "#dff0d8"
_OUTPUT_FILL = "#d9e8f5"
_RULE_FILL = "#ffd966"
_CONST_FILL = "#eeeeee"
_CLUSTER_FILL = "#f1f5fb"
_CLUSTER_LINE = "#7a9cc6"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def quote(text: Any) -> str:
    """``text`` as a DOT double-quoted string that Graphviz draws exactly as written.

    Backslashes and quotes are escaped (so ``\\N``, ``\\l`` and friends stay literal), ``&``
    becomes ``&amp;`` (Graphviz reads entities such as ``&lt;`` in labels), line breaks
    become DOT's ``\\n`` and other control characters are shown escaped.  Braces, ``<``,
    ``>`` and ``|`` need nothing: no node uses record shapes or HTML labels.
    """
    s = str(text)
    if _CONTROL.search(s):
        s = _CONTROL.sub(lambda m: repr(m.group())[1:-1], s)
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")
    s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{s}"'


def _attrs(**attrs: Any) -> str:
    return "[" + ", ".join(f"{k}={quote(v)}" for k, v in attrs.items() if v is not None) + "]"


def _clip(text: str, width: int = MAX_LABEL) -> str:
    return text if len(text) <= width else text[:width - 1] + "\u2026"


def _is_fused(node: Node) -> bool:
    return getattr(node.op, "category", None) == "fused" and hasattr(node.params, "nodes")


def _inline(v: Literal) -> bool:
    """Scalars and small arrays are written in the label, like the text listing does."""
    return not (isinstance(v.value, NDARRAY) and v.value.size > 4)


def _kernel_kind(region: Any) -> str | None:
    try:
        from ..exec.kernels import choose_kernel
        return choose_kernel(region)
    except Exception:       # a picture never fails for want of a kernel name
        return None


def _where(node: Node) -> str | None:
    src = node.source
    if src is None:
        return None
    code = src.line
    return f"{src.short()} in {src.function}" + (f": {code}" if code else "")


def to_dot(graph: Graph) -> str:
    """Graphviz DOT source text of a picture of ``graph`` (see the module docstring)."""
    name = var_namer()
    local: dict[int, str] = {}        # names inside fused bodies (t0, t1, ... as printed)

    def nm(v: Any) -> str:
        if isinstance(v, Var) and not isinstance(v, Literal) and v.id in local:
            return local[v.id]
        return name(v)

    out: list[str] = [f"digraph {quote(graph.name)} {{",
                      "  graph " + _attrs(rankdir="TB", fontname="Helvetica", fontsize="12",
                                          label=graph.name, labelloc="t", nodesep="0.25",
                                          ranksep="0.35") + ";",
                      "  node " + _attrs(shape="box", style="rounded,filled", fillcolor="white",
                                         color="#555555", fontname="Helvetica",
                                         fontsize="10", margin="0.12,0.04") + ";",
                      "  edge " + _attrs(color="#666666", arrowsize="0.6") + ";"]
    edges: list[str] = []
    named_outer: set[int] = set()      # fused nodes' outputs: named as the listing names them
    producer: dict[int, tuple[str, int]] = {}   # var id -> (DOT node that makes it, position)
    ids = itertools.count()
    drawn = [0]                        # position of the next op node in drawing order

    def new_id(prefix: str = "n") -> str:
        return f"{prefix}{next(ids)}"

    # Inputs
    for v, src in zip(graph.inputs, graph.input_sources):
        nid = new_id("in")
        producer[v.id] = (nid, 0)
        where = {"arg": "input", "global": f"global {src.name}",
                 "closure": f"closure {src.index}"}.get(src.kind, src.kind)
        out.append(f"  {nid} " + _attrs(label=f"{nm(v)}:{v.aval.short()}\n{where}",
                                        fillcolor=_INPUT_FILL) + ";")

    if graph.inputs:
        out.append("  { rank=source; " + " ".join(producer[v.id][0] for v in graph.inputs) + " }")

    def edge(v: Any, dst: str, indent: str) -> None:
        """An edge into ``dst`` from where ``v`` comes from: its producer, or a small stub
        next to ``dst`` (a large constant array, or a value made far up the picture)."""
        if isinstance(v, Literal):
            if _inline(v):
                return
            stub = new_id("k")
            what = "by reference" if v.borrowed else "constant"
            out.append(f"{indent}{stub} " + _attrs(label=f"{nm(v)}\n{what}", fontsize="8",
                                                   fillcolor=_CONST_FILL, style="filled") + ";")
            edges.append(f"  {stub} -> {dst} " + _attrs(style="dashed") + ";")
            return
        if not isinstance(v, Var) or v.id not in producer:
            return
        src, at = producer[v.id]
        if drawn[0] - at <= LONG_EDGE:
            edges.append(f"  {src} -> {dst};")
            return
        stub = new_id("r")       # a long edge: costly for dot's layout, and hard to follow
        out.append(f"{indent}{stub} " + _attrs(label=f"{nm(v)}:{v.aval.short()}", fontsize="8",
                                               style="rounded,dashed",
                                               tooltip=f"{nm(v)}: made {drawn[0] - at} "
                                                       "nodes further up") + ";")
        edges.append(f"  {stub} -> {dst} " + _attrs(style="dashed") + ";")

    def emit(node: Node, indent: str, t_index: int | None) -> None:
        nid = new_id()
        drawn[0] += 1
        names = []
        for o in node.outputs:
            if t_index is not None and o.id not in named_outer:
                local[o.id] = f"t{t_index}"      # as the listing's fused[...]{ t0=...; }
            names.append(f"{nm(o)}:{o.aval.short()}")
        args = [nm(v) for v in node.inputs]
        try:
            call = node.op.format(node.params, args)
        except Exception:    # a picture never fails for want of an op's formatting
            call = f"{node.op.name}({', '.join(args)})"
        text = f"{' '.join(names) or '_'} = {call}"
        lines = [_clip(text)]
        tip = [text]
        if node.source is not None:
            lines.append(node.source.short())
            tip.append(_where(node))
        fill = None
        if node.rule:
            lines.append(f"rule: {node.rule}")
            tip.append(f"made by the rewrite rule {node.rule}")
            fill = _RULE_FILL
        out.append(f"{indent}{nid} " + _attrs(label="\n".join(lines), tooltip="\n".join(tip),
                                              fillcolor=fill) + ";")
        seen: set[int] = set()
        for v in node.inputs:
            if v.id not in seen:
                seen.add(v.id)
                edge(v, nid, indent)
        for o in node.outputs:
            producer[o.id] = (nid, drawn[0])

    # Nodes: an explicit stack of (iterator over a body, its fused node or None, counter).
    stack: list[list[Any]] = [[iter(graph.nodes), None, 0]]
    cluster = 0
    while stack:
        frame = stack[-1]
        it, fused, k = frame
        indent = "  " * len(stack)
        node = next(it, None)
        if node is None:
            stack.pop()
            if fused is not None:
                region = fused.params
                if region.reduce is not None:
                    emit(region.reduce, indent, None)
                out.append("  " * len(stack) + "}")
            continue
        if _is_fused(node):
            region = node.params
            for o in node.outputs:       # the listing's names for what leaves the region
                nm(o)
                named_outer.add(o.id)
            kind = _kernel_kind(region)
            shape = ",".join(map(str, region.shape))
            label = f"fused[{shape}]" + (f" \u00b7 {kind} kernel" if kind else "")
            if node.source is not None:
                label += f" \u00b7 {node.source.short()}"
            out.append(f"{indent}subgraph cluster_{cluster} {{")
            out.append(f"{indent}  graph " + _attrs(label=label, style="rounded,filled",
                                                     fillcolor=_CLUSTER_FILL,
                                                     color=_CLUSTER_LINE, fontsize="10",
                                                     labeljust="l") + ";")
            cluster += 1
            stack.append([iter(region.nodes), node, 0])
            continue
        if fused is None:
            emit(node, indent, None)
        else:
            emit(node, indent, k)
            frame[2] = k + 1

    # Outputs and write-backs
    leaves = list(graph.outputs)
    last: list[str] = []
    for i, v in enumerate(leaves):
        nid = new_id("out")
        last.append(nid)
        title = "output" if len(leaves) == 1 else f"output {i}"
        if isinstance(v, Var) and not isinstance(v, Literal):
            label = f"{title}\n{nm(v)}:{v.aval.short()}"
        elif isinstance(v, Literal):
            label = f"{title}\n{nm(v)}"
        else:
            label = f"{title}\n{_clip(repr(v), 40)}"
        drawn[0] += 1
        out.append(f"  {nid} " + _attrs(label=label, fillcolor=_OUTPUT_FILL) + ";")
        edge(v, nid, "  ")
    for idx, v in graph.writebacks:
        nid = new_id("wb")
        last.append(nid)
        drawn[0] += 1
        out.append(f"  {nid} " + _attrs(label=f"writes back arg{idx}\n{nm(v)}:{v.aval.short()}",
                                        fillcolor=_OUTPUT_FILL) + ";")
        edge(v, nid, "  ")
    if last:
        out.append("  { rank=sink; " + " ".join(last) + " }")
    out.extend(edges)
    out.append("}")
    return "\n".join(out) + "\n"


def _require(fmt: str) -> None:
    """Raise MissingDependencyError, naming what to install, if the graphviz package or
    Graphviz's ``dot`` program is missing."""
    from ..errors import MissingDependencyError
    try:
        import graphviz  # noqa: F401
        package = True
    except ImportError:
        package = False
    binary = shutil.which("dot") is not None
    if package and binary:
        return
    what, hints = [], []
    if not package:
        what.append("the graphviz Python package")
        hints.append("pip install graphviz (or pip install 'tracenp[viz]')")
    if not binary:
        what.append("Graphviz's `dot` program (not found on the PATH)")
        hints.append("install Graphviz: apt-get install graphviz (Debian, Ubuntu), "
                     "brew install graphviz (macOS), conda install -c conda-forge graphviz")
    raise MissingDependencyError(
        f"drawing a graph as {fmt.upper()} needs {' and '.join(what)}",
        hint="; ".join(hints) + "; graph.to_dot() gives the DOT text without them")


def pipe(dot_text: str, format: str = "svg") -> bytes:
    """Run ``dot -T<format>`` on DOT text through the graphviz package; the output bytes."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)} or 'dot', not {format!r}")
    _require(format)
    import graphviz
    try:
        return graphviz.Source(dot_text, encoding="utf-8").pipe(format=format, quiet=True)
    except graphviz.ExecutableNotFound:      # dot vanished between the check and the call
        _require(format)
        raise


def to_svg(graph: Graph) -> str:
    """The picture of ``graph`` as SVG text."""
    return pipe(to_dot(graph), "svg").decode("utf-8")


def render(graph: Graph, path: str | os.PathLike, format: str | None = None) -> str:
    """Write the picture of ``graph`` to ``path``; returns the path written.

    ``format`` is ``"svg"``, ``"png"``, ``"pdf"`` or ``"dot"`` (the DOT text: needs no
    Graphviz); by default the file's suffix says which, and ``"svg"`` without one.  A path
    without a suffix gets the format's (``render("g", format="png")`` writes ``g.png``).
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if format is None:
        format = suffix if suffix in FORMATS + ("dot", "gv") else "svg"
    format = "dot" if format == "gv" else format
    if not suffix:
        path = f"{path}.{format}"
    if format == "dot":
        data = to_dot(graph).encode("utf-8")
    else:
        data = pipe(to_dot(graph), format)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _drawn_nodes(graph: Graph) -> int:
    total, stack = 0, [graph.nodes]
    while stack:
        for node in stack.pop():
            total += 1
            if _is_fused(node):
                stack.append(node.params.nodes)
    return total


def repr_svg(graph: Graph) -> str | None:
    """Jupyter's picture of ``graph``: SVG text, or None (Jupyter then shows the text repr)
    when Graphviz is missing, the graph is too large to lay out quickly, or drawing fails."""
    try:
        if _drawn_nodes(graph) > REPR_MAX_NODES:
            return None
        return to_svg(graph)
    except Exception:        # a repr must never raise
        return None
