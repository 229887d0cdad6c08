"""The dask backend: a compiled function called with ``dask.array`` inputs returns dask
arrays, built from the function's optimized graph and run by dask's own schedulers.

* **Tracing** runs on *stand-ins* (:class:`StandIn`): arrays of each dask input's full
  shape and dtype whose contents are never looked at (a zero-stride view of one value).
  The tracer never lets data decide the graph (no branch, no shape depends on values), so
  a stand-in gives the graph the data would.  Ufunc calls and their reductions and
  accumulations, ``np.where``, ``np.concatenate``, the ``*_like`` functions, ``@``,
  ``astype``/``copy`` and views cost one element each: tracing a function of 10^10-element
  dask arrays takes milliseconds and no memory.  Other NumPy functions run their own
  implementation on the stand-ins (those that call ``np.asarray`` compute on the
  zero-stride view and allocate their results); one that checks values (``np.average``,
  ``np.linalg.solve``) is retried on ones, then on identity matrices.
* **Fused regions** (tracenp.optimize.fusion; on dask every region is fused: the size
  cost model is for in-memory arrays) run as one ``da.blockwise`` task per block: a
  :class:`BlockKernel` runs the region with tracenp's CPU kernels, compiled once per
  block shape.  A full reduction folded into a region is unfolded: the elementwise part
  runs blockwise, then dask's reduction tree.
* **Every other node** calls the same NumPy function on dask arrays: dask's NumPy API
  (``__array_function__``/``__array_ufunc__``: reductions are dask's tree reductions).
  ``ufunc.reduce``/``accumulate`` calls, which dask does not dispatch, become dask's
  ``sum``/``prod``/``max``/``min``/``all``/``any``/``cumsum``/``cumprod``.
* What cannot run this way (in-place writes, arguments written back, a trace that fails,
  a node whose dask result does not have the traced shape and dtype) runs the function
  itself on the dask arrays (dask's NumPy API, no tracenp) with a ``FallbackWarning``, or
  raises with ``strict=True``.  dask is imported only when a dask array is passed.

See docs/dask.md.
"""
from __future__ import annotations

import functools
import operator
import threading
import uuid
import weakref
from typing import Any

import numpy as np
from tracenp._ndarray import NDARRAY

from ..errors import ReplayError, TraceError, TracenpError, UnsupportedMutationError
from ..graph.ir import Graph, Literal, Var
from ..graph.ops import MutateOp
from ..graph.pytree import flatten, unflatten
from ..graph.types import ARRAY
from ..compiler import InputReader, as_kind

__all__ = ["is_dask_array", "has_dask_leaf", "call", "BlockKernel", "block_kernels",
           "dask_plans", "DaskPlan", "StandIn", "stand_in"]


def is_dask_array(x: Any) -> bool:
    """A ``dask.array.Array`` (checked without importing dask)."""
    t = type(x)
    return t.__module__.startswith("dask.array") and t.__name__ == "Array"


def has_dask_leaf(leaves: list) -> bool:
    return any(is_dask_array(x) for x in leaves)


# ============================================================================ stand-ins

def _untraced(fn):
    """Run a stand-in hook as NumPy's own code: tracenp's patched creation functions pass
    straight through (as while the tracer evaluates an op), wherever the hook is called
    from."""
    @functools.wraps(fn)
    def hook(*args, **kwargs):
        from ..tracer import current_trace
        trace = current_trace()
        if trace is None:
            return fn(*args, **kwargs)
        trace.evaluating += 1
        try:
            return fn(*args, **kwargs)
        finally:
            trace.evaluating -= 1
    return hook


