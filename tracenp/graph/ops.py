"""Ops: what a graph node does.

An op is declared once (see :mod:`tracenp.graph.catalog`) and every layer keys its own
table by the op's ``name``.  Most ops *call a NumPy callable*: the node keeps the call's
argument structure as a template (:class:`CallParams`) whose dynamic slots are filled
with the node's input values, so replay runs exactly the NumPy code the user wrote.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from tracenp._ndarray import NDARRAY

from .pytree import LEAF, flatten, unflatten

__all__ = ["Op", "CallOp", "MutateOp", "CallParams", "MutateParams", "ViewStep", "SLOT",
           "TARGET", "REGISTRY", "register", "ufunc_op", "ufunc_out_op", "op_for_function"]


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self):
        return (_marker, (self.name,))


_MARKERS: dict[str, _Marker] = {}


def _marker(name: str) -> _Marker:
    return _MARKERS.setdefault(name, _Marker(name))


SLOT = _marker("SLOT")      # a dynamic argument: filled from the node's inputs
TARGET = _marker("TARGET")  # the array a mutating call writes into


@dataclass(frozen=True, eq=False, slots=True)
class CallParams:
    """A call's arguments with the dynamic leaves taken out.

    ``statics`` holds every leaf of ``(args, kwargs)``; dynamic ones are ``SLOT``.
    ``slots`` lists their positions, in input order.  ``out_tree``/``out_leaves``
    describe the result: which result leaves are graph outputs and which are static.
    """

    treedef: Any
    statics: tuple
    slots: tuple[int, ...]
    out_tree: Any = LEAF
    out_arrays: tuple[int, ...] = (0,)

    def fill(self, inputs) -> tuple[tuple, dict]:
        leaves = list(self.statics)
        for pos, value in zip(self.slots, inputs):
            leaves[pos] = value
        return unflatten(self.treedef, leaves)

    def key(self) -> tuple:
        """A hashable summary (for common-subexpression detection)."""
        return (self.treedef, tuple(_hashable(s) for s in self.statics), self.slots,
                self.out_tree, self.out_arrays)


def value_key(x: Any) -> Any:
    """A key under which two static values are equal only if NumPy treats them alike:
    ``0``, ``0.0``, ``-0.0`` and ``False`` compare equal in Python but give different
    dtypes (NEP 50 weak scalars) or signs; floats and complexes are keyed by type and
    ``repr`` (which tells the zeros apart, and makes NaN equal to NaN)."""
    if isinstance(x, (float, complex, np.inexact)):
        return ("num", type(x), repr(x))
    if isinstance(x, (bool, int, np.generic)):
        return ("num", type(x), x)
    if type(x) is tuple:
        return ("tuple",) + tuple(_hashable(y) for y in x)
    return x


def _hashable(x: Any) -> Any:
    if isinstance(x, slice):
        return ("slice", value_key(x.start), value_key(x.stop), value_key(x.step))
    if isinstance(x, NDARRAY):
        return ("array", id(x))
    x = value_key(x)
    try:
        hash(x)
        return x
    except TypeError:
        return ("id", id(x))


class Op:
    """Base class.  ``evaluate(params, inputs)`` returns a tuple of output values."""

    name: str = "op"
    category: str = "misc"
    effectful: bool = False   # must run even if unused, in order (random draws)
    view: bool = False        # outputs may share memory with input 0

    def evaluate(self, params: Any, inputs: list) -> tuple:
        raise NotImplementedError

    def format(self, params: Any, names: list[str]) -> str:
        return f"{self.name}({', '.join(names)})"

    def __repr__(self) -> str:
        return f"<op {self.name}>"


class CallOp(Op):
    """Calls a NumPy (or Python) callable with the node's params as its arguments."""

    def __init__(self, name: str, fn: Callable, category: str = "misc", *, view: bool = False,
                 effectful: bool = False, static_params: tuple[str, ...] = (),
                 check: Callable | None = None, mutates: str | None = None,
                 differentiable: bool | None = None, doc: str = ""):
        self.name = name
        self.fn = fn
        self.category = category
        self.view = view
        self.effectful = effectful
        self.static_params = static_params
        self.check = check
        self.mutates = mutates
        self.differentiable = differentiable
        self.doc = doc

    def evaluate(self, params: CallParams, inputs: list) -> tuple:
        args, kwargs = params.fill(inputs)
        result = self.fn(*args, **kwargs)
        if params.out_tree is LEAF or params.out_tree == LEAF:
            return (result,)
        leaves, _ = flatten(result)
        return tuple(leaves[i] for i in params.out_arrays)

    def format(self, params: CallParams, names: list[str]) -> str:
        args, kwargs = params.fill([_Name(n) for n in names])
        parts = [_fmt(a) for a in args] + [f"{k}={_fmt(v)}" for k, v in kwargs.items()]
        return f"{self.name}({', '.join(parts)})"


