"""``grad``, ``value_and_grad``, ``vjp``, ``jacobian`` and ``hessian`` of plain NumPy code.

Each transform is a callable that, run inside a trace, calls the user's function on the
trace's proxies and then records the reverse sweep (:mod:`tracenp.autodiff.backward`)
into the same trace.  The public functions wrap it in a compiled function, so the
gradient graph is simplified, fused and cached per call signature like any other graph,
and a transform of a transform (``grad(grad(f))``, ``hessian``) is the same sweep run
over the inner gradient's nodes.

A derivative with large array arguments is traced on *stand-ins* (the dask backend's
zero-stride arrays of the same shapes and dtypes): the graph never depends on the
values, and the forward and backward ops then cost one element each while tracing
instead of a pass over the data.  The plan then runs on the data.  The trace is redone
on the data where a stand-in could give another graph or hide an error: it raised, it
wrote into an array computed from other arrays (aliasing depends on memory layout),
a rule is checked on values (see ``rules._check_same_values``), or the plan's first run
raised.
"""
from __future__ import annotations

import functools
import inspect
import threading
import types
from typing import Any, Callable

import numpy as np

from .._ndarray import NDARRAY
from ..compiler import CompiledFunction, NoEagerRun, trace
from ..errors import DifferentiationError, TraceError, TracenpError
from ..graph.ir import Graph
from ..graph.pytree import flatten, unflatten
from ..graph.types import PYSCALAR
from ..tracer import GeneratorProxy, Tracer, _evaluating, current_trace
from .backward import Cotangent, Sweep, backward, differentiable_dtype, fit

__all__ = ["grad", "value_and_grad", "vjp", "jacobian", "hessian"]

_busy = threading.local()

#: A derivative whose array arguments hold at least this many elements in all is traced
#: on stand-ins; smaller ones are traced on their data (as cheap, nothing to redo).
STAND_INS_FROM = 1 << 14


def _stand_ins(args: tuple, kwargs: dict) -> dict[int, Any] | None:
    """Stand-ins for the array leaves of a call (leaf index -> stand-in; one per array
    object, read-only where it is), or None where the data is traced instead."""
    from ..exec.dask_backend import stand_in
    leaves, _ = flatten((tuple(args), dict(kwargs)))
    arrays = [(i, x) for i, x in enumerate(leaves) if type(x) is NDARRAY]
    if sum(x.size for _, x in arrays) < max(STAND_INS_FROM, 1) or \
            any(x.dtype.kind not in "biufc" for _, x in arrays):
        return None
    made: dict[int, Any] = {}
    out = {}
    for i, x in arrays:
        s = made.get(id(x))
        if s is None:
            s = made[id(x)] = stand_in(x.shape, x.dtype)
            s.flags.writeable = x.flags.writeable
        out[i] = s
    return out


