"""``tracenp.compile``: trace on first call per signature, replay a cached plan after.

What makes a call retrace: a new *signature*.  For each argument leaf the signature has
the shape, dtype and memory layout of arrays, the type of NumPy scalars, the *type only*
of Python floats/complex (weak scalars: a new value does not retrace), and the value of
everything else (ints, bools, strings, None, static arguments).  Arguments that are the
same array object are part of it too.
"""
from __future__ import annotations

import builtins
import copy
import functools
import inspect
import threading
import types
import warnings
import weakref
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
from tracenp._ndarray import NDARRAY

from .errors import (FallbackWarning, RecompileWarning, ReplayError, StaticArgumentError,
                     TraceError, TracenpError, UntracedRandomError, VerificationError)
from .config import config
from .exec.interpreter import Interpreter
from .graph.ir import Graph, Literal, Var
from .graph.ops import MutateOp, ViewStep, value_key
from .graph.pytree import flatten, unflatten
from .graph.types import ARRAY, NPSCALAR
from .optimize import eliminate_dead_code
from .patching import legacy_rng_token, patched_numpy
from .tracer import TraceContext, _local, current_trace
from .verify import Verifier, copy_graph

__all__ = ["compile", "make_graph", "CompiledFunction", "trace"]

_RNG_TYPES = (np.random.Generator, np.random.RandomState)
_STATIC_TYPES = (int, bool, str, bytes, type(None), type(Ellipsis), np.dtype, type,
                 types.FunctionType, types.BuiltinFunctionType, types.ModuleType, np.ufunc,
                 frozenset, range)


class _Static:
    """Marks an argument the user declared static (hashed by value).

    An object with attributes (``self`` of a compiled method, a model object) is also
    keyed on a shallow snapshot of its attributes: the trace reads them as constants, so
    rebinding ``obj.w`` to a new array or changing ``obj.lr`` must retrace.  Arrays are
    keyed by identity (in-place changes are seen by the plan: it reads them by
    reference), numbers and strings by value; deeper objects by identity only.
    ``by_identity`` keys an unhashable object (``self`` of a method) by its identity.
    """

    __slots__ = ("value", "_hash", "_attrs", "_by_id")

    def __init__(self, value: Any, where: str, by_identity: bool = False):
        self._attrs = _attribute_snapshot(value)
        self._by_id = False
        try:
            h = hash(value)
        except TypeError:
            if not by_identity:
                raise StaticArgumentError(f"static argument {where} has unhashable type "
                                          f"{type(value).__name__}") from None
            h = id(value)
            self._by_id = True
        self._hash = hash((h, self._attrs))
        self.value = value

    def __eq__(self, other):
        if type(other) is not _Static or type(other.value) is not type(self.value) \
                or other._attrs != self._attrs:
            return False
        if self._by_id or other._by_id:
            return other.value is self.value
        return bool(value_key(other.value) == value_key(self.value))     # -0.0 is not 0.0

    def __hash__(self):
        return self._hash


_VALUE_TYPES = (int, bool, str, bytes, type(None))


def _snapshot_item(v: Any) -> Any:
    t = type(v)
    if t is NDARRAY:
        return ("array", id(v), v.shape, v.dtype.str)
    if t in _VALUE_TYPES:
        return (t, v)
    if t is float or t is complex:
        return (t, repr(v))        # (NaN == NaN here)
    return ("id", id(v))


def _attribute_snapshot(value: Any) -> tuple | None:
    """A hashable summary of ``value.__dict__`` (one level into lists, tuples and dicts)."""
    d = getattr(value, "__dict__", None)
    if type(d) is not dict or isinstance(value, (type, types.ModuleType, types.FunctionType,
                                                   types.MethodType, functools.partial)):
        return None
    items = []
    for k, v in d.items():
        t = type(v)
        if t is list or t is tuple:
            items.append((k, t, tuple(_snapshot_item(x) for x in v)))
        elif t is dict:
            items.append((k, t, tuple((kk, _snapshot_item(x)) for kk, x in v.items()
                                      if type(kk) in _VALUE_TYPES)))
        else:
            items.append((k, _snapshot_item(v)))
    return tuple(items)


class NoEagerRun(Exception):
    """Raised by a function that can only run traced (a derivative) when called eagerly."""


class _Unsupported(Exception):
    pass


def _layout(a: NDARRAY) -> str:
    f = a.flags
    return ("C" if f.c_contiguous else "F" if f.f_contiguous else "S") + ("" if f.writeable else "r")


def _leaf_key(leaf: Any, i: int, auto_static: frozenset, aliases: dict) -> Any:
    t = type(leaf)
    if t is NDARRAY:
        return (leaf.shape, leaf.dtype, _layout(leaf), aliases.setdefault(id(leaf), i))
    if t is float or t is complex:       # a specialized float: by repr (-0.0 is not 0.0)
        return (t, repr(leaf)) if i in auto_static else t
    if isinstance(leaf, np.generic):
        return ("g", leaf.dtype)
    if t is _Static or t in _STATIC_TYPES:
        return (t, leaf)
    if isinstance(leaf, NDARRAY):
        raise _Unsupported(f"an ndarray subclass ({t.__name__}) argument is not traced")
    if isinstance(leaf, _RNG_TYPES):
        return ("rng", t)
    raise _Unsupported(f"an argument of type {t.__name__} is neither an array nor a value "
                       f"tracenp can specialize on; declare it static (static_argnums) to "
                       f"specialize on it")