class StandIn(NDARRAY):
    """An array whose shape and dtype are real and whose contents do not matter.

    A zero-stride view of one value (zero for a dask input): a uniform array.  An
    operation that produces a new array produces a new stand-in, computed on one element
    of each operand and broadcast (so values that NumPy checks stay consistent); views of
    a stand-in are stand-ins (they share its memory: the tracer sees the aliasing).
    Writes are checked (shapes, casting) and dropped.
    """

    @_untraced
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.pop("out", None)
        if method == "__call__":
            return _ufunc_call(ufunc, inputs, kwargs, out)
        if out is None and method in ("reduce", "accumulate") and len(inputs) == 1 \
                and isinstance(kwargs.get("where", True), bool):
            return _reduce(ufunc, method, inputs[0], kwargs)
        if method == "outer" and out is None and len(inputs) == 2 and not kwargs:
            shape = np.shape(inputs[0]) + np.shape(inputs[1])
            one = ufunc(*[_one(x) for x in inputs])
            return stand_in(shape, np.result_type(one), one)
        if method == "at":
            return None              # a write into a stand-in: the contents do not matter
        kwargs = {k: _plain(v) for k, v in kwargs.items()}
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*[_plain(x) for x in inputs], **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _fresh(result, inputs)

    @_untraced
    def __array_function__(self, func, types, args, kwargs):
        fast = _SHAPE_ONLY.get(func)
        if fast is not None:
            result = fast(*args, **kwargs)
            if result is not NotImplemented:
                return result
        # NumPy's own implementation, on stand-ins: most functions end in ufuncs, their
        # methods and the fast paths here (np.cumsum -> add.accumulate, np.stack ->
        # np.concatenate).  Functions that call np.asarray get plain zero-stride views:
        # what they compute is allocated (see docs/dask.md, "Tracing").
        try:
            result = super().__array_function__(func, types, args, kwargs)
        except Exception as error:
            # a check on the values (np.average's weights, np.linalg.solve's matrix): the
            # graph does not depend on them, so other contents are as good as zeros
            leaves, treedef = flatten((args, kwargs))
            for kind in ("ones", "identity"):
                try:
                    a, k = unflatten(treedef, [_alternative(x, kind) for x in leaves])
                    result = super().__array_function__(func, types, a, k)
                    break
                except Exception:
                    continue
            else:
                raise error
        return _fresh(result, flatten((args, kwargs))[0])

    # ndarray methods that copy: one element, broadcast
    @_untraced
    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        one = _one(self).astype(dtype, casting=casting)
        if not copy and one.dtype == self.dtype:
            return self
        return stand_in(self.shape, one.dtype, one)

    @_untraced
    def copy(self, order="C"):
        return stand_in(self.shape, self.dtype, _one(self))

    @_untraced
    def conj(self):
        return self.conjugate()

    @_untraced
    def conjugate(self):
        if self.dtype.kind != "c":
            return self.copy()
        return np.conjugate(self)

    @_untraced
    def round(self, decimals=0, out=None):
        if out is not None:
            return out
        one = _one(self).round(decimals)
        return stand_in(self.shape, one.dtype, one)

    @_untraced
    def flatten(self, order="C"):
        return stand_in((self.size,), self.dtype, _one(self))

    @_untraced
    def __setitem__(self, index, value):
        target = NDARRAY.__getitem__(self.view(NDARRAY), index)
        shape = np.broadcast_shapes(np.shape(value), target.shape)
        if shape != target.shape:
            raise ValueError(f"could not broadcast input array from shape {np.shape(value)} "
                             f"into shape {target.shape}")

    @_untraced
    def fill(self, value):
        pass


def stand_in(shape: tuple, dtype: Any, fill: Any = 0) -> StandIn:
    """A stand-in of this shape and dtype: no memory beyond one element.  It is writable
    (NumPy functions sort or fill their copies in place); every element is that one.
    Made with the ndarray constructor: NumPy's creation functions are tracenp's while a
    trace runs."""
    dtype = np.dtype(dtype)
    one = NDARRAY((1,), dtype)
    np.copyto(one, fill, casting="unsafe")
    shape = tuple(shape)
    return StandIn(shape, dtype, buffer=one, strides=(0,) * len(shape))


def _alternative(x: Any, kind: str) -> Any:
    """Other contents for a stand-in, for NumPy functions that check values (weights
    that must not sum to zero, matrices that must not be singular): ones, or identity
    matrices (materialized up to 2^24 elements per matrix)."""
    if not isinstance(x, StandIn):
        return x
    if kind == "ones" or x.ndim < 2:
        return stand_in(x.shape, x.dtype, 1)
    m, n = x.shape[-2:]
    if m * n > 1 << 24:
        raise MemoryError("matrix too large for a stand-in with identity contents")
    eye = NDARRAY((m, n), x.dtype)
    eye.fill(0)
    eye.reshape(-1)[::n + 1] = 1
    return StandIn(x.shape, x.dtype, buffer=eye, strides=(0,) * (x.ndim - 2) + eye.strides)


def _plain(x: Any) -> Any:
    return x.view(NDARRAY) if isinstance(x, StandIn) else x


def _plain_tree(tree: Any) -> Any:
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [_plain(x) for x in leaves])


