"""The CuPy backend: a compiled function replayed on the GPU.

* **Two ways in.**  A compiled function called with CuPy arrays runs on the GPU and
  returns CuPy arrays (full reductions give 0-d CuPy arrays, as CuPy's own do).
  ``tracenp.compile(f, backend="cupy")`` takes NumPy arrays, runs on the GPU and returns
  NumPy arrays: the array arguments are copied to the device once at the start of a call
  and the results back at its end; nothing in between crosses.  Gradients
  (``tracenp.grad(f, backend="cupy")``, or a gradient called with CuPy arrays) are graphs
  like any other and run the same way.
* **Tracing** never looks at the data: CuPy arguments are traced as shape-only stand-ins
  (tracenp.exec.dask_backend.StandIn), so tracing copies nothing from the device.
* **Fused regions** (every elementwise region, however small: a kernel launch costs the
  same at any size) become one ``cupy.ElementwiseKernel`` each, or a
  ``cupy.ReductionKernel`` when a full reduction closes them (tracenp.exec.cuda_kernel).
  A region the CUDA table cannot spell runs op by op through CuPy's functions.
* **Every other node** calls CuPy's function of the same name (``np.sum`` ->
  ``cupy.sum``, ``np.linalg.solve`` -> ``cupy.linalg.solve``, a ufunc method ->
  the CuPy ufunc's method, ``scipy.special.erf`` -> ``cupyx.scipy.special.erf``); ndarray
  methods and Python operators are called on the CuPy arrays.  NumPy's random draws stay
  on the host (the same generator, the same numbers) and are copied to the device.
  Each result is checked against the traced shape and dtype, and cast to the traced dtype
  where CuPy's differs, so results have NumPy 2's dtypes.  A function CuPy lacks stops the
  plan with a ``ReplayError`` that names it.
* **Fallback**: what cannot be traced (or replayed) runs eagerly, with a
  ``FallbackWarning``: NumPy on the CPU for ``backend="cupy"``, the function itself on the
  CuPy arrays otherwise; ``strict=True`` raises instead.

Without a usable device (CuPy not installed, no driver, no GPU) asking for
``backend="cupy"`` raises :class:`tracenp.DeviceError`.  See docs/gpu.md.
"""
from __future__ import annotations

import contextlib
import importlib
import threading
from typing import Any

import numpy as np
from tracenp._ndarray import NDARRAY

from ..errors import DeviceError, ReplayError, TraceError, TracenpError
from ..graph.ir import Graph, Literal, Var
from ..graph.ops import MutateOp
from ..graph.pytree import flatten, unflatten
from ..graph.types import ARRAY, NPSCALAR
from ..compiler import InputReader, as_kind, copy_outputs

__all__ = ["is_cupy_array", "has_cupy_leaf", "device_status", "require_device", "call",
           "CupyPlan", "cupy_plans", "describe", "region_kernels"]

_state: dict[str, Any] = {}
_lock = threading.Lock()


# ============================================================================ the device
def is_cupy_array(x: Any) -> bool:
    """A ``cupy.ndarray`` (checked without importing CuPy)."""
    t = type(x)
    return t.__module__.startswith("cupy") and t.__name__ == "ndarray"


def has_cupy_leaf(leaves: list) -> bool:
    return any(is_cupy_array(x) for x in leaves)


def device_status() -> tuple[bool, str]:
    """``(True, description)`` when CuPy is installed and sees a CUDA device, else
    ``(False, why not)``.  A device found is remembered (for the CuPy module found)."""
    import sys
    status = _state.get("status")
    if status is None or sys.modules.get("cupy") is not _state.get("module"):
        try:
            import cupy
        except Exception as e:          # ImportError, or a broken CUDA installation
            status = (False, f"CuPy is not installed ({type(e).__name__}: {e})")
        else:
            try:
                n = cupy.cuda.runtime.getDeviceCount()
            except Exception as e:
                status = (False, f"CuPy {cupy.__version__} finds no CUDA device "
                                 f"({type(e).__name__}: {e})")
            else:
                if n <= 0:
                    status = (False, f"CuPy {cupy.__version__} finds no CUDA device")
                else:
                    name = ""
                    try:
                        props = cupy.cuda.runtime.getDeviceProperties(0)
                        name = props["name"].decode() if isinstance(props["name"], bytes) \
                            else str(props["name"])
                    except Exception:
                        pass
                    status = (True, f"{n} CUDA device(s){': ' + name if name else ''}")
                    _state["status"], _state["module"] = status, cupy
    return status


