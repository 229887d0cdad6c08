"""A small pattern language for rewrite rules, and a builder for replacement nodes.

Patterns read like the math they match::

    P("log", P("add", C(1), X("x")))                     # log(1 + x), either operand order
    P("log", F("sum", P("exp", X("x")), kw="kw"))        # log(np.sum(np.exp(x), ...))
    P(scipy.special.erf, X("x"))                         # a foreign ufunc, by identity

``X(name)`` matches any operand and binds it; ``C(value)`` matches a scalar constant
equal to ``value`` (or satisfying a predicate); ``P(op, *args)`` matches a variable
produced by a plain positional call of a ufunc (commutative ops match both orders) or of
a Python-scalar operator (``"py.pow"``, what ``x ** 2`` records for a NumPy scalar).
``op`` is a registered op name, a ufunc object, :class:`UfuncRef` (a ufunc of a module
that is looked up only when matching, so scipy is never imported for a pattern), or a
tuple of these.  ``F(name, *args, kw=...)`` matches a call of a catalog function
(``np.sum``, ``np.max``, ``np.where``, ...; method calls such as ``x.sum(axis=1)`` are
recorded as the same op): the call's arguments are bound to the function's signature,
the first ``len(args)`` parameters are matched against ``args`` and every other argument
the call passes must be static; they are bound as a dict under the name ``kw`` (with
``kw=None`` the call may pass nothing else).  ``Or(*pats)`` matches the first
alternative that matches.  A name bound twice (by ``X``, or by a ``P``/``F`` given
``name=``) must bind the same operand.
"""
from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from tracenp._ndarray import NDARRAY

from ..graph.ir import Literal, Node, Var
from ..graph.ops import LEAF, SLOT, CallOp, CallParams, REGISTRY, ufunc_op
from ..graph.pytree import flatten
from ..graph.types import ARRAY, NPSCALAR, PYSCALAR, AbstractValue

__all__ = ["X", "C", "P", "F", "Or", "UfuncRef", "Const", "operands", "call_arguments",
           "match", "Builder", "COMMUTATIVE"]

COMMUTATIVE = {"add", "multiply", "maximum", "minimum", "fmax", "fmin", "logical_and",
               "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor",
               "equal", "not_equal", "hypot", "logaddexp", "logaddexp2",
               "py.add", "py.mul"}


@dataclass(frozen=True, slots=True)
class Const:
    """A scalar constant operand (a static argument or a 0-d literal)."""

    value: Any

    @property
    def aval(self) -> AbstractValue:
        from ..graph.types import abstractify
        return abstractify(self.value)


class Pat:
    ops: tuple = ()

    def root_ops(self) -> tuple:
        """The op names a node must have to match at the root (resolved now)."""
        return self.ops


@dataclass(frozen=True)
class X(Pat):
    name: str
    test: Callable[[Any], bool] | None = None

    def __repr__(self) -> str:
        return self.name if self.test is None else f"{self.name}?"


@dataclass(frozen=True)
class C(Pat):
    value: Any = None
    test: Callable[[Any], bool] | None = None
    name: str | None = None

    def __repr__(self) -> str:
        return "const?" if self.test is not None else repr(self.value)


@dataclass(frozen=True)
class UfuncRef:
    """A ufunc named by module and attribute, resolved only when a graph is matched:
    ``UfuncRef("scipy.special", "erf")`` matches scipy's erf if scipy.special is loaded
    (if it is not, no graph can contain it)."""

    module: str
    name: str

    def resolve(self) -> np.ufunc | None:
        mod = sys.modules.get(self.module)
        u = getattr(mod, self.name, None) if mod is not None else None
        return u if isinstance(u, np.ufunc) else None


def _op_spec(op: Any) -> Any:
    """A registered op name for a ufunc object; names and UfuncRefs stay as they are."""
    if isinstance(op, np.ufunc):
        return ufunc_op(op, "__call__").name
    if isinstance(op, (str, UfuncRef)):
        return op
    raise TypeError(f"pattern op must be a name, a ufunc or a UfuncRef, not {op!r}")


