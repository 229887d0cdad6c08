"""Structural passes: common subexpressions and constant folding (computed by NumPy)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..graph.ir import Graph, Literal, Var
from ..graph.ops import CallParams, MutateOp
from .framework import Firing, OptimizeReport, _replace_uses, _resolve

_NO_CSE = {"creation", "random", "mutation"}
_FOLD_LIMIT = 1 << 16       # elements: larger constants stay computed at call time


def _input_key(v: Var) -> Any:
    if isinstance(v, Literal) and not v.borrowed and v.aval.ndim == 0:
        value = v.value
        return ("lit", type(value), value if value == value else "nan")
    return v.id


def common_subexpressions(graph: Graph, report: OptimizeReport, phase: str) -> bool:
    """Merge nodes that apply the same op with the same params to the same inputs."""
    seen: dict[Any, Any] = {}
    subst: dict[int, Var] = {}
    for node in graph.nodes:
        if subst and any(v.id in subst for v in node.inputs):
            node.inputs = tuple(_resolve(v, subst) for v in node.inputs)
        op = node.op
        if op.effectful or isinstance(op, MutateOp) or op.category in _NO_CSE:
            continue
        params = node.params
        try:
            pkey = params.key() if isinstance(params, CallParams) else hash(params) and params
            key = (id(op), pkey, tuple(_input_key(v) for v in node.inputs))
            hash(key)
        except TypeError:
            continue
        prior = seen.get(key)
        if prior is None:
            seen[key] = node
            continue
        for a, b in zip(node.outputs, prior.outputs):
            subst[a.id] = b
    if subst:
        _replace_uses(graph, subst)
        report.fired.append(Firing("cse", phase, None))
    return bool(subst)


def fold_constants(graph: Graph, report: OptimizeReport, phase: str) -> bool:
    """Evaluate nodes whose inputs are all constants (NumPy computes the exact values)."""
    subst: dict[int, Var] = {}
    for node in graph.nodes:
        if subst and any(v.id in subst for v in node.inputs):
            node.inputs = tuple(_resolve(v, subst) for v in node.inputs)
        op = node.op
        if (not node.inputs or op.effectful or isinstance(op, MutateOp)
                or op.category in ("creation", "random")
                or not all(isinstance(v, Literal) and not v.borrowed for v in node.inputs)
                or any(o.aval.size > _FOLD_LIMIT for o in node.outputs)):
            continue
        try:
            with np.errstate(all="ignore"):
                values = op.evaluate(node.params, [v.value for v in node.inputs])
        except Exception:
            continue
        for o, value in zip(node.outputs, values):
            lit = Literal(value)
            if lit.aval.shape == o.aval.shape and lit.aval.dtype == o.aval.dtype \
                    and lit.aval.kind == o.aval.kind:
                subst[o.id] = lit
                report.fired.append(Firing("constant_folding", phase, node.source))
    if subst:
        _replace_uses(graph, subst)
    return bool(subst)
