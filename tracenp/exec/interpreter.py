"""The reference executor: runs a graph node by node through NumPy.

It is the correctness baseline for every faster backend.  Values live in a flat list of
slots and each is dropped right after its last use.  A mutation node works in place
when the buffer it rewrites is owned by the plan and no alias of the old contents is
read later; otherwise it copies.  Every result is checked against its traced type.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from tracenp._ndarray import NDARRAY

from ..errors import ReplayError
from ..graph.ir import Graph, Literal, Node, Var
from ..graph.ops import LEAF, CallOp, CallParams, MutateOp
from ..graph.pytree import unflatten
from ..graph.types import ARRAY, NPSCALAR
from .replay_forms import direct_reduction, replay_form

__all__ = ["Interpreter", "inplace_safe"]

_INF = 1 << 62


def _leaf_count(tree: Any) -> int:
    if tree == LEAF:
        return 1
    n, stack = 0, [tree]
    while stack:
        t = stack.pop()
        if t == LEAF:
            n += 1
        else:
            stack.extend(t[2])
    return n


def flat_arguments(params: CallParams) -> tuple[list, dict] | None:
    """``(spec, kwargs)`` when every positional argument is one dynamic input, a static
    value or a container with no dynamic inputs, and keyword arguments are static.
    ``spec`` holds ``("in", k)`` or ``("const", value)`` per positional argument."""
    args_def, kwargs_def = params.treedef[2]
    if args_def[0] != "tuple" or kwargs_def[0] != "dict":
        return None
    slot_of_pos = {p: k for k, p in enumerate(params.slots)}
    spec, pos = [], 0
    for child in args_def[2]:
        n = _leaf_count(child)
        inside = [p for p in range(pos, pos + n) if p in slot_of_pos]
        if child == LEAF:
            spec.append(("in", slot_of_pos[pos]) if inside else ("const", params.statics[pos]))
        elif inside:
            return None
        else:
            spec.append(("const", unflatten(child, list(params.statics[pos:pos + n]))))
        pos += n
    kwargs = {}
    for key, child in zip(kwargs_def[1], kwargs_def[2]):
        n = _leaf_count(child)
        if any(p in slot_of_pos for p in range(pos, pos + n)):
            return None
        kwargs[key] = params.statics[pos] if child == LEAF else unflatten(child, list(params.statics[pos:pos + n]))
        pos += n
    return spec, kwargs


def _plan_step(node: Node, inplace: bool, const_slot: Callable[[Any], int]) -> tuple:
    """How to run one node: ``(kind, fn, arg_slots, kwargs)``.

    kind 0: ``env[out] = fn(*args)``; kind 1: ``env[out] = fn(*args, **kwargs)``;
    kind 2: ``outs = fn(args)`` (general: several outputs, nested containers, mutation).
    Static arguments become constant slots, so most calls need no template at replay.
    """
    op, params = node.op, node.params
    if isinstance(op, MutateOp):
        return 2, op.runner(params, inplace), None, None
    if (isinstance(op, CallOp) and isinstance(params, CallParams) and params.out_tree == LEAF
            and len(node.outputs) == 1):
        flat = flat_arguments(params)
        if flat is not None:
            spec, kwargs = flat
            fn = replay_form(op.name, op.fn)
            if getattr(op, "category", None) == "reduction" and spec and spec[0][0] == "in":
                direct = direct_reduction(op.name, op.fn, spec, kwargs,
                                          node.inputs[spec[0][1]].aval)
                if direct is not None:
                    fn, spec, kwargs = direct[0], direct[1], {}
            spec = [("const", const_slot(v)) if tag == "const" else (tag, v) for tag, v in spec]
            return (1 if kwargs else 0), fn, spec, kwargs
    runner = getattr(op, "runner", None)       # a fused region: its kernel, directly
    if runner is not None:
        return 2, runner(params), None, None
    return 2, (lambda ins: op.evaluate(params, ins)), None, None


# Temporary elision (``reusable_inputs``) from this many elements: below it NumPy's own
# allocation (its small-block cache) costs less than the ``out=`` call does.
_ELIDE_FROM = 1 << 12
# n-d values go through a layout check per call: worth it from here (Gray-Scott at 100x100,
# 20 such ops: 82.6 us with it, 75.4 without; the same at 1e5)
_ELIDE_ND_FROM = 1 << 16


def _elide_if_c_order(fn: Callable, k: int) -> Callable:
    """``fn(*args)`` writing into ``args[k]`` when every array operand is C-ordered (then
    NumPy's result would be C-ordered too), else allocating as NumPy does."""
    def call(*args):
        d = args[k]
        if d.flags.c_contiguous and all(type(a) is not NDARRAY or a.flags.c_contiguous
                                        for a in args):
            return fn(*args, out=d)
        return fn(*args)
    return call


def reusable_inputs(graph: Graph, results: list[Var]) -> dict[int, Var]:
    """For plain ufunc nodes, an input whose buffer the node may write its result into
    (``out=``): a fresh array made by an earlier node of the plan, read by nothing after
    this node, shared with no view, of the output's exact shape and dtype.  This is
    NumPy's temporary elision (``(x - y) ** 2`` squares in place), decided once per plan;
    it saves an allocation and its page faults per op."""
    last: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            last[v.id] = i
    keep = {v.id for v in results if isinstance(v, Var)}
    fresh: set[int] = set()
    shared: set[int] = set()
    out: dict[int, Var] = {}
    for i, node in enumerate(graph.nodes):
        for j in node.view_of:
            shared.add(node.inputs[j].id)
        op = node.op
        if (getattr(op, "method", None) == "__call__" and len(node.outputs) == 1
                and op.ufunc.nout == 1 and op.ufunc.signature is None
                and node.outputs[0].aval.kind == ARRAY):
            o = node.outputs[0].aval
            for v in node.inputs:
                if (v.id in fresh and v.id not in shared and v.id not in keep
                        and last.get(v.id) == i and v.aval.kind == ARRAY
                        and v.aval.shape == o.shape and v.aval.dtype == o.dtype
                        and sum(u is v for u in node.inputs) == 1):
                    out[i] = v
                    break
        if not node.view_of and not node.op.effectful and not isinstance(node.op, MutateOp):
            fresh.update(o.id for o in node.outputs if o.aval.kind == ARRAY)
    return out


def inplace_safe(graph: Graph, extra_uses: list[Var] = ()) -> set[int]:
    """Indices of mutation nodes that may overwrite their input buffer.

    One forward pass gives every value a *storage*: a view shares its source's storage; a
    mutation that copies starts a new storage (owned by the plan), one that works in place
    keeps its buffer's.  A mutation may work in place when its buffer's storage is owned
    (not a graph input or constant) and no value of that storage defined before the node
    is read after it.  Other inputs may alias the buffer (``x += x[::-1]``): they are
    views of its current contents, so NumPy's own overlap rules give the eager result.
    """
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def new_storage() -> int:
        k = len(parent)
        parent[k] = k
        return k

    last_use: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            last_use[v.id] = i
    for v in list(graph.outputs) + [v for _, v in graph.writebacks] + list(extra_uses):
        if isinstance(v, Var):
            last_use[v.id] = _INF
    storage: dict[int, int] = {}
    unowned: set[int] = set()
    running: dict[int, int] = {}        # storage root -> latest read of its values so far

    def storage_of(v: Var) -> int:
        s = storage.get(v.id)
        if s is None:                   # a graph input or a constant: not ours to overwrite
            s = storage[v.id] = new_storage()
            unowned.add(s)
            running[s] = last_use.get(v.id, -1)
        return find(s)

    for v in graph.inputs:
        storage_of(v)
    safe: set[int] = set()
    for i, node in enumerate(graph.nodes):
        ins = [storage_of(v) for v in node.inputs]
        if isinstance(node.op, MutateOp):
            cls = ins[0]
            if cls not in unowned and running.get(cls, -1) <= i:
                safe.add(i)
                target = cls
            else:
                target = new_storage()
        elif node.view_of:
            target = ins[node.view_of[0]]
            for j in node.view_of[1:]:          # outputs may alias several inputs: merge
                other = ins[j]
                if other != target:
                    parent[other] = target
                    running[target] = max(running.get(target, -1), running.get(other, -1))
                    if other in unowned:
                        unowned.add(target)
        else:
            target = new_storage()
        for o in node.outputs:
            storage[o.id] = target
            running[target] = max(running.get(target, -1), last_use.get(o.id, -1))
    return safe


class Interpreter:
    """Runs ``graph`` with NumPy.  ``run(inputs)`` returns the values of ``results``."""

    def __init__(self, graph: Graph, results: list[Var], check_types: bool = True,
                 codegen: bool = True):
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
        reusable = reusable_inputs(graph, results)
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
                reuse = reusable.get(i)
                if kind == 0 and reuse is not None and reuse.aval.size >= _ELIDE_FROM:
                    # NumPy's temporary elision, decided once: write into a dead input
                    if reuse.aval.ndim <= 1:
                        kind, kwargs = 3, slot[reuse.id]
                    elif reuse.aval.size >= _ELIDE_ND_FROM:   # keep NumPy's output layout:
                        fn = _elide_if_c_order(fn, arg_slots.index(slot[reuse.id]))  # C only
            steps.append((kind, fn, arg_slots, kwargs, out, tuple(frees), checks, node))
        self.steps = steps
        self.template = template
        self.result_slots = [slot_of(v) for v in results]
        self.inplace_nodes = inplace
        self.compiled = None
        if codegen:
            from .codegen import compile_steps
            self.compiled = compile_steps(self)
            if self.compiled is not None:
                self.run = self.compiled

    def run(self, inputs: list) -> list:
        """The reference loop (also what runs when code generation is off or declined)."""
        env = self.template.copy()
        for s, value in zip(self.input_slots, inputs):
            env[s] = value
        for kind, fn, arg_slots, kwargs, out, frees, checks, node in self.steps:
            if kind == 0:
                env[out] = fn(*[env[i] for i in arg_slots])
            elif kind == 3:
                env[out] = fn(*[env[i] for i in arg_slots], out=env[kwargs])
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


# Ops whose result type follows from their one traced input's type and their static
# arguments (a reshape, a basic slice, a reduction over static axes), as ufunc calls do
_TYPED_BY_INPUT = frozenset({"shape", "reduction"})


def _needs_check(node: Node) -> bool:
    """Ufunc calls, fused regions of them (their kernels allocate the recorded outputs), and
    single-input shape ops, getitems and reductions, are typed by their input types alone;
    other ops (``unique``, a boolean mask) are checked at replay."""
    op = node.op
    if getattr(op, "method", None) == "__call__" or getattr(op, "category", None) == "fused":
        return False
    return not (len(node.inputs) == 1 and isinstance(op, CallOp)
                and (op.category in _TYPED_BY_INPUT or op.name == "getitem"))


def _describe(value: Any) -> str:
    if isinstance(value, (NDARRAY, np.generic)):
        return f"{value.dtype}{list(value.shape)}"
    return type(value).__name__