def _op_matches(specs: tuple, op: Any) -> bool:
    name = op.name
    for s in specs:
        if s.__class__ is str:
            if s == name:
                return True
        elif getattr(op, "method", None) == "__call__" and op.ufunc is s.resolve():
            return True
    return False


class P(Pat):
    def __init__(self, op: Any, *args: Pat, name: str | None = None):
        specs = tuple(_op_spec(o) for o in (op if isinstance(op, tuple) else (op,)))
        self.specs = specs
        self.ops = tuple(s for s in specs if isinstance(s, str))
        self.args = args
        self.name = name

    def root_ops(self) -> tuple:
        names = list(self.ops)
        for s in self.specs:
            u = s.resolve() if isinstance(s, UfuncRef) else None
            if u is not None:
                names.append(ufunc_op(u, "__call__").name)
        return tuple(names)

    def __repr__(self) -> str:
        s = self.specs[0]
        head = s if isinstance(s, str) else f"{s.module}.{s.name}"
        return f"{head}({', '.join(map(repr, self.args))})"


class F(Pat):
    """A call of a catalog function: ``F("sum", P("exp", X("x")), kw="kw")``."""

    def __init__(self, name: str | tuple[str, ...], *args: Pat, kw: str | None = None,
                 bind: str | None = None):
        self.ops = (name,) if isinstance(name, str) else tuple(name)
        self.args = args
        self.kw = kw
        self.name = bind

    def __repr__(self) -> str:
        extra = [f"**{self.kw}"] if self.kw else []
        return f"{self.ops[0]}({', '.join(list(map(repr, self.args)) + extra)})"


class Or(Pat):
    """Alternatives: the first of ``pats`` that matches."""

    def __init__(self, *pats: Pat):
        self.pats = pats
        ops: list = []
        for p in pats:
            ops += [o for o in p.ops if o not in ops]
        self.ops = tuple(ops)

    def root_ops(self) -> tuple:
        names: list = []
        for p in self.pats:
            names += [o for o in p.root_ops() if o not in names]
        return tuple(names)

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.pats))


def _flat_positional(params: Any) -> int | None:
    if not isinstance(params, CallParams) or params.out_tree != LEAF:
        return None
    args_def, kw_def = params.treedef[2]
    if args_def[0] != "tuple" or kw_def[0] != "dict" or kw_def[2]:
        return None
    if any(c != LEAF for c in args_def[2]):
        return None
    return len(args_def[2])


def _as_operand(v: Any) -> Any:
    if isinstance(v, Literal) and not v.borrowed and v.aval.size == 1 and v.aval.ndim == 0:
        return Const(v.value)
    return v


def operands(node: Node) -> list | None:
    """The positional operands (Vars or Consts) of a plain ufunc call, else None."""
    if getattr(node.op, "method", None) != "__call__" or len(node.outputs) != 1:
        return None
    return _positional(node)


def _positional(node: Node) -> list | None:
    n = _flat_positional(node.params)
    if n is None:
        return None
    slot = {p: k for k, p in enumerate(node.params.slots)}
    out = []
    for p in range(n):
        if p in slot:
            out.append(_as_operand(node.inputs[slot[p]]))
        else:
            out.append(Const(node.params.statics[p]))
    return out


def _py_operands(node: Node) -> list | None:
    """Operands of a Python-scalar operator node (``py.pow``, ``py.mul``, ...)."""
    if getattr(node.op, "category", None) != "python" or len(node.outputs) != 1:
        return None
    return _positional(node)


_SIGNATURES: dict[int, Any] = {}


def _signature(fn: Any) -> inspect.Signature | None:
    key = id(fn)
    if key not in _SIGNATURES:
        try:
            _SIGNATURES[key] = (fn, inspect.signature(fn))
        except (TypeError, ValueError):
            _SIGNATURES[key] = (fn, None)
    return _SIGNATURES[key][1]


