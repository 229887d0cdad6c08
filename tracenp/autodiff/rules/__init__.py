"""Vector-Jacobian rules: one per op, written in plain NumPy.

Each rule maps the cotangent ``g`` of an op's result (and the result ``ans`` and the op's
own arguments) to the cotangents of its arguments.  Rules run on proxies inside a trace,
so what they compute becomes graph nodes.  Broadcasting is undone, and cotangents are
cast to each input's dtype, by the sweep (:func:`tracenp.autodiff.backward.fit`), so a
rule may return a cotangent of the broadcast shape.

Tables, all keyed by op name (``tracenp.graph.catalog``):

* ``UFUNC``: ``rule(g, ans, *inputs) -> tuple`` for a ufunc call (and for the Python
  scalar operators ``py.*``); other methods of a ufunc with a rule (``reduce``,
  ``accumulate``, ``reduceat``, ``outer``) are differentiated as the equivalent calls;
* ``FUNC``: ``rule(g, ans, *args, **kwargs)`` for a function, bound with NumPy's own
  parameter names.  It returns a dict (parameter name -> cotangent, a pytree like that
  argument), or one of: a :class:`Via` (differentiate this equivalent code instead),
  a :class:`Linear` (the derivative as a linear map of tangents: its transpose is
  swept), ``SELECT`` (the call only moves elements: :func:`_selection`);
* ``SELECTIONS``: functions that only move elements (``np.insert``, ``np.tile``, ...);
* ``MUTATE``: in-place writes (``x[i] = v``, ``np.put``, ``np.add.at``, ``ndarray.sort``);
  any call with ``out=`` is differentiated as the same call without it;
* ``ZERO``: ops whose derivative is zero wherever it exists (``floor``, ``sign``, ...);
* ``NONDIFF``: ops with integer or boolean results, and random draws; a cotangent that
  reaches one (a float result: random draws, histogram densities) raises;
* ``NO_RULE_YET``: ops with no rule yet, and why: ``grad`` raises, naming the line;
* everything else that NumPy implements in Python is differentiated through its own
  implementation (``decompose``), e.g. ``np.ptp`` via ``max`` and ``min``.

A rule that differentiates equivalent code (a :class:`Via`) is checked, on the trace's
values, to compute the op's own result: where it does not (an argument the rule does not
cover), ``grad`` raises instead of returning a wrong gradient.  :data:`GRAD` is the
``grad`` column of ``docs/supported.md`` (``tracenp.coverage``).

Complex numbers follow JAX's convention: a rule is the transpose of the op's R-linear
derivative under the pairing ``Re(a * b)`` (no conjugation), so holomorphic rules read
exactly as their real versions, and ``grad`` of a real function of ``z`` returns
``conj(df/dz)``-style values (``grad(abs(z)**2) == 2 * conj(z)``).

The rules live in one module per topic; importing this package registers them all:
:mod:`~.elementwise` (ufuncs, Python operators, elementwise functions),
:mod:`~.reductions` (reductions and scans), :mod:`~.shape` (reshapes, views, joining,
padding), :mod:`~.indexing` (indexing and sorting), :mod:`~.products`, :mod:`~.linalg`,
:mod:`~.decompositions`, :mod:`~.fft`, :mod:`~.statistics`, :mod:`~.differences`,
:mod:`~.polynomials`, :mod:`~.creation` and :mod:`~.functional`; :mod:`~.inplace` holds
the rules of in-place writes (``MUTATE``), :mod:`~.selections` the selection rule,
:mod:`~.ufunc_methods` the equivalent code of ufunc methods, and :mod:`~._common` what
they share (``UFUNC``, ``FUNC``, their decorators ``_u``/``_f``, :class:`Via`,
:class:`Linear`, ``SELECT``).  This module holds the other tables and the dispatch.
"""
from __future__ import annotations

import inspect
import types
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from ...errors import DifferentiationError, TracenpError
from ...graph.ir import Literal, Node
from ...graph.ops import TARGET, MutateOp
from ...graph.pytree import flatten
from ..backward import Cotangent, Sweep, backward, pairs
# Importing a rule module registers its rules (in UFUNC and FUNC).
from . import creation, decompositions, differences, elementwise, fft, functional  # noqa: F401
from . import indexing, linalg, polynomials, products, reductions, shape, statistics  # noqa: F401
from ._common import FUNC, SELECT, UFUNC, Linear, Via, _where_given
from .inplace import MUTATE, _ufunc_out_rule, _zero_at_rule
from .selections import SELECTIONS, _selection
from .ufunc_methods import _METHOD_IMPL, _gufunc_axes_via