def _root(a: Any) -> Any:
    while isinstance(getattr(a, "base", None), NDARRAY):
        a = a.base
    return a


def _fresh(result: Any, inputs: Any) -> Any:
    """``result`` of a NumPy call on stand-ins: arrays sharing memory with a stand-in stay
    views (as stand-ins); new arrays become stand-ins (of their first element)."""
    roots = {id(_root(x)) for x in inputs if isinstance(x, StandIn)}
    leaves, treedef = flatten(result)
    out = []
    for r in leaves:
        if type(r) is NDARRAY or isinstance(r, StandIn):
            if id(_root(r)) in roots:
                r = r.view(StandIn)
            elif r.ndim:
                r = stand_in(r.shape, r.dtype, r.flat[0] if r.size else 0)
        out.append(r)
    return unflatten(treedef, out)


def _one(x: Any) -> Any:
    """One element of an array operand, as a 0-d array (the shape comes from
    broadcasting; a stand-in's elements are all this one)."""
    if not isinstance(x, NDARRAY):
        return x
    return np.array(x[(0,) * x.ndim]) if x.size else np.zeros((), x.dtype)


def _reduce(ufunc: np.ufunc, method: str, x: NDARRAY, kwargs: dict) -> Any:
    """``ufunc.reduce``/``accumulate`` of a stand-in: run on a copy whose reduced axes have
    length 1 (0 stays 0, so NumPy's errors stay), then give the result its real shape."""
    axis = kwargs.get("axis", 0)
    if axis is None or method == "accumulate" and x.ndim == 0:
        axes = set(range(x.ndim))
    else:
        axes = {int(a) % max(x.ndim, 1) for a in (axis if isinstance(axis, tuple) else (axis,))}
    small = np.full(tuple(min(d, 1) if k in axes else d for k, d in enumerate(x.shape)),
                    _one(x), x.dtype)
    result = getattr(ufunc, method)(small, **kwargs)
    if method == "accumulate":
        return stand_in(x.shape, result.dtype, result.flat[0] if result.size else 0)
    return _fresh(result, ())


def _matmul_shape(a: tuple, b: tuple) -> tuple:
    if not a or not b:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    a2 = a if len(a) > 1 else (1,) + a
    b2 = b if len(b) > 1 else b + (1,)
    if a2[-1] != b2[-2]:
        raise ValueError(f"matmul: Input operand 1 has a mismatch in its core dimension 0 "
                         f"(size {b2[-2]} is different from {a2[-1]})")
    shape = np.broadcast_shapes(a2[:-2], b2[:-2]) + (a2[-2], b2[-1])
    if len(b) == 1:
        shape = shape[:-1]
    if len(a) == 1:
        shape = shape[:-2] + shape[-1:] if len(b) > 1 else shape[:-1]
    return shape


def _ufunc_call(ufunc: np.ufunc, inputs: tuple, kwargs: dict, out: tuple | None) -> Any:
    if ufunc is np.matmul and out is None and len(inputs) == 2 and not kwargs \
            and all(isinstance(x, NDARRAY) for x in inputs):
        shape = _matmul_shape(inputs[0].shape, inputs[1].shape)
        small = np.matmul(*[np.full((1,) * x.ndim, _one(x), x.dtype) for x in inputs])
        return stand_in(shape, small.dtype, small.flat[0]) if shape else small.reshape(())[()]
    if ufunc.signature is not None:       # other gufuncs: their own shape rules
        kw = dict(kwargs)
        if out is not None:
            kw["out"] = tuple(_plain(o) for o in out)
        result = ufunc(*[_plain(x) for x in inputs], **kw)
        return out[0] if out is not None and len(out) == 1 else \
            out if out is not None else _fresh(result, inputs)
    inputs = tuple(x if isinstance(x, (NDARRAY, np.generic, int, float, complex)) else
                   np.asarray(x) for x in inputs)          # lists: arrays, as NumPy does
    where = kwargs.get("where", True)
    shapes = [x.shape for x in inputs if isinstance(x, NDARRAY)]
    if isinstance(where, NDARRAY):
        shapes.append(where.shape)
        kwargs = {**kwargs, "where": _one(where)}
    shape = np.broadcast_shapes(*shapes)
    if out is not None:
        outs = tuple(o for o in out if o is not None)
        if any(np.broadcast_shapes(o.shape, shape) != o.shape for o in outs):
            raise ValueError(f"non-broadcastable output operand with shape "
                             f"{outs[0].shape} doesn't match the broadcast shape {shape}")
        small = tuple(None if o is None else np.zeros((), o.dtype) for o in out)
        ufunc(*[_one(x) for x in inputs], out=small, **kwargs)    # casting checks
        return out[0] if len(out) == 1 else out
    result = ufunc(*[_one(x) for x in inputs], **kwargs)
    if shape == ():
        return result              # NumPy scalars, as NumPy gives for 0-d operands
    if ufunc.nout == 1:
        return stand_in(shape, np.result_type(result), result)
    return tuple(stand_in(shape, np.result_type(r), r) for r in result)