def call_arguments(node: Node) -> dict | None:
    """The arguments of a catalog function call, by parameter name (positional arguments
    included), with graph values as Vars (0-d constants as :class:`Const`) and static
    values as they were passed; None for anything but a one-output function call."""
    op = node.op
    if (not isinstance(op, CallOp) or getattr(op, "method", None) is not None
            or op.category == "python" or len(node.outputs) != 1
            or not isinstance(node.params, CallParams) or node.params.out_tree != LEAF):
        return None
    args, kwargs = node.params.fill(list(node.inputs))
    sig = _signature(op.fn)
    if sig is None:
        if kwargs:
            return None
        return {i: _static_or_operand(a) for i, a in enumerate(args)}
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        return None
    out = {}
    for k, v in bound.arguments.items():
        if sig.parameters[k].kind is inspect.Parameter.VAR_KEYWORD:
            out.update({kk: _static_or_operand(vv) for kk, vv in v.items()})
        else:
            out[k] = _static_or_operand(v)
    return out


def _static_or_operand(v: Any) -> Any:
    if isinstance(v, Var):
        return _as_operand(v)
    if isinstance(v, tuple) and any(isinstance(e, Var) for e in v):
        return tuple(_static_or_operand(e) for e in v)
    return v


def _contains_var(v: Any) -> bool:
    return isinstance(v, Var) or (isinstance(v, tuple) and any(_contains_var(e) for e in v))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Var) or isinstance(b, Var):
        return a is b
    return type(a) is type(b) and a == b


def _bind(env: dict, name: str | None, operand: Any) -> dict | None:
    if not name:
        return env
    if name in env:
        return env if _same(env[name], operand) else None
    env[name] = operand
    return env


def match(pat: Pat, operand: Any, producer: dict[int, Node], env: dict | None = None,
          cache: dict | None = None) -> dict | None:
    """Bindings if ``operand`` matches ``pat``, else None.  ``env`` is not modified.

    ``cache`` (a dict the caller keeps while the graph does not change) memoizes the
    operands of the nodes looked at, for many patterns tried on one graph."""
    env = {} if env is None else env
    if isinstance(pat, X):
        if pat.test is not None and not pat.test(operand):
            return None
        return _bind(dict(env), pat.name, operand)
    if isinstance(pat, C):
        if not isinstance(operand, Const):
            return None
        v = operand.value
        try:
            ok = pat.test(v) if pat.test is not None else (
                type(v) not in (str, bytes) and not isinstance(v, NDARRAY) and bool(v == pat.value))
        except (TypeError, ValueError):
            return None
        if not ok:
            return None
        return _bind(dict(env), pat.name, operand)
    if isinstance(pat, Or):
        for alt in pat.pats:
            m = match(alt, operand, producer, env, cache)
            if m is not None:
                return m
        return None
    if not isinstance(operand, Var):
        return None
    node = producer.get(operand.id)
    if node is None:
        return None
    if isinstance(pat, F):
        return _match_call(pat, operand, node, producer, env, cache)
    if not _op_matches(pat.specs, node.op):
        return None
    hit = cache.get(id(node)) if cache is not None else None
    if hit is not None:
        ops = hit[1]
    else:
        ops = operands(node)
        if ops is None:
            ops = _py_operands(node)
        if cache is not None:
            cache[id(node)] = (node, ops)   # the node kept alive: its id is not reused
    if ops is None or len(ops) != len(pat.args):
        return None
    orders = [ops]
    if len(ops) == 2 and node.op.name in COMMUTATIVE:
        orders.append([ops[1], ops[0]])
    for order in orders:
        trial: dict | None = env
        for sub, o in zip(pat.args, order):
            trial = match(sub, o, producer, trial, cache)
            if trial is None:
                break
        else:
            trial = _bind(dict(trial), pat.name, operand)
            if trial is not None:
                trial["_node"] = node          # the outermost match: the root
                return trial
    return None


