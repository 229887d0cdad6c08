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
from ..graph.ops import CallOp, CallParams, LEAF, MutateOp
from ..graph.types import PYSCALAR

__all__ = ["Interpreter", "inplace_safe"]

_INF = 1 << 62


def _runner(node: Node, inplace: bool) -> Callable[[list], tuple]:
    op, params = node.op, node.params
    if isinstance(op, MutateOp):
        return lambda ins: op.evaluate(params, ins, inplace)
    if isinstance(op, CallOp) and isinstance(params, CallParams) and params.out_tree == LEAF:
        fast = _flat_call(op.fn, params)
        if fast is not None:
            return fast
    return lambda ins: op.evaluate(params, ins)


def _flat_call(fn: Callable, params: CallParams) -> Callable[[list], tuple] | None:
    """A quick caller for ``fn(*args, **kwargs)`` whose containers are flat."""
    treedef = params.treedef
    args_def, kwargs_def = treedef[2]
    if args_def[0] != "tuple" or kwargs_def[0] != "dict":
        return None
    if any(c != LEAF for c in args_def[2]) or any(c != LEAF for c in kwargs_def[2]):
        return None
    nargs = len(args_def[2])
    keys = kwargs_def[1]
    statics = params.statics
    slots = params.slots
    if not keys and slots == tuple(range(nargs)):
        return lambda ins: (fn(*ins),)
    arg_template = list(statics[:nargs])
    kw_template = dict(zip(keys, statics[nargs:]))
    arg_slots = [(p, k) for k, p in enumerate(slots) if p < nargs]
    kw_slots = [(keys[p - nargs], k) for k, p in enumerate(slots) if p >= nargs]

    def call(ins):
        a = arg_template.copy()
        for p, k in arg_slots:
            a[p] = ins[k]
        if kw_slots:
            kw = kw_template.copy()
            for name, k in kw_slots:
                kw[name] = ins[k]
            return (fn(*a, **kw),)
        return (fn(*a, **kw_template),)
    return call


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
            if (cls not in unowned and running.get(cls, -1) <= i
                    and last_use.get(node.inputs[0].id, -1) <= i
                    and all(find(v.id) != cls for v in node.inputs[1:])):
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
            checks = [(s, o.aval) for s, o in zip(outs, node.outputs)
                      if check_types and o.aval.kind != PYSCALAR]
            steps.append((_runner(node, i in inplace), ins, outs, frees, checks, node))
        self.steps = steps
        self.template = template
        self.result_slots = [slot_of(v) for v in results]
        self.inplace_nodes = inplace

    def run(self, inputs: list) -> list:
        env = self.template.copy()
        for s, value in zip(self.input_slots, inputs):
            env[s] = value
        for run, ins, outs, frees, checks, node in self.steps:
            values = run([env[i] for i in ins])
            for s, value in zip(outs, values):
                env[s] = value
            for s, aval in checks:
                value = env[s]
                if getattr(value, "shape", None) != aval.shape or getattr(value, "dtype", None) != aval.dtype:
                    raise ReplayError(
                        f"{node.op.name} produced {_describe(value)} where the trace recorded "
                        f"{aval.short()}", source=node.source)
            for s in frees:
                env[s] = None
        return [env[s] for s in self.result_slots]


def _describe(value: Any) -> str:
    if isinstance(value, (np.ndarray, np.generic)):
        return f"{value.dtype}{list(value.shape)}"
    return type(value).__name__
