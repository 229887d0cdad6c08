"""Tracing: run the user's NumPy function on proxy arrays and record a typed graph.

Proxies carry the concrete value of the first call alongside their graph variable.
Every op is recorded as a node and then *evaluated by the same op code that replay
uses*, so the trace computes exactly what replay will, and every shape and dtype
comes from NumPy itself (NEP 50 included).  Proxies refuse to turn into concrete
Python values, so no data-dependent decision is ever baked in silently.

In-place writes are functionalized: every array belongs to a :class:`Buffer`; a view
remembers the chain of view ops from its buffer; a write records a mutation node that
produces the buffer's next value, and stale views re-derive their variable on next use.
"""
from __future__ import annotations

import inspect
import threading
import types
from typing import Any, Callable

import numpy as np
from tracenp._ndarray import NDARRAY
from numpy.lib.mixins import NDArrayOperatorsMixin

from .errors import (TracenpError, ConcretizationError, DataDependentShapeError, TraceError,
                     UnsupportedFunctionError, UnsupportedMutationError, UntracedRandomError)
from .graph import catalog
from .graph.ir import Graph, GraphInput, Literal, Node, Var
from .graph.ops import (GETITEM, LEAF, SETITEM, TARGET, CallOp, CallParams, MutateOp,
                        MutateParams, SLOT, ViewStep, op_for_function, register, ufunc_op,
                        ufunc_out_op)
from .graph.pytree import flatten, unflatten
from .graph.source import user_frame
from .graph.types import ARRAY, NPSCALAR, OPAQUE, PYSCALAR, abstractify

__all__ = ["TraceContext", "ArrayProxy", "ScalarProxy", "current_trace", "is_tracer"]

_local = threading.local()


def current_trace() -> "TraceContext | None":
    return getattr(_local, "trace", None)


def _root(a: Any) -> Any:
    while isinstance(getattr(a, "base", None), NDARRAY):
        a = a.base
    return a


def _leaked(depth: int) -> TraceError:
    return TraceError("a traced value was used outside the trace that made it (a leaked "
                      "tracer): do not keep traced arrays in globals or attributes between "
                      "calls, return them instead", source=user_frame(depth + 1))


class Buffer:
    """A piece of memory that may be written: its current variable and a version."""

    __slots__ = ("var", "value", "root", "version", "foreign", "arg_index")

    def __init__(self, var: Var, value: Any, foreign: bool = False):
        self.var = var
        self.value = value
        self.root = _root(value)
        self.version = 0
        self.foreign = foreign      # memory the user owns but we do not trace (a constant)
        self.arg_index = -1         # flattened argument leaf this buffer came from


class Tracer:
    """Base of the proxy classes."""

    __slots__ = ()


# ============================================================================ the context