def _match_call(pat: F, operand: Var, node: Node, producer: dict[int, Node], env: dict,
                cache: dict | None) -> dict | None:
    if node.op.name not in pat.ops:
        return None
    hit = cache.get(("call", id(node))) if cache is not None else None
    if hit is not None:
        arguments = hit[1]
    else:
        arguments = call_arguments(node)
        if cache is not None:
            cache[("call", id(node))] = (node, arguments)
    if arguments is None:
        return None
    names = list(arguments)
    sig = _signature(node.op.fn)
    params = list(sig.parameters) if sig is not None else list(range(len(names)))
    if len(params) < len(pat.args):
        return None
    trial: dict | None = env
    for sub, pname in zip(pat.args, params):
        if pname not in arguments:
            return None
        value = arguments[pname]
        if not isinstance(value, (Var, Const)):
            value = Const(value)            # a static argument, as for ufunc operands
        trial = match(sub, value, producer, trial, cache)
        if trial is None:
            return None
    rest = {k: v for k, v in arguments.items() if k not in params[:len(pat.args)]}
    if any(_contains_var(v) for v in rest.values()):
        return None
    if pat.kw is None:
        if rest:
            return None
        trial = dict(trial)
    else:
        trial = _bind(dict(trial), pat.kw, rest)
        if trial is None:
            return None
    trial = _bind(trial, pat.name, operand)
    if trial is not None:
        trial["_node"] = node          # the outermost match: the root
    return trial


def _sample(operand: Any, full_rank: bool = False) -> Any:
    """A one-element stand-in of the operand's type (rank 1, or its own rank)."""
    if isinstance(operand, Const):
        return operand.value
    aval = operand.aval
    if aval.kind == PYSCALAR:
        return aval.dtype.type(1).item()
    if aval.kind == NPSCALAR:
        return aval.dtype.type(1)
    if full_rank:
        return np.ones((1,) * aval.ndim, aval.dtype)
    return np.ones((1,) * min(aval.ndim, 1) if aval.ndim else (), aval.dtype)


def _shape(operand: Any) -> tuple:
    return () if isinstance(operand, Const) else operand.aval.shape


def reduced_shape(shape: tuple, axis: Any, keepdims: bool) -> tuple:
    """The shape of a reduction of ``shape`` over ``axis`` (None, an int or a tuple)."""
    ndim = len(shape)
    if axis is None:
        axes = set(range(ndim))
    else:
        axes = {a + ndim if a < 0 else a for a in (axis if isinstance(axis, tuple) else (axis,))}
        if any(not 0 <= a < ndim for a in axes):
            raise ValueError(f"axis {axis} out of range for {ndim} dimensions")
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _resolve_op(op: Any) -> CallOp:
    from ..graph.catalog import lookup_name
    from ..graph.ops import op_for_function
    fn = lookup_name(op) if isinstance(op, str) else op
    if isinstance(fn, np.ufunc):
        return ufunc_op(fn, "__call__")
    resolved = op_for_function(fn) if fn is not None else None
    if resolved is None and isinstance(op, str) and isinstance(REGISTRY.get(op), CallOp):
        resolved = REGISTRY[op]
    if resolved is None:
        raise ValueError(f"Builder.call: no op for {op!r}")
    return resolved