def require_device() -> Any:
    """The ``cupy`` module, or :class:`DeviceError` naming what is missing."""
    ok, why = device_status()
    if not ok:
        raise DeviceError(f'backend="cupy" needs a CUDA device: {why}')
    import cupy
    return cupy


# ============================================================================ functions
_MODULES = {"numpy": "cupy", "numpy.linalg": "cupy.linalg", "numpy.fft": "cupy.fft",
            "numpy.random": None, "scipy.special": "cupyx.scipy.special",
            "scipy.special._ufuncs": "cupyx.scipy.special"}
_MISSING = object()


def _cupy_function(op: Any) -> Any:
    """CuPy's counterpart of a CallOp's function, None to call the op's own function on
    the CuPy arrays (Python operators, ndarray methods, host-only functions), or
    ``_MISSING`` when CuPy has none."""
    cache = _state.setdefault("functions", {})
    hit = cache.get(op.name, _NONE)
    if hit is not _NONE:
        return hit
    found = _lookup(op)
    cache[op.name] = found
    return found


_NONE = object()


def _lookup(op: Any) -> Any:
    import cupy
    ufunc = getattr(op, "ufunc", None)
    if ufunc is not None:
        if getattr(np, ufunc.__name__, None) is ufunc:
            target = getattr(cupy, ufunc.__name__, None)
        else:                               # another library's ufunc (scipy.special's)
            target = _from_module("scipy.special", ufunc.__name__)
        if target is None:
            return _MISSING
        method = getattr(op, "method", "__call__")
        if method == "__call__":
            return target
        return getattr(target, method, _MISSING)
    if op.category == "random":
        return None               # drawn on the host: NumPy's generator, NumPy's numbers
    fn = getattr(op, "fn", None)
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__name__", "")
    if module == "numpy" or module.startswith("numpy.") and module in _MODULES:
        target = _from_module(module, name)
        return _MISSING if target is None else target
    if module.startswith("numpy"):
        target = getattr(cupy, name, None)
        return _MISSING if target is None else target
    return None


def _from_module(module: str, name: str) -> Any:
    target = _MODULES.get(module)
    if target is None:
        return None
    try:
        return getattr(importlib.import_module(target), name, None)
    except ImportError:
        return None


def _call_op(node: Any, ins: list, inplace: bool) -> tuple:
    op, params = node.op, node.params
    if isinstance(op, MutateOp):
        fn = _cupy_function(op.inner)
        if fn is _MISSING:
            raise ReplayError(f"{op.inner.name} has no CuPy implementation", source=node.source)
        return op.evaluate(params, ins, inplace)
    fn = _cupy_function(op) if hasattr(op, "fn") else None
    if fn is _MISSING:
        raise ReplayError(f"{op.name} has no CuPy implementation (cupy.{op.name} is missing)",
                          source=node.source,
                          hint="run that part on the CPU, or pass NumPy arrays without "
                               "backend='cupy'")
    if fn is None:
        return op.evaluate(params, ins)
    args, kwargs = params.fill(ins)
    result = fn(*args, **kwargs)
    from ..graph.ops import LEAF
    if params.out_tree is LEAF or params.out_tree == LEAF:
        return (result,)
    leaves, _ = flatten(result)
    return tuple(leaves[i] for i in params.out_arrays)