def trace(fn: Callable, args: tuple, kwargs: dict, auto_static: frozenset = frozenset(),
          name: str | None = None, stand_ins: dict | None = None,
          doubts: list | None = None) -> Graph:
    """Run ``fn`` on proxies for ``(args, kwargs)`` and return its graph (no fallback).

    ``stand_ins`` maps argument leaf indices to the arrays traced in their place (used
    as they are, not copied: the dask backend's shape-only stand-ins; one object given
    for several leaves is one proxy, as an array passed twice is).  ``doubts``, a list,
    collects why the graph may not be what the real data would give (see
    ``TraceContext.doubt``)."""
    leaves, treedef = flatten((tuple(args), dict(kwargs)))
    ctx = TraceContext(fn)
    ctx.doubts = doubts
    proxies: list[Any] = []
    seen: dict[int, Any] = {}
    for i, leaf in enumerate(leaves):
        t = type(leaf)
        if t is _Static:
            proxies.append(leaf.value)
        elif stand_ins is not None and i in stand_ins:
            p = seen.get(id(stand_ins[i]))
            if p is None:
                p = seen[id(stand_ins[i])] = ctx.wrap_arg(stand_ins[i], i)
            proxies.append(p)
        elif t is NDARRAY or isinstance(leaf, np.generic):
            p = seen.get(id(leaf))
            if p is None:
                value = np.array(leaf, copy=True, order="K") if t is NDARRAY else leaf
                if t is NDARRAY and not leaf.flags.writeable:
                    value.flags.writeable = False
                p = seen[id(leaf)] = ctx.wrap_arg(value, i)
            proxies.append(p)
        elif (t is float or t is complex) and i not in auto_static:
            proxies.append(ctx.wrap_arg(leaf, i))
        elif isinstance(leaf, _RNG_TYPES):
            proxies.append(ctx.wrap_arg(copy.deepcopy(leaf), i))
        else:
            proxies.append(leaf)
    t_args, t_kwargs = unflatten(treedef, proxies)
    generators = _reachable_generators(fn)
    snapshots = {name: _gen_state(g) for name, g in generators.items()}
    saved_rng = np.random.get_state()
    ctx.rng_expected = legacy_rng_token()
    previous = current_trace()
    _local.trace = ctx
    try:
        with patched_numpy(), np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = ctx.traced_function(fn)(*t_args, **t_kwargs)
        if legacy_rng_token() != ctx.rng_expected:
            raise UntracedRandomError("NumPy's global random state was advanced by a draw "
                                      "tracenp did not see")
        for gname, g in generators.items():
            if _gen_state(g) != snapshots[gname]:
                raise UntracedRandomError(
                    f"the function draws from the random generator {gname!r} that it reads "
                    f"from its globals or closure; tracenp cannot replay those draws")
        graph = ctx.finish(out, name or getattr(fn, "__name__", "f"))
    finally:
        _local.trace = previous
        np.random.set_state(saved_rng)
        for gname, g in generators.items():
            _set_gen_state(g, snapshots[gname])
    return eliminate_dead_code(graph)


def _reachable_generators(fn: Callable) -> dict[str, Any]:
    fn = inspect.unwrap(fn)
    found = {}
    code = getattr(fn, "__code__", None)
    g = getattr(fn, "__globals__", {})
    for name in (code.co_names if code else ()):
        if isinstance(g.get(name), _RNG_TYPES):
            found[name] = g[name]
    for name, cell in zip(code.co_freevars if code else (), getattr(fn, "__closure__", None) or ()):
        try:
            if isinstance(cell.cell_contents, _RNG_TYPES):
                found[name] = cell.cell_contents
        except ValueError:
            pass
    return found


def _gen_state(g: Any) -> Any:
    state = g.bit_generator.state if isinstance(g, np.random.Generator) else g.get_state(legacy=False)
    return repr(state)


def _set_gen_state(g: Any, snapshot: str) -> None:
    state = eval(snapshot, {"array": np.array, "uint32": np.uint32, "uint64": np.uint64,
                            "int64": np.int64})
    if isinstance(g, np.random.Generator):
        g.bit_generator.state = state
    else:
        g.set_state(state)


class InputReader:
    """Where a plan's inputs come from at call time (argument leaves, module globals,
    closure cells), and whether globals it depends on changed: shared by every backend's
    plan."""

    def bind_inputs(self, fn: Callable, graph: Graph) -> None:
        self.sources = [(s.kind, s.index, s.name) for s in graph.input_sources]
        self.globals_types = [(s.kind, s.index, s.name, v.aval) for s, v in
                              zip(graph.input_sources, graph.inputs) if s.kind != "arg"]
        # global masks the graph depends on by value (contents checked on every call)
        self.guards = [(s.kind, s.index, s.name, saved)
                       for s, saved in getattr(graph, "guards", ())]
        self.watches_globals = bool(self.globals_types or self.guards)
        unwrapped = inspect.unwrap(fn)
        self._globals = getattr(unwrapped, "__globals__", {})
        self._closure = getattr(unwrapped, "__closure__", None) or ()

    def read_inputs(self, leaves: list) -> list | None:
        values = []
        for kind, index, name in self.sources:
            if kind == "arg":
                values.append(leaves[index])
            else:
                v = self._globals.get(name) if kind == "global" else self._closure[index].cell_contents
                values.append(v)
        return values

    def globals_changed(self) -> bool:
        for kind, index, name, saved in self.guards:
            try:
                v = self._globals[name] if kind == "global" else self._closure[index].cell_contents
            except (KeyError, ValueError):
                return True
            if type(v) is not NDARRAY or v.shape != saved.shape or v.dtype != saved.dtype \
                    or not np.array_equal(v, saved):
                return True
        for kind, index, name, aval in self.globals_types:
            try:
                v = self._globals[name] if kind == "global" else self._closure[index].cell_contents
            except (KeyError, ValueError):
                return True
            if type(v) is not NDARRAY or v.shape != aval.shape or v.dtype != aval.dtype:
                return True
        return False

    verifier = None       # check=True: a tracenp.verify.Verifier (runs the traced graph too)
    fast = None           # the plan's fast call (compiler._fast_call; False: none), once made