class _GradCompiled(CompiledFunction):
    """A compiled derivative: never falls back to eager NumPy (there is no eager
    derivative to fall back to); whatever stops the trace becomes a DifferentiationError.

    It traces on stand-ins where it can (see the module's docstring); ``plan.graph.
    traced_on`` says which: ``"stand-ins"`` or ``"data"``."""

    def __init__(self, fn: Callable, **options: Any):
        super().__init__(fn, **options)
        self._stand_in_traces = 0           # plans traced on stand-ins so far
        # per thread: the last graph traced on stand-ins; whether to trace the data
        self._tl = threading.local()

    def _trace(self, args: tuple, kwargs: dict) -> Graph:
        stand_ins = None if getattr(self._tl, "data", False) else _stand_ins(args, kwargs)
        if stand_ins is not None:
            graph = self._trace_stand_ins(args, kwargs, stand_ins)
            if graph is not None:
                graph.traced_on = "stand-ins"
                self._tl.stand_in_graph = graph
                self._stand_in_traces += 1
                return graph
        graph = super()._trace(args, kwargs)
        graph.traced_on = "data"
        return graph

    def _trace_stand_ins(self, args: tuple, kwargs: dict, stand_ins: dict) -> Graph | None:
        """The graph traced on stand-ins, or None where the data must be traced."""
        doubts: list[str] = []
        try:
            graph = trace(self.fn, args, kwargs, self._auto_static, stand_ins=stand_ins,
                          doubts=doubts)
        except TraceError as e:
            cands = getattr(e, "static_candidates", frozenset())
            if cands and not cands <= self._auto_static:
                raise       # a Python float decided control flow: the compiler specializes
            return None
        except Exception:
            return None
        return None if doubts else graph

    def _drop_stand_in_plan(self, traced: int) -> bool:
        """After a call that raised: if it traced a plan on stand-ins (``traced`` counts
        those before the call), drop that plan and say so."""
        graph = getattr(self._tl, "stand_in_graph", None)
        if graph is None or self._stand_in_traces == traced:
            return False
        self._tl.stand_in_graph = None
        with self._lock:
            for key, plan in list(self._cache.items()):
                if getattr(plan, "graph", None) is graph:
                    del self._cache[key]
        return True

    def _call_on_data(self, args: tuple, kwargs: dict) -> Any:
        self._tl.data = True
        try:
            return CompiledFunction.__call__(self, *args, **kwargs)
        finally:
            self._tl.data = False

    def _fallback(self, key: Any, err: TracenpError):
        if isinstance(err, DifferentiationError):
            raise err
        raise DifferentiationError(
            f"cannot differentiate {self.__name__}: {type(err).__name__}: {err.reason}",
            source=err.source, hint=err.hint or None) from err

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        traced = self._stand_in_traces
        try:
            # Masked branches (``where``) compute NaN and inf by design: no warnings.
            with np.errstate(all="ignore"):
                try:
                    return CompiledFunction.__call__(self, *args, **kwargs)
                except Exception:
                    # a plan traced on stand-ins whose first run raised: the call is traced
                    # on the data (which raises there where the data is the cause)
                    if not self._drop_stand_in_plan(traced):
                        raise
                return self._call_on_data(args, kwargs)
        except NoEagerRun:
            # (the compiler runs a call whose arguments do not bind eagerly, for Python's
            # own TypeError; a derivative has no eager run)
            raise TypeError(f"{self.__name__}: the arguments do not match the parameters of "
                            f"the function") from None
        except DifferentiationError:
            raise
        except TraceError as err:
            raise DifferentiationError(
                f"cannot differentiate {self.__name__}: {err.reason}", source=err.source,
                hint=err.hint or None) from err

    def __repr__(self) -> str:
        return f"<tracenp.{self.fn.kind}({getattr(self.fn.fun, '__qualname__', self.fn.fun)})>"