# ============================================================================ plans
class CupyPlan(InputReader):
    """A traced, optimized graph (fused for the GPU) run node by node with CuPy."""

    def __init__(self, fn: Any, graph: Graph, host_io: bool):
        from ..compiler import _output_views
        from ..optimize.fusion import FusedOp
        from .interpreter import inplace_safe
        from .cuda_kernel import cuda_kernel, kernel_name
        self.graph = graph
        self.fn = fn
        self.host_io = host_io
        results = [v for v in graph.outputs if isinstance(v, Var)] + [v for _, v in graph.writebacks]
        inplace = inplace_safe(graph, results)
        self.steps: list[tuple] = []
        self.kernels = []
        k = 0
        for i, node in enumerate(graph.nodes):
            if isinstance(node.op, FusedOp):
                kern = cuda_kernel(node.params, kernel_name(graph.name, node.params, k))
                k += 1
                self.kernels.append(kern)
                self.steps.append((node, kern, False))
            else:
                self.steps.append((node, None, i in inplace))
        self.output_views = _output_views(graph)
        self.writeback_of = {id(v): idx for idx, v in graph.writebacks}
        self.copy_outputs = copy_outputs(graph)
        self.bind_inputs(fn, graph)
        last: dict[int, int] = {}
        for i, (node, _, _) in enumerate(self.steps):
            for v in node.inputs:
                last[v.id] = i
        keep = {v.id for v in results}
        # per step: the values read for the last time there (dropped after it)
        self.frees = [[v.id for v in dict.fromkeys(node.inputs)
                       if last.get(v.id) == i and v.id not in keep]
                      for i, (node, _, _) in enumerate(self.steps)]
        self._constants: dict[int, Any] = {}      # literal id -> its device copy
        self.casts = 0                             # results cast to the traced dtype

    # ---------------------------------------------------------------- running
    def run(self, leaves: list) -> Any:
        import cupy
        graph = self.graph
        env: dict[int, Any] = {}
        for v, value in zip(graph.inputs, self.read_inputs(leaves)):
            env[v.id] = cupy.asarray(value) if type(value) is NDARRAY else value

        def get(v: Var) -> Any:
            if isinstance(v, Literal):
                return self._constant(v)
            return env[v.id]

        for i, (node, kern, inplace) in enumerate(self.steps):
            ins = [get(v) for v in node.inputs]
            if kern is not None:
                outs = self._run_region(node, kern, ins)
            else:
                outs = _call_op(node, ins, inplace)
            for var, value in zip(node.outputs, outs):
                env[var.id] = self._check(node, var, value)
            for vid in self.frees[i]:
                env.pop(vid, None)
        return self._outputs(leaves, get)

    def _constant(self, v: Literal) -> Any:
        value = v.value
        if type(value) is not NDARRAY:
            return value
        if v.borrowed:                  # the user's array, read by reference: every call
            import cupy
            return cupy.asarray(value)
        dev = self._constants.get(v.id)
        if dev is None:
            import cupy
            dev = self._constants[v.id] = cupy.asarray(value)
        return dev

    def _run_region(self, node: Any, kern: Any, ins: list) -> tuple:
        region = node.params
        if kern.refused is None:
            try:
                return _launch(region, kern, ins)
            except TracenpError:
                raise
            except Exception as e:      # CuPy could not compile or launch it: op by op
                kern.refused = f"CuPy failed on it ({type(e).__name__}: {str(e)[:300]})"
        return self._op_by_op(region, ins)

    def _op_by_op(self, region: Any, ins: list) -> tuple:
        env = {v.id: x for v, x in zip(region.inputs, ins)}

        def get(v: Var) -> Any:
            hit = env.get(v.id, _NONE)
            if hit is not _NONE:
                return hit
            return self._constant(v) if isinstance(v, Literal) else env[v.id]

        for node in region.nodes:
            outs = _call_op(node, [get(v) for v in node.inputs], False)
            env[node.outputs[0].id] = self._check(node, node.outputs[0], outs[0])
        if region.reduce is not None:
            red = region.reduce
            outs = _call_op(red, [get(v) for v in red.inputs], False)
            return (self._check(red, red.outputs[0], outs[0]),)
        return tuple(env[v.id] for v in region.outputs)

    def _check(self, node: Any, var: Var, value: Any) -> Any:
        """The value with its traced shape and dtype: CuPy's own dtype rules differ from
        NumPy 2's in places, so a result of the right shape is cast to the traced dtype."""
        aval = var.aval
        if aval.kind not in (ARRAY, NPSCALAR):
            return value
        if type(value) is NDARRAY:            # a host result (a random draw): to the device
            import cupy
            value = cupy.asarray(value)
        elif aval.kind == ARRAY and not is_cupy_array(value) and \
                isinstance(value, (np.generic, int, float, complex, bool)):
            import cupy
            value = cupy.asarray(value, dtype=aval.dtype)
        shape = getattr(value, "shape", None)
        dtype = getattr(value, "dtype", None)
        if shape != aval.shape:
            raise ReplayError(f"{node.op.name} on CuPy arrays gave "
                              f"{dtype}{list(shape) if shape is not None else ''} where the "
                              f"trace recorded {aval.dtype}{list(aval.shape)}",
                              source=node.source)
        if dtype != aval.dtype:
            self.casts += 1
            value = value.astype(aval.dtype)
        return value

    def _outputs(self, leaves: list, get: Any) -> Any:
        import cupy
        graph = self.graph
        host = self.host_io

        def out_value(value: Any) -> Any:
            if host and is_cupy_array(value):
                return cupy.asnumpy(value)
            return value

        for idx, v in graph.writebacks:
            value = get(v)
            target = leaves[idx]
            if is_cupy_array(target):
                target[...] = value
            else:
                np.copyto(target, out_value(value), casting="unsafe")
        out = []
        for pos, v in enumerate(graph.outputs):
            if not isinstance(v, Var):
                out.append(v)
                continue
            idx = self.writeback_of.get(id(v))
            if idx is not None:
                out.append(leaves[idx])
                continue
            if id(v) in self.output_views:
                idx, steps = self.output_views[id(v)]
                value = leaves[idx]
                for step in steps:
                    value = step.apply(value)
                out.append(value)
                continue
            value = get(v)
            if isinstance(v, Literal) or pos in self.copy_outputs:
                value = value.copy() if hasattr(value, "copy") and not np.isscalar(value) \
                    else value
            value = out_value(value)
            if host:
                value = as_kind(v.aval.kind, value)
            elif v.aval.kind == ARRAY and not is_cupy_array(value) and \
                    isinstance(value, (NDARRAY, np.generic)):
                value = cupy.asarray(value)
            out.append(value)
        return unflatten(graph.out_tree, out)