def as_kind(kind: str, value: Any) -> Any:
    """A replayed value as the trace saw it: a NumPy scalar where NumPy returns one (a
    kernel may give a 0-d array), an array where it returns an array."""
    if kind == NPSCALAR and type(value) is NDARRAY:
        return value[()]
    if kind == ARRAY and isinstance(value, np.generic):
        return np.asarray(value)
    return value


def copy_outputs(graph: Graph) -> set[int]:
    """Outputs that were different values when traced but became one variable after
    simplification (CSE): eager NumPy returns distinct arrays, so the later ones are copied."""
    traced = getattr(graph, "trace_outputs", graph.outputs)
    first: dict[int, int] = {}
    out = set()
    for k, v in enumerate(graph.outputs):
        if isinstance(v, Var):
            j = first.setdefault(id(v), k)
            if j != k and traced[j] is not traced[k]:
                out.add(k)
    return out


class Plan(InputReader):
    """A traced graph ready to replay for one signature."""

    def __init__(self, fn: Callable, graph: Graph):
        self.graph = graph
        self.fn = fn
        results = [v for v in graph.outputs if isinstance(v, Var)] + [v for _, v in graph.writebacks]
        self.executor = Interpreter(graph, results)
        self.bind_inputs(fn, graph)
        self.mutates_args = bool(graph.writebacks)
        self.writeback_of = {id(v): idx for idx, v in graph.writebacks}
        self.output_views = _output_views(graph)
        self._arg_index = ([s.index for s in graph.input_sources]
                           if all(s.kind == "arg" for s in graph.input_sources) else None)
        first = graph.outputs[0] if graph.outputs else None
        self._single_kind = (first.aval.kind if graph.out_tree == "*" and isinstance(first, Var)
                             and not graph.writebacks and not isinstance(first, Literal)
                             else None)
        self.copy_outputs = copy_outputs(graph)
        # a flat tuple of plain outputs, nothing written back: the kinds to return
        self._tuple_kinds = (tuple(v.aval.kind for v in graph.outputs)
                             if self._single_kind is None and not graph.writebacks
                             and isinstance(graph.out_tree, tuple) and graph.out_tree[0] == "tuple"
                             and all(t == "*" for t in graph.out_tree[2])
                             and all(type(v) is Var for v in graph.outputs)
                             and not self.copy_outputs and not self.output_views else None)

    def __call__(self, leaves: list, out_tree: Any) -> Any:
        if self.verifier is not None:
            inputs = ([leaves[i] for i in self._arg_index] if self._arg_index is not None
                      else self.read_inputs(leaves))
            values = self.verifier.run(self.executor, inputs)
        elif self._arg_index is not None:         # every input is an argument leaf
            values = self.executor.run([leaves[i] for i in self._arg_index])
        else:
            values = self.executor.run(self.read_inputs(leaves))
        graph = self.graph
        if self._single_kind is not None:         # one plain output, nothing written back
            return as_kind(self._single_kind, values[0])
        if self._tuple_kinds is not None:         # a flat tuple of them
            return tuple([as_kind(kind, value) for kind, value in zip(self._tuple_kinds, values)])
        n_out = len(values) - len(graph.writebacks)
        for (idx, _), value in zip(graph.writebacks, values[n_out:]):
            np.copyto(leaves[idx], value, casting="unsafe")
        out, k = [], 0
        for pos, v in enumerate(graph.outputs):
            if isinstance(v, Var):
                value = values[k]
                k += 1
                idx = self.writeback_of.get(id(v))
                if idx is not None:
                    value = leaves[idx]
                elif id(v) in self.output_views:
                    # A view of a mutated argument: a view of the caller's array, as in NumPy.
                    idx, steps = self.output_views[id(v)]
                    value = leaves[idx]
                    for step in steps:
                        value = step.apply(value)
                elif (isinstance(v, Literal) or pos in self.copy_outputs) and isinstance(value, NDARRAY):
                    value = value.copy()    # a constant, or a merged duplicate: a fresh array
                else:
                    value = as_kind(v.aval.kind, value)
                out.append(value)
            else:
                out.append(v)
        return unflatten(graph.out_tree, out)


def _output_views(graph: Graph) -> dict[int, tuple[int, list]]:
    """Outputs that are views (chains of view ops with constant operands) of the final
    contents of a written-back argument: ``id(var) -> (argument leaf, view steps)``.

    Replay computes those from the plan's copy of the argument; eager NumPy returns views
    of the caller's array, so they are re-derived from it after the write-back.
    """
    if not graph.writebacks:
        return {}
    final = {id(v): idx for idx, v in graph.writebacks}
    wanted = [v for v in graph.outputs if isinstance(v, Var) and id(v) not in final]
    if not wanted:
        return {}
    producer = {o.id: (node, j) for node in graph.nodes for j, o in enumerate(node.outputs)}
    found = {}
    for v in wanted:
        steps, cur = [], v
        while id(cur) not in final:
            hit = producer.get(cur.id)
            if hit is None:
                break
            node, j = hit
            if isinstance(node.op, MutateOp) or not getattr(node.op, "view", False) \
                    or len(node.view_of) != 1:
                break
            step = ViewStep.of(node, node.view_of[0], j)
            if step is None:
                break
            steps.append(step)
            cur = node.inputs[step.source]
        else:
            found[id(v)] = (final[id(cur)], steps[::-1])
    return found