class Builder:
    """Emits replacement nodes; every new value gets its type the way NumPy would give it.

    ``producer(v)`` is the node that computes ``v`` (None for inputs and constants);
    ``uses(v)`` the nodes that read ``v`` (None for a graph output), as the sweep began;
    ``fast_math`` tells a rule that the user allowed NaN, inf and signed-zero changes;
    ``active`` names the rules running in this phase (not disabled).
    """

    def __init__(self, source: Any, rule: str, producer: dict[int, Node] | None = None,
                 fast_math: bool = False, uses: Callable[[Any], list] | None = None,
                 active: frozenset = frozenset()):
        self.nodes: list[Node] = []
        self.source = source
        self.rule = rule
        self._producer = producer if producer is not None else {}
        self._uses = uses
        self.fast_math = fast_math
        self.active = active

    def producer(self, v: Any) -> Node | None:
        return self._producer.get(v.id) if isinstance(v, Var) else None

    def uses(self, v: Any) -> list:
        return self._uses(v) if self._uses is not None else [None]

    def call(self, op: Any, *args: Any, **kwargs: Any) -> Var:
        """A call ``op(*args, **kwargs)`` on Vars and Consts (or plain static values).

        ``op`` is a ufunc object, a NumPy name (``"log1p"``, ``"where"``, ``"max"``) or a
        catalog function.  Results are typed for ufuncs and ``where`` (broadcasting),
        reductions with ``axis``/``keepdims`` and ``reshape``; other functions raise.
        """
        cop = _resolve_op(op)
        leaves, treedef = flatten((tuple(args), dict(kwargs)))
        statics, slots, inputs = [], [], []
        for p, leaf in enumerate(leaves):
            if isinstance(leaf, Var):
                statics.append(SLOT)
                slots.append(p)
                inputs.append(leaf)
            else:
                statics.append(leaf.value if isinstance(leaf, Const) else leaf)
        params = CallParams(treedef, tuple(statics), tuple(slots))
        out = Var(self._infer(cop, args, kwargs))
        self.nodes.append(Node(cop, tuple(inputs), (out,), params, self.source, rule=self.rule))
        return out

    @staticmethod
    def _infer(cop: CallOp, args: tuple, kwargs: dict) -> AbstractValue:
        def sample_kwargs() -> dict:
            return {k: _sample(v) if isinstance(v, (Var, Const)) else v for k, v in kwargs.items()}

        args = tuple(a if isinstance(a, (Var, Const)) or not np.isscalar(a) else Const(a) for a in args)
        if getattr(cop, "method", None) == "__call__" or cop.name == "where":
            if kwargs:
                raise NotImplementedError("Builder.call: keyword arguments of an elementwise call")
            with np.errstate(all="ignore"):
                sample = cop.fn(*[_sample(a) for a in args])
            shape = np.broadcast_shapes(*[_shape(a) for a in args])
        elif cop.category == "reduction" and len(args) == 1 and isinstance(args[0], Var) \
                and set(kwargs) <= {"axis", "keepdims"}:
            with np.errstate(all="ignore"):
                sample = cop.fn(_sample(args[0], full_rank=True), **sample_kwargs())
            shape = reduced_shape(args[0].aval.shape, kwargs.get("axis"), kwargs.get("keepdims", False))
        elif cop.name == "reshape" and len(args) == 2 and isinstance(args[0], Var) and not kwargs:
            new_shape = tuple(args[1]) if isinstance(args[1], tuple) else (args[1],)
            if int(np.prod(new_shape)) != args[0].aval.size or any(d < 0 for d in new_shape):
                raise ValueError("Builder.call: reshape needs the exact target shape")
            return AbstractValue(new_shape, args[0].aval.dtype, ARRAY)
        elif cop.name == "transpose" and len(args) == 2 and isinstance(args[0], Var) and not kwargs:
            a = args[0].aval
            return AbstractValue(tuple(a.shape[i] for i in args[1]), a.dtype, a.kind)
        elif cop.name == "ndarray.astype" and len(args) == 2 and isinstance(args[0], Var) and not kwargs:
            a = args[0].aval
            return AbstractValue(a.shape, np.dtype(args[1]), a.kind)
        else:
            raise NotImplementedError(f"Builder.call cannot type {cop.name}")
        kind = NPSCALAR if isinstance(sample, np.generic) else ARRAY
        return AbstractValue(tuple(shape), np.asarray(sample).dtype, kind)

    def full(self, aval: AbstractValue, value: Any) -> Any:
        """A value of type ``aval`` filled with ``value``."""
        if aval.kind == NPSCALAR:
            return Const(aval.dtype.type(value))
        if aval.kind == PYSCALAR:
            return Const(type(aval.dtype.type(0).item())(value))
        op = REGISTRY["full"] if "full" in REGISTRY else None
        if op is None:
            from ..patching import ORIGINALS
            fn = ORIGINALS.get((np, "full"), np.full)
            op = CallOp("full", fn, "creation")
        treedef = ("tuple", None, (("tuple", None, (LEAF, LEAF)), ("dict", ("dtype",), (LEAF,))))
        params = CallParams(treedef, (aval.shape, aval.dtype.type(value), aval.dtype), ())
        out = Var(aval)
        self.nodes.append(Node(op, (), (out,), params, self.source, rule=self.rule))
        return out