class TraceContext:
    """Records one trace of one function."""

    def __init__(self, fn: Callable | None = None):
        self.fn = fn
        self.nodes: list[Node] = []
        self.inputs: list[Var] = []
        self.input_sources: list[GraphInput] = []
        self.literals: dict[int, Var] = {}
        self.keepalive: list[Any] = []
        self.evaluating = 0                     # >0 while running NumPy on concrete values
        self.buffers: list[Buffer] = []
        self.globals_map: dict[int, GraphInput] = {}
        self.rng_expected: Any = None
        self.global_proxies: dict[int, ArrayProxy] = {}
        # (source, contents): a global mask the graph depends on by value (see _guard_masks)
        self.guards: list[tuple[GraphInput, NDARRAY]] = []
        # Concrete values by variable id, kept while a gradient is being built (see
        # tracenp.autodiff): the backward pass needs forward values.  Inputs are always
        # kept (their arrays are alive anyway); intermediates only while recording > 0.
        self.values: dict[int, Any] = {}
        self.recording = 0
        self._value_roots: dict[int, list[int]] = {}
        # A list while tracing on stand-ins for a derivative (see doubt), else None; and
        # the buffers writes into which are safe there (see _mark_fresh).
        self.doubts: list[str] | None = None
        self._fresh_buffers: set[int] = set()
        if fn is not None:
            self._scan_globals(fn)

    # ------------------------------------------------------------------ inputs and constants
    def _scan_globals(self, fn: Callable) -> None:
        fn = inspect.unwrap(fn)
        g = getattr(fn, "__globals__", {})
        for name, value in list(g.items()):
            if type(value) is NDARRAY:
                self.globals_map[id(value)] = GraphInput("global", name=name)
        closure = getattr(fn, "__closure__", None) or ()
        for i, cell in enumerate(closure):
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if type(value) is NDARRAY:
                self.globals_map[id(value)] = GraphInput("closure", index=i)

    def traced_function(self, fn: Callable) -> Callable:
        """``fn`` with the arrays it reads from its module globals and its closure replaced
        by proxies (graph inputs read at call time).

        Then every use of such an array is recorded (``W.sum()``, ``W.T``, ``W[0]``), not
        only the uses that meet a traced value: a computation on a global alone would
        otherwise run once, during the trace, and its result would stay in the plan even
        after the global changes.  Functions that ``fn`` calls still see plain arrays
        (they become inputs when they meet traced values; see :meth:`literal`).
        """
        if type(fn) is not types.FunctionType:
            return fn
        names, stack = set(), [fn.__code__]
        while stack:
            c = stack.pop()
            names.update(c.co_names)
            stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        g = fn.__globals__
        new_globals = None
        for name in names:
            v = g.get(name)
            if type(v) is NDARRAY:
                if new_globals is None:
                    new_globals = dict(g)
                new_globals[name] = self._global_proxy(v, GraphInput("global", name=name))
        cells = fn.__closure__ or ()
        new_cells = list(cells)
        for i, cell in enumerate(cells):
            try:
                v = cell.cell_contents
            except ValueError:
                continue
            if type(v) is NDARRAY:
                new_cells[i] = types.CellType(self._global_proxy(v, GraphInput("closure", index=i)))
        if new_globals is None and all(a is b for a, b in zip(new_cells, cells)):
            return fn
        new = types.FunctionType(fn.__code__, g if new_globals is None else new_globals,
                                 fn.__name__, fn.__defaults__, tuple(new_cells) or None)
        new.__kwdefaults__ = fn.__kwdefaults__
        new.__qualname__ = fn.__qualname__
        new.__dict__.update(fn.__dict__)
        return new

    def _global_proxy(self, value: NDARRAY, source: GraphInput) -> "ArrayProxy":
        proxy = self.global_proxies.get(id(value))
        if proxy is None:
            var = self.literals.get(id(value))
            if var is None:
                var = self.literals[id(value)] = self.new_input(value, source)
                self.keepalive.append(value)
            # foreign: the plan reads it, and a write into it is refused (not replayable)
            proxy = ArrayProxy(self, var, value, Buffer(var, value, foreign=True), ())
            self.global_proxies[id(value)] = proxy
        return proxy

    def new_input(self, value: Any, source: GraphInput) -> Var:
        var = Var(abstractify(value), hint="arg")
        self.inputs.append(var)
        self.input_sources.append(source)
        self.remember(var, value)
        return var

    def remember(self, var: Var, value: Any) -> None:
        """Keep ``var``'s concrete value (for the backward pass of a gradient)."""
        self.values[var.id] = value
        if isinstance(value, NDARRAY):
            self._value_roots.setdefault(id(_root(value)), []).append(var.id)

    def doubt(self, reason: str) -> None:
        """Note that a trace on stand-ins may not give the graph the real data would
        (its caller traces again on the data); nothing happens in other traces."""
        if self.doubts is not None:
            self.doubts.append(reason)

    def _mark_fresh(self, op: CallOp, buf: Buffer, in_vals: list) -> None:
        """On stand-ins: ``buf`` shares memory with no argument whatever the memory
        layouts, being made from no array (np.zeros(n)) or copied (np.copy)."""
        if op.name in _COPIES or not any(isinstance(v, NDARRAY) for v in in_vals):
            self._fresh_buffers.add(id(buf))

    def _unmark_viewed(self, in_objs: list) -> None:
        """On stand-ins: a view of a stand-in buffer (other than by indexing) may be a copy
        on the data, or the reverse (reshape, ravel): writes into it are doubted now."""
        from .exec.dask_backend import StandIn
        for obj in in_objs:
            if isinstance(obj, ArrayProxy) and isinstance(obj._value, StandIn):
                self._fresh_buffers.discard(id(obj._buffer))

    def _before_write(self, root: Any) -> None:
        """Memory at ``root`` is about to be written in place: kept values that live
        there are copied first, so they stay the values their variables had."""
        ids = self._value_roots.pop(id(root), None)
        if ids:
            for vid in ids:
                v = self.values.get(vid)
                if isinstance(v, NDARRAY):
                    self.values[vid] = v.copy()

    def literal(self, value: Any) -> Var:
        """The variable for a constant array met as an operand."""
        key = id(value)
        var = self.literals.get(key)
        if var is None:
            src = self.globals_map.get(key) if isinstance(value, NDARRAY) else None
            if src is not None:
                var = self.new_input(value, src)
            else:
                var = Literal(value, borrowed=isinstance(value, NDARRAY))
            self.literals[key] = var
            self.keepalive.append(value)
        return var

    def wrap_arg(self, value: Any, index: int) -> "Tracer":
        """A proxy for argument leaf ``index`` (``value`` is already a private copy)."""
        var = self.new_input(value, GraphInput("arg", index=index))
        if isinstance(value, (float, complex)):
            return ScalarProxy(self, var, value, frozenset([index]))
        if isinstance(value, (np.random.Generator, np.random.RandomState)):
            return GeneratorProxy(self, var, value)
        buf = Buffer(var, value)
        buf.arg_index = index
        self.buffers.append(buf)
        return ArrayProxy(self, var, value, buf, ())

    # ------------------------------------------------------------------ recording
    def _operand(self, leaf: Any) -> tuple[Var, Any] | None:
        if isinstance(leaf, Tracer):
            if leaf._trace is not self:
                raise TraceError("a traced value from another trace was used (a leaked tracer): "
                                 "do not keep traced arrays in globals between calls",
                                 source=user_frame(2))
            return leaf.graph_var, leaf._value
        if type(leaf) is NDARRAY:
            var = self.literal(leaf)
            return var, leaf
        return None

    def split(self, args: tuple, kwargs: dict) -> tuple[CallParams, list[Var], list[Any], list[Any]]:
        """Separate a call's arguments into a template and its dynamic operands."""
        leaves, treedef = flatten((tuple(args), dict(kwargs)))
        statics = list(leaves)
        slots, in_vars, in_vals, in_objs = [], [], [], []
        for i, leaf in enumerate(leaves):
            if leaf is TARGET:
                continue
            operand = self._operand(leaf)
            if operand is not None:
                statics[i] = SLOT
                slots.append(i)
                in_vars.append(operand[0])
                in_vals.append(operand[1])
                in_objs.append(leaf)
        return CallParams(treedef, tuple(statics), tuple(slots)), in_vars, in_vals, in_objs

    def call(self, op: CallOp, args: tuple, kwargs: dict) -> Any:
        """Record ``op(*args, **kwargs)`` and return its result with proxies for arrays."""
        if getattr(_local, "trace", None) is not self:
            raise _leaked(2)
        if op.check is not None:
            try:
                op.check(args, kwargs)
            except TracenpError as e:
                if e.source is None:
                    e.source = user_frame(2)
                raise
        if op.static_params:
            _check_static(op, args, kwargs)
        params, in_vars, in_vals, in_objs = self.split(args, kwargs)
        if not in_vars and not op.effectful and op.category not in ("creation", "random"):
            # Nothing traced flows in: a constant expression, computed now.
            with _evaluating(self):
                return op.fn(*args, **kwargs)
        with _evaluating(self):
            a, k = params.fill(in_vals)
            result = op.fn(*a, **k)
        out_leaves, out_tree = flatten(result)
        if any(isinstance(v, (str, bytes)) and not isinstance(v, np.generic) for v in out_leaves):
            # e.g. a 0-d StringDType array: NumPy hands back a plain str, which a graph
            # would bake in as a constant
            raise UnsupportedFunctionError(
                f"{op.name} returned a Python {type(result).__name__} computed from traced "
                f"data (a 0-d string array?); tracenp does not trace Python strings",
                source=user_frame(2))
        arrays = tuple(i for i, v in enumerate(out_leaves) if _is_value(v))
        params = CallParams(params.treedef, params.statics, params.slots,
                            LEAF if out_tree == LEAF else out_tree, arrays)
        out_vars = tuple(Var(abstractify(out_leaves[i])) for i in arrays)
        view_of = self._aliases(op, in_vals, [out_leaves[i] for i in arrays])
        node = Node(op, tuple(in_vars), out_vars, params, user_frame(3), view_of)
        self.nodes.append(node)
        if self._fresh_buffers and view_of and op is not GETITEM:
            self._unmark_viewed(in_objs)
        if self.recording:
            for j, i in enumerate(arrays):
                self.remember(out_vars[j], out_leaves[i])
        proxies = list(out_leaves)
        for j, i in enumerate(arrays):
            proxies[i] = self._wrap_output(node, j, out_leaves[i], in_objs, in_vals)
        return proxies[0] if out_tree == LEAF else unflatten(out_tree, proxies)

    def _aliases(self, op: CallOp, in_vals: list, outs: list) -> tuple[int, ...]:
        if not outs:
            return ()
        roots = {id(_root(o)) for o in outs if isinstance(o, NDARRAY)}
        alias = tuple(i for i, v in enumerate(in_vals)
                      if isinstance(v, NDARRAY) and id(_root(v)) in roots)
        if op.view and in_vals and 0 not in alias:
            alias = (0,) + alias
        return alias

    def _wrap_output(self, node: Node, j: int, value: Any, in_objs: list, in_vals: list) -> Any:
        var = node.outputs[j]
        if var.aval.kind == PYSCALAR:
            return ScalarProxy(self, var, value, frozenset())
        if var.aval.kind == OPAQUE:
            return GeneratorProxy(self, var, value)
        if isinstance(value, NDARRAY):
            root = _root(value)
            for pos, v in enumerate(in_vals):
                if isinstance(v, NDARRAY) and _root(v) is root:
                    src = in_objs[pos]
                    if isinstance(src, ArrayProxy):
                        return self._view_proxy(node, j, value, src, pos)
                    buf = Buffer(var, value, foreign=True)
                    return ArrayProxy(self, var, value, buf, None)
        buf = Buffer(var, value)
        self.buffers.append(buf)
        if self.doubts is not None:
            self._mark_fresh(node.op, buf, in_vals)
        return ArrayProxy(self, var, value, buf, ())

    def _view_proxy(self, node: Node, j: int, value: Any, src: "ArrayProxy", pos: int) -> "ArrayProxy":
        buf = src._buffer
        step = ViewStep.of(node, pos, j) if src._chain is not None else None
        chain = src._chain + (step,) if step is not None else None
        proxy = ArrayProxy(self, node.outputs[j], value, buf, chain)
        proxy._version = buf.version
        return proxy

    def mutate(self, target: "ArrayProxy", inner: CallOp, args: tuple, kwargs: dict) -> None:
        """Record an in-place NumPy call that writes into ``target`` (marked TARGET in args)."""
        if getattr(_local, "trace", None) is not self:
            raise _leaked(2)
        if not isinstance(target, ArrayProxy):
            raise UnsupportedMutationError(
                "an in-place write targets an array that is not traced (a global or constant "
                "array); tracenp cannot replay writes into it", source=user_frame(3))
        buf = target._buffer
        if buf.foreign:
            if target._chain == () and id(target._value) in self.global_proxies:
                raise UnsupportedMutationError(    # a global or closure array itself
                    "an in-place write targets an array that is not traced (a global or "
                    "constant array); tracenp cannot replay writes into it", source=user_frame(3))
            raise UnsupportedMutationError(
                "an in-place write goes into a view of a constant or global array",
                source=user_frame(3))
        if target._chain is None:
            raise UnsupportedMutationError(
                "an in-place write goes through a view tracenp cannot follow "
                "(made by an op with several traced inputs)", source=user_frame(3))
        call_params, in_vars, in_vals, _ = self.split(args, kwargs)
        op = _mutate_op(inner)
        params = MutateParams(target._chain, call_params)
        base_var = buf.var
        if self.doubts is not None and id(buf) not in self._fresh_buffers:
            # Whether an array aliases the one it was computed from can depend on memory
            # layout (reshape, ravel, ascontiguousarray), which a stand-in does not have.
            self.doubt("an in-place write into an array computed from other arrays")
        if self._value_roots:
            self._before_write(buf.root)
        with _evaluating(self):
            op.evaluate(params, [buf.value, *in_vals], inplace=True)
        out = Var(base_var.aval)
        node = Node(op, (base_var, *in_vars), (out,), params, user_frame(3), (0,))
        self.nodes.append(node)
        if self.recording:
            self.remember(out, buf.value)
        buf.var = out
        buf.version += 1
        if not target._chain:
            target._var = out
            target._version = buf.version

    def record_effect(self, op: CallOp, args: tuple, kwargs: dict) -> Any:
        return self.call(op, args, kwargs)

    # ------------------------------------------------------------------ result
    def finish(self, outputs: Any, name: str) -> Graph:
        leaves, out_tree = flatten(outputs)
        out: list = []
        for leaf in leaves:
            if isinstance(leaf, Tracer):
                if isinstance(leaf, MaskedSelection):
                    err = leaf._refuse("returned")
                    err.source = leaf._source
                    raise err
                if isinstance(leaf, GeneratorProxy):
                    raise TraceError("returning a random generator from a compiled function is "
                                     "not supported", source=user_frame(2))
                out.append(leaf.graph_var)
            elif isinstance(leaf, NDARRAY):
                out.append(self.literal(leaf))
            else:
                out.append(leaf)
        writebacks = []
        for buf in self.buffers:
            if buf.arg_index >= 0 and buf.version:
                writebacks.append((buf.arg_index, buf.var))
        inputs, sources = list(self.inputs), list(self.input_sources)
        if self.global_proxies:
            # globals and closure arrays the function named but did not use: not inputs
            used = {v.id for node in self.nodes for v in node.inputs}
            used.update(v.id for v in out if isinstance(v, Var))
            keep = [i for i, (v, src) in enumerate(zip(inputs, sources))
                    if src.kind == "arg" or v.id in used]
            inputs, sources = [inputs[i] for i in keep], [sources[i] for i in keep]
        graph = Graph(inputs, sources, self.nodes, out, out_tree, writebacks, name)
        graph.guards = list(self.guards)
        graph.trace_outputs = list(out)     # before any rewrite merges two of them
        return graph