class _PlanCache(OrderedDict):
    """A compiled function's plans by call signature, least recently used first.  It holds
    at most ``limit`` (the ``cache_size`` compile option; by default
    ``tracenp.config.cache_size``, read when a plan is added); the least recently used
    plan is dropped to make room."""

    # The last call's fast path (``_fast_call``), or None: reset by every change of the
    # cache, so it never runs a plan that was replaced or dropped.
    fast: Callable | None = None

    def __init__(self, limit: int | None = None):
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        self.fast = None
        super().__setitem__(key, value)
        self.touch(key)
        limit = self.limit if self.limit is not None else config.cache_size
        while len(self) > max(1, limit):
            try:
                self.popitem(last=False)
            except KeyError:        # (emptied by another thread meanwhile)
                break

    def touch(self, key: Any) -> None:
        try:
            self.move_to_end(key)
        except (KeyError, RuntimeError):    # (changed by another thread meanwhile)
            pass

    def __delitem__(self, key: Any) -> None:
        self.fast = None
        super().__delitem__(key)

    def pop(self, *args: Any) -> Any:
        self.fast = None
        return super().pop(*args)

    def popitem(self, last: bool = True) -> tuple:
        self.fast = None
        return super().popitem(last)

    def clear(self) -> None:
        self.fast = None
        super().clear()


_MISS = object()        # a fast call's answer when the call is not the recorded signature
# ndarray.flags.num bits: C-contiguous, F-contiguous, writeable
_C, _F, _W = 0x1, 0x2, 0x400
_LAYOUT_BITS = {"C": (_C | _W, _C), "F": (_C | _F | _W, _F), "S": (_C | _F | _W, 0)}


def _fast_call(plan: "Plan", key: Any) -> Callable | None:
    """``fast(args)``: the plan's answer for positional ``args`` whose signature is ``key``
    (a key made by ``CompiledFunction.signature``'s positional path), else ``_MISS``.

    It checks what the key holds (each argument's type; an array's shape, dtype, layout
    and writeability, and which arguments are the same array; the value of ints, bools,
    strings and None), and that the globals the plan reads are unchanged, then runs the
    plan's executor directly.  Written out as one Python function per plan (cached on it
    as ``plan.fast``, made on the plan's first call); None for a plan it does not take.
    It holds its plan weakly (no reference cycle: an evicted plan is freed at once)."""
    n, keys = key
    direct = getattr(plan.executor.run, "direct", None)     # (a step takes a list)
    ns: dict[str, Any] = {"ND": NDARRAY, "MISS": _MISS, "W": weakref.ref(plan),
                          "R": direct or plan.executor.run, "as_kind": as_kind}
    lines = ["def fast(args):", f"    if len(args) != {n}:", "        return MISS"]
    names = [f"a{i}" for i in range(n)]
    if n:
        lines.append(f"    {', '.join(names)}, = args")
    conds: list[str] = []
    arrays: list[tuple[int, tuple]] = []
    for i, k in enumerate(keys):
        a = names[i]
        if type(k) is type:                         # a Python float or complex: its type
            conds.append(f"type({a}) is not {k.__name__}")
            continue
        if isinstance(k[0], tuple):                 # an array: shape, dtype, layout, alias
            shape, dtype, layout, alias = k
            if alias != i:
                conds.append(f"{a} is not {names[alias]}")
                continue
            mask, want = _LAYOUT_BITS[layout[0]]
            want |= 0 if layout.endswith("r") else _W
            ns[f"S{i}"], ns[f"D{i}"] = shape, dtype
            conds.append(f"type({a}) is not ND or {a}.shape != S{i} or {a}.dtype != D{i} "
                         f"or {a}.flags.num & {mask} != {want}")
            for j, other in arrays:             # distinct arrays that could be the same
                if other == (shape, dtype, layout):
                    conds.append(f"{a} is {names[j]}")
            arrays.append((i, (shape, dtype, layout)))
            continue
        t, v = k                                    # a value: ints, bools, strings, None,
        if t not in (int, bool, str, float, complex, type(None)):   # auto-static floats
            return None
        ns[f"V{i}"] = v
        if t is float and float(v) != 0.0 and v != "nan":    # keyed by repr: equal
            ns[f"V{i}"] = float(v)                           # nonzero floats are that
        elif t is float or t is complex:
            conds.append(f"type({a}) is not {t.__name__} or repr({a}) != V{i}")
            continue
        conds.append(f"{a} is not None" if v is None else
                     f"type({a}) is not {t.__name__} or {a} != V{i}")
    for c in conds:
        lines += [f"    if {c}:", "        return MISS"]
    if plan.watches_globals:
        lines += ["    P = W()", "    if P is None or P.globals_changed():", "        return MISS"]
    idx = plan._arg_index
    if idx is None:
        inputs = None
    elif idx == list(range(n)) and direct is None:
        inputs = "args"
    else:
        inputs = "[" + "".join(f"{names[i]}, " for i in idx) + "]"
    kind = plan._single_kind
    if inputs is None or (kind is None and plan._tuple_kinds is None):
        ns["T"] = plan.graph.out_tree
        if not plan.watches_globals:
            lines += ["    P = W()", "    if P is None:", "        return MISS"]
        lines.append("    return P(list(args), T)")
    elif kind == NPSCALAR:
        lines += [f"    v = R({inputs})[0]", "    return v[()] if type(v) is ND else v"]
    elif kind == ARRAY:
        lines += [f"    v = R({inputs})[0]", "    return v if type(v) is ND else as_kind('array', v)"]
    elif kind is not None:
        lines.append(f"    return R({inputs})[0]")
    else:
        ns["K"] = plan._tuple_kinds
        lines.append(f"    return tuple([as_kind(k, v) for k, v in zip(K, R({inputs}))])")
    exec(builtins.compile("\n".join(lines), "<tracenp fast call>", "exec"), ns)
    fast = ns["fast"]
    fast.key = key
    fast.__tracenp_source__ = "\n".join(lines)
    return fast