def _launch(region: Any, kern: Any, ins: list) -> tuple:
    """One launch of a region's kernel."""
    args = [ins[k] for k in kern.used]
    if any(type(a) is NDARRAY for a in args):      # (a host constant: to the device)
        import cupy
        args = [cupy.asarray(a) if type(a) is NDARRAY else a for a in args]
    obj = kern.cupy_object()
    if kern.reduce:
        import cupy
        shape = region.shape
        args = [cupy.broadcast_to(a, shape) if is_cupy_array(a) and a.shape != shape else a
                for a in args]
        return (obj(*args),)
    out = obj(*args)
    outs = out if isinstance(out, tuple) else (out,)
    if outs[0].shape != region.shape:    # (inputs that broadcast to less than the region)
        import cupy
        args = [cupy.broadcast_to(a, region.shape) if is_cupy_array(a) else a for a in args]
        out = obj(*args)
        outs = out if isinstance(out, tuple) else (out,)
    return outs


# ============================================================================ calls
def _cupy_key(leaf: Any, i: int, aliases: dict) -> Any:
    if not is_cupy_array(leaf):
        return None
    layout = "C" if leaf.flags.c_contiguous else "F" if leaf.flags.f_contiguous else "S"
    return ("cupy", leaf.shape, leaf.dtype, layout, aliases.setdefault(id(leaf), i))


def _signature(cf: Any, args: tuple, kwargs: dict) -> tuple[Any, list]:
    return cf.foreign_signature(args, kwargs, _cupy_key)


def _warn(cf: Any, err: TracenpError, host_io: bool) -> None:
    how = "eagerly with NumPy on the CPU" if host_io else "uncompiled, with CuPy's NumPy API"
    cf._warn(err, how, tag="cupy")


def _fail(cf: Any, plans: dict, key: Any, err: TracenpError, host_io: bool) -> Any:
    from ..compiler import _Eager
    if cf.strict or getattr(cf.fn, "no_eager_run", False):
        fallback = getattr(cf, "_fallback", None)
        if getattr(cf.fn, "no_eager_run", False) and fallback is not None:
            fallback(key, err)          # (a derivative: raises DifferentiationError)
        raise err
    _warn(cf, err, host_io)
    plan = plans[key] = _Eager(err)
    return plan


