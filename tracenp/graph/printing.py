"""A readable listing of a graph, in the style of ``jax.make_jaxpr``."""
from __future__ import annotations
from tracenp._ndarray import NDARRAY

from typing import Any

from .ir import Graph, Literal, Var

__all__ = ["format_graph", "var_namer"]

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _name(n: int) -> str:
    s = ""
    while True:
        s = _LETTERS[n % 26] + s
        n = n // 26 - 1
        if n < 0:
            return s


def var_namer():
    """A function giving short names (a, b, ..., z, aa, ...) to variables in order."""
    names: dict[int, str] = {}

    def name(v: Any) -> str:
        if isinstance(v, Literal):
            return _literal(v)
        if not isinstance(v, Var):
            return repr(v)
        n = names.get(v.id)
        if n is None:
            n = names[v.id] = _name(len(names))
        return n
    return name


def _literal(v: Literal) -> str:
    import numpy as np
    val = v.value
    if isinstance(val, NDARRAY) and val.size > 4:
        return f"<{v.aval.short()}>"
    if isinstance(val, NDARRAY):
        return f"array({val.tolist()!r}, {val.dtype})"
    if isinstance(val, np.generic):
        return f"{val.dtype}({val.item()!r})"
    return repr(val)


def format_graph(graph: Graph, annotate: bool = True) -> str:
    name = var_namer()
    ins = []
    for v, src in zip(graph.inputs, graph.input_sources):
        tag = "" if src.kind == "arg" else f"@{src.name or 'closure' + str(src.index)}"
        ins.append(f"{name(v)}:{v.aval.short()}{tag}")
    lines = [f"{{ lambda {' '.join(ins)}. let"]
    body = []
    for node in graph.nodes:
        outs = " ".join(f"{name(o)}:{o.aval.short()}" for o in node.outputs) or "_"
        text = f"{outs} = {node.op.format(node.params, [name(v) for v in node.inputs])}"
        src = f"# {node.source.short()}" if annotate and node.source else ""
        body.append((text, src))
    width = min(max((len(t) for t, _ in body), default=0), 72)
    for text, src in body:
        lines.append(f"    {text.ljust(width)}  {src}".rstrip())
    outs = [name(v) if isinstance(v, Var) else repr(v) for v in graph.outputs]
    lines.append(f"  in ({', '.join(outs)}{',' if len(outs) == 1 else ''}) }}")
    if graph.writebacks:
        wb = ", ".join(f"arg{idx} <- {name(v)}" for idx, v in graph.writebacks)
        lines.append(f"  writes back: {wb}")
    return "\n".join(lines)


def format_region(region, names: list[str]) -> str:
    """A fused node's body: ``fused[shape]{ ... }`` with its ops on one line."""
    inner = var_namer()
    for v, n in zip(region.inputs, names):
        inner(v)
    local: dict[int, str] = {v.id: n for v, n in zip(region.inputs, names)}
    parts = []
    for k, node in enumerate(region.nodes):
        o = node.outputs[0]
        local[o.id] = f"t{k}"
        args = [local.get(v.id) or inner(v) for v in node.inputs]
        parts.append(f"t{k}={node.op.format(node.params, args)}")
    if region.reduce is not None:
        outs = f"{region.reduce.op.name}({local[region.reduce.inputs[0].id]})"
    else:
        outs = ",".join(local[v.id] for v in region.outputs)
    shape = ",".join(map(str, region.shape))
    return f"fused[{shape}]{{ {'; '.join(parts)} -> {outs} }}"