def _where(condition, x=None, y=None):
    if x is None or y is None:
        return NotImplemented         # np.where(c): nonzero, data-dependent
    shape = np.broadcast_shapes(np.shape(condition), np.shape(x), np.shape(y))
    one = np.where(_one(condition), _one(x), _one(y))
    return stand_in(shape, one.dtype, one)


def _like(func):
    def fast(prototype, *args, shape=None, **kwargs):
        if not isinstance(prototype, StandIn) or func is np.full_like and \
                np.ndim(args[0] if args else kwargs.get("fill_value")):
            return NotImplemented       # (an array fill: NumPy's own, on the stand-in)
        one = np.asarray(func(_one(prototype), *args, **kwargs))
        if shape is None:
            shape = prototype.shape
        elif isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        return stand_in(tuple(shape), one.dtype, one)
    return fast


def _concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays = list(arrays)
    if out is not None or not arrays:
        return NotImplemented
    shapes = [np.shape(a) for a in arrays]
    if axis is None:
        shape = (sum(int(np.prod(s)) for s in shapes),)
        small = [np.full(min(int(np.prod(s)), 1), _one(a)) for a, s in zip(arrays, shapes)]
    else:
        nd = len(shapes[0])
        if nd == 0 or any(len(s) != nd for s in shapes):
            return NotImplemented        # NumPy's own error
        ax = axis % nd if -nd <= axis < nd else axis
        if not isinstance(ax, int) or ax >= nd or any(
                s[:ax] + s[ax + 1:] != shapes[0][:ax] + shapes[0][ax + 1:] for s in shapes):
            return NotImplemented
        shape = shapes[0][:ax] + (sum(s[ax] for s in shapes),) + shapes[0][ax + 1:]
        small = [np.full(tuple(min(d, 1) for d in s), _one(a)) for a, s in zip(arrays, shapes)]
        axis = ax
    one = np.concatenate(small, axis=axis, dtype=dtype, casting=casting)
    return stand_in(shape, one.dtype, one.flat[0] if one.size else 0)


_SHAPE_ONLY = {np.concatenate: _concatenate, np.where: _where, np.zeros_like: _like(np.zeros_like),
               np.ones_like: _like(np.ones_like), np.empty_like: _like(np.empty_like),
               np.full_like: _like(np.full_like)}


# ============================================================================ block kernels

_KERNELS: "weakref.WeakValueDictionary[str, BlockKernel]" = weakref.WeakValueDictionary()
_KERNELS_LOCK = threading.Lock()