class _Name(str):
    def __repr__(self) -> str:
        return str(self)


def _fmt(x: Any) -> str:
    if isinstance(x, NDARRAY):
        return f"<{x.dtype}{list(x.shape)}>" if x.size > 4 else repr(x.tolist())
    if isinstance(x, slice):
        return _fmt_slice(x)
    if isinstance(x, np.dtype):
        return x.name
    if isinstance(x, type) and issubclass(x, np.generic):
        return x.__name__
    if callable(x) and hasattr(x, "__name__"):
        return x.__name__
    return repr(x)


def _fmt_slice(s: slice) -> str:
    a = "" if s.start is None else _fmt(s.start)
    b = "" if s.stop is None else _fmt(s.stop)
    text = f"{a}:{b}"
    if s.step is not None:
        text += f":{_fmt(s.step)}"
    return text


def format_index(idx: Any) -> str:
    items = idx if isinstance(idx, tuple) else (idx,)
    parts = ["..." if i is Ellipsis else "None" if i is None else _fmt(i) for i in items]
    return ", ".join(parts) if parts else "()"


class GetItemOp(CallOp):
    def format(self, params: CallParams, names: list[str]) -> str:
        (x, idx), _ = params.fill([_Name(n) for n in names])
        return f"{x}[{format_index(idx)}]"


@dataclass(frozen=True, eq=False, slots=True)
class ViewStep:
    """One step from a buffer to a view of it: ``op`` applied with ``inputs`` where
    the view's source is at position ``source`` and the view is output ``out``."""

    op: CallOp
    params: CallParams
    inputs: tuple      # the node's constant inputs (Literal variables); ``None`` at ``source``
    source: int
    out: int = 0
    avals: tuple = ()  # the types of the op's outputs (to re-derive the view in a graph)

    @classmethod
    def of(cls, node: Any, source: int, out: int) -> "ViewStep | None":
        """The step that output ``out`` of ``node`` takes from its input ``source``, or
        None when another input is not a constant (the view cannot be replayed alone)."""
        from .ir import Literal
        if any(i != source and not isinstance(v, Literal) for i, v in enumerate(node.inputs)):
            return None
        consts = tuple(None if i == source else v for i, v in enumerate(node.inputs))
        return cls(node.op, node.params, consts, source, out, tuple(o.aval for o in node.outputs))

    def apply(self, value: Any) -> Any:
        ins = [value if i == self.source else v.value for i, v in enumerate(self.inputs)]
        return self.op.evaluate(self.params, ins)[self.out]

    def format(self, name: str) -> str:
        names = [name if i == self.source else "c" for i in range(len(self.inputs))]
        return self.op.format(self.params, names)


@dataclass(frozen=True, eq=False, slots=True)
class MutateParams:
    """A mutating call: the view ``chain`` from the buffer to the written region and the
    call itself, whose ``TARGET`` leaf is that region."""

    chain: tuple[ViewStep, ...]
    call: CallParams

    def key(self) -> tuple:
        return (tuple(id(s) for s in self.chain), self.call.key())