class _evaluating:
    """While active, patched NumPy functions pass straight through (NumPy's own internals)."""

    __slots__ = ("trace",)

    def __init__(self, trace: TraceContext):
        self.trace = trace

    def __enter__(self):
        self.trace.evaluating += 1

    def __exit__(self, *exc):
        self.trace.evaluating -= 1


def _is_value(v: Any) -> bool:
    return isinstance(v, (NDARRAY, np.generic, float, complex, np.random.Generator,
                          np.random.RandomState)) or type(v) is int or type(v) is bool



_MUTATE_OPS: dict[int, MutateOp] = {}
_COPIES = frozenset(["copy", "ndarray.copy"])      # ops whose result is always new memory


def _mutate_op(inner: CallOp) -> MutateOp:
    op = _MUTATE_OPS.get(id(inner))
    if op is None:
        op = MutateOp(inner)
        _MUTATE_OPS[id(inner)] = op
        from .graph.ops import REGISTRY
        REGISTRY.setdefault(op.name, op)
    return op


def _check_static(op: CallOp, args: tuple, kwargs: dict) -> None:
    try:
        bound = inspect.signature(op.fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return
    for name in op.static_params:
        if name in bound.arguments:
            leaves, _ = flatten(bound.arguments[name])
            if any(isinstance(x, Tracer) for x in leaves):
                raise DataDependentShapeError(
                    f"np.{op.name}: argument {name!r} is a traced value, so the result's shape "
                    f"would depend on the data", source=user_frame(4))


# ============================================================================ proxies

_CONCRETE_HINTS = {
    "bool": "express the branch with np.where(cond, a, b) (or np.maximum/np.clip), or pass "
            "the deciding value as a static argument (static_argnums/static_argnames)",
    "array": "write into arrays created inside the function with np.zeros/np.empty via the "
             "`np.` module (not `from numpy import zeros`), and call np.asarray through `np.`",
    "scalar": "keep the value as an array (e.g. x.max() instead of float(x.max())), or pass "
              "it as a static argument if it really is a fixed number",
    "index": "shapes, axes, slice bounds and loop counts must be Python ints: compute them "
             "from x.shape, or pass them as static arguments",
}


def _concretization(what: str, proxy: Any) -> ConcretizationError:
    kind = ("bool" if "bool" in what else "array" if "NumPy array" in what else
            "index" if "index" in what else "scalar")
    err = ConcretizationError(
        f"a traced value ({proxy._var.aval.short()}) was converted to {what}; its value is not "
        f"known while tracing (data-dependent Python control flow or conversion)",
        source=user_frame(3), hint=_CONCRETE_HINTS[kind])
    err.static_candidates = getattr(proxy, "_sources", frozenset())
    return err


class ArrayProxy(Tracer, NDArrayOperatorsMixin):
    """Stands in for an ``ndarray`` (or NumPy scalar) while tracing."""

    __slots__ = ("_trace", "_var", "_value", "_buffer", "_chain", "_version", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, trace: TraceContext, var: Var, value: Any, buffer: Buffer,
                 chain: tuple | None):
        self._trace = trace
        self._var = var
        self._value = value
        self._buffer = buffer
        self._chain = chain
        self._version = buffer.version

    # -- the current variable, re-derived after writes through another alias
    @property
    def graph_var(self) -> Var:
        buf = self._buffer
        if self._version != buf.version:
            if self._chain is None:
                raise UnsupportedMutationError(
                    "an array was read after its memory was written through another view, "
                    "and tracenp cannot follow this view", source=user_frame(3))
            var = buf.var
            for step in self._chain:
                ins = tuple(var if i == step.source else v for i, v in enumerate(step.inputs))
                out_vars = tuple(Var(aval) for aval in step.avals)
                node = Node(step.op, ins, out_vars, step.params, user_frame(3), (step.source,))
                self._trace.nodes.append(node)
                var = out_vars[step.out]
            self._var = var
            self._version = buf.version
        return self._var

    # -- static facts
    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @shape.setter
    def shape(self, value: Any) -> None:
        raise UnsupportedMutationError(
            "setting .shape on an array changes it in place; tracenp does not trace that",
            source=user_frame(2), hint="write x = x.reshape(new_shape) instead")

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    @property
    def ndim(self) -> int:
        return self._value.ndim

    @property
    def size(self) -> int:
        return self._value.size

    @property
    def itemsize(self) -> int:
        return self._value.itemsize

    @property
    def nbytes(self) -> int:
        return self._value.nbytes

    def __len__(self) -> int:
        if self._value.ndim == 0:
            raise TypeError("len() of unsized object")
        return self._value.shape[0]

    def __iter__(self):
        if self._value.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        for i in range(self._value.shape[0]):
            yield self[i]

    def __repr__(self) -> str:
        return f"Traced<{self._var.aval.short()}>"

    __str__ = __repr__

    def __hash__(self):
        raise TypeError("unhashable type: traced array")

    # -- refusal to become concrete
    def __bool__(self):
        raise _concretization("a Python bool (an `if`, `while`, `and`/`or` on array data?)", self)

    def __float__(self):
        raise _concretization("a Python float", self)

    def __int__(self):
        raise _concretization("a Python int", self)

    def __index__(self):
        raise _concretization("an index (a traced value used as a shape, axis or slice bound?)", self)

    def __complex__(self):
        raise _concretization("a Python complex", self)

    def __array__(self, dtype=None, copy=None):
        raise _concretization("a NumPy array (np.asarray from `from numpy import ...`, or a "
                              "write into an array that is not traced?)", self)

    def item(self, *args):
        raise _concretization("a Python scalar (.item())", self)

    def tolist(self):
        raise _concretization("a Python list (.tolist())", self)

    # -- NumPy protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ufunc_call(self._trace, ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _function_call(self._trace, func, args, kwargs)

    # -- indexing
    def __getitem__(self, index):
        index = _guard_masks(self._trace, index)
        selection = MaskedSelection.of(self, index)
        if selection is not None:
            return selection
        _check_index(index)
        return self._trace.call(GETITEM, (self, index), {})

    def __setitem__(self, index, value):
        if isinstance(value, MaskedSelection):
            value.assign_into(self, index)
            return
        if _is_self_region(self, index, value):
            # ``x[s] = x[s]`` with the very same view: what Python runs after an augmented
            # assignment (``u[1:-1] += d`` is ``t = u[1:-1]; t += d; u[1:-1] = t``).  The
            # write changes nothing, so nothing is recorded.
            return
        if _reads_what_a_mask_write_overwrites(self, index, value):
            raise UnsupportedMutationError(
                "a write through a boolean mask takes its values from a view of the array it "
                "writes: NumPy copies them one by one and may read values it has already "
                "overwritten, which tracenp does not replay", source=user_frame(2),
                hint="write a copy (x[mask] = v.copy()), which is most likely what is meant")
        self._trace.mutate(self, SETITEM, (TARGET, index, value), {})

    # -- attributes that are views
    @property
    def T(self):
        return np.transpose(self)

    @property
    def mT(self):
        return np.matrix_transpose(self)

    @property
    def real(self):
        return np.real(self)

    @property
    def imag(self):
        return np.imag(self)

    @property
    def flat(self):
        raise UnsupportedFunctionError("ndarray.flat is not traced; use x.ravel()",
                                       source=user_frame(2))

    def __getattr__(self, name: str):
        if hasattr(NDARRAY, name) and not name.startswith("__array_"):
            # (__array_struct__/__array_interface__: compiled code asking for the memory;
            # NumPy then tries __array__, which explains the problem)
            raise UnsupportedFunctionError(f"ndarray.{name} is not traced by tracenp",
                                           source=user_frame(2))
        raise AttributeError(f"'ndarray' object has no attribute {name!r}")

    @property
    def strides(self):
        raise UnsupportedFunctionError("ndarray.strides is not known while tracing (the memory "
                                       "layout may differ between calls)", source=user_frame(2))


_BASIC_INDEX = (int, slice, type(None), type(Ellipsis))


def _is_self_region(target: "ArrayProxy", index: Any, value: Any) -> bool:
    """True if ``value`` is the view ``target[index]`` (same buffer, same basic index)."""
    if not isinstance(value, ArrayProxy) or value._buffer is not target._buffer:
        return False
    chain, vchain = target._chain, value._chain
    if chain is None or vchain is None or len(vchain) != len(chain) + 1 \
            or value._var.aval.kind != ARRAY or not target._value.flags.writeable:
        return False
    items = index if isinstance(index, tuple) else (index,)
    if not all(type(i) in _BASIC_INDEX for i in items):
        return False
    if any(not _same_step(a, b) for a, b in zip(chain, vchain)):
        return False
    last = vchain[-1]
    if last.op is not GETITEM or last.source != 0 or len(last.inputs) != 1:
        return False
    expected, _, _, _ = target._trace.split((TARGET, index), {})
    return last.params.treedef == expected.treedef and \
        _hashable_statics(last.params.statics[1:]) == _hashable_statics(expected.statics[1:])


def _reads_what_a_mask_write_overwrites(target: "ArrayProxy", index: Any, value: Any) -> bool:
    """True for ``x[mask] = v`` where ``v`` is a view of ``x``'s memory in another order.

    NumPy's full-rank boolean-mask assignment is its one write that is not overlap-safe:
    it copies ``v`` element by element in C order and can read elements it has already
    written (``x = [0.5, 1, 2]; x[x > 0] = x[::-1]`` gives ``[2, 1, 2]``).  Index arrays,
    ``x[mask, ...]``, ``np.copyto``, ``np.place`` and ``np.putmask`` copy first, which is what
    the plan replays.  Decided on the memory of the values traced: ``v`` the same view of
    the same elements in C order, or a single element, reads nothing it changes.
    """
    if not isinstance(value, ArrayProxy) or value._buffer is not target._buffer \
            or (value._chain is not None and value._chain == target._chain):
        return False                    # (another buffer, or the target view itself)
    items = index if isinstance(index, tuple) else (index,)
    if len(items) != 1:
        return False
    mask = items[0]
    if isinstance(mask, list):
        try:
            mask = np.asarray(mask)          # (a nested list of bools is a mask too)
        except Exception:                    # traced values in the list: an index array
            return False
    if not isinstance(mask, (ArrayProxy, NDARRAY)) or mask.dtype != np.bool_ \
            or mask.ndim != target.ndim:
        return False
    t, v = target._value, value._value
    if v.size <= 1:
        return False
    if type(t) is not NDARRAY or type(v) is not NDARRAY:
        return True                     # (stand-ins of a dask trace: no real memory to ask)
    try:
        if not np.shares_memory(t, v, max_work=10**6):
            return False
    except np.exceptions.TooHardError:
        return True
    return not _same_elements_in_c_order(t, v)


def _same_elements_in_c_order(t: NDARRAY, v: NDARRAY) -> bool:
    if t.size != v.size:
        return False
    try:
        same = np.reshape(t, v.shape, copy=False)
    except ValueError:
        return False
    return same.__array_interface__["data"][0] == v.__array_interface__["data"][0] and all(
        a == b for n, a, b in zip(v.shape, same.strides, v.strides) if n > 1)


def _same_step(a: ViewStep, b: ViewStep) -> bool:
    return a is b or (a.op is b.op and a.source == b.source and a.out == b.out
                      and len(a.inputs) == len(b.inputs)
                      and all(x is y for x, y in zip(a.inputs, b.inputs))
                      and a.params.key() == b.params.key())


def _hashable_statics(statics: tuple) -> tuple:
    return tuple(("slice", s.start, s.stop, s.step) if isinstance(s, slice) else (type(s), s)
                 for s in statics)


def _guard_masks(trace: TraceContext, index: Any) -> Any:
    """A boolean mask read from a global or closure array (``x[INTERIOR]``) is used by
    value: its contents decide the result's shape.  The plan keeps a copy and checks
    on every call that the global still holds the same contents (else it retraces)."""
    if not trace.global_proxies:
        return index
    leaves, treedef = flatten(index if isinstance(index, tuple) else (index,))
    changed = False
    for i, leaf in enumerate(leaves):
        if isinstance(leaf, ArrayProxy) and leaf._value.dtype == np.bool_ \
                and trace.global_proxies.get(id(leaf._value)) is leaf:
            saved = leaf._value.copy()
            trace.guards.append((trace.input_sources[trace.inputs.index(leaf._var)], saved))
            leaves[i] = saved
            changed = True
    if not changed:
        return index
    out = unflatten(treedef, leaves)
    return out if isinstance(index, tuple) else out[0]


def _check_index(index: Any) -> None:
    leaves, _ = flatten(index if isinstance(index, tuple) else (index,))
    for leaf in leaves:
        if isinstance(leaf, ArrayProxy) and leaf._value.dtype == np.bool_:
            raise DataDependentShapeError(
                "indexing with a traced boolean mask (x[mask]) selects a data-dependent number "
                "of elements", source=user_frame(3))


# Methods that are the same as a NumPy function applied to the array.
_FUNCTION_METHODS = """all any argmax argmin argpartition argsort choose clip compress conj
    conjugate cumprod cumsum diagonal dot max mean min nonzero prod ravel repeat round
    searchsorted squeeze std sum swapaxes take trace var""".split()
# Methods that write into the array.
_MUTATING_METHODS = {"fill", "sort", "partition", "put", "itemset", "resize", "setfield"}


def _make_function_method(name: str):
    fn = getattr(np, name)

    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    method.__name__ = name
    return method


for _name in _FUNCTION_METHODS:
    setattr(ArrayProxy, _name, _make_function_method(_name))


def _reshape(self, *shape, **kwargs):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return np.reshape(self, shape, **kwargs)


def _transpose(self, *axes):
    if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
        axes = axes[0]
    return np.transpose(self, axes or None)


ArrayProxy.reshape = _reshape
ArrayProxy.transpose = _transpose


def _method_op(name: str) -> CallOp:
    key = f"ndarray.{name}"
    from .graph.ops import REGISTRY
    op = REGISTRY.get(key)
    if op is None:
        def fn(self, *args, **kwargs):
            return getattr(self, name)(*args, **kwargs)
        fn.__name__ = key
        op = register(CallOp(key, fn, "shape" if name in ("flatten", "view", "astype", "copy")
                             else "mutation", view=name == "view"))
    return op


def _value_method(name: str):
    def method(self, *args, **kwargs):
        return self._trace.call(_method_op(name), (self, *args), kwargs)
    method.__name__ = name
    return method


def _mutating_method(name: str):
    def method(self, *args, **kwargs):
        if name in ("resize", "itemset", "setfield"):
            raise UnsupportedMutationError(f"ndarray.{name} is not traced", source=user_frame(2))
        if _scalar_kind(self):
            raise TypeError(f"NumPy scalars have no in-place .{name}()")
        self._trace.mutate(self, _method_op(name), (TARGET, *args), kwargs)
    method.__name__ = name
    return method


for _name in ("flatten", "view", "astype", "copy"):
    setattr(ArrayProxy, _name, _value_method(_name))
for _name in _MUTATING_METHODS:
    setattr(ArrayProxy, _name, _mutating_method(_name))


def _scalar_kind(p: Any) -> bool:
    return isinstance(p, ArrayProxy) and p._var.aval.kind == NPSCALAR


# In-place operators on NumPy scalars rebind (NumPy scalars are immutable).
def _inplace(ufunc, binary_name: str):
    def method(self, other):
        if _scalar_kind(self):
            return getattr(self, binary_name)(other)
        return ufunc(self, other, out=(self,))
    return method


for _op, _uf in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                 ("matmul", np.matmul), ("truediv", np.true_divide),
                 ("floordiv", np.floor_divide), ("mod", np.remainder), ("pow", np.power),
                 ("lshift", np.left_shift), ("rshift", np.right_shift), ("and", np.bitwise_and),
                 ("xor", np.bitwise_xor), ("or", np.bitwise_or)]:
    setattr(ArrayProxy, f"__i{_op}__", _inplace(_uf, f"__{_op}__"))