class _Eager:
    """The plan of a signature that could not be traced: plain NumPy."""

    def __init__(self, reason: TracenpError | str, pending: bool = False):
        self.reason = _detached(reason)
        self.pending = pending    # not cached yet: the eager call decides (see _build)


def _detached(err: Any) -> Any:
    """``err`` without its tracebacks (their frames hold the call's arguments: a cached
    error must not keep the caller's arrays alive)."""
    seen = set()
    e = err
    while isinstance(e, BaseException) and id(e) not in seen:
        seen.add(id(e))
        e.__traceback__ = None
        e = e.__cause__ or e.__context__
    return err


class CompiledFunction:
    """A NumPy function compiled by :func:`tracenp.compile`."""

    def __init__(self, fn: Callable, *, static_argnums: int | tuple[int, ...] = (),
                 static_argnames: str | tuple[str, ...] = (), strict: bool = False,
                 **options: Any):
        if isinstance(fn, CompiledFunction):
            fn = fn.fn
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.strict = strict
        self.options = options
        static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        static_argnames = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            params = []
        positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        for n in static_argnums:
            if positional and not -len(positional) <= n < len(positional) and \
                    not any(p.kind == p.VAR_POSITIONAL for p in params):
                raise StaticArgumentError(f"static_argnums={n} is out of range for "
                                          f"{fn.__name__} with {len(positional)} positional parameters",
                                          hint="give positions of the function's own parameters "
                                               "(counting from 0), or use static_argnames")
        self.static_argnums = frozenset(n % len(positional) if positional and n < 0 else n
                                        for n in static_argnums)
        self.static_argnames = frozenset(static_argnames) | {
            positional[n] for n in self.static_argnums if n < len(positional)}
        self.static_argnums |= {positional.index(n) for n in static_argnames if n in positional}
        self._cache: _PlanCache = _PlanCache(options.get("cache_size"))
        self._has_statics = bool(self.static_argnums or self.static_argnames)
        self._lock = threading.RLock()
        self._auto_static: frozenset[int] = frozenset()
        self._warned: set[tuple] = set()
        self._on_gpu = options.get("backend") == "cupy"     # (read on every call)
        self.trace_count = 0
        self._signatures = 0
        self._last_key: Any = None
        self._recompile_warned = False
        self._method = False          # set when used as a method: ``self`` is static

    # ---------------------------------------------------------------- signature
    def _mark_static(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if self._method and args and 0 not in self.static_argnums:
            args = (_Static(args[0], "self", by_identity=True),) + tuple(args[1:])
        if self.static_argnums:
            args = tuple(_Static(a, f"#{i}") if i in self.static_argnums else a
                         for i, a in enumerate(args))
        if self.static_argnames and kwargs:
            kwargs = {k: _Static(v, repr(k)) if k in self.static_argnames else v
                      for k, v in kwargs.items()}
        return args, kwargs

    def signature(self, args: tuple, kwargs: dict) -> tuple[Any, list, Any]:
        """The cache key of a call, its flattened leaves, and their structure."""
        if not kwargs and not self.static_argnums and not self._method:
            # Fast path: positional arguments that are all leaves.
            aliases: dict[int, int] = {}
            auto = self._auto_static
            keys = []
            for i, a in enumerate(args):
                t = type(a)
                if t is NDARRAY:
                    keys.append((a.shape, a.dtype, _layout(a), aliases.setdefault(id(a), i)))
                elif t is float or t is complex:
                    keys.append((t, repr(a)) if i in auto else t)
                elif t is int or t is bool or t is str or a is None:
                    keys.append((t, a))
                else:
                    break
            else:
                return (len(args), tuple(keys)), list(args), None
        args, kwargs = self._mark_static(args, kwargs)
        leaves, treedef = flatten((args, kwargs))
        aliases: dict[int, int] = {}
        auto = self._auto_static
        try:
            key = (treedef, tuple(_leaf_key(leaf, i, auto, aliases) for i, leaf in enumerate(leaves)))
        except _Unsupported as e:
            key = (treedef, "unsupported", str(e))
        return key, leaves, treedef

    # ---------------------------------------------------------------- calls
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fast = self._cache.fast
        if fast is not None and not kwargs and getattr(_local, "trace", None) is None:
            # The last call's signature again (positional arguments only): its plan,
            # with no key to build (see _fast_call for what it checks)
            try:
                out = fast(args)
            except VerificationError:
                raise
            except Exception as exc:
                self._cache.fast = None
                return self._replay_failed((), fast.key, exc, args, kwargs, list(args))
            if out is not _MISS:
                return out
        if current_trace() is not None:
            # Called from inside another trace: inline.
            return self.fn(*args, **kwargs)
        if self._on_gpu:                            # NumPy in and out, run on the GPU
            from .exec import cupy_backend
            return cupy_backend.call(self, args, kwargs, host_io=True)
        key, leaves, treedef = self.signature(args, kwargs)
        if type(key[1]) is str:       # an argument NumPy cannot trace: dask arrays?
            from .exec import dask_backend
            if dask_backend.has_dask_leaf(leaves):
                return dask_backend.call(self, args, kwargs)
            from .exec import cupy_backend          # CuPy arrays: run on the GPU
            if cupy_backend.has_cupy_leaf(leaves):
                return cupy_backend.call(self, args, kwargs, host_io=False)
        cache = self._cache
        plan = cache.get(key)
        if len(cache) > 1 and plan is not None:
            cache.touch(key)                        # least recently used goes first
        built = False
        if plan is None or (type(plan) is Plan and plan.watches_globals and plan.globals_changed()):
            plan = self._build(key, args, kwargs)
            built = True
        if type(plan) is _Eager:
            if plan.pending:
                result = self.fn(*args, **kwargs)    # the user's own error propagates
                self._fallback(plan.key, plan.reason)
                return result
            return self.fn(*args, **kwargs)
        if plan.mutates_args:
            if _args_overlap(leaves):
                err = TraceError("arguments that overlap in memory are mutated; tracenp runs "
                                 "this call eagerly",
                                 hint="pass arrays that do not overlap, or copy one of them")
                if self.strict:
                    raise err
                self._warn(err)
                return self.fn(*args, **kwargs)
        elif (treedef is None and type(plan) is Plan and plan.verifier is None
              and not self._has_statics and not self._method
              and (not built or cache.get(key) is plan)):
            # positional leaves only, a plain plan cached under this call's key (a build
            # that specialized a float keys its plan anew): the next call with this
            # signature takes the fast path (set after the lookup: a build resets it)
            fast = plan.fast
            if fast is None:
                fast = plan.fast = _fast_call(plan, key) or False
            cache.fast = fast or None
        try:
            return plan(_unstatic(leaves) if self._has_statics else leaves, plan.graph.out_tree)
        except VerificationError:
            raise
        except Exception as exc:  # replay failed: NumPy decides what the right outcome is
            cache.fast = None
            return self._replay_failed(plan.graph.writebacks, key, exc, args, kwargs, leaves)

    def _replay_failed(self, writebacks: Any, key: Any, exc: Exception, args: tuple,
                       kwargs: dict, leaves: list) -> Any:
        """The call's plan (with these ``writebacks``) raised ``exc`` (called while it is
        handled): eager NumPy gives the call's outcome, and the signature runs eagerly from
        now on (a warning says so)."""
        if getattr(self.fn, "no_eager_run", False):
            raise       # a derivative has no eager version to fall back to
        # Eager NumPy may raise midway, after writing part of the arguments: they are
        # put back as they were before the call (the plan wrote nothing yet).
        saved = [(leaves[i], leaves[i].copy(order="K")) for i, _ in writebacks
                 if type(leaves[i]) is NDARRAY]
        try:
            result = self.fn(*args, **kwargs)
        except BaseException as user_exc:
            for arr, old in saved:
                np.copyto(arr, old)
            raise user_exc from None
        err = exc if isinstance(exc, TracenpError) else ReplayError(
            f"replaying the compiled plan raised {type(exc).__name__}: {exc}")
        if self.strict:
            raise err from exc
        self._warn(err)
        with self._lock:
            self._cache[key] = _Eager(err)
        return result

    def _build(self, key: Any, args: tuple, kwargs: dict) -> Plan | _Eager:
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and not (type(cached) is Plan and cached.watches_globals
                                           and cached.globals_changed()):
                return cached         # another thread traced this signature meanwhile
            if isinstance(key[1], str):
                hint = ("pass a plain array: np.asarray(x), or m.filled(value) for a masked "
                        "array" if "subclass" in key[2] else None)
                return self._fallback(key, TraceError(key[2], hint=hint))
            if not _binds(self.fn, args, kwargs):
                # The call does not match the function's parameters: the eager call raises
                # Python's own TypeError (nothing is traced, nothing is cached).
                pending = _Eager(TraceError("the arguments do not match the function's "
                                            "parameters"), pending=True)
                pending.key = key
                return pending
            self._note_recompile(key)

            def build(m_args: tuple, m_kwargs: dict) -> Plan:
                graph = self._trace(m_args, m_kwargs)
                raw = copy_graph(graph) if self.options.get("check") else None
                self._optimize(graph)
                plan = Plan(self.fn, graph)
                if raw is not None:
                    plan.verifier = Verifier(raw, graph, self.options, self.__name__)
                return plan

            key, plan = self._specializing(key, args, kwargs, build,
                                           lambda: self.signature(args, kwargs)[0])
            if isinstance(plan, TraceError):
                return self._fallback(key, plan)
            if isinstance(plan, Exception):
                # Not a tracing limitation: let eager NumPy decide (it may raise the
                # user's own error); if eager works, this is a tracenp bug: fall back.
                err = TraceError(f"internal error while tracing ({type(plan).__name__}: {plan})",
                                 hint="please report it with the function and its "
                                      "arguments; the call runs with NumPy meanwhile")
                if self.strict:
                    if not getattr(self.fn, "no_eager_run", False):
                        # the user's own error, if eager NumPy raises one, comes first
                        self.fn(*_private_copy(args), **_private_copy(kwargs))
                    raise err from plan
                # The caller runs the function once, eagerly, on the real arguments;
                # only if that succeeds is the signature marked eager (with a warning).
                pending = _Eager(err, pending=True)
                pending.key = key
                return pending
            self._cache[key] = plan
            return plan

    def _specializing(self, key: Any, args: tuple, kwargs: dict, build: Callable,
                      resign: Callable[[], Any]) -> tuple[Any, Any]:
        """``(key, build(marked args, kwargs))`` for one call: traced again while a Python
        float argument decides control flow (it becomes static: ``resign()`` is then the
        call's new key).  Every backend's plan building goes through here.  What stops it
        comes back in place of the plan: the ``TraceError`` (a fallback), or any other
        exception (an internal error); ``TraceError("too many retraces")`` after 8 tries."""
        for _ in range(8):
            m_args, m_kwargs = self._mark_static(args, kwargs)
            try:
                self.trace_count += 1
                return key, build(m_args, m_kwargs)
            except TraceError as e:
                cands = getattr(e, "static_candidates", frozenset())
                if not cands or cands <= self._auto_static:
                    return key, e
                self._auto_static = self._auto_static | cands
                self._cache.fast = None         # (its keys are the old ones)
                key = resign()
            except Exception as e:
                return key, e
        return key, TraceError("too many retraces")

    RECOMPILE_LIMIT = 8

    def _trace(self, args: tuple, kwargs: dict) -> Graph:
        """Trace one call for a plan (a derivative traces on stand-ins: autodiff.api)."""
        return trace(self.fn, args, kwargs, self._auto_static)

    def _optimize(self, graph: Graph, record_listings: bool = False,
                  fuse_everything: bool | None = None) -> None:
        """Run the optimizer on a fresh trace, as the options say (``graph.report``).

        ``fuse_everything`` fuses every elementwise region, single ops included, with no
        size cost model: the GPU (one kernel launch) and dask (one task per block) want
        that; by default it follows ``backend="cupy"``."""
        opts = self.options
        if not opts.get("optimize", True):
            graph.report = None
            return
        from .optimize import optimize
        graph.report = optimize(graph, disable=opts.get("disable", ()),
                                fast_math=opts.get("fast_math", False),
                                record_listings=record_listings)
        if opts.get("fuse", True):
            from .optimize.fusion import fuse
            if fuse_everything is None:
                fuse_everything = opts.get("backend") == "cupy"
            if fuse_everything:
                n = fuse(graph, min_size=1, cost_model=False)
            else:
                from .optimize.rowwise import fuse_rows     # CPU: axis reductions in rows
                from .optimize.write_into import write_into  # regions into sliced copies
                n = fuse_rows(graph) + fuse(graph)
                write_into(graph)
            graph.report.counts.append(("fused", len(graph.nodes)))
            if record_listings and n:
                graph.report.listings.append(("fusion", str(graph)))

    def _note_recompile(self, key: Any) -> None:
        """After RECOMPILE_LIMIT signatures, warn once about what keeps changing."""
        previous = self._last_key
        self._last_key = key
        self._signatures += 1
        if self._signatures <= self.RECOMPILE_LIMIT or self._recompile_warned or previous is None:
            return
        self._recompile_warned = True
        warnings.warn(RecompileWarning(
            f"tracenp: {self.__name__} was traced for {self._signatures} different call "
            f"signatures; the last change: {_describe_change(previous, key)}. Each new "
            f"signature retraces (see docs/tracing.md, 'What makes a call retrace')."),
            stacklevel=_outside_stacklevel())

    def _fallback(self, key: Any, err: TracenpError) -> _Eager:
        if self.strict:
            raise err
        self._warn(err)
        plan = self._cache[key] = _Eager(err)
        return plan

    def _warn(self, err: TracenpError, how: str = "eagerly with NumPy", tag: str = "") -> None:
        """One ``FallbackWarning`` per reason; ``how`` says how the call runs instead (the
        dask and CuPy backends word it for themselves, ``tag`` keeps their tokens apart)."""
        token = (tag, type(err), err.reason, str(err.source))
        if token in self._warned:
            return
        self._warned.add(token)
        where = f" at {err.source.short()}" if err.source is not None else ""
        warnings.warn(FallbackWarning(
            f"tracenp: {self.__name__} runs {how}{where}: "
            f"{type(err).__name__}: {err}"), stacklevel=_outside_stacklevel())

    def foreign_signature(self, args: tuple, kwargs: dict,
                          foreign_key: Callable[[Any, int, dict], Any]) -> tuple[Any, list]:
        """The cache key of a call whose array arguments live elsewhere (dask, CuPy):
        ``foreign_key(leaf, i, aliases)`` keys such a leaf (None for any other leaf, which
        is keyed as for NumPy); raising ``_Unsupported`` makes the key unsupported."""
        m_args, m_kwargs = self._mark_static(args, kwargs)
        leaves, treedef = flatten((m_args, m_kwargs))
        aliases: dict[int, int] = {}
        keys = []
        try:
            for i, leaf in enumerate(leaves):
                k = foreign_key(leaf, i, aliases)
                keys.append(_leaf_key(leaf, i, self._auto_static, aliases) if k is None else k)
        except _Unsupported as e:
            return (treedef, "unsupported", str(e)), leaves
        return (treedef, tuple(keys)), leaves

    # ---------------------------------------------------------------- introspection
    def plans(self) -> dict:
        return dict(self._cache)

    def __repr__(self) -> str:
        return f"<tracenp.compile({getattr(self.fn, '__qualname__', self.fn)})>"

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        # A compiled method: ``self`` is specialized on (by identity, and by a snapshot
        # of its attributes, see _Static), like an argument in static_argnums.
        if not self._method:
            self._method = True
            self._cache.fast = None     # (its calls had no static ``self``)
        return functools.partial(self, obj)


def _describe_change(old: Any, new: Any) -> str:
    """Say which part of a call signature changed between two cache keys."""
    if old[0] != new[0] or len(old[1]) != len(new[1]) or isinstance(old[1], str) \
            or isinstance(new[1], str):
        return "the structure or number of the arguments"
    for i, (a, b) in enumerate(zip(old[1], new[1])):
        if a == b:
            continue
        if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == 4 and len(b) == 4 \
                and isinstance(a[0], tuple):
            for part, x, y in zip(("shape", "dtype", "memory layout", "aliasing"), a, b):
                if x != y:
                    return f"argument {i}: {part} {x} -> {y}"
        if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == 2:
            return f"argument {i}: static value {a[1]!r} -> {b[1]!r}"
        return f"argument {i}: {a!r} -> {b!r}"
    return "nothing visible (globals changed shape or dtype)"


def _outside_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside tracenp."""
    import os
    import sys
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    f, level = sys._getframe(2), 2
    while f is not None and f.f_code.co_filename.startswith(here):
        f, level = f.f_back, level + 1
    return level


def _private_copy(tree: Any) -> Any:
    """A deep copy of call arguments that keeps arrays read-only where they were."""
    leaves, _ = flatten(tree)
    ro = [id(x) for x in leaves if isinstance(x, NDARRAY) and not x.flags.writeable]
    memo: dict = {}
    out = copy.deepcopy(tree, memo)
    for i in ro:
        c = memo.get(i)
        if isinstance(c, NDARRAY):
            c.flags.writeable = False
    return out


def _binds(fn: Callable, args: tuple, kwargs: dict) -> bool:
    """Do ``args``/``kwargs`` fit ``fn``'s parameters (True when the signature is unknown)?"""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    try:
        sig.bind(*args, **kwargs)
    except TypeError:
        return False
    return True


def _unstatic(leaves: list) -> list:
    return [leaf.value if type(leaf) is _Static else leaf for leaf in leaves]


def _args_overlap(leaves: list) -> bool:
    arrays = [x for x in leaves if type(x) is NDARRAY]
    seen = set()
    uniq = []
    for a in arrays:
        if id(a) not in seen:
            seen.add(id(a))
            uniq.append(a)
    for i in range(len(uniq)):
        for j in range(i + 1, len(uniq)):
            if np.may_share_memory(uniq[i], uniq[j]):
                return True
    return False


def compile(fn: Callable | None = None, *, static_argnums: int | tuple[int, ...] = (),
            static_argnames: str | tuple[str, ...] = (), strict: bool = False,
            **options: Any) -> Any:
    """Compile a NumPy function: trace it per call signature and replay the cached plan.

    Usable as ``@tracenp.compile`` or ``@tracenp.compile(static_argnums=1, strict=True)``.
    With ``strict=True`` code that cannot be traced raises instead of falling back.
    """
    backend = options.get("backend")
    if backend not in (None, "numpy", "cupy"):
        raise ValueError(f"backend={backend!r}: tracenp has backend='numpy' (the default) "
                         f"and backend='cupy' (the GPU)")
    if backend == "cupy":
        from .exec.cupy_backend import require_device
        require_device()        # DeviceError now, not a traceback from inside CuPy later

    def wrap(f: Callable) -> CompiledFunction:
        return CompiledFunction(f, static_argnums=static_argnums, static_argnames=static_argnames,
                                strict=strict, **options)
    return wrap if fn is None else wrap(fn)


def make_graph(fn: Callable, *, static_argnums: int | tuple[int, ...] = (),
               static_argnames: str | tuple[str, ...] = (), **options: Any) -> Callable[..., Graph]:
    """``make_graph(f)(*args)`` traces ``f`` on ``args`` and returns its :class:`Graph`."""
    if isinstance(fn, CompiledFunction):
        # The compiled function's own options, overridden by any given here.
        merged = {**fn.options, **options}
        cf = CompiledFunction(fn.fn, static_argnums=static_argnums or tuple(fn.static_argnums),
                              static_argnames=static_argnames or tuple(fn.static_argnames),
                              strict=fn.strict, **merged)
        cf._auto_static = fn._auto_static
    else:
        cf = CompiledFunction(fn, static_argnums=static_argnums,
                              static_argnames=static_argnames, **options)

    def traced(*args: Any, **kwargs: Any) -> Graph:
        for _ in range(8):
            m_args, m_kwargs = cf._mark_static(args, kwargs)
            try:
                graph = trace(cf.fn, m_args, m_kwargs, cf._auto_static)
            except TraceError as e:
                # Like compile: a Python float that decides control flow is specialized.
                cands = getattr(e, "static_candidates", frozenset())
                if cands and not cands <= cf._auto_static:
                    cf._auto_static = cf._auto_static | cands
                    continue
                raise
            cf._optimize(graph)
            return graph
        raise TraceError("too many retraces")
    return traced
