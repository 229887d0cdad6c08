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

__all__ = ["Cotangent", "Scatter", "differentiable_dtype", "backward", "Sweep"]


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


class Scatter:
    """A cotangent that is zero outside basic-index regions of an array of ``shape``:
    ``parts`` maps each region (a ``range`` or int per axis, see
    :mod:`tracenp.optimize.slicing`) to the cotangent there.

    The cotangents of several slices of one array (``x[1:]`` and ``x[:-1]``) are kept
    apart, those of one region added, and assembled once (:meth:`dense`): the array is
    cut where a region starts or ends, each piece is the sum of the parts over it, and the
    pieces are concatenated (the optimizer then computes each piece from views of the
    inputs in one fused region).  Strided regions, and every region of a small array, are
    added into one zero buffer instead (fewer calls).
    """

    __slots__ = ("shape", "parts")

    def __init__(self, shape: tuple[int, ...], parts: dict):
        self.shape = shape
        self.parts = parts

    def plus(self, other: Any) -> "Scatter":
        """This cotangent plus ``other`` (a Scatter of the same array, or a dense one)."""
        from ..optimize.slicing import Region
        theirs: dict[Region, Any] = other.parts if isinstance(other, Scatter) else \
            {tuple(range(d) for d in self.shape): other}
        parts = dict(self.parts)
        for region, v in theirs.items():
            parts[region] = v if region not in parts else np.add(parts[region], v)
        return Scatter(self.shape, parts)

    def dense(self) -> Any:
        """The cotangent as one array."""
        from ..optimize.slicing import MIN_SIZE
        dtype = np.result_type(*self.parts.values())
        unit, strided = [], {}
        for region, v in self.parts.items():
            steps, w = _unit_steps(region, v)
            if not all(len(r) for r in steps):
                continue                            # an empty region
            if all(r.step == 1 for r in steps):
                unit.append((region, v, steps, w))
            else:
                strided[region] = v
        out = None
        if unit and np.prod(self.shape) < MIN_SIZE:
            strided.update({region: v for region, v, *_ in unit})
        elif unit:
            cuts = [sorted({0, d} | {e for *_, steps, _ in unit for e in (steps[k].start, steps[k].stop)})
                    for k, d in enumerate(self.shape)]
            if np.prod([len(c) - 1 for c in cuts]) <= 8 * len(unit) + 8:
                out = _assemble([(steps, w) for *_, steps, w in unit], cuts, (), dtype)
            else:
                strided.update({region: v for region, v, *_ in unit})
        if out is not None and not strided:
            return out
        return _scatter_add(self.shape, strided, dtype, out)


def _unit_steps(region: tuple, v: Any) -> tuple:
    """A part as (one positive-step ``range`` per axis, value of that region's shape)."""
    ints = [k for k, e in enumerate(region) if isinstance(e, int)]
    if ints:
        v = np.expand_dims(v, tuple(ints))
    flip = tuple(k for k, e in enumerate(region) if not isinstance(e, int) and e.step < 0)
    if flip:
        v = np.flip(v, axis=flip)
    out = []
    for e in region:
        r = range(e, e + 1) if isinstance(e, int) else (e if e.step > 0 else e[::-1])
        out.append(range(r.start, r.start + 1) if len(r) == 1 else r)
    return tuple(out), v


def _assemble(parts: list, cuts: list, cell: tuple, dtype: Any) -> Any:
    """The block of the cotangent between cuts (``cell``: the intervals chosen on the
    first axes), as a concatenation of the blocks of the next axis."""
    axis = len(cell)
    if axis == len(cuts):
        return _cell_sum(parts, cell, dtype)
    c = cuts[axis]
    blocks = [_assemble(parts, cuts, cell + ((lo, hi),), dtype) for lo, hi in zip(c, c[1:])]
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=axis)


def _cell_sum(parts: list, cell: tuple, dtype: Any) -> Any:
    """The sum of the parts over one cell (every part covers it whole or not at all)."""
    total = None
    for region, v in parts:
        if all(r.start <= lo and hi <= r.stop for r, (lo, hi) in zip(region, cell)):
            if any(lo != r.start or hi != r.stop for r, (lo, hi) in zip(region, cell)):
                v = v[tuple(slice(lo - r.start, hi - r.start) for r, (lo, hi) in zip(region, cell))]
            total = v if total is None else np.add(total, v)
    if total is None:
        return np.zeros(tuple(hi - lo for lo, hi in cell), dtype=dtype)
    return total


def _scatter_add(shape: tuple, parts: dict, dtype: Any, base: Any = None) -> Any:
    """``base`` (zeros if None; a copy, since it may be a part's own value) with each
    part added into its region."""
    from ..optimize.slicing import as_index
    out = np.zeros(shape, dtype=dtype) if base is None else np.copy(base)
    for k, (region, v) in enumerate(parts.items()):
        index = as_index(region, shape)
        out[index] = v if k == 0 and base is None else out[index] + v
    return out


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
        outs = [_dense(cts, o) if o.id in wrt_ids else _dense(cts, o, pop=True) for o in node.outputs]
        if all(c is None for c in outs):
            continue
        if not any(i.id in active for i in node.inputs if not isinstance(i, Literal)):
            continue
        for var, ct in apply_rule(sweep, node, outs, active):
            if var.id not in active or not _carries_gradient(var):
                continue
            if isinstance(ct.value, Scatter):
                ct.mask = None
            else:
                ct.value = fit(ct.value, var)
            if ct.mask is not None and np.shape(ct.mask) != np.shape(ct.value):
                # a mask of a broadcast operand still applies; one of a summed cotangent not
                m, v = tuple(np.shape(ct.mask)), tuple(np.shape(ct.value))
                same = len(m) <= len(v) and all(a in (1, b) for a, b in zip(m[::-1], v[::-1]))
                ct.mask = np.broadcast_to(ct.mask, v) if same else None
            old = cts.get(var.id)
            if old is None:
                cts[var.id] = ct
            elif isinstance(old.value, Scatter):
                cts[var.id] = Cotangent(old.value.plus(ct.value))
            elif isinstance(ct.value, Scatter):
                cts[var.id] = Cotangent(ct.value.plus(old.value))
            else:
                mask = None if old.mask is None or ct.mask is None else \
                    np.logical_or(old.mask, ct.mask)
                cts[var.id] = Cotangent(np.add(old.value, ct.value), mask)
    done = [_dense(cts, v) for v in wrt]
    if masks:       # the Cotangents themselves (a rule sweeping its own nodes keeps masks)
        return done
    return [None if c is None else c.value for c in done]


def _dense(cts: dict[int, Cotangent], var: Var, pop: bool = False) -> Cotangent | None:
    """``var``'s cotangent, a :class:`Scatter` assembled into one array."""
    c = cts.pop(var.id, None) if pop else cts.get(var.id)
    if c is not None and isinstance(c.value, Scatter):
        c = Cotangent(fit(c.value.dense(), var))
        if not pop:
            cts[var.id] = c
    return c


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
