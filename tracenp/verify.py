"""Self-verification: ``tracenp.compile(f, check=True)`` (Theano's DebugMode, for tracenp).

On **every call**, the graph as traced (before any rewrite) runs through the reference
interpreter, op by op, next to the compiled plan; their results (outputs, and the final
contents of the arguments the function writes) must be the same: dtype, shape, values bit
for bit, NaN where NaN, the sign of zeros.  When they are not, the culprit is found and a
:class:`~tracenp.errors.VerificationError` is raised naming it:

1. a **kernel**: the plan with its fused regions run op by op (the same variables, the
   same optimized graph) agrees with the unoptimized graph; each fused region's outputs
   are compared with its ops' results and the first region that differs is named (its
   kernel kind, its ops, the user's line);
2. a **rewrite rule**: the traced graph is optimized again with every rule that fired
   turned off, then with them turned back on one at a time in the order they fired; the
   first rule whose return makes the results diverge is named, with the user's line
   where it fired (``Node.source``).

Rewrites that are *meant* to change values (the stability rules, which compute a more
accurate value than the formula as written; ``exp_of_log``; ``cube_to_multiply``;
``fast_math`` rules) are not errors: where results differ, the graph optimized without
those rules must agree with the unoptimized one, and that is what is verified.  (Their
accuracy is checked against mpmath by the test suite, tests/test_stability_accuracy.py.)

A full sum or mean folded into a fused region adds per-block partial sums (see
docs/kernels.md): its result may differ from NumPy's in the last bits, within the error of
summation; that is not an error either (the rest of that call is then not compared).

Draws from ``np.random`` and from generator arguments are replayed from the same state
for both runs.  A generator made inside the function without a seed
(``np.random.default_rng()``) draws different numbers each time; such functions are
verified for types and shapes only.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
from tracenp._ndarray import NDARRAY

from .errors import VerificationError
from .graph.ir import Graph, Var

__all__ = ["Verifier", "copy_graph", "unfuse", "changes_values"]

_RNG_TYPES = (np.random.Generator, np.random.RandomState)


def copy_graph(graph: Graph) -> Graph:
    """A copy the optimizer can rewrite without touching ``graph`` (the variables are
    shared: rewrites make new ones, they never change one)."""
    new = copy.copy(graph)
    new.nodes = [dataclasses.replace(n) for n in graph.nodes]
    new.inputs = list(graph.inputs)
    new.input_sources = list(graph.input_sources)
    new.outputs = list(graph.outputs)
    new.writebacks = list(graph.writebacks)
    new.report = None
    return new


_FUSED = ("fused", "rowwise", "fused_into")


def _rows_within_summation_error(region: Any, a: Any, b: Any) -> bool:
    """A row region's sums are each row's pairwise sum; for rows that are not C-ordered
    NumPy may sum in another order: allow the error of a sum over the reduced axis."""
    if not any(n.op.name in ("sum", "prod", "mean") for n in region.nodes
               if id(n) in region.reductions):
        return False
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype or a.dtype.kind not in "fc":
        return False
    eps = np.finfo(a.dtype).eps
    return bool(np.allclose(a, b, rtol=4 * region.shape[region.axis] * eps, atol=0, equal_nan=True))


def unfuse(graph: Graph) -> Graph:
    """``graph`` with each fused region replaced by its body: the same variables, op by op."""
    nodes = []
    for n in graph.nodes:
        if n.op.name in ("rowwise", "fused_into"):     # row regions, regions into copies
            nodes.extend(n.params.nodes if n.op.name == "rowwise" else
                         n.params.region.nodes + n.params.tail)
            continue
        region = n.params if n.op.name == "fused" else None
        if region is None:
            nodes.append(n)
            continue
        nodes.extend(region.nodes)
        if region.reduce is not None:
            nodes.append(region.reduce)
    new = copy.copy(graph)
    new.nodes = nodes
    return new


def changes_values(name: str, fast_math: bool = False) -> bool:
    """Is rule ``name`` meant to change results (an accuracy rewrite)?"""
    from .optimize.framework import RULES
    r = RULES.get(name)
    if r is None:
        return False
    return r.phase == "stabilize" or r.fast_math or getattr(r, "approximate", False)


def _results(graph: Graph) -> list[Var]:
    return [v for v in graph.outputs if isinstance(v, Var)] + [v for _, v in graph.writebacks]


def _labels(graph: Graph) -> list[str]:
    n = sum(isinstance(v, Var) for v in graph.outputs)
    return [f"output {k}" for k in range(n)] + \
        [f"the final contents of argument {i}" for i, _ in graph.writebacks]


class _Outcome:
    """The values a run produced, or the exception it raised."""

    def __init__(self, values: list | None = None, error: BaseException | None = None):
        self.values = values
        self.error = error


def _describe_value(x: Any) -> str:
    if isinstance(x, (NDARRAY, np.generic)):
        return f"{x.dtype}{list(np.shape(x))}"
    return type(x).__name__


def difference(a: Any, b: Any) -> str | None:
    """How value ``a`` differs from ``b`` (None when they are the same bit for bit, NaN
    where NaN and zeros of the same sign)."""
    if type(a) in (int, float, complex, bool) and type(b) is type(a):
        # Python scalars (weak scalars of the graph): the same check, on their values
        d = difference(np.asarray(a), np.asarray(b))
        return None if d is None else f"{a!r} where the reference is {b!r}"
    if not isinstance(a, (NDARRAY, np.generic)) or not isinstance(b, (NDARRAY, np.generic)):
        if isinstance(a, (NDARRAY, np.generic)) or isinstance(b, (NDARRAY, np.generic)) \
                or type(a) is not type(b):
            return f"{_describe_value(a)} where the reference is {_describe_value(b)}"
        try:
            return None if a is b or bool(a == b) else f"{a!r} where the reference is {b!r}"
        except Exception:
            return None
    if a.dtype != b.dtype or np.shape(a) != np.shape(b):
        return f"{_describe_value(a)} where the reference is {_describe_value(b)}"
    x, y = np.asarray(a), np.asarray(b)
    if x.dtype.kind not in "biufcmM":
        try:
            same = np.array_equal(x, y)
        except Exception:
            return None
        return None if same else "other values"
    if x.dtype.kind in "fc":
        parts = [(x.real, y.real), (x.imag, y.imag)] if x.dtype.kind == "c" else [(x, y)]
        bad = np.zeros(x.shape, bool)
        for p, q in parts:
            pn, qn = np.isnan(p), np.isnan(q)
            bad |= (pn != qn) | (~pn & ~qn & ((p != q) | (np.signbit(p) != np.signbit(q))))
    else:
        bad = x != y
    if not bad.any():
        return None
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    got, want = x[where], y[where]
    at = f" at index {where}" if where else ""
    return f"{got}{at} where the reference is {want} ({int(bad.sum())} of {bad.size} differ)"


def _first_difference(out: _Outcome, ref: _Outcome, labels: list[str]) -> str | None:
    if ref.error is not None or out.error is not None:
        if ref.error is not None and out.error is not None:
            return None if type(ref.error) is type(out.error) else (
                f"raised {type(out.error).__name__} where the reference raised "
                f"{type(ref.error).__name__}")
        if out.error is not None:
            return f"raised {type(out.error).__name__}: {out.error} where the reference did not"
        return f"returned where the reference raised {type(ref.error).__name__}: {ref.error}"
    for label, a, b in zip(labels, out.values, ref.values):
        d = difference(a, b)
        if d is not None:
            return f"{label} is {d}"
    return None


def _within_summation_error(region: Any, got: Any, want: Any, terms: Any) -> bool:
    """Is a folded float sum (or mean) ``got`` as close to ``want`` as two pairwise sums of
    ``terms`` in another grouping may be?"""
    if region.reduce.op.name not in ("sum", "mean") or np.asarray(terms).dtype.kind not in "fc":
        return False
    t = np.asarray(terms)
    with np.errstate(all="ignore"):
        scale = float(np.sum(np.abs(t), dtype=np.float64))
        if region.reduce.op.name == "mean" and t.size:
            scale /= t.size
        eps = float(np.finfo(t.dtype).eps)
        tol = 2 * eps * max(1.0, np.log2(max(t.size, 1))) * scale
        diff = float(np.abs(np.asarray(got, dtype=np.complex128) - np.asarray(want, np.complex128)))
    return bool(np.isfinite(diff) and diff <= tol)


class Verifier:
    """Checks one plan (one call signature) against its unoptimized graph on each call."""

    def __init__(self, raw: Graph, graph: Graph, options: dict, name: str):
        from .exec.interpreter import Interpreter
        self.raw = raw
        self.graph = graph
        self.options = options
        self.name = name
        self.reference = Interpreter(raw, _results(raw), codegen=False)
        self.labels = _labels(raw)
        self.random = any(n.op.category == "random" or n.op.effectful for n in raw.nodes)
        self.unseeded = any(n.op.name.endswith("default_rng") and not
                            (getattr(n.params, "statics", None) and
                             any(s is not None for s in n.params.statics)) and not n.inputs
                            for n in raw.nodes)
        report = graph.report
        fired = list(dict.fromkeys(report.rules_fired())) if report is not None else []
        fm = options.get("fast_math", False)
        self.accuracy = [r for r in fired if changes_values(r, fm)]
        self.exact_rules = [r for r in fired if r not in self.accuracy]
        self._unfused = None
        self._exact = None

    # ------------------------------------------------------------------ running
    def _run(self, executor: Any, inputs: list, state: tuple | None) -> _Outcome:
        if state is not None:
            np.random.set_state(state[0])
            inputs = [copy.deepcopy(state[1][k]) if k in state[1] else x
                      for k, x in enumerate(inputs)]
        try:
            return _Outcome(list(executor.run(inputs)))
        except Exception as e:   # noqa: BLE001 - an outcome to compare
            return _Outcome(error=e)

    def _interpret(self, graph: Graph, inputs: list, state: tuple | None) -> _Outcome:
        from .exec.interpreter import Interpreter
        return self._run(Interpreter(graph, _results(graph), codegen=False), inputs, state)

    def run(self, executor: Any, inputs: list) -> list:
        """Run the plan's ``executor`` on ``inputs`` after the reference; raise
        VerificationError if they disagree, else return the plan's values."""
        state = None
        if self.random:
            gens = {k: copy.deepcopy(x) for k, x in enumerate(inputs) if isinstance(x, _RNG_TYPES)}
            state = (np.random.get_state(), gens)
        ref = self._run(self.reference, inputs, state)
        if state is not None:
            np.random.set_state(state[0])
        try:
            values = executor.run(inputs)
        except Exception as e:
            out = _Outcome(error=e)
            if ref.error is not None and type(ref.error) is type(e):
                raise
        else:
            out = _Outcome(values)
        diff = _first_difference(out, ref, self.labels)
        if diff is not None and self.unseeded:
            diff = None if out.error is None and ref.error is None and all(
                _describe_value(a) == _describe_value(b)
                for a, b in zip(out.values, ref.values)) else diff
        if diff is not None:
            after = np.random.get_state() if state is not None else None
            try:
                self._diagnose(inputs, state, out, ref, diff)
            finally:
                if after is not None:
                    np.random.set_state(after)
        if out.error is not None:
            raise out.error
        return values

    # ------------------------------------------------------------------ finding the culprit
    def _diagnose(self, inputs: list, state: tuple | None, out: _Outcome, ref: _Outcome,
                  diff: str) -> None:
        fused = [n for n in self.graph.nodes if n.op.name in _FUSED]
        if fused:
            if self._unfused is None:
                self._unfused = unfuse(self.graph)
            unfused = self._interpret(self._unfused, inputs, state)
            if _first_difference(out, unfused, self.labels) is not None:
                self._blame_kernel(fused, inputs, state)
                return          # only a folded sum's rounding (see _blame_kernel)
        else:
            unfused = out
        # the optimizer: rewrites that are meant to change values are allowed to
        if self.accuracy:
            if self._exact is None:
                self._exact = self._optimized(self.accuracy)
            if _first_difference(self._interpret(self._exact, inputs, state), ref,
                                 self.labels) is None:
                return
        self._blame_rule(inputs, state, ref, diff)

    def _optimized(self, disable: list[str]) -> Graph:
        from .optimize import optimize
        g = copy_graph(self.raw)
        g.report = optimize(g, disable=set(self.options.get("disable", ())) | set(disable),
                            fast_math=self.options.get("fast_math", False))
        return g

    def _blame_rule(self, inputs: list, state: tuple | None, ref: _Outcome, diff: str) -> None:
        candidates = self.exact_rules
        for k in range(len(candidates) + 1):
            g = self._optimized(self.accuracy + candidates[k:])
            d = _first_difference(self._interpret(g, inputs, state), ref, self.labels)
            if d is None:
                continue
            if k == 0:
                break                 # no rule turned on: the structural passes
            name = candidates[k - 1]
            lines = [f.source for f in g.report.fired if f.rule == name and f.source is not None]
            more = f" (it fired {len(lines)} times; the first is shown)" if len(lines) > 1 else ""
            raise VerificationError(
                f"check=True: the rewrite rule {name!r} changes a result of {self.name}: "
                f"{d}; the unoptimized graph is the reference{more}",
                source=lines[0] if lines else None,
                hint=f"compile with disable=[{name!r}] to do without this rule, and please "
                     f"report it with the function and its arguments")
        raise VerificationError(
            f"check=True: the optimized plan of {self.name} differs from its unoptimized "
            f"graph: {diff}; no single rewrite rule explains it",
            hint="compile with optimize=False to run the graph as traced, and please report "
                 "it with the function and its arguments")

    def _blame_kernel(self, fused: list, inputs: list, state: tuple | None) -> None:
        from .exec.interpreter import Interpreter
        from .exec.kernels import choose_kernel
        wanted = [o for n in fused for o in n.outputs]
        terms = [n.params.reduce.inputs[0] for n in fused if n.op.name == "fused"
                 and n.params.reduce is not None]
        a = self._run(Interpreter(self.graph, wanted, codegen=False), inputs, state)
        b = self._run(Interpreter(self._unfused, wanted + terms, codegen=False), inputs, state)
        culprit, d = fused[0], "it raised" if a.error is not None else "it differs"
        found = None
        if a.error is None and b.error is None:
            pos = 0
            for n in fused:
                for o in n.outputs:
                    dd = difference(a.values[pos], b.values[pos])
                    if dd is not None and found is None:
                        culprit, d, found = n, dd, pos
                    pos += 1
        elif a.error is not None:
            d = f"it raised {type(a.error).__name__}: {a.error}"
        region = culprit.params
        if culprit.op.name == "fused_into":
            region = region.region
        if culprit.op.name == "rowwise" and found is not None and _rows_within_summation_error(
                region, a.values[found], b.values[found]):
            return      # a row's sum in another memory order (docs/kernels.md)
        if found is not None and region.reduce is not None and _within_summation_error(
                region, a.values[found], b.values[found],
                b.values[len(wanted) + terms.index(region.reduce.inputs[0])]):
            return      # a folded sum adds per-block partial sums (docs/kernels.md)
        ops = ", ".join(n.op.name for n in region.nodes) + \
            (f", then {region.reduce.op.name}" if region.reduce is not None else "")
        raise VerificationError(
            f"check=True: a fused region of {self.name} ("
            f"{'rowwise' if culprit.op.name == 'rowwise' else choose_kernel(region)} kernel, "
            f"{len(region.nodes)} ops on {list(region.shape)}: {ops}) differs from its ops "
            f"run one by one: {d}",
            source=culprit.source,
            hint="set tracenp.config.kernel = 'numpy' or compile with fuse=False to do "
                 "without fused kernels, and please report it with the function and its "
                 "arguments")