# Helpers of the rule modules that tests call directly, importable from here as before.
from .differences import _grad_axis as _grad_axis
from .polynomials import _convolve as _convolve, _correlate as _correlate
from .products import _cross_impl as _cross_impl, _tensordot_impl as _tensordot_impl
from .shape import _pad_impl as _pad_impl
from .statistics import _QUANTILE_METHODS as _QUANTILE_METHODS, _quantile_impl as _quantile_impl

__all__ = ["UFUNC", "FUNC", "ZERO", "NONDIFF", "NO_RULE_YET", "MUTATE", "SELECTIONS", "Via",
           "Linear", "SELECT", "GRAD", "apply_rule", "rule_kind"]


# ============================================================================ tables
# UFUNC and FUNC (in ._common) are filled by the rule modules, each registering its rules
# as it is imported (above); MUTATE is in .inplace, SELECTIONS in .selections.

# Zero derivative wherever one exists (piecewise constant) — no cotangent flows back.
ZERO = set("""floor ceil trunc rint round around fix floor_divide spacing py.floordiv
    py.round zeros_like ones_like empty_like""".split())


# Integer or boolean results (or no float input): nothing to differentiate.
NONDIFF = set("""all any argmax argmin argsort argpartition lexsort count_nonzero searchsorted
    digitize nanargmax nanargmin isclose iscomplex isreal isin isneginf isposinf
    ravel_multi_index unravel_index diag_indices_from tril_indices_from triu_indices_from
    linalg.matrix_rank packbits unpackbits zeros ones empty arange eye identity tri
    histogram histogram2d histogramdd histogram_bin_edges fromfunction
    py.lt py.le py.gt py.ge py.eq py.ne py.and py.or py.xor py.lshift py.rshift py.invert
    """.split())

_NONDIFF_WHY = {
    "histogram": "histogram counts are integers (with weights or density=True, or bin edges "
                 "taken from the data, their gradient is not implemented)",
}
for _n in ("histogram2d", "histogramdd", "histogram_bin_edges"):
    _NONDIFF_WHY[_n] = _NONDIFF_WHY["histogram"]
for _n in ("zeros", "ones", "empty", "arange", "eye", "identity", "tri", "fromfunction"):
    _NONDIFF_WHY[_n] = "it builds an array from shapes and Python numbers, not from its inputs"

# Ops with no gradient rule yet, and why.  grad raises DifferentiationError naming the line.
NO_RULE_YET: dict[str, str] = {}


# ============================================================================ dispatch
def _declare_ufunc_at() -> None:
    """``ufunc.at`` applies the ufunc once per index, repeated indices one after another:
    add/subtract have a rule, piecewise-constant ufuncs a zero one, the rest none yet."""
    for name in dir(np):
        u = getattr(np, name)
        if not isinstance(u, np.ufunc) or u.__name__ != name or u.signature is not None \
                or u.nout != 1 or not _ufunc_has_float_output(u):
            continue
        if name in ZERO:
            MUTATE[f"{name}.at"] = _zero_at_rule
        elif f"{name}.at" not in MUTATE:
            NO_RULE_YET[f"{name}.at"] = (
                f"np.{name}.at applies {name} once per index (repeated indices compose); only "
                f"np.add.at and np.subtract.at have a rule")


def _no_rule_reason(op: Any) -> str:
    u = getattr(op, "ufunc", None)
    if u is not None and getattr(op, "method", None) == "at":
        return (f"{u.__name__}.at applies repeated indices one after another; only "
                f"np.add.at and np.subtract.at have a rule")
    return "not implemented"


def _ufunc_has_float_output(u: np.ufunc) -> bool:
    for t in u.types:
        for c in t.split("->")[1]:
            if c not in "OmM" and np.dtype(c).kind in "fc":
                return True
    return False


_declare_ufunc_at()


def _ufunc_base(op: Any) -> str | None:
    """The op name of the ufunc's ``__call__`` (``add`` for ``add.reduce``/``add[out=1]``)."""
    u = getattr(op, "ufunc", None)
    if u is None:
        return None
    from ...graph.ops import ufunc_op
    return ufunc_op(u, "__call__").name


