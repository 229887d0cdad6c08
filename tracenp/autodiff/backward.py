"""The reverse sweep: cotangents flow backwards through the nodes a trace recorded.

It runs *inside* a trace.  Each vector-Jacobian rule (:mod:`tracenp.autodiff.rules`) is
plain NumPy code applied to proxies, so the backward pass is recorded as more nodes of
the same graph, which is then simplified, fused and compiled like any other.  Because a
gradient is itself a traced computation, differentiating it again (a Hessian) is the
same sweep run over the gradient's nodes.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .._ndarray import NDARRAY
from ..errors import DifferentiationError
from ..graph.ir import Literal, Node, Var
from ..graph.ops import MutateOp
from ..graph.pytree import flatten
from ..graph.types import ARRAY, NPSCALAR, OPAQUE, PYSCALAR

__all__ = ["Cotangent", "differentiable_dtype", "backward", "Sweep"]


def differentiable_dtype(dtype: Any) -> bool:
    return np.dtype(dtype).kind in "fc"


class Cotangent:
    """A cotangent and, where it is known to be zero outside a region, that region's mask.

    The mask is how ``np.where(c, f(x), 0)`` keeps NaN and inf out of x's gradient at
    points where ``c`` is false: every elementwise rule downstream applies it again.
    """

    __slots__ = ("value", "mask")

    def __init__(self, value: Any, mask: Any = None):
        self.value = value
        self.mask = mask


class Sweep:
    """State of one reverse sweep over ``nodes`` of trace ``ctx``."""

    def __init__(self, ctx: Any):
        self.ctx = ctx
        self.proxies: dict[int, Any] = {}
        self._producers: dict[int, Node] | None = None

    # ------------------------------------------------------------------ values
    def value(self, var: Var) -> Any:
        """The concrete value ``var`` had in the trace (recomputed if it was not kept)."""
        if isinstance(var, Literal):
            return var.value
        values = self.ctx.values
        if var.id in values:
            return values[var.id]
        # Recompute from kept values (iteratively, producers first).
        if self._producers is None:
            self._producers = {o.id: n for n in self.ctx.nodes for o in n.outputs}
        stack = [var]
        while stack:
            v = stack[-1]
            if isinstance(v, Literal) or v.id in values:
                stack.pop()
                continue
            node = self._producers.get(v.id)
            if node is None:
                raise DifferentiationError(
                    "internal: the value of a traced variable is unknown to the gradient "
                    f"({v!r})")
            missing = [i for i in node.inputs if not isinstance(i, Literal) and i.id not in values]
            if missing:
                stack.extend(missing)
                continue
            ins = [i.value if isinstance(i, Literal) else values[i.id] for i in node.inputs]
            from ..tracer import _evaluating
            with _evaluating(self.ctx):
                outs = node.op.evaluate(node.params, ins)
            for o, val in zip(node.outputs, outs):
                values[o.id] = val
            stack.pop()
        return values[var.id]

    def proxy(self, var: Var) -> Any:
        """A proxy standing for ``var`` (a constant's own value for a Literal)."""
        if isinstance(var, Literal):
            return var.value
        p = self.proxies.get(var.id)
        if p is None:
            from ..tracer import ArrayProxy, Buffer, GeneratorProxy, ScalarProxy
            value = self.value(var)
            kind = var.aval.kind
            if kind == PYSCALAR:
                p = ScalarProxy(self.ctx, var, value, frozenset())
            elif kind == OPAQUE:
                p = GeneratorProxy(self.ctx, var, value)
            else:
                p = ArrayProxy(self.ctx, var, value, Buffer(var, value, foreign=True), ())
            self.proxies[var.id] = p
        return p


def _var_of(x: Any) -> Var | None:
    from ..tracer import Tracer
    return x.graph_var if isinstance(x, Tracer) else None


def fit(ct: Any, var: Var) -> Any:
    """``ct`` summed back to ``var``'s shape (undoing broadcasting) and cast to its dtype
    (the real part for a real variable: JAX's convention for complex cotangents)."""
    aval = var.aval
    shape = tuple(aval.shape) if aval.kind in (ARRAY, NPSCALAR) else ()
    cshape = tuple(np.shape(ct))
    if cshape != shape:
        lead = len(cshape) - len(shape)
        if lead < 0:
            ct = np.broadcast_to(ct, shape)
        else:
            axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape)
                                              if d == 1 and cshape[lead + i] != 1)
            if axes:
                ct = np.sum(ct, axis=axes, keepdims=True)
            if lead or tuple(np.shape(ct)) != shape:
                ct = np.reshape(ct, shape)
    target = aval.dtype
    cdt = np.result_type(ct)
    if cdt.kind == "c" and target.kind != "c":
        ct = np.real(ct)
        cdt = np.result_type(ct)
    if cdt != target and aval.kind != PYSCALAR:
        from ..tracer import Tracer
        if aval.kind == ARRAY:
            ct = np.asarray(ct).astype(target)
        else:       # a NumPy scalar: a traced one converts like an array (no concretization)
            ct = ct.astype(target) if isinstance(ct, Tracer) else target.type(ct)
    return ct