def _fast_power(base: "ArrayProxy", exponent: Any):
    """NumPy's ``ndarray.__pow__`` shortcut: for float/complex arrays a Python int 2 or -1
    or a Python float 0.5 exponent calls square/reciprocal/sqrt (different from np.power
    for complex values).  Returns that ufunc, or None for np.power.  ``base`` is an
    ArrayProxy or a MaskedSelection (an ndarray in eager NumPy)."""
    dtype = base.dtype
    if _scalar_kind(base) or dtype.kind == "O":
        return None
    t = type(exponent)
    if t is int and exponent == 2:
        return np.square     # for every dtype: bool_array ** 2 is int8 (np.square), not int64
    if dtype.kind not in "fc":
        return None
    if isinstance(exponent, ScalarProxy) and type(exponent._value) is float and \
            (dtype.kind == "c" or dtype == np.float16):
        # sqrt differs from power(x, 0.5) there (float32/64 power special-cases 0.5 itself)
        raise _concretization("an exponent NumPy inspects (complex or float16 ** Python "
                              "float)", exponent)
    if t is int and exponent == -1:
        return np.reciprocal
    if t is float and exponent == 0.5:
        return np.sqrt
    return None


def _pow(self, other):
    fast = _fast_power(self, other)
    return fast(self) if fast is not None else np.power(self, other)