class BlockKernel:
    """A fused region's body, run on one block per dask task by tracenp's CPU kernels.

    For each block signature (the shape of the output block) the region is compiled
    once, like an in-memory region of that shape (tracenp.exec.kernels: NumPy op by op
    for small blocks, the blocked or the numexpr kernel for large ones; results bit for
    bit NumPy's).  Blocks run no trace, so nothing is patched in worker threads.

    The kernel pickles as a description of its ops (ufuncs by name); in each process all
    copies of one kernel are one object (by ``token``), so a distributed worker compiles
    each block signature once.
    """

    def __init__(self, in_avals: tuple, steps: tuple, outs: tuple, token: str | None = None):
        self.in_avals = in_avals      # the region inputs' traced types
        self.steps = steps            # (ufunc or "where", CallParams, input slots, output type)
        self.outs = outs              # slots of the body's outputs
        self.token = token or uuid.uuid4().hex
        self.compiled: dict[tuple, Any] = {}    # output block shape -> Region (compiled)
        self._body: tuple | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(cls, region: Any) -> "BlockKernel":
        slot = {v.id: k for k, v in enumerate(region.inputs)}
        steps = []
        for node in region.nodes:
            fn = "where" if node.op.name == "where" else node.op.ufunc
            steps.append((fn, node.params, tuple(slot[v.id] for v in node.inputs),
                          node.outputs[0].aval))
            slot[node.outputs[0].id] = len(slot)
        body_outputs = region.outputs if region.reduce is None else [region.reduce.inputs[0]]
        kernel = cls(tuple(v.aval for v in region.inputs), tuple(steps),
                     tuple(slot[v.id] for v in body_outputs))
        with _KERNELS_LOCK:
            _KERNELS[kernel.token] = kernel
        return kernel

    def _nodes(self) -> tuple:
        """The body as graph nodes (rebuilt from the steps in this process)."""
        from ..graph.ir import Node
        from ..graph.ops import REGISTRY, ufunc_op
        env = [Var(a, hint="block") for a in self.in_avals]
        nodes = []
        for fn, params, refs, aval in self.steps:
            op = REGISTRY["where"] if fn == "where" else ufunc_op(fn, "__call__")
            out = Var(aval)
            nodes.append(Node(op, tuple(env[r] for r in refs), (out,), params))
            env.append(out)
        return env[:len(self.in_avals)], nodes, [env[k] for k in self.outs]

    def region_for(self, shape: tuple) -> Any:
        """The region compiled for output blocks of ``shape`` (once per shape)."""
        region = self.compiled.get(shape)
        if region is None:
            from ..optimize.fusion import Region
            from .kernels import compile_region
            with self._lock:
                region = self.compiled.get(shape)
                if region is None:
                    if self._body is None:
                        self._body = self._nodes()
                    inputs, nodes, outputs = self._body
                    region = Region(nodes, inputs, outputs, shape)
                    compile_region(region)
                    self.compiled[shape] = region
        return region

    @property
    def compile_count(self) -> int:
        """How many block signatures this kernel compiled (in this process)."""
        return len(self.compiled)

    def __call__(self, *blocks):
        from .kernels import run_region
        shape = np.broadcast_shapes(*[b.shape for b in blocks if isinstance(b, NDARRAY)])
        outs = run_region(self.region_for(shape), list(blocks))
        return outs[0] if len(outs) == 1 else outs

    def __dask_tokenize__(self):
        return ("tracenp.BlockKernel", self.token)

    def __reduce__(self):
        return (_restore_kernel, (self.in_avals, self.steps, self.outs, self.token))

    def __repr__(self) -> str:
        return f"<tracenp.BlockKernel {len(self.steps)} ops, {len(self.outs)} outputs>"


def _restore_kernel(in_avals: tuple, steps: tuple, outs: tuple, token: str) -> BlockKernel:
    with _KERNELS_LOCK:
        kernel = _KERNELS.get(token)
        if kernel is None:
            kernel = _KERNELS[token] = BlockKernel(in_avals, steps, outs, token)
    return kernel


def dask_plans(fn: Any) -> list["DaskPlan"]:
    """A compiled function's dask plans, one per signature (for inspection and tests):
    ``plan.graph`` is the optimized graph they run."""
    return [p for p in getattr(fn, "_dask_plans", {}).values() if isinstance(p, DaskPlan)]


def block_kernels(fn: Any) -> list[BlockKernel]:
    """The block kernels of a compiled function's dask plans."""
    return [k for p in dask_plans(fn) for k in p.kernels]


# ============================================================================ plans

_DASK_REDUCE = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min",
                "logical_and": "all", "logical_or": "any"}
_DASK_ACCUMULATE = {"add": "cumsum", "multiply": "cumprod"}


def _ufunc_method_on_dask(node: Any, ins: list) -> tuple:
    """``ufunc.reduce``/``accumulate`` of a dask array (dask does not dispatch them)."""
    import dask.array as da
    op = node.op
    table = _DASK_REDUCE if op.method == "reduce" else _DASK_ACCUMULATE
    name = table.get(op.ufunc.__name__)
    args, kwargs = node.params.fill(ins)
    names = ("axis", "dtype", "out", "keepdims")
    for k, v in zip(names, args[1:]):
        kwargs.setdefault(k, v)
    extra = set(kwargs) - {"axis", "dtype", "keepdims"} - ({"out"} if kwargs.get("out") is None else set())
    if name is None or len(args) - 1 > len(names) or extra or \
            op.method == "accumulate" and kwargs.get("keepdims"):
        raise ReplayError(f"{op.name} has no dask equivalent here")
    call = {"axis": kwargs.get("axis", 0)}
    if kwargs.get("dtype") is not None:
        if name in ("max", "min", "all", "any"):
            raise ReplayError(f"{op.name} with dtype= has no dask equivalent")
        call["dtype"] = kwargs["dtype"]
    if op.method == "reduce":
        call["keepdims"] = bool(kwargs.get("keepdims", False))
    return (getattr(da, name)(args[0], **call),)