def _build(cf: Any, plans: dict, key: Any, args: tuple, kwargs: dict, host_io: bool) -> Any:
    from ..compiler import _Eager, trace
    from .dask_backend import stand_in
    with cf._lock:
        cached = plans.get(key)
        if cached is not None and not (type(cached) is CupyPlan and cached.watches_globals
                                       and cached.globals_changed()):
            return cached
        if isinstance(key[1], str):
            return _fail(cf, plans, key, TraceError(key[2]), host_io)
        def build(m_args: tuple, m_kwargs: dict) -> CupyPlan:
            leaves, _ = flatten((m_args, m_kwargs))
            stand_ins = {i: stand_in(x.shape, x.dtype) for i, x in enumerate(leaves)
                         if is_cupy_array(x)}
            graph = trace(cf.fn, m_args, m_kwargs, cf._auto_static, stand_ins=stand_ins or None)
            cf._optimize(graph, fuse_everything=True)
            return CupyPlan(cf.fn, graph, host_io)

        key, plan = cf._specializing(key, args, kwargs, build,
                                     lambda: (host_io, _signature(cf, args, kwargs)[0]))
        if isinstance(plan, TraceError):
            return _fail(cf, plans, key, plan, host_io)
        if isinstance(plan, Exception):
            err = TraceError(f"internal error while tracing for CuPy "
                             f"({type(plan).__name__}: {plan})")
            if cf.strict or getattr(cf.fn, "no_eager_run", False):
                raise err from plan
            pending = _Eager(err, pending=True)
            pending.key = key
            return pending
        plan.key = key
        plans[key] = plan
        return plan


def cupy_plans(fn: Any) -> list[CupyPlan]:
    """A compiled function's CuPy plans, one per signature (for inspection and tests)."""
    return [p for p in getattr(fn, "_cupy_plans", {}).values() if isinstance(p, CupyPlan)]


def call(cf: Any, args: tuple, kwargs: dict, host_io: bool) -> Any:
    """``cf(*args, **kwargs)`` on the GPU: NumPy in and out (``host_io``, the
    ``backend="cupy"`` option) or CuPy in and out (CuPy array arguments)."""
    from ..compiler import _unstatic
    cupy = require_device()
    plans = cf.__dict__.get("_cupy_plans")
    if plans is None:
        plans = cf.__dict__.setdefault("_cupy_plans", {})
    key, leaves = _signature(cf, args, kwargs)
    key = (host_io, key)
    plan = plans.get(key)
    if plan is None or (type(plan) is CupyPlan and plan.watches_globals and plan.globals_changed()):
        plan = _build(cf, plans, key, args, kwargs, host_io)
    if type(plan) is not CupyPlan:
        result = cf.fn(*args, **kwargs)     # the user's own errors propagate
        if plan.pending:
            _fail(cf, plans, plan.key, plan.reason, host_io)
        return result
    device = cf.options.get("device")
    ctx = cupy.cuda.Device(device) if device is not None else contextlib.nullcontext()
    try:
        with ctx:
            return plan.run(_unstatic(leaves) if cf._has_statics else leaves)
    except Exception as exc:
        if getattr(cf.fn, "no_eager_run", False) or cf.strict:
            raise
        err = exc if isinstance(exc, TracenpError) else ReplayError(
            f"replaying on the GPU raised {type(exc).__name__}: {exc}")
        result = cf.fn(*args, **kwargs)
        _warn(cf, err, host_io)
        from ..compiler import _Eager
        plans[plan.key] = _Eager(err)
        return result


# ============================================================================ explain
def region_kernels(graph: Graph) -> list[tuple[Any, Any]]:
    """``(node, CudaKernel)`` for each fused node of a graph fused for the GPU (no device
    needed: the kernels are only written, not compiled)."""
    from ..optimize.fusion import FusedOp
    from .cuda_kernel import cuda_kernel, kernel_name
    out, k = [], 0
    for node in graph.nodes:
        if isinstance(node.op, FusedOp):
            out.append((node, cuda_kernel(node.params, kernel_name(graph.name, node.params, k))))
            k += 1
    return out


def describe(graph: Graph, name: Any) -> list[tuple[str, str]]:
    """``tracenp.explain``'s kernel list for the CuPy backend: each fused region's kernel
    with its source, or why it runs op by op; every other node's CuPy function."""
    kernels = dict((id(n), k) for n, k in region_kernels(graph))
    out = []
    for node in graph.nodes:
        outs = " ".join(name(o) for o in node.outputs) or "_"
        text = f"{outs} = {node.op.format(node.params, [name(v) for v in node.inputs])}"
        kern = kernels.get(id(node))
        if kern is None:
            out.append(("cupy", text))
        elif kern.refused:
            out.append(("cupy op by op", f"{text}\n      not one kernel: {kern.refused}"))
        else:
            src = kern.source()
            out.append((kern.kind, f"{text}\n      {kern.name}"
                        f"{' (bit for bit NumPy)' if kern.exact else ''}:\n"
                        + "\n".join("      | " + line for line in src.splitlines())))
    return out