class _Transform:
    """A derivative of ``fun``, computed when called inside a trace."""

    no_eager_run = True     # the compiler must not run it eagerly (see compiler.NoEagerRun)

    def __init__(self, fun: Callable, kind: str, argnums: int | tuple[int, ...] = 0,
                 has_aux: bool = False, options: dict | None = None):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.kind = kind
        self.argnums = argnums
        self.has_aux = has_aux
        self.options = options or {}
        self.__name__ = f"{kind}({getattr(fun, '__name__', 'f')})"
        self.__qualname__ = self.__name__
        if kind == "vjp_apply":     # called with the cotangent after the function's arguments
            del self.__wrapped__
            self.__signature__ = inspect.Signature(
                [inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
                 inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
        self._cf: _GradCompiled | None = None

    def compiled(self) -> _GradCompiled:
        if self._cf is None:
            self._cf = _GradCompiled(self, strict=True, **self.options)
        return self._cf

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        ctx = current_trace()
        if ctx is None:
            if getattr(_busy, "active", False):
                raise NoEagerRun(self.__name__)
            _busy.active = True
            try:
                return self.compiled()(*args, **kwargs)
            finally:
                _busy.active = False
        ctx.recording += 1
        try:
            return getattr(self, "_run_" + self.kind)(ctx, args, kwargs)
        finally:
            ctx.recording -= 1

    # ------------------------------------------------------------------ pieces
    def _call(self, ctx: Any, args: tuple, kwargs: dict) -> tuple[Any, Any, int]:
        fun = self.fun
        if type(fun) is types.FunctionType:
            fun = ctx.traced_function(fun)
        start = len(ctx.nodes)
        out = fun(*args, **kwargs)
        aux = None
        if self.has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise DifferentiationError(
                    f"{self.__name__}: with has_aux=True the function must return a pair "
                    f"(output, auxiliary data); it returned {type(out).__name__}")
            out, aux = out
        return out, aux, start

    def _wrt(self, args: tuple, kwargs: dict,
             argnums: tuple[int, ...]) -> tuple[list[tuple[Any, list, list]], tuple]:
        """For each differentiated argument: its tree, its leaves and their variables; and
        the arguments to call the function with.  Arguments are independent variables, as
        in JAX: an array passed twice (``grad(f)(a, a)``) is differentiated through its
        own position only, so a differentiated leaf that is also passed elsewhere is
        replaced by a copy of its own."""
        for i in argnums:
            if not -len(args) <= i < len(args):
                raise DifferentiationError(
                    f"{self.__name__}: argnums={i} is out of range for a call with "
                    f"{len(args)} positional arguments")
        args = self._unshare(args, kwargs, {i % len(args) for i in argnums})
        result = []
        for i in argnums:
            leaves, tree = flatten(args[i])
            vars_ = []
            for leaf in leaves:
                if not isinstance(leaf, Tracer) or isinstance(leaf, GeneratorProxy):
                    raise DifferentiationError(
                        f"{self.__name__}: argument {i} is a {type(leaf).__name__}, not a "
                        f"float or complex array, so it cannot be differentiated",
                        hint="pass a float array (np.asarray(x, dtype=float)), or leave the "
                             "argument out of argnums")
                if not differentiable_dtype(leaf.dtype):
                    raise DifferentiationError(
                        f"{self.__name__}: argument {i} has dtype {leaf.dtype}; gradients are "
                        f"defined for float and complex inputs only",
                        hint="cast it with .astype(float) before the call, or leave it out of "
                             "argnums")
                vars_.append(leaf.graph_var)
            result.append((tree, leaves, vars_))
        return result, args

    @staticmethod
    def _unshare(args: tuple, kwargs: dict, wrt: set[int]) -> tuple:
        """``args`` with every traced leaf of a differentiated argument that occurs more
        than once (anywhere in the call) replaced by its own copy."""
        counts: dict[int, int] = {}
        for leaf in flatten((args, kwargs))[0]:
            if isinstance(leaf, Tracer):
                counts[id(leaf)] = counts.get(id(leaf), 0) + 1
        if all(c == 1 for c in counts.values()):
            return args
        out = list(args)
        for i in sorted(wrt):
            leaves, tree = flatten(args[i])
            if any(isinstance(x, Tracer) and counts[id(x)] > 1 for x in leaves):
                out[i] = unflatten(tree, [
                    x.copy() if isinstance(x, Tracer) and not isinstance(x, GeneratorProxy)
                    and counts[id(x)] > 1 else x for x in leaves])
        return tuple(out)

    def _argnums(self) -> tuple[tuple[int, ...], bool]:
        a = self.argnums
        return ((a,), True) if isinstance(a, int) else (tuple(a), False)

    def _gradients(self, ctx: Any, out: Any, start: int, wrt: list, sweep: Sweep) -> Any:
        if isinstance(out, Tracer):
            dt = out.dtype
            if tuple(out.shape) != () or not differentiable_dtype(dt) or dt.kind == "c":
                raise DifferentiationError(
                    f"{self.__name__}: the function must return a real scalar (shape (), a "
                    f"float dtype) to take its gradient; it returned {dt}{list(out.shape)}",
                    hint="reduce the output (np.sum, np.mean), or use tracenp.jacobian or "
                         "tracenp.vjp for non-scalar outputs")
            # np.ones is recorded (patched while tracing): a traced constant the optimizer
            # folds, not a borrowed array the plan would have to read
            seeds = {out.graph_var.id: Cotangent(np.ones((), dtype=dt))}
        elif isinstance(out, (float, int, np.floating, np.integer)) or \
                (isinstance(out, NDARRAY) and out.shape == ()):
            seeds = {}          # a constant: zero gradient
        else:
            raise DifferentiationError(
                f"{self.__name__}: the function must return a real scalar to take its "
                f"gradient; it returned {type(out).__name__}")
        flat_vars = [v for _, _, vs in wrt for v in vs]
        cts = backward(ctx, ctx.nodes[start:], seeds, flat_vars, sweep) if seeds else \
            [None] * len(flat_vars)
        return self._assemble(wrt, cts)

    def _assemble(self, wrt: list, cts: list) -> list:
        it = iter(cts)
        results = []
        for tree, leaves, vars_ in wrt:
            results.append(unflatten(tree, [_finish(next(it), leaf, v)
                                            for leaf, v in zip(leaves, vars_)]))
        return results

    # ------------------------------------------------------------------ kinds
    def _run_grad(self, ctx: Any, args: tuple, kwargs: dict) -> Any:
        argnums, single = self._argnums()
        wrt, args = self._wrt(args, kwargs, argnums)
        out, aux, start = self._call(ctx, args, kwargs)
        g = self._gradients(ctx, out, start, wrt, Sweep(ctx))
        g = g[0] if single else tuple(g)
        return (g, aux) if self.has_aux else g

    def _run_value_and_grad(self, ctx: Any, args: tuple, kwargs: dict) -> Any:
        argnums, single = self._argnums()
        wrt, args = self._wrt(args, kwargs, argnums)
        out, aux, start = self._call(ctx, args, kwargs)
        g = self._gradients(ctx, out, start, wrt, Sweep(ctx))
        g = g[0] if single else tuple(g)
        return ((out, aux), g) if self.has_aux else (out, g)

    def _run_jacobian(self, ctx: Any, args: tuple, kwargs: dict) -> Any:
        argnums, single = self._argnums()
        wrt, args = self._wrt(args, kwargs, argnums)
        out, aux, start = self._call(ctx, args, kwargs)
        out_leaves, out_tree = flatten(out)
        nodes = ctx.nodes[start:]
        sweep = Sweep(ctx)
        flat_vars = [v for _, _, vs in wrt for v in vs]
        per_out = []
        for leaf in out_leaves:
            if not isinstance(leaf, Tracer):
                shape, dtype = np.shape(leaf), np.result_type(leaf)
            else:
                shape, dtype = tuple(leaf.shape), leaf.dtype
            if not differentiable_dtype(dtype):
                raise DifferentiationError(
                    f"{self.__name__}: an output has dtype {dtype}; only float and complex "
                    f"outputs have a Jacobian")
            m = int(np.prod(shape)) if shape else 1
            rows: list[list] = [[] for _ in flat_vars]
            for k in range(m if isinstance(leaf, Tracer) else 0):
                with _evaluating(ctx):
                    e = np.zeros(shape, dtype=dtype)
                    e.flat[k] = 1
                    if not shape:
                        e = dtype.type(1)
                cts = backward(ctx, nodes, {leaf.graph_var.id: Cotangent(e)}, flat_vars, sweep)
                for j, (c, v) in enumerate(zip(cts, flat_vars)):
                    rows[j].append(c)
            blocks = []
            it = iter(range(len(flat_vars)))
            for tree, leaves, vars_ in wrt:
                parts = []
                for arg_leaf, v in zip(leaves, vars_):
                    j = next(it)
                    parts.append(_jacobian_block(rows[j], shape, arg_leaf, v, dtype))
                blocks.append(unflatten(tree, parts))
            per_out.append(blocks[0] if single else tuple(blocks))
        jac = unflatten(out_tree, per_out)
        return (jac, aux) if self.has_aux else jac

    def _run_vjp_apply(self, ctx: Any, args: tuple, kwargs: dict) -> Any:
        *args, ct = args
        args = tuple(args)
        argnums = tuple(range(len(args)))
        wrt, args = self._wrt(args, kwargs, argnums)
        out, aux, start = self._call(ctx, args, kwargs)
        return _pull(self, ctx, out, ctx.nodes[start:], wrt, ct, Sweep(ctx))


def _pull(t: _Transform, ctx: Any, out: Any, nodes: list, wrt: list, ct: Any, sweep: Sweep):
    out_leaves, out_tree = flatten(out)
    ct_leaves, ct_tree = flatten(ct)
    if ct_tree != out_tree or len(ct_leaves) != len(out_leaves):
        raise DifferentiationError(f"{t.__name__}: the cotangent's structure does not match "
                                   f"the function's output")
    seeds: dict[int, Cotangent] = {}
    for o, c in zip(out_leaves, ct_leaves):
        if isinstance(o, Tracer):
            if tuple(np.shape(c)) != tuple(o.shape):
                raise DifferentiationError(
                    f"{t.__name__}: a cotangent has shape {np.shape(c)}, but the output it "
                    f"pairs with has shape {tuple(o.shape)}")
            if not differentiable_dtype(o.dtype):
                continue        # an integer or boolean output: no derivative flows back
            v = o.graph_var
            seeds[v.id] = Cotangent(c if v.id not in seeds else np.add(seeds[v.id].value, c))
    flat_vars = [v for _, _, vs in wrt for v in vs]
    cts = backward(ctx, nodes, seeds, flat_vars, sweep) if seeds else [None] * len(flat_vars)
    return tuple(t._assemble(wrt, cts))


def _finish(ct: Any, leaf: Any, var: Any) -> Any:
    """A cotangent as the value returned for ``leaf``: its shape and dtype, zeros if none."""
    if ct is None:
        if var.aval.kind == PYSCALAR:
            return 0.0 * leaf
        return np.zeros_like(leaf)
    ct = fit(ct, var)
    if not isinstance(ct, Tracer):
        if var.aval.kind == PYSCALAR:
            return ct
        return np.full_like(leaf, ct)
    return ct


def _jacobian_block(rows: list, out_shape: tuple, leaf: Any, var: Any, dtype: Any) -> Any:
    in_shape = tuple(np.shape(leaf))
    if not rows:
        return np.zeros(out_shape + in_shape, dtype=np.result_type(leaf, dtype))
    full = [np.zeros_like(leaf) if r is None else _finish(r, leaf, var) for r in rows]
    return np.reshape(np.stack(full), out_shape + in_shape)


# ============================================================================ public API
def _make(fun: Callable, kind: str, argnums: Any, has_aux: bool, options: dict) -> _GradCompiled:
    if not callable(fun):
        raise TypeError(f"tracenp.{kind} expects a function, got {type(fun).__name__}")
    return _Transform(fun, kind, argnums, has_aux, options).compiled()


def grad(fun: Callable | None = None, argnums: int | tuple[int, ...] = 0, *,
         has_aux: bool = False, **options: Any) -> Any:
    """The gradient of a scalar-valued NumPy function, compiled.

    ``tracenp.grad(f)(x, y)`` returns df/dx (``argnums=0``); a tuple ``argnums`` gives a
    tuple of gradients.  With ``has_aux=True`` ``f`` returns ``(value, aux)`` and the
    result is ``(gradient, aux)``.  Usable as a decorator.  ``options`` go to
    :func:`tracenp.compile` (``disable``, ``fuse``, ...).
    """
    if fun is None:
        return lambda f: grad(f, argnums, has_aux=has_aux, **options)
    return _make(fun, "grad", argnums, has_aux, options)


def value_and_grad(fun: Callable | None = None, argnums: int | tuple[int, ...] = 0, *,
                   has_aux: bool = False, **options: Any) -> Any:
    """``(f(*args), grad(f)(*args))`` from one compiled graph (``((value, aux), grad)``
    with ``has_aux=True``)."""
    if fun is None:
        return lambda f: value_and_grad(f, argnums, has_aux=has_aux, **options)
    return _make(fun, "value_and_grad", argnums, has_aux, options)


def jacobian(fun: Callable | None = None, argnums: int | tuple[int, ...] = 0, *,
             has_aux: bool = False, **options: Any) -> Any:
    """The Jacobian (reverse mode, one sweep per output element): for an output of shape
    ``O`` and an argument of shape ``I``, an array of shape ``O + I``."""
    if fun is None:
        return lambda f: jacobian(f, argnums, has_aux=has_aux, **options)
    return _make(fun, "jacobian", argnums, has_aux, options)


def hessian(fun: Callable | None = None, argnums: int | tuple[int, ...] = 0, **options: Any) -> Any:
    """The Hessian of a scalar-valued function: ``jacobian(grad(f))``, shape ``I + I``."""
    if fun is None:
        return lambda f: hessian(f, argnums, **options)
    inner = _Transform(fun, "grad", argnums, False, options)
    outer = _Transform(inner, "jacobian", argnums, False, options)
    outer.__name__ = outer.__qualname__ = f"hessian({getattr(fun, '__name__', 'f')})"
    return outer.compiled()


class Pullback:
    """The pullback returned by :func:`vjp`: ``pullback(ct)`` gives the cotangents of
    every positional argument, as a tuple."""

    def __init__(self, apply: Callable, args: tuple, kwargs: dict):
        self._apply = apply
        self._args = args
        self._kwargs = kwargs

    def __call__(self, ct: Any) -> tuple:
        return self._apply(*self._args, ct, **self._kwargs)


class _TracedPullback:
    def __init__(self, t: _Transform, ctx: Any, out: Any, start: int, end: int, wrt: list):
        self.t, self.ctx, self.out, self.start, self.end, self.wrt = t, ctx, out, start, end, wrt

    def __call__(self, ct: Any) -> tuple:
        ctx = self.ctx
        ctx.recording += 1
        try:
            return _pull(self.t, ctx, self.out, ctx.nodes[self.start:self.end], self.wrt, ct,
                         Sweep(ctx))
        finally:
            ctx.recording -= 1


def vjp(fun: Callable, *args: Any, has_aux: bool = False, **kwargs: Any) -> Any:
    """``out, pullback = tracenp.vjp(f, *args)``: the value and a function mapping a
    cotangent of the output to the cotangents of every positional argument (JAX's
    ``jax.vjp``).  ``tracenp.vjp(f)(*args)`` works too.  With ``has_aux=True``:
    ``out, pullback, aux``."""
    if not args and not kwargs:
        return lambda *a, **k: vjp(fun, *a, has_aux=has_aux, **k)
    ctx = current_trace()
    t = _Transform(fun, "vjp_apply", 0, has_aux)
    if ctx is not None:
        ctx.recording += 1
        try:
            wrt, args = t._wrt(args, kwargs, tuple(range(len(args))))
            out, aux, start = t._call(ctx, args, kwargs)
        finally:
            ctx.recording -= 1
        pb = _TracedPullback(t, ctx, out, start, len(ctx.nodes), wrt)
        return (out, pb, aux) if has_aux else (out, pb)
    from ..compiler import compile as _compile
    forward = _compile(fun, strict=True)
    out = forward(*args, **kwargs)
    aux = None
    if has_aux:
        out, aux = out
    pb = Pullback(t.compiled(), args, kwargs)
    return (out, pb, aux) if has_aux else (out, pb)