def backward(ctx: Any, nodes: list[Node], seeds: dict[int, Cotangent],
             wrt: list[Var], sweep: Sweep | None = None, masks: bool = False) -> list[Any]:
    """Cotangents of ``wrt`` given ``seeds`` (var id -> Cotangent) on values computed by
    ``nodes`` (a window of ``ctx.nodes``, in execution order).  Each result is a proxy,
    or None where no path leads from the variable to a seeded output."""
    from .rules import apply_rule
    sweep = sweep or Sweep(ctx)
    wrt_ids = {v.id for v in wrt}
    # Forward: which values depend on a differentiated input.
    active = set(wrt_ids)
    for node in nodes:
        if any(i.id in active for i in node.inputs if not isinstance(i, Literal)):
            active.update(o.id for o in node.outputs if _carries_gradient(o))
    cts: dict[int, Cotangent] = {k: v for k, v in seeds.items()}
    for node in reversed(nodes):
        outs = [cts.pop(o.id, None) if o.id not in wrt_ids else cts.get(o.id) for o in node.outputs]
        if all(c is None for c in outs):
            continue
        if not any(i.id in active for i in node.inputs if not isinstance(i, Literal)):
            continue
        for var, ct in apply_rule(sweep, node, outs, active):
            if var.id not in active or not _carries_gradient(var):
                continue
            ct.value = fit(ct.value, var)
            if ct.mask is not None and np.shape(ct.mask) != np.shape(ct.value):
                # a mask of a broadcast operand still applies; one of a summed cotangent not
                m, v = tuple(np.shape(ct.mask)), tuple(np.shape(ct.value))
                same = len(m) <= len(v) and all(a in (1, b) for a, b in zip(m[::-1], v[::-1]))
                ct.mask = np.broadcast_to(ct.mask, v) if same else None
            old = cts.get(var.id)
            if old is None:
                cts[var.id] = ct
            else:
                mask = None if old.mask is None or ct.mask is None else \
                    np.logical_or(old.mask, ct.mask)
                cts[var.id] = Cotangent(np.add(old.value, ct.value), mask)
    if masks:       # the Cotangents themselves (a rule sweeping its own nodes keeps masks)
        return [cts.get(v.id) for v in wrt]
    return [cts[v.id].value if v.id in cts else None for v in wrt]


def _carries_gradient(var: Var) -> bool:
    a = var.aval
    return a.kind != OPAQUE and a.dtype is not None and differentiable_dtype(a.dtype)


def node_inputs_as_proxies(sweep: Sweep, node: Node) -> list:
    return [sweep.proxy(v) for v in node.inputs]


def bind_call(sweep: Sweep, node: Node) -> tuple[tuple, dict, dict[int, Var]]:
    """The node's call arguments with proxies in its dynamic slots, and a map from each
    proxy's ``id`` to the node input it stands for."""
    ins = node_inputs_as_proxies(sweep, node)
    params = node.params.call if isinstance(node.op, MutateOp) else node.params
    if isinstance(node.op, MutateOp):
        ins = ins[1:]
    args, kwargs = params.fill(ins)
    return args, kwargs, {}


def pairs(args: Any, cts: Any) -> list[tuple[Var, Any]]:
    """Match a rule's cotangents (a pytree like ``args``) to the proxies in ``args``."""
    out = []
    a_leaves, _ = flatten(args)
    c_leaves = _flatten_like(cts, args)
    for a, c in zip(a_leaves, c_leaves):
        if c is None:
            continue
        v = _var_of(a)
        if v is not None:
            out.append((v, c))
    return out


def _flatten_like(cts: Any, args: Any) -> list:
    """Leaves of ``cts`` in the order of ``args``'s leaves; a None stands for a subtree."""
    out: list = []
    stack = [(cts, args)]
    while stack:
        c, a = stack.pop()
        if isinstance(a, (list, tuple, dict)):
            items = list(a.values()) if isinstance(a, dict) else list(a)
            if c is None:
                cs = [None] * len(items)
            elif isinstance(a, dict):
                cs = [c.get(k) for k in a]
            else:
                cs = list(c) + [None] * (len(items) - len(c))
            stack.extend(reversed(list(zip(cs, items))))
        else:
            out.append(c)
    return out


def is_array_value(x: Any) -> bool:
    from ..tracer import Tracer
    return isinstance(x, (Tracer, NDARRAY, np.generic))