def _ipow(self, other):
    if _scalar_kind(self):
        return _pow(self, other)
    fast = _fast_power(self, other)
    return fast(self, out=(self,)) if fast is not None else np.power(self, other, out=(self,))


ArrayProxy.__pow__ = _pow
ArrayProxy.__ipow__ = _ipow


# Operators between NumPy scalars (and Python scalars) run NumPy's *scalar math*, which is
# not always the ufunc loop (complex products with inf/nan, complex comparisons with nan,
# abs of complex...): record the Python operator itself, so replay runs the same code.
def _is_scalar_operand(x: Any) -> bool:
    return type(x) in (int, float, complex, bool) or isinstance(x, (np.generic, ScalarProxy)) \
        or _scalar_kind(x)


def _scalar_math_binary(name: str, reflected: bool):
    slot = f"__r{name}__" if reflected else f"__{name}__"
    array_method = getattr(ArrayProxy, slot)

    def method(self, other):
        if _scalar_kind(self) and _is_scalar_operand(other):
            operands = (other, self) if reflected else (self, other)
            return self._trace.call(catalog_op(f"py.{name}"), operands, {})
        return array_method(self, other)
    method.__name__ = slot
    return method


def _scalar_math_unary(name: str):
    array_method = getattr(ArrayProxy, f"__{name}__")

    def method(self):
        if _scalar_kind(self):
            return self._trace.call(catalog_op(f"py.{name}"), (self,), {})
        return array_method(self)
    method.__name__ = f"__{name}__"
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor",
              "lshift", "rshift", "divmod"):
    setattr(ArrayProxy, f"__{_name}__", _scalar_math_binary(_name, False))
    setattr(ArrayProxy, f"__r{_name}__", _scalar_math_binary(_name, True))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(ArrayProxy, f"__{_name}__", _scalar_math_binary(_name, False))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(ArrayProxy, f"__{_name}__", _scalar_math_unary(_name))