def _ufunc_rule(op: Any) -> Callable | None:
    rule = UFUNC.get(op.name) or UFUNC.get(_ufunc_base(op) or "")
    if rule is None and getattr(op, "ufunc", None) is not None:
        rule = _foreign_ufunc_rule(op.ufunc)
    return rule


_FOREIGN: dict[int, Callable | None] = {}


def _foreign_ufunc_rule(u: np.ufunc) -> Callable | None:
    """Rules for ufuncs of other libraries (scipy.special), matched by identity."""
    if id(u) in _FOREIGN:
        return _FOREIGN[id(u)]
    rule = None
    if getattr(np, u.__name__, None) is not u:
        try:
            import scipy.special as sp
        except ImportError:
            sp = None
        if sp is not None and getattr(sp, u.__name__, None) is u:
            rule = UFUNC.get(f"scipy.special.{u.__name__}")
    _FOREIGN[id(u)] = rule
    return rule


def _nondiff_reason(name: str, op: Any) -> str:
    if name in _NONDIFF_WHY:
        return _NONDIFF_WHY[name]
    if op is not None and (op.category == "random" or name.startswith(("random.", "Generator.",
                                                                        "RandomState."))):
        return ("random draws are not differentiated in their parameters (tracenp does not "
                "reparameterize); draw standard noise and transform it, e.g. "
                "loc + scale * np.random.standard_normal(shape)")
    return "its result is an integer or boolean array"


def rule_kind(name: str, op: Any = None) -> str | None:
    """How op ``name`` is differentiated: ``'rule'`` (a rule in UFUNC, FUNC, MUTATE or a
    selection), ``'zero'``, ``'nondiff'``, ``'no_rule'`` (declared in NO_RULE_YET: grad
    raises), ``'decompose'`` (through NumPy's own Python implementation), or None
    (nothing: grad raises)."""
    if isinstance(op, MutateOp):
        inner = op.inner
        if inner.name in MUTATE:
            return "rule"
        if inner.name in NO_RULE_YET:
            return "no_rule"
        u = getattr(inner, "ufunc", None)
        if u is not None and getattr(inner, "method", None) == "at":
            return "nondiff" if not _ufunc_has_float_output(u) else "no_rule"
        return rule_kind(inner.name, inner)
    if name in NO_RULE_YET:
        return "no_rule"
    if name in FUNC or name in SELECTIONS:
        return "rule"
    if name in ZERO:
        return "zero"
    if name in NONDIFF or name.startswith(("random.", "Generator.", "RandomState.")) or \
            (op is not None and op.category in ("random", "bits")):
        return "nondiff"
    if name in UFUNC:
        return "rule"
    u = getattr(op, "ufunc", None)
    if u is not None:
        if not _ufunc_has_float_output(u):
            return "nondiff"
        method = getattr(op, "method", "__call__")
        base = _ufunc_base(op)
        if method == "at":
            return "rule" if name in MUTATE else "no_rule"
        if base in ZERO:
            return "zero"
        if _ufunc_rule(op) is not None:
            return "rule"
        return None
    if name.startswith("ndarray.") and name in MUTATE:
        return "rule"
    if op is not None and op.category == "mutation" and name in MUTATE:
        return "rule"
    fn = getattr(op, "fn", None)
    if isinstance(getattr(fn, "_implementation", None), types.FunctionType):
        return "decompose"
    if isinstance(fn, types.FunctionType) and getattr(fn, "__module__", "").startswith("numpy"):
        return "decompose"
    return None