class MutateOp(Op):
    """Functional form of an in-place NumPy call.

    Input 0 is the whole buffer before the write; the output is the buffer after it.
    Replay copies the buffer unless the executor proved the old value dead, then runs
    the user's own in-place NumPy call on the region, so NumPy's casting and overlap
    rules apply unchanged.
    """

    category = "mutation"
    view = True

    def __init__(self, inner: CallOp):
        self.inner = inner
        self.name = inner.name + "!"
        self.fn = inner.fn
        self.effectful = inner.effectful

    def evaluate(self, params: MutateParams, inputs: list, inplace: bool = False) -> tuple:
        base = old = inputs[0]
        if not inplace:
            base = copy_layout(base)
        region = base
        for step in params.chain:
            region = step.apply(region)
        operands = inputs[1:]
        if base is not old:
            operands = [_realias(x, old, base, region) for x in operands]
        args, kwargs = params.call.fill(operands)
        args, kwargs = _replace_target((args, kwargs), region)
        self.fn(*args, **kwargs)
        return (base,)

    def runner(self, params: MutateParams, inplace: bool):
        """A fast replay closure: the call's static parts are prepared once."""
        from ..exec.interpreter import flat_arguments
        slow = lambda ins: self.evaluate(params, ins, inplace)  # noqa: E731
        flat = flat_arguments(params.call)
        if flat is None:
            return slow
        spec, kwargs = flat
        tpos = [k for k, (tag, v) in enumerate(spec) if tag == "const" and v is TARGET]
        tkw = [k for k, v in kwargs.items()
               if v is TARGET or (type(v) is tuple and len(v) == 1 and v[0] is TARGET)]
        if len(tpos) + len(tkw) != 1:
            return slow
        chain, fn = params.chain, self.fn
        template = [None if tag == "in" else v for tag, v in spec]
        fills = [(k, v + 1) for k, (tag, v) in enumerate(spec) if tag == "in"]
        wrap = bool(tkw) and kwargs[tkw[0]] is not TARGET

        def run(ins):
            base = ins[0] if inplace else copy_layout(ins[0])
            region = base
            for step in chain:
                region = step.apply(region)
            args = template.copy()
            for k, j in fills:
                args[k] = ins[j] if inplace else _realias(ins[j], ins[0], base, region)
            if tpos:
                args[tpos[0]] = region
                fn(*args, **kwargs)
            else:
                kw = dict(kwargs)
                kw[tkw[0]] = (region,) if wrap else region
                fn(*args, **kw)
            return (base,)
        return run

    def format(self, params: MutateParams, names: list[str]) -> str:
        target = names[0]
        for step in params.chain:
            target = step.format(target)
        args, kwargs = params.call.fill([_Name(n) for n in names[1:]])
        (args, kwargs) = _replace_target((args, kwargs), _Name(f"{target}"))
        if self.inner.name == "setitem":
            return f"{args[0]}[{format_index(args[1])}] = {_fmt(args[2])}"
        parts = [_fmt(a) for a in args] + [f"{k}={_fmt(v)}" for k, v in kwargs.items()]
        return f"{self.name}({', '.join(parts)})"


def copy_layout(a: Any) -> Any:
    """A copy of ``a`` with ``a``'s strides, negative ones included (``copy(order="K")``
    makes them positive).  NumPy picks a ufunc's loop by its operands' strides, and its
    contiguous (SIMD) and strided loops of a function such as ``expm1`` may differ in the
    last bit: a mutation's private copy must be read as the caller's array is."""
    if type(a) is not NDARRAY or not any(s < 0 for s in a.strides):
        return a.copy(order="K")
    flip = tuple(slice(None, None, -1) if s < 0 else slice(None) for s in a.strides)
    return a[flip].copy(order="K")[flip]


def _realias(x: Any, old: Any, base: Any, region: Any) -> Any:
    """An operand of a copying mutation, aliased as in eager NumPy.

    Eager NumPy writes into the very array its operands read (``x **= y`` is
    ``power(x, y, out=x)``), and some loops take another path when an operand *is* the
    output (power's vector loop; complex multiply of one element): the results differ in
    the last bit.  So the old buffer is passed as the new one, and a view of the old
    buffer that is exactly the written region as the region itself."""
    if x is old:
        return base
    if type(x) is NDARRAY and x.base is not None and type(old) is NDARRAY and \
            x.shape == region.shape and x.strides == region.strides and \
            x.dtype == region.dtype and base.strides == old.strides:
        off = x.__array_interface__["data"][0] - old.__array_interface__["data"][0]
        if off == region.__array_interface__["data"][0] - base.__array_interface__["data"][0] \
                and 0 <= off < max(old.nbytes, 1) and np.shares_memory(x, old):
            return region
    return x