class DaskPlan(InputReader):
    """A traced, optimized and fused graph, run node by node on dask arrays."""

    def __init__(self, fn: Any, graph: Graph):
        from ..optimize.fusion import FusedOp
        if graph.writebacks:
            raise UnsupportedMutationError(
                "the function writes into its array arguments; dask arrays are not written "
                "in place by compiled plans",
                hint="return the new values instead of writing into the arguments")
        self.graph = graph
        self.fn = fn
        self.steps: list[tuple] = []
        self.kernels: list[BlockKernel] = []
        for node in graph.nodes:
            if isinstance(node.op, MutateOp):
                raise UnsupportedMutationError(
                    f"an in-place write ({node.op.name}) is not compiled for dask arrays",
                    source=node.source,
                    hint="write the function without in-place writes (np.where, "
                         "np.concatenate) to compile it for dask")
            if isinstance(node.op, FusedOp):
                kernel = BlockKernel.of(node.params)
                self.kernels.append(kernel)
                self.steps.append((node, kernel))
            else:
                self.steps.append((node, None))
        self.bind_inputs(fn, graph)

    def run(self, leaves: list) -> Any:
        graph = self.graph
        env: dict[int, Any] = {}
        for v, value in zip(graph.inputs, self.read_inputs(leaves)):
            env[v.id] = value

        def get(v: Var) -> Any:
            return v.value if isinstance(v, Literal) else env[v.id]

        for node, kernel in self.steps:
            ins = [get(v) for v in node.inputs]
            lazy = any(is_dask_array(x) for x in ins)
            if kernel is not None and lazy:
                outs = _run_region(node.params, kernel, ins)
            elif lazy and getattr(node.op, "method", None) in ("reduce", "accumulate"):
                outs = _ufunc_method_on_dask(node, ins)
            else:
                outs = node.op.evaluate(node.params, ins)
            for var, value in zip(node.outputs, outs):
                _check(node, var, value)
                env[var.id] = value
        out = []
        for v in graph.outputs:
            if isinstance(v, Var):
                value = get(v)
                if isinstance(value, NDARRAY) and isinstance(v, Literal):
                    value = value.copy()
                else:
                    value = as_kind(v.aval.kind, value)
                out.append(value)
            else:
                out.append(v)
        return unflatten(graph.out_tree, out)


def _check(node: Any, var: Var, value: Any) -> None:
    """Every value has its traced shape and dtype (dask's NumPy API may differ)."""
    aval = var.aval
    if aval.kind not in (ARRAY, "npscalar"):
        return
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape != aval.shape or dtype != aval.dtype:
        what = (f"{type(value).__name__} {dtype}{list(shape)}" if shape is not None
                else type(value).__name__)
        raise ReplayError(f"{node.op.name} on dask arrays gave {what} where the trace "
                          f"recorded {aval.dtype}{list(aval.shape)}", source=node.source,
                          hint="the call ran with dask's NumPy API instead")


def _run_region(region: Any, kernel: BlockKernel, ins: list) -> tuple:
    """A fused region on dask arrays: one kernel call per block (``da.blockwise``);
    a folded full reduction then runs as dask's reduction."""
    import dask.array as da
    from dask.base import tokenize
    nd = len(region.shape)
    pairs: list = []
    for x in ins:
        if is_dask_array(x) or isinstance(x, NDARRAY) and x.ndim:
            arr = x if is_dask_array(x) else da.asarray(x)
            pairs += [arr, tuple(range(nd - arr.ndim, nd))]
        else:
            pairs += [x, None]          # scalars keep their type (NEP 50: weak or not)
    out_ind = tuple(range(nd))
    body_outputs = region.outputs if region.reduce is None else [region.reduce.inputs[0]]
    token = tokenize(kernel, out_ind, *pairs)
    if len(body_outputs) == 1:
        dt = body_outputs[0].aval.dtype
        results = [da.blockwise(kernel, out_ind, *pairs, dtype=dt, name=f"tracenp-fused-{token}",
                                meta=np.empty((0,) * nd, dt))]
    else:
        both = da.blockwise(kernel, out_ind, *pairs, dtype=object,
                            name=f"tracenp-fused-{token}", meta=np.empty((0,) * nd, object))
        results = [da.map_blocks(operator.itemgetter(k), both, dtype=v.aval.dtype,
                                 name=f"tracenp-fused-{k}-{token}",
                                 meta=np.empty((0,) * nd, v.aval.dtype))
                   for k, v in enumerate(body_outputs)]
    if region.reduce is not None:
        red = region.reduce
        return tuple(red.op.evaluate(red.params, results))
    return tuple(results)