class _GradTable(Mapping):
    """The ``grad`` layer of :mod:`tracenp.coverage`: the ops ``tracenp.grad``
    differentiates (by a rule, through NumPy's own code, or as a zero), by name;
    ``describe(name)`` is the cell the supported-function table shows."""

    CELLS = {"rule": "yes", "decompose": "NumPy", "zero": "zero", "nondiff": "n/a",
             "no_rule": "no", None: "no"}

    def kind(self, name: str) -> str | None:
        from ...graph.ops import REGISTRY
        op = REGISTRY.get(name)
        return rule_kind(name, op) if op is not None else None

    def __getitem__(self, name: str) -> str:
        k = self.kind(name)
        if k not in ("rule", "decompose", "zero"):
            raise KeyError(name)
        return k

    def __iter__(self):
        from ...graph.ops import REGISTRY
        return iter([n for n in list(REGISTRY) if n in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.kind(name) in ("rule", "decompose", "zero")

    def describe(self, name: str) -> str:
        return self.CELLS[self.kind(name)]


GRAD = _GradTable()

_SIGS: dict[Callable, inspect.Signature] = {}


def _bind(rule: Callable, g: Any, ans: Any, args: tuple, kwargs: dict) -> inspect.BoundArguments:
    sig = _SIGS.get(rule)
    if sig is None:
        sig = _SIGS[rule] = inspect.signature(rule)
    return sig.bind(g, ans, *args, **kwargs)


def apply_rule(sweep: Sweep, node: Node, outs: list, active: set) -> list[tuple[Any, Cotangent]]:
    """The (input variable, Cotangent) contributions of one node's rule."""
    op = node.op
    name = op.name
    try:
        if isinstance(op, MutateOp):
            g = outs[0].value
            return [(v, c if isinstance(c, Cotangent) else Cotangent(c))
                    for v, c in _mutate_rule(sweep, node, g)]
        kind = rule_kind(name, op)
        if kind == "zero":
            return []
        if kind == "nondiff":
            raise DifferentiationError(f"{name} is not differentiable: "
                                       f"{_nondiff_reason(name, op)}", source=node.source)
        if kind == "no_rule":
            raise DifferentiationError(f"no gradient rule for {name} yet: {NO_RULE_YET[name]}",
                                       source=node.source,
                                       hint="rewrite the line with functions that have rules "
                                            "(docs/supported.md, column grad)")
        return _apply(sweep, node, outs, op, name)
    except DifferentiationError as e:
        if e.source is None:
            e.source = node.source
        raise
    except TracenpError as e:
        raise DifferentiationError(f"the gradient of {name} could not be built: {e.reason}",
                                   source=node.source) from e


def _apply(sweep: Sweep, node: Node, outs: list, op: Any, name: str) -> list:
    ins = [sweep.proxy(v) for v in node.inputs]
    args, kwargs = node.params.fill(ins)
    single = len(node.outputs) == 1 and node.params.out_tree == "*"
    ans = sweep.proxy(node.outputs[0]) if single else [sweep.proxy(o) for o in node.outputs]
    mask = None
    if single:
        g = outs[0].value
        mask = outs[0].mask
    else:
        g = [None if c is None else c.value for c in outs]
        ans = _unflatten_outputs(node, ans)
        g = _unflatten_outputs(node, g)
    method = getattr(op, "method", None)
    ufunc = getattr(op, "ufunc", None)
    if name.startswith("py.") or (ufunc is not None and method == "__call__"):
        rule = UFUNC.get(name) if name.startswith("py.") else _ufunc_rule(op)
        if rule is not None:
            if ufunc is not None and ufunc.signature is not None and \
                    ("axes" in kwargs or "axis" in kwargs):
                via = _gufunc_axes_via(ufunc, args, kwargs)
                return _decompose(sweep, node, outs, via.args, via.kwargs, impl=via.fn)
            nin = ufunc.nin if ufunc is not None else len(args)
            cts = rule(g, ans, *args[:nin])
            if _where_given(kwargs.get("where", True)):
                cts = tuple(None if c is None else np.where(kwargs["where"], c, 0) for c in cts)
            if mask is not None:
                cts = tuple(None if c is None else np.where(mask, c, 0) for c in cts)
            res = pairs(tuple(args[:nin]), cts)
            return [(v, Cotangent(c, mask)) for v, c in res]
    if ufunc is not None and method in _METHOD_IMPL and name not in FUNC:
        impl = _METHOD_IMPL[method]
        return _decompose(sweep, node, outs, args, kwargs,
                          impl=lambda *a, **k: impl(ufunc, *a, **k))
    if name in SELECTIONS:
        return _selection(sweep, node, outs, args, kwargs)
    rule = FUNC.get(name)
    if rule is not None:
        bound = _bind(rule, g, ans, args, kwargs)
        cts = rule(*bound.args, **bound.kwargs)
        if cts is SELECT:
            return _selection(sweep, node, outs, args, kwargs)
        if isinstance(cts, Linear):
            return _transpose_linear(sweep, node, outs, cts)
        if isinstance(cts, Via):
            return _decompose(sweep, node, outs, cts.args, cts.kwargs, impl=cts.fn)
        result = []
        for pname, ct in cts.items():
            if isinstance(pname, int):
                target = args[pname]
            elif pname in bound.arguments:
                target = bound.arguments[pname]
            else:
                continue
            if isinstance(ct, Cotangent):
                result += [(v, Cotangent(c, ct.mask)) for v, c in pairs(target, ct.value)]
            else:
                result += [(v, Cotangent(c)) for v, c in pairs(target, ct)]
        return result
    return _decompose(sweep, node, outs, args, kwargs)


# ============================================================================ in-place writes
def _has_out(kwargs: dict) -> bool:
    out = kwargs.get("out")
    return out is TARGET or (isinstance(out, tuple) and any(o is TARGET for o in out))


def _as_traced(g: Any, like: Any) -> Any:
    from ...tracer import Tracer
    if isinstance(g, Tracer):
        return g
    return np.full(np.shape(like), g, dtype=np.result_type(like, g))


def _mutate_rule(sweep: Sweep, node: Node, g: Any) -> list:
    """A functional in-place write: the written region's cotangent goes to what was
    written, the rest of the buffer's to the buffer before the write."""
    op: MutateOp = node.op
    inner = op.inner
    ins = [sweep.proxy(v) for v in node.inputs]
    args, kwargs = node.params.call.fill(ins[1:])
    g = _as_traced(g, ins[0])
    rule = MUTATE.get(inner.name)
    if rule is not None:
        return rule(sweep, node, g, args, kwargs)
    kind = rule_kind(op.name, op)
    if kind == "no_rule":
        raise DifferentiationError(f"no gradient rule for the in-place {inner.name} yet: "
                                   f"{NO_RULE_YET.get(inner.name, _no_rule_reason(inner))}",
                                   source=node.source)
    if kind == "nondiff":
        raise DifferentiationError(f"{inner.name} is not differentiable: "
                                   f"{_nondiff_reason(inner.name, inner)}", source=node.source)
    if _has_out(kwargs):
        return _ufunc_out_rule(sweep, node, g, args, kwargs)
    raise DifferentiationError(f"no gradient rule for the in-place {inner.name}",
                               source=node.source)


# ============================================================================ linear maps, equivalent code
def _transpose_linear(sweep: Sweep, node: Node, outs: list, lin: Linear) -> list:
    from ...tracer import Tracer
    ctx = sweep.ctx
    prim = [p for p in lin.args if isinstance(p, Tracer)]
    zs = [np.zeros(np.shape(p), dtype=np.result_type(p)) for p in prim]
    start = len(ctx.nodes)
    it = iter(zs)
    res = lin.fn(*[next(it) if isinstance(p, Tracer) else None for p in lin.args])
    leaves, _ = flatten(res)
    produced = [leaves[i] for i in node.params.out_arrays] if len(leaves) > 1 or \
        node.params.out_tree != "*" else leaves
    seeds: dict[int, Cotangent] = {}
    for leaf, ct in zip(produced, outs):
        if ct is None or not isinstance(leaf, Tracer):
            continue
        v = leaf.graph_var.id
        seeds[v] = Cotangent(ct.value if v not in seeds else np.add(seeds[v].value, ct.value))
    if not seeds:
        return []
    cts = backward(ctx, ctx.nodes[start:], seeds, [z.graph_var for z in zs], sweep)
    return [(p.graph_var, Cotangent(c)) for p, c in zip(prim, cts) if c is not None]


def _unflatten_outputs(node: Node, values: list) -> Any:
    from ...graph.pytree import unflatten
    p = node.params
    if p.out_tree == "*":
        return values[0]
    leaves = [None] * _count_leaves(p.out_tree)
    for j, i in enumerate(p.out_arrays):
        leaves[i] = values[j]
    return unflatten(p.out_tree, leaves)


def _count_leaves(tree: Any) -> int:
    if tree == "*":
        return 1
    n, stack = 0, [tree]
    while stack:
        t = stack.pop()
        if t == "*":
            n += 1
        else:
            stack.extend(t[2])
    return n


def _decompose(sweep: Sweep, node: Node, outs: list, args: tuple, kwargs: dict,
               impl: Callable | None = None) -> list:
    """Differentiate a NumPy function through its own Python implementation (or the
    equivalent ``impl`` a rule gave): trace it again on proxies (more nodes, made of ops
    that have rules) and sweep those."""
    op = node.op
    fn = getattr(op, "fn", None)
    via = impl is not None
    if impl is None:
        impl = getattr(fn, "_implementation", None)
    if not isinstance(impl, types.FunctionType):
        impl = fn if isinstance(fn, types.FunctionType) and \
            getattr(fn, "__module__", "").startswith("numpy") else None
    if impl is None:
        raise DifferentiationError(
            f"no gradient rule for {op.name} (it is implemented in C, and tracenp has no "
            f"rule for it yet)", source=node.source,
            hint="see docs/autodiff.md for the differentiable functions; rewrite the line "
                 "with functions that have rules, or report the missing rule")
    ctx = sweep.ctx
    start = len(ctx.nodes)
    try:
        res = impl(*args, **kwargs)
    except DifferentiationError:
        raise
    except TracenpError as e:
        if via:
            raise DifferentiationError(f"the gradient of {op.name} could not be built: "
                                       f"{e.reason}", source=node.source) from e
        raise DifferentiationError(
            f"no gradient rule for {op.name}, and its NumPy implementation does not trace "
            f"({type(e).__name__}: {e.reason})", source=node.source) from e
    except Exception as e:
        raise DifferentiationError(
            f"no gradient rule for {op.name}, and its NumPy implementation does not trace "
            f"({type(e).__name__}: {e})", source=node.source) from e
    leaves, _ = flatten(res)
    produced = [leaves[i] for i in node.params.out_arrays] if len(leaves) > 1 or \
        node.params.out_tree != "*" else leaves
    if via:
        _check_same_values(sweep, node, produced, outs)
    seeds: dict[int, Cotangent] = {}
    direct: list = []
    in_ids = {v.id for v in node.inputs}
    for leaf, ct in zip(produced, outs):
        if ct is None:
            continue
        v = getattr(leaf, "graph_var", None)
        if v is None:
            continue
        if v.id in in_ids:
            direct.append((v, Cotangent(ct.value, ct.mask)))
        elif v.id in seeds:
            seeds[v.id] = Cotangent(np.add(seeds[v.id].value, ct.value))
        else:
            seeds[v.id] = Cotangent(ct.value, ct.mask)
    wrt = [v for v in node.inputs if not isinstance(v, Literal)]
    cts = backward(ctx, ctx.nodes[start:], seeds, wrt, sweep, masks=True) if seeds else []
    return direct + [(v, c) for v, c in zip(wrt, cts) if c is not None]


_RTOL = {8: 1e-6, 16: 1e-6, 4: 1e-3, 2: 2e-2}


def _check_same_values(sweep: Sweep, node: Node, produced: list, outs: list) -> None:
    """The equivalent code a rule differentiates must compute the op's own values here
    (else its derivative is not the op's): checked on this trace's values, so a rule that
    does not fit a call raises instead of returning a wrong gradient.  On stand-ins
    (whose values are not the data's) it is not checked: the trace is redone on the data."""
    from ...tracer import Tracer, _evaluating
    if getattr(sweep.ctx, "doubts", None) is not None:
        sweep.ctx.doubt(f"the rule of {node.op.name} is checked on the data's values")
        return
    with _evaluating(sweep.ctx):
        for leaf, var, ct in zip(produced, node.outputs, outs):
            if ct is None or not isinstance(leaf, Tracer):
                continue
            want = np.asarray(sweep.value(var))
            got = np.asarray(sweep.value(leaf.graph_var))
            ok = got.shape == want.shape
            if ok and want.size:
                rtol = _RTOL.get(np.result_type(want).itemsize, 1e-6)
                if np.result_type(want).kind == "c":
                    rtol = _RTOL.get(np.result_type(want).itemsize // 2, 1e-6)
                fin = np.isfinite(want)
                scale = float(np.max(np.abs(want[fin]))) if fin.any() else 1.0
                ok = bool(np.all(np.abs(got[fin] - want[fin]) <= rtol * max(scale, 1.0)))
            if not ok:
                raise DifferentiationError(
                    f"the gradient of {node.op.name} is not available for this call: the "
                    f"equivalent code its rule differentiates computes other values here "
                    f"(NumPy's {node.op.name} does not follow its documented definition for "
                    f"these arguments, or the rule does not cover them)", source=node.source)
