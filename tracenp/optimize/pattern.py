"""A small pattern language for rewrite rules, and a builder for replacement nodes.

Patterns read like the math they match::

    P("log", P("add", C(1), X("x")))        # log(1 + x), either operand order

``X(name)`` matches any operand and binds it; ``C(value)`` matches a scalar constant
equal to ``value`` (or satisfying a predicate); ``P(op, *args)`` matches a variable
produced by a plain positional ufunc call of ``op`` (commutative ops match both orders).
A name bound twice must bind the same operand.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..graph.ir import Literal, Node, Var
from ..graph.ops import LEAF, CallOp, CallParams, REGISTRY, ufunc_op
from ..graph.types import ARRAY, NPSCALAR, PYSCALAR, AbstractValue

__all__ = ["X", "C", "P", "Const", "operands", "match", "Builder", "COMMUTATIVE"]

COMMUTATIVE = {"add", "multiply", "maximum", "minimum", "fmax", "fmin", "logical_and",
               "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor",
               "equal", "not_equal", "hypot"}


@dataclass(frozen=True, slots=True)
class Const:
    """A scalar constant operand (a static argument or a 0-d literal)."""

    value: Any

    @property
    def aval(self) -> AbstractValue:
        from ..graph.types import abstractify
        return abstractify(self.value)


class Pat:
    pass


@dataclass(frozen=True)
class X(Pat):
    name: str
    test: Callable[[Any], bool] | None = None


@dataclass(frozen=True)
class C(Pat):
    value: Any = None
    test: Callable[[Any], bool] | None = None
    name: str | None = None


class P(Pat):
    def __init__(self, op: str | tuple[str, ...], *args: Pat, name: str | None = None):
        self.ops = (op,) if isinstance(op, str) else tuple(op)
        self.args = args
        self.name = name

    def __repr__(self) -> str:
        return f"{self.ops[0]}({', '.join(map(repr, self.args))})"


def _flat_positional(params: Any) -> int | None:
    if not isinstance(params, CallParams) or params.out_tree != LEAF:
        return None
    args_def, kw_def = params.treedef[2]
    if args_def[0] != "tuple" or kw_def[0] != "dict" or kw_def[2]:
        return None
    if any(c != LEAF for c in args_def[2]):
        return None
    return len(args_def[2])


def operands(node: Node) -> list | None:
    """The positional operands (Vars or Consts) of a plain ufunc call, else None."""
    if getattr(node.op, "method", None) != "__call__" or len(node.outputs) != 1:
        return None
    n = _flat_positional(node.params)
    if n is None:
        return None
    slot = {p: k for k, p in enumerate(node.params.slots)}
    out = []
    for p in range(n):
        if p in slot:
            v = node.inputs[slot[p]]
            if isinstance(v, Literal) and not v.borrowed and v.aval.size == 1 and v.aval.ndim == 0:
                out.append(Const(v.value))
            else:
                out.append(v)
        else:
            out.append(Const(node.params.statics[p]))
    return out


def _const_value(operand: Any) -> Any:
    if isinstance(operand, Const):
        return operand.value
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Var) or isinstance(b, Var):
        return a is b
    return type(a) is type(b) and a == b


def match(pat: Pat, operand: Any, producer: dict[int, Node], env: dict | None = None) -> dict | None:
    """Bindings if ``operand`` matches ``pat``, else None."""
    env = {} if env is None else env
    if isinstance(pat, X):
        if pat.test is not None and not pat.test(operand):
            return None
        if pat.name in env:
            return env if _same(env[pat.name], operand) else None
        env[pat.name] = operand
        return env
    if isinstance(pat, C):
        if not isinstance(operand, Const):
            return None
        v = operand.value
        try:
            ok = pat.test(v) if pat.test is not None else (
                type(v) not in (str, bytes) and not isinstance(v, np.ndarray) and bool(v == pat.value))
        except (TypeError, ValueError):
            return None
        if not ok:
            return None
        if pat.name:
            env[pat.name] = operand
        return env
    if not isinstance(operand, Var):
        return None
    node = producer.get(operand.id)
    if node is None or node.op.name not in pat.ops:
        return None
    ops = operands(node)
    if ops is None or len(ops) != len(pat.args):
        return None
    orders = [ops]
    if len(ops) == 2 and node.op.name in COMMUTATIVE:
        orders.append([ops[1], ops[0]])
    for order in orders:
        trial = dict(env)
        for sub, o in zip(pat.args, order):
            trial = match(sub, o, producer, trial)
            if trial is None:
                break
        else:
            if pat.name:
                trial[pat.name] = operand
            trial.setdefault("_node", node)
            return trial
    return None


def _sample(operand: Any) -> Any:
    if isinstance(operand, Const):
        return operand.value
    aval = operand.aval
    if aval.kind == PYSCALAR:
        return aval.dtype.type(1).item()
    if aval.kind == NPSCALAR:
        return aval.dtype.type(1)
    return np.ones((1,) * min(aval.ndim, 1) if aval.ndim else (), aval.dtype)


def _shape(operand: Any) -> tuple:
    return () if isinstance(operand, Const) else operand.aval.shape


class Builder:
    """Emits replacement nodes; every new value gets its type the way NumPy would give it."""

    def __init__(self, source: Any, rule: str):
        self.nodes: list[Node] = []
        self.source = source
        self.rule = rule

    def call(self, op_name: str, *args: Any) -> Var:
        """A positional ufunc call ``np.<op_name>(*args)`` on Vars and Consts."""
        fn = getattr(np, op_name)
        if isinstance(fn, np.ufunc):
            op = ufunc_op(fn, "__call__")
        else:
            from ..graph.ops import op_for_function
            op = op_for_function(fn)
        statics, slots, inputs = [], [], []
        for p, a in enumerate(args):
            if isinstance(a, Var):
                statics.append(None)
                slots.append(p)
                inputs.append(a)
            else:
                statics.append(a.value if isinstance(a, Const) else a)
        from ..graph.ops import SLOT
        statics = [SLOT if p in slots else s for p, s in enumerate(statics)]
        treedef = ("tuple", None, (("tuple", None, (LEAF,) * len(args)), ("dict", (), ())))
        params = CallParams(treedef, tuple(statics), tuple(slots))
        args = [a if isinstance(a, (Var, Const)) else Const(a) for a in args]
        with np.errstate(all="ignore"):
            sample = op.fn(*[_sample(a) for a in args])
        shape = np.broadcast_shapes(*[_shape(a) for a in args])
        kind = NPSCALAR if isinstance(sample, np.generic) else ARRAY
        if kind == ARRAY and not shape and all(_shape(a) == () for a in args):
            kind = ARRAY
        out = Var(AbstractValue(shape, np.asarray(sample).dtype, kind))
        self.nodes.append(Node(op, tuple(inputs), (out,), params, self.source, rule=self.rule))
        return out

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
