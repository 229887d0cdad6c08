"""Structural passes: common subexpressions and constant folding (computed by NumPy)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..graph.ir import Graph, Literal, Var
from ..graph.ops import CallParams, MutateOp, value_key
from .framework import Firing, OptimizeReport, _replace_uses, _resolve

_NO_CSE = {"creation", "random", "mutation"}
_FOLD_LIMIT = 1 << 16       # elements: larger constants stay computed at call time


def _input_key(v: Var) -> Any:
    if isinstance(v, Literal) and not v.borrowed and v.aval.ndim == 0:
        return ("lit", value_key(v.value))
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


def _scalar_creation(node, written: set) -> bool:
    """A creation call with no traced input whose 0-d result is never written in place:
    its value is a constant like any other (a fresh array per call matters only if it is
    written, and the plan copies constant outputs)."""
    return (node.op.category == "creation" and not node.inputs and not node.op.effectful
            and len(node.outputs) == 1 and node.outputs[0].aval.kind == "array"
            and node.outputs[0].aval.ndim == 0 and node.outputs[0].id not in written)


def _uniform_result(node, written: set) -> bool:
    """A large constant that costs no memory: ``broadcast_to`` of a small constant, or an
    elementwise ufunc whose array constants each repeat one value (gradient graphs make
    them: the seed 1.0 spread over a reduced array, then scaled).  The folded value is a
    read-only zero-stride view."""
    if len(node.outputs) != 1 or node.outputs[0].id in written \
            or node.outputs[0].aval.kind != "array":
        return False
    if node.op.name == "broadcast_to":
        return len(node.inputs) == 1 and node.inputs[0].aval.size <= _FOLD_LIMIT
    ufunc = getattr(node.op, "ufunc", None)
    if ufunc is None or getattr(node.op, "method", None) != "__call__" or ufunc.nout != 1:
        return False
    from .algebra import _uniform_array
    return all(v.aval.ndim == 0 or _uniform_array(v) for v in node.inputs)


def _evaluate_uniform(node) -> list:
    """``node``'s value when ``_uniform_result`` holds: the ufunc applied once to each
    array constant's repeated value (a 0-d array of its dtype: as strong as the array under
    NEP 50, so the result dtype is the same), broadcast back to the output's shape."""
    out = node.outputs[0].aval
    if node.op.name == "broadcast_to":
        return list(node.op.evaluate(node.params, [v.value for v in node.inputs]))
    small = [v.value if v.aval.ndim == 0 else np.asarray(v.value.flat[0], v.value.dtype)
             for v in node.inputs]
    value = np.asarray(node.op.evaluate(node.params, small)[0])
    return [np.broadcast_to(value, out.shape)]


def fold_constants(graph: Graph, report: OptimizeReport, phase: str) -> bool:
    """Evaluate nodes whose inputs are all constants (NumPy computes the exact values)."""
    subst: dict[int, Var] = {}
    written = {n.inputs[0].id for n in graph.nodes if isinstance(n.op, MutateOp)}
    for node in graph.nodes:
        if subst and any(v.id in subst for v in node.inputs):
            node.inputs = tuple(_resolve(v, subst) for v in node.inputs)
        op = node.op
        if _scalar_creation(node, written):
            pass    # np.ones(()) never written: a constant (gradient graphs seed with it)
        elif (not node.inputs or op.effectful or isinstance(op, MutateOp)
                or op.category in ("creation", "random")
                or not all(isinstance(v, Literal) and not v.borrowed for v in node.inputs)):
            continue
        large = any(o.aval.size > _FOLD_LIMIT for o in node.outputs)
        if large and not _uniform_result(node, written):
            continue
        try:
            with np.errstate(all="ignore"):
                values = (_evaluate_uniform(node) if large else
                          op.evaluate(node.params, [v.value for v in node.inputs]))
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