class MaskedSelection(Tracer, NDArrayOperatorsMixin):
    """``x[mask]`` with a traced boolean mask, kept lazily as the whole array and the mask.

    Its number of elements depends on the data, but two uses need no number: combining
    selections of the same mask elementwise (``y[mask] * 2 + 1``, computed with
    ``where=mask``) and assigning one back with the same mask (``x[mask] = y[mask]``,
    ``x[mask] += 1``: ``np.copyto(x, ..., where=mask)``).  Any other use (a reduction,
    its shape, another index) raises DataDependentShapeError there.
    """

    __slots__ = ("_trace", "_full", "_mask", "_mask_var", "_where", "_base", "_version",
                 "_source")
    __array_priority__ = 1001

    def __init__(self, trace: TraceContext, full: "ArrayProxy", mask: "ArrayProxy",
                 mask_var: Var, where: Any, base: "ArrayProxy | None"):
        self._trace = trace
        self._full = full
        self._mask = mask
        self._mask_var = mask_var
        self._where = where
        self._base = base                      # the array read (None: a computed value)
        self._version = base._buffer.version if base is not None else 0
        self._source = user_frame(2)           # where the selection was made

    @staticmethod
    def of(x: "ArrayProxy", index: Any) -> "MaskedSelection | None":
        m = index[0] if type(index) is tuple and len(index) == 1 else index
        if not (isinstance(m, ArrayProxy) and m._value.dtype == np.bool_ and m.ndim >= 1
                and x.shape[:m.ndim] == m.shape):
            return None
        where = m if m.ndim == x.ndim else m.reshape(m.shape + (1,) * (x.ndim - m.ndim))
        return MaskedSelection(x._trace, x, m, m.graph_var, where, x)

    # -- what is known without the data
    @property
    def dtype(self) -> np.dtype:
        return self._full.dtype

    @property
    def ndim(self) -> int:
        return self._full.ndim - self._mask.ndim + 1

    def __repr__(self) -> str:
        return f"Traced<{self._full._var.aval.dtype}[?] = x[mask]>"

    # -- everything else needs the number of selected elements
    def _refuse(self, what: str) -> DataDependentShapeError:
        # (``what`` says which use; only elementwise use and assignment back with the
        # same mask, y[mask] = x[mask] * 2 or x[mask] += 1, are traced)
        err = DataDependentShapeError(
            "indexing with a traced boolean mask (x[mask]) selects a data-dependent number "
            "of elements", source=user_frame(3))
        err.use = what
        return err

    @property
    def graph_var(self) -> Var:
        raise self._refuse("used by this operation")

    @property
    def shape(self):
        raise self._refuse("asked for its shape")

    @property
    def size(self):
        raise self._refuse("asked for its size")

    def __len__(self):
        raise self._refuse("asked for its length")

    def __iter__(self):
        raise self._refuse("iterated over")

    def __bool__(self):
        raise self._refuse("converted to a bool")

    def __float__(self):
        raise self._refuse("converted to a float")

    def __int__(self):
        raise self._refuse("converted to an int")

    __index__ = __int__
    __complex__ = __float__

    def __array__(self, dtype=None, copy=None):
        raise self._refuse("converted to an array")

    def __getitem__(self, index):
        raise self._refuse("indexed")

    def __setitem__(self, index, value):
        raise self._refuse("written into")

    def __getattr__(self, name: str):
        if name.startswith("__array_"):
            raise AttributeError(name)
        raise self._refuse(f"used with .{name}")

    def __array_function__(self, func, types, args, kwargs):
        identity = _SELECTION_REDUCTIONS.get(func, _NONE)
        if identity is not _NONE and len(args) == 1 and args[0] is self and not kwargs \
                and self._mask.ndim == self._full.ndim:
            # A full reduction of x[mask]: the same reduction of x with the unselected
            # elements set to the identity (pairwise summation, like NumPy's on x[mask]).
            self._current()
            if func is np.mean:
                total = np.sum(np.where(self._where, self._full, 0))
                count = np.count_nonzero(self._mask)
                if total.dtype.kind in "fc":      # NumPy divides in the sum's own dtype
                    return np.true_divide(total, count, dtype=total.dtype)
                return np.true_divide(total, count)
            return func(np.where(self._where, self._full, identity))
        raise self._refuse(f"passed to np.{getattr(func, '__name__', func)}")

    def sum(self):
        return np.sum(self)

    def mean(self):
        return np.mean(self)

    def prod(self):
        return np.prod(self)

    def any(self):
        return np.any(self)

    def all(self):
        return np.all(self)

    def _current(self) -> None:
        if self._base is not None and self._base._buffer.version != self._version:
            raise self._refuse("used after the array it selects from was written")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = _normalize_out(kwargs.pop("out", None))
        if method != "__call__" or kwargs or ufunc.nout != 1 or \
                (out and (len(out) != 1 or out[0] is not self)):
            raise self._refuse(f"used in {ufunc.__name__}.{method}" if method != "__call__"
                               else f"used in {ufunc.__name__} with these arguments")
        args, probes = [], []
        for x in inputs:
            if isinstance(x, MaskedSelection):
                if not _same_value(self._trace, x._mask_var, self._mask_var) \
                        or x._full.shape != self._full.shape:
                    raise self._refuse("combined with a selection by another mask")
                x._current()
                args.append(x._full)
                probes.append(x._full._value[:0])
            elif isinstance(x, ScalarProxy) or type(x) in _PY_SCALARS or \
                    isinstance(x, np.generic) or (isinstance(x, (ArrayProxy, NDARRAY))
                                                   and x.ndim == 0):
                args.append(x)
                probes.append(x._value if isinstance(x, Tracer) else x)
            else:
                raise self._refuse(f"combined with an array in {ufunc.__name__}")
        # The result is computed where the mask is set, into a new array: of the
        # selection's dtype for ``sel += v`` (NumPy's casting rule for writing into a
        # copy; ``x[mask] = sel`` then writes it back), else of the ufunc's result dtype.
        if out:
            dtype = self.dtype
        else:
            with _evaluating(self._trace), np.errstate(all="ignore"):
                dtype = ufunc(*probes).dtype
        full = np.empty_like(self._full, dtype=dtype)
        ufunc(*args, out=full, where=self._where)
        return MaskedSelection(self._trace, full, self._mask, self._mask_var, self._where, None)

    def assign_into(self, x: "ArrayProxy", index: Any) -> None:
        """``x[index] = self`` where ``index`` is this selection's mask."""
        m = index[0] if type(index) is tuple and len(index) == 1 else index
        if not (isinstance(m, ArrayProxy) and _same_value(self._trace, m.graph_var, self._mask_var)
                and x.shape[:m.ndim] == m.shape and self._full.ndim == x.ndim
                and all(f in (1, d) for f, d in zip(self._full.shape[m.ndim:], x.shape[m.ndim:]))):
            raise self._refuse("assigned with another index")
        self._current()
        where = self._where if x.ndim == self._full.ndim else None
        np.copyto(x, self._full, where=where, casting="unsafe")


