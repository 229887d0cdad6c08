"""The reference executor: runs a graph node by node through NumPy.

It is the correctness baseline for every faster backend.  Values live in a flat list of
slots and each is dropped right after its last use.  A mutation node works in place
when the buffer it rewrites is owned by the plan and no alias of the old contents is
read later; otherwise it copies.  Every result is checked against its traced type.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import ReplayError
from ..graph.ir import Graph, Literal, Node, Var
from ..graph.ops import LEAF, CallOp, CallParams, MutateOp
from ..graph.types import ARRAY, NPSCALAR

__all__ = ["Interpreter", "inplace_safe"]

_INF = 1 << 62


def _plan_step(node: Node, inplace: bool, const_slot: Callable[[Any], int]) -> tuple:
    """How to run one node: ``(kind, fn, arg_slots, kwargs)``.

    kind 0: ``env[out] = fn(*args)``; kind 1: ``env[out] = fn(*args, **kwargs)``;
    kind 2: ``outs = fn(args)`` (general: several outputs, nested containers, mutation).
    Static positional arguments become constant slots, so flat calls need no template.
    """
    op, params = node.op, node.params
    if isinstance(op, MutateOp):
        return 2, (lambda ins: op.evaluate(params, ins, inplace)), None, None
    if (isinstance(op, CallOp) and isinstance(params, CallParams) and params.out_tree == LEAF
            and len(node.outputs) == 1):
        args_def, kwargs_def = params.treedef[2]
        if (args_def[0] == "tuple" and kwargs_def[0] == "dict"
                and all(c == LEAF for c in args_def[2]) and all(c == LEAF for c in kwargs_def[2])):
            nargs = len(args_def[2])
            slot_of_pos = dict(zip(params.slots, range(len(params.slots))))
            if all(p < nargs for p in params.slots):
                spec = [("in", slot_of_pos[p]) if p in slot_of_pos else ("const", const_slot(params.statics[p]))
                        for p in range(nargs)]
                kwargs = dict(zip(kwargs_def[1], params.statics[nargs:]))
                return (1 if kwargs else 0), op.fn, spec, kwargs
    return 2, (lambda ins: op.evaluate(params, ins)), None, None


def inplace_safe(graph: Graph, extra_uses: list[Var] = ()) -> set[int]:
    """Indices of mutation nodes that may overwrite their input buffer.

    Values are grouped into storage classes (a view shares its source's class).  A
    mutation may work in place when its buffer's class holds no graph input or constant
    and no member defined before the node is read after it.
    """
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb

    last_use: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            last_use[v.id] = i
        for j in node.view_of:
            for o in node.outputs:
                union(o.id, node.inputs[j].id)
    for v in list(graph.outputs) + [v for _, v in graph.writebacks] + list(extra_uses):
        if isinstance(v, Var):
            last_use[v.id] = _INF
    unowned: set[int] = {find(v.id) for v in graph.inputs}
    for node in graph.nodes:
        for v in node.inputs:
            if isinstance(v, Literal):
                unowned.add(find(v.id))
    safe: set[int] = set()
    running: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        if isinstance(node.op, MutateOp):
            cls = find(node.inputs[0].id)
            # Other inputs of the same class (``x += x[::-1]``, ``u[1:] += u[:-1]``) are
            # views of the buffer's *current* contents (the tracer re-derives stale
            # views), so an in-place write sees exactly the overlap eager NumPy sees
            # and NumPy's own overlap rules give the eager result.
            if (cls not in unowned and running.get(cls, -1) <= i
                    and last_use.get(node.inputs[0].id, -1) <= i):
                safe.add(i)
        for o in node.outputs:
            c = find(o.id)
            running[c] = max(running.get(c, -1), last_use.get(o.id, -1))
    return safe


class Interpreter:
    """Runs ``graph`` with NumPy.  ``run(inputs)`` returns the values of ``results``."""

    def __init__(self, graph: Graph, results: list[Var], check_types: bool = True):
        slot: dict[int, int] = {}
        template: list[Any] = []

        def slot_of(v: Var) -> int:
            s = slot.get(v.id)
            if s is None:
                s = slot[v.id] = len(template)
                template.append(v.value if isinstance(v, Literal) else None)
            return s

        self.input_slots = [slot_of(v) for v in graph.inputs]

        def const_slot(value: Any) -> int:
            template.append(value)
            return len(template) - 1

        inplace = inplace_safe(graph, results)
        last: dict[int, int] = {}
        for i, node in enumerate(graph.nodes):
            for v in node.inputs:
                last[v.id] = i
        keep = {v.id for v in results}
        steps = []
        for i, node in enumerate(graph.nodes):
            ins = [slot_of(v) for v in node.inputs]
            outs = [slot_of(v) for v in node.outputs]
            frees = sorted({slot[v.id] for v in node.inputs
                            if last.get(v.id) == i and v.id not in keep and not isinstance(v, Literal)})
            frees += [slot[o.id] for o in node.outputs if o.id not in last and o.id not in keep]
            checks = tuple((s, o.aval.shape, o.aval.dtype) for s, o in zip(outs, node.outputs)
                           if check_types and o.aval.kind in (ARRAY, NPSCALAR) and _needs_check(node))
            kind, fn, spec, kwargs = _plan_step(node, i in inplace, const_slot)
            if kind == 2:
                arg_slots = tuple(ins)
                out = tuple(outs)
            else:
                arg_slots = tuple(ins[k] if tag == "in" else k for tag, k in spec)
                out = outs[0]
            steps.append((kind, fn, arg_slots, kwargs, out, tuple(frees), checks, node))
        self.steps = steps
        self.template = template
        self.result_slots = [slot_of(v) for v in results]
        self.inplace_nodes = inplace

    def run(self, inputs: list) -> list:
        env = self.template.copy()
        for s, value in zip(self.input_slots, inputs):
            env[s] = value
        for kind, fn, arg_slots, kwargs, out, frees, checks, node in self.steps:
            if kind == 0:
                env[out] = fn(*[env[i] for i in arg_slots])
            elif kind == 1:
                env[out] = fn(*[env[i] for i in arg_slots], **kwargs)
            else:
                for s, value in zip(out, fn([env[i] for i in arg_slots])):
                    env[s] = value
            for s, shape, dtype in checks:
                value = env[s]
                if getattr(value, "shape", None) != shape or getattr(value, "dtype", None) != dtype:
                    raise ReplayError(
                        f"{node.op.name} produced {_describe(value)} where the trace recorded "
                        f"{dtype}{list(shape)}", source=node.source)
            for s in frees:
                env[s] = None
        return [env[s] for s in self.result_slots]


def _needs_check(node: Node) -> bool:
    """Ufunc calls are typed by their input types alone; other ops are checked at replay."""
    return getattr(node.op, "method", None) != "__call__"


def _describe(value: Any) -> str:
    if isinstance(value, (np.ndarray, np.generic)):
        return f"{value.dtype}{list(value.shape)}"
    return type(value).__name__