# ============================================================================ calls

def _dask_key(leaf: Any, i: int, aliases: dict) -> Any:
    if not is_dask_array(leaf):
        return None
    if any(d != d for d in leaf.shape):
        from ..compiler import _Unsupported
        raise _Unsupported("a dask array of unknown shape (nan chunks) is not traced; call "
                           "compute_chunk_sizes() first")
    return ("dask", leaf.shape, leaf.dtype, aliases.setdefault(id(leaf), i))


def _signature(cf: Any, args: tuple, kwargs: dict) -> tuple[Any, list]:
    return cf.foreign_signature(args, kwargs, _dask_key)


def _warn(cf: Any, err: TracenpError) -> None:
    cf._warn(err, "uncompiled, with dask's NumPy API", tag="dask")


def _fallback(cf: Any, plans: dict, key: Any, err: TracenpError) -> Any:
    from ..compiler import _Eager
    if cf.strict:
        raise err
    _warn(cf, err)
    plan = plans[key] = _Eager(err)
    return plan


def _build(cf: Any, plans: dict, key: Any, args: tuple, kwargs: dict) -> Any:
    from ..compiler import _Eager, trace
    with cf._lock:
        cached = plans.get(key)
        if cached is not None and not (type(cached) is DaskPlan and cached.watches_globals
                                       and cached.globals_changed()):
            return cached
        if isinstance(key[1], str):
            return _fallback(cf, plans, key, TraceError(key[2]))
        def build(m_args: tuple, m_kwargs: dict) -> DaskPlan:
            leaves, _ = flatten((m_args, m_kwargs))
            stand_ins = {i: stand_in(x.shape, x.dtype) for i, x in enumerate(leaves)
                         if is_dask_array(x)}
            graph = trace(cf.fn, m_args, m_kwargs, cf._auto_static, stand_ins=stand_ins)
            cf._optimize(graph, fuse_everything=True)
            return DaskPlan(cf.fn, graph)

        key, plan = cf._specializing(key, args, kwargs, build,
                                     lambda: _signature(cf, args, kwargs)[0])
        if isinstance(plan, TraceError):
            return _fallback(cf, plans, key, plan)
        if isinstance(plan, Exception):
            err = TraceError(f"internal error while tracing for dask "
                             f"({type(plan).__name__}: {plan})")
            if cf.strict:
                cf.fn(*args, **kwargs)
                raise err from plan
            pending = _Eager(err, pending=True)
            pending.key = key
            return pending
        plan.key = key
        plans[key] = plan
        return plan


def call(cf: Any, args: tuple, kwargs: dict) -> Any:
    """``cf(*args, **kwargs)`` where some argument is a dask array: a dask result."""
    from ..compiler import _unstatic
    plans = cf.__dict__.get("_dask_plans")
    if plans is None:
        plans = cf.__dict__.setdefault("_dask_plans", {})
    key, leaves = _signature(cf, args, kwargs)
    plan = plans.get(key)
    if plan is None or (type(plan) is DaskPlan and plan.watches_globals and plan.globals_changed()):
        plan = _build(cf, plans, key, args, kwargs)
    if type(plan) is not DaskPlan:
        result = cf.fn(*args, **kwargs)      # dask's own NumPy API; the user's errors propagate
        if plan.pending:
            _fallback(cf, plans, plan.key, plan.reason)
        return result
    try:
        return plan.run(_unstatic(leaves))
    except Exception as exc:
        result = cf.fn(*args, **kwargs)
        err = exc if isinstance(exc, TracenpError) else ReplayError(
            f"building the dask graph raised {type(exc).__name__}: {exc}")
        if cf.strict:
            raise err from exc
        _warn(cf, err)
        from ..compiler import _Eager
        plans[plan.key] = _Eager(err)
        return result