_NONE = object()
_SELECTION_REDUCTIONS = {np.sum: 0, np.mean: 0, np.prod: 1, np.any: False, np.all: True}
MaskedSelection.__pow__ = _pow
MaskedSelection.__ipow__ = _ipow


def _same_value(trace: TraceContext, a: Var, b: Var, depth: int = 6) -> bool:
    """``a`` and ``b`` are the same variable, or made by the same (pure) op from the same
    values (``x[y > 0] = z[y > 0]`` computes the mask twice)."""
    if a is b:
        return True
    if depth == 0 or isinstance(a, Literal) or isinstance(b, Literal):
        return isinstance(a, Literal) and isinstance(b, Literal) and a.value is b.value
    na, nb = _producer(trace, a), _producer(trace, b)
    if na is None or nb is None or na.op is not nb.op or na.op.effectful \
            or isinstance(na.op, MutateOp) or len(na.inputs) != len(nb.inputs) \
            or na.outputs.index(a) != nb.outputs.index(b):
        return False
    try:
        if na.params.key() != nb.params.key():
            return False
    except AttributeError:
        return False
    return all(_same_value(trace, x, y, depth - 1) for x, y in zip(na.inputs, nb.inputs))


def _producer(trace: TraceContext, v: Var, window: int = 256) -> Node | None:
    for node in reversed(trace.nodes[-window:]):
        if any(o is v for o in node.outputs):
            return node
    return None


class ScalarProxy(Tracer):
    """Stands in for a Python float or complex argument: a *weak* scalar under NEP 50.

    Arithmetic with other Python numbers follows Python; anything involving arrays goes
    through NumPy ufuncs, where the concrete Python value keeps NumPy's weak promotion.
    """

    __slots__ = ("_trace", "_var", "_value", "_sources")
    __array_priority__ = 1000

    def __init__(self, trace: TraceContext, var: Var, value: Any, sources: frozenset):
        self._trace = trace
        self._var = var
        self._value = value
        self._sources = sources

    shape = ()
    ndim = 0
    size = 1

    @property
    def graph_var(self) -> Var:
        return self._var

    @property
    def dtype(self):
        return self._var.aval.dtype

    def __repr__(self) -> str:
        return f"Traced<{self._var.aval.short()}>"

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ufunc_call(self._trace, ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _function_call(self._trace, func, args, kwargs)

    def _py(self, name: str, *operands):
        sources = frozenset().union(*(o._sources for o in operands if isinstance(o, ScalarProxy)))
        result = self._trace.call(catalog_op(f"py.{name}"), operands, {})
        for r in (result if isinstance(result, tuple) else (result,)):   # divmod: a pair
            if isinstance(r, ScalarProxy):
                r._sources = sources
        return result

    # -- the rest of Python's float/complex interface
    @property
    def real(self):
        return self._py("real", self)

    @property
    def imag(self):
        return self._py("imag", self)

    def conjugate(self):
        return self._py("conjugate", self)

    def __round__(self, ndigits=None):
        if ndigits is None:
            raise _concretization("a Python int (round())", self)
        return self._py("round", self, ndigits)

    def __bool__(self):
        raise _concretization("a Python bool", self)

    def __float__(self):
        raise _concretization("a Python float", self)

    def __int__(self):
        raise _concretization("a Python int", self)

    def __index__(self):
        raise _concretization("an index", self)

    def __complex__(self):
        raise _concretization("a Python complex", self)

    def __array__(self, dtype=None, copy=None):
        # NumPy asks for this when a list or tuple holding traced numbers reaches a ufunc
        # (np.abs([x, y])): an object array of proxies would be a wrong result
        raise _concretization("a NumPy array (a list or tuple of numbers passed to a "
                              "NumPy function?)", self)

    def __hash__(self):
        raise TypeError("unhashable type: traced scalar")


_PY_SCALARS = (int, float, complex, bool)


def _py_binary(name: str, ufunc, reflected: bool):
    def method(self, other):
        if isinstance(other, ScalarProxy) or type(other) in _PY_SCALARS or _scalar_kind(other):
            return self._py(name, other, self) if reflected else self._py(name, self, other)
        if isinstance(other, (ArrayProxy, NDARRAY, np.generic)):
            return ufunc(other, self) if reflected else ufunc(self, other)
        return NotImplemented
    return method


for _name, _uf in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                   ("truediv", np.true_divide), ("floordiv", np.floor_divide),
                   ("mod", np.remainder), ("pow", np.power), ("divmod", np.divmod)]:
    setattr(ScalarProxy, f"__{_name}__", _py_binary(_name, _uf, False))
    setattr(ScalarProxy, f"__r{_name}__", _py_binary(_name, _uf, True))