def _replace_target(tree: Any, value: Any) -> Any:
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [value if leaf is TARGET else leaf for leaf in leaves])


# ----------------------------------------------------------------------------- registry

REGISTRY: dict[str, Op] = {}
_BY_FUNCTION: dict[Any, CallOp] = {}


def register(op: Op, *functions: Any) -> Op:
    """Add ``op`` to the registry, reachable from each callable in ``functions``."""
    if op.name in REGISTRY and REGISTRY[op.name] is not op:
        raise ValueError(f"duplicate op name {op.name!r}")
    REGISTRY[op.name] = op
    for f in functions:
        _BY_FUNCTION[f] = op
    return op


def op_for_function(fn: Any) -> CallOp | None:
    """The registered op for a NumPy function, or None."""
    try:
        return _BY_FUNCTION.get(fn)
    except TypeError:
        return None


_UFUNC_CATEGORY = {"__call__": "elementwise", "reduce": "reduction", "accumulate": "scan",
                   "outer": "elementwise", "at": "mutation", "reduceat": "reduction"}


def _ufunc_name(ufunc: np.ufunc) -> str:
    name = ufunc.__name__
    if getattr(np, name, None) is ufunc:
        return name
    module = getattr(ufunc, "__module__", None)
    return f"{module}.{name}" if module and module != "numpy" else f"ufunc:{name}"


_UFUNC_BASE: dict[Any, str] = {}


def _unique_ufunc_name(ufunc: np.ufunc) -> str:
    """``_ufunc_name``, made unique: ufuncs of other libraries (or several
    ``np.frompyfunc`` ufuncs) may share a ``__name__``."""
    base = _UFUNC_BASE.get(ufunc)
    if base is None:
        base = first = _ufunc_name(ufunc)
        taken = set(_UFUNC_BASE.values())
        n = 1
        while base in taken or (base in REGISTRY and
                                getattr(REGISTRY[base], "ufunc", None) is not ufunc):
            n += 1
            base = f"{first}#{n}"
        _UFUNC_BASE[ufunc] = base
    return base


def ufunc_op(ufunc: np.ufunc, method: str) -> CallOp:
    """The op for ``ufunc.method`` (created on first use, so any library's ufunc works)."""
    key = (ufunc, method)
    op = _BY_FUNCTION.get(key)
    if op is None:
        base = _unique_ufunc_name(ufunc)
        name = base if method == "__call__" else f"{base}.{method}"
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        op = CallOp(name, fn, _UFUNC_CATEGORY.get(method, "elementwise"))
        op.ufunc = ufunc
        op.method = method
        register(op, key)
    return op


def ufunc_out_op(ufunc: np.ufunc, method: str, k: int) -> CallOp:
    """``ufunc.method(..., out=outs)`` run for its ``k``-th output only: the other out
    arrays are copies, so one multi-output call becomes one mutation per out array."""
    key = (ufunc, method, "out", k)
    op = _BY_FUNCTION.get(key)
    if op is None:
        base = ufunc_op(ufunc, method)
        call = base.fn

        def fn(*args, out, **kwargs):
            out = tuple(o if i == k or o is None else o.copy() for i, o in enumerate(out))
            return call(*args, out=out, **kwargs)
        fn.__name__ = f"{base.name}[out={k}]"
        op = CallOp(fn.__name__, fn, base.category)
        op.ufunc = ufunc
        op.method = method
        register(op, key)
    return op


GETITEM = register(GetItemOp("getitem", operator.getitem, "indexing", view=True))
SETITEM = register(CallOp("setitem", operator.setitem, "mutation"))