for _name, _uf in [("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
                   ("ge", np.greater_equal), ("eq", np.equal), ("ne", np.not_equal)]:
    setattr(ScalarProxy, f"__{_name}__", _py_binary(_name, _uf, False))
for _name in ("neg", "pos", "abs"):
    setattr(ScalarProxy, f"__{_name}__", (lambda n: lambda self: self._py(n, self))(_name))


class GeneratorProxy(Tracer):
    """Stands in for an ``np.random.Generator``/``RandomState`` argument: draws become nodes."""

    __slots__ = ("_trace", "_var", "_value")

    def __init__(self, trace: TraceContext, var: Var, value: Any):
        self._trace = trace
        self._var = var
        self._value = value

    @property
    def graph_var(self) -> Var:
        return self._var

    def __getattr__(self, name: str):
        attr = getattr(self._value, name)
        if not callable(attr) or name.startswith("_"):
            raise UntracedRandomError(f"generator attribute {name!r} is not traced",
                                      source=user_frame(2))
        op = _generator_op(type(self._value), name)

        def draw(*args, **kwargs):
            return self._trace.call(op, (self, *args), kwargs)
        return draw


def _generator_op(cls: type, name: str) -> CallOp:
    key = f"{cls.__name__}.{name}"
    from .graph.ops import REGISTRY
    op = REGISTRY.get(key)
    if op is None:
        def fn(gen, *args, **kwargs):
            return getattr(gen, name)(*args, **kwargs)
        fn.__name__ = key
        mut = name in ("shuffle",)
        op = register(CallOp(key, fn, "random", effectful=True))
        if mut:
            op.check = _refuse_shuffle
    return op


def _refuse_shuffle(args, kwargs):
    raise UntracedRandomError("in-place shuffles of traced arrays are not traced; use "
                              "x[rng.permutation(len(x))]", source=user_frame(4))


def catalog_op(name: str) -> CallOp:
    from .graph.ops import REGISTRY
    return REGISTRY[name]


# ============================================================================ dispatch

def _normalize_out(out: Any) -> tuple:
    if out is None:
        return ()
    return out if isinstance(out, tuple) else (out,)


def _ufunc_call(trace: TraceContext, ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict):
    # NumPy hands ``ufunc.reduce(array=x)`` (and ``indices=`` of reduceat) to overrides
    # both in ``inputs`` and in ``kwargs``: keep the positional copy only.
    for pos, name in ((0, "array"), (1, "indices")):
        if name in kwargs and len(inputs) > pos and kwargs[name] is inputs[pos]:
            del kwargs[name]
    out = kwargs.pop("out", None)
    outs = _normalize_out(out)
    if method == "at":
        target = inputs[0]
        trace.mutate(target, ufunc_op(ufunc, "at"), (TARGET, *inputs[1:]), kwargs)
        return None
    if len(outs) > 1 and any(o is not None for o in outs):
        return _ufunc_multi_out(trace, ufunc, method, inputs, kwargs, outs)
    if outs and outs[0] is not None:
        target = outs[0]
        kwargs["out"] = (TARGET,) if isinstance(out, tuple) else TARGET
        trace.mutate(target, ufunc_op(ufunc, method), inputs, kwargs)
        return target
    return trace.call(ufunc_op(ufunc, method), inputs, kwargs)


def _ufunc_multi_out(trace: TraceContext, ufunc: np.ufunc, method: str, inputs: tuple,
                     kwargs: dict, outs: tuple) -> tuple:
    """``divmod(x, y, out=(q, r))``: one mutation per out array (``None`` ones are fresh).

    Eager NumPy reads every input before it writes any output, so inputs that share
    memory with an out array are copied first."""
    buffers = {id(o._buffer) for o in outs if isinstance(o, ArrayProxy)}

    def snapshot(x):
        return x.copy() if isinstance(x, ArrayProxy) and id(x._buffer) in buffers else x
    inputs = tuple(snapshot(x) for x in inputs)
    if "where" in kwargs:
        kwargs["where"] = snapshot(kwargs["where"])
    results = list(outs)
    if any(o is None for o in outs):
        fresh = trace.call(ufunc_op(ufunc, method), inputs, kwargs)
        results = [f if o is None else o for o, f in zip(outs, fresh)]
    for k, target in enumerate(outs):
        if target is not None:
            call_kwargs = dict(kwargs, out=tuple(TARGET if i == k else o
                                                 for i, o in enumerate(outs)))
            trace.mutate(target, ufunc_out_op(ufunc, method, k), inputs, call_kwargs)
    return tuple(results)


def _function_call(trace: TraceContext, func: Any, args: tuple, kwargs: dict):
    name = getattr(func, "__name__", repr(func))
    if name in catalog.QUERIES and getattr(np, name, None) is func:
        return func(*_concrete(args), **_concrete(kwargs))
    op = op_for_function(func)
    if op is None:
        cname = catalog.qualified_name(func)
        qual = f"numpy.{cname}"
        reason = catalog.excluded_reason(cname)
        if reason:
            msg = f"{qual} is not traced: {reason}"
            err = DataDependentShapeError if "shape" in reason else UnsupportedFunctionError
            raise err(msg, source=user_frame(3))
        raise UnsupportedFunctionError(f"{qual} is not supported by tracenp yet",
                                       source=user_frame(3))
    out = kwargs.get("out")
    if out is not None:
        kwargs = dict(kwargs)
        kwargs["out"] = TARGET
        target = out[0] if isinstance(out, tuple) else out
        trace.mutate(target, op, args, kwargs)
        return target
    if op.mutates is not None:
        bound = inspect.signature(op.fn).bind(*args, **kwargs)
        target = bound.arguments[op.mutates]
        bound.arguments[op.mutates] = TARGET
        trace.mutate(target, op, bound.args, bound.kwargs)
        return None
    return trace.call(op, args, kwargs)


def _concrete(tree: Any) -> Any:
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [leaf._value if isinstance(leaf, Tracer) else leaf
                               for leaf in leaves])


def is_tracer(x: Any) -> bool:
    """True for tracenp's proxy objects."""
    return isinstance(x, Tracer)
