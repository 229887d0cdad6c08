"""The pass framework: rules are data (named patterns), grouped in phases, run to a fixed point.

A :class:`Rule` has a unique ``name``, a ``phase``, a ``pattern`` and a ``rewrite``
function ``(builder, bindings) -> Var | Const | None`` (None declines).  The framework
checks that every replacement has exactly the type (shape, dtype, kind) of what it
replaces, so no rule can change a result's type.  Structural passes (CSE, constant
folding, dead code) run between rule sweeps.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from ..graph.ir import Graph, Literal, Node, Var
from ..graph.ops import MutateOp
from .dce import eliminate_dead_code
from .pattern import Builder, Const, Pat, match

__all__ = ["Rule", "RULES", "rule", "PHASES", "OptimizeReport", "optimize"]

PHASES = ("canonicalize", "stabilize", "specialize")


@dataclass(frozen=True)
class Rule:
    """A named rewrite: ``pattern`` -> ``rewrite(builder, bindings)``."""

    name: str
    phase: str
    pattern: Pat
    rewrite: Callable[[Builder, dict], Any]
    doc: str = ""
    fast_math: bool = False    # only with fast_math=True (may change NaN/inf results)
    gradient_only: bool = False
    approximate: bool = False  # meant to change results slightly (see tracenp.verify)


RULES: dict[str, Rule] = {}


def rule(name: str, phase: str, pattern: Pat, doc: str = "", **flags: Any):
    """Decorator: register ``fn(builder, bindings)`` as the rewrite of a named rule."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}")

    def register(fn: Callable[[Builder, dict], Any]) -> Callable:
        if name in RULES:
            raise ValueError(f"duplicate rule name {name!r}")
        RULES[name] = Rule(name, phase, pattern, fn, doc or (fn.__doc__ or "").strip(), **flags)
        return fn
    return register


@dataclass
class Firing:
    rule: str
    phase: str
    source: Any


@dataclass
class OptimizeReport:
    """What the optimizer did: rules fired (with the user's line) and node counts per phase."""

    fired: list[Firing] = field(default_factory=list)
    counts: list[tuple[str, int]] = field(default_factory=list)
    listings: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def rules_fired(self) -> list[str]:
        return [f.rule for f in self.fired]


def _replace_uses(graph: Graph, subst: dict[int, Any]) -> None:
    def sub(v: Any) -> Any:
        while isinstance(v, Var) and v.id in subst:
            v = subst[v.id]
        return v
    graph.outputs = [sub(v) for v in graph.outputs]
    graph.writebacks = [(i, sub(v)) for i, v in graph.writebacks]


def _as_var(value: Any) -> Var:
    if isinstance(value, Var):
        return value
    if isinstance(value, Const):
        return Literal(value.value)
    return Literal(value)


def _same_type(a: Any, b: Any) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.kind == b.kind


def apply_rules(graph: Graph, rules: list[Rule], report: OptimizeReport, phase: str,
                fast_math: bool = False) -> bool:
    """One sweep over the graph in order; returns True if any rule fired.

    A node that a rule of this phase created is not a root for this phase's rules: a
    rule emits its phase's final form (this is what keeps rules whose output contains
    their own pattern, such as logsumexp's ``log(sum(exp(x - m)))``, from looping).
    """
    by_op: dict[str, list[Rule]] = {}
    for r in rules:
        for op in r.pattern.root_ops():
            by_op.setdefault(op, []).append(r)
    same_phase = {name for name, r in RULES.items() if r.phase == phase} | {r.name for r in rules}
    uses = _Uses(graph)
    cache: dict = {}          # operands per node (nodes visited keep their inputs)
    active = frozenset(r.name for r in rules)
    producer: dict[int, Node] = {}
    subst: dict[int, Any] = {}
    nodes: list[Node] = []
    changed = False
    # Replacing a fresh result (x * 1) by an existing value (x) makes it share memory with
    # that value: visible when it is returned (the caller's argument comes back) or when
    # that memory is written later.  Such rewrites are refused in those cases.
    exposed = {v.id for v in graph.outputs if isinstance(v, Var)}
    exposed.update(v.id for _, v in graph.writebacks)
    for n in reversed(graph.nodes):      # a view of a value exposes that value's memory
        if n.view_of and any(o.id in exposed for o in n.outputs):
            exposed.update(n.inputs[j].id for j in n.view_of)
    writes = any(isinstance(n.op, MutateOp) for n in graph.nodes)
    for node in graph.nodes:
        if subst and any(v.id in subst for v in node.inputs):
            node.inputs = tuple(_resolve(v, subst) for v in node.inputs)
        for o in node.outputs:
            producer[o.id] = node
        candidates = by_op.get(node.op.name) if len(node.outputs) == 1 else None
        if candidates and node.rule is not None and node.rule in same_phase:
            candidates = None
        if candidates:
            out = node.outputs[0]
            for r in candidates:
                m = match(r.pattern, out, producer, cache=cache)
                if m is None:
                    continue
                b = Builder(node.source, r.name, producer, fast_math, uses, active)
                try:
                    with np.errstate(all="ignore"):
                        result = r.rewrite(b, m)
                except Exception:
                    result = None
                if result is None:
                    continue
                new = _as_var(result)
                if new is out or not _same_type(new.aval, out.aval):
                    continue
                if (writes or out.id in exposed) and not getattr(node.op, "view", False) \
                        and not _fresh(new, b.nodes):
                    continue
                nodes.extend(b.nodes)
                for n in b.nodes:
                    for o in n.outputs:
                        producer[o.id] = n
                subst[out.id] = new
                report.fired.append(Firing(r.name, phase, node.source))
                changed = True
                break
        nodes.append(node)
    graph.nodes = nodes
    if subst:
        _replace_uses(graph, subst)
    return changed


def _fresh(v: Var, built: list[Node]) -> bool:
    """True if ``v`` is a new array made by one of the rewrite's own (non-view) nodes."""
    for n in built:
        if any(o is v for o in n.outputs):
            return not getattr(n.op, "view", False)
    return False


class _Uses:
    """Consumers of each value in a graph, computed on first use (for rules that decide
    by how a value is used)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.map: dict[int, list] | None = None

    def __call__(self, v: Any) -> list:
        if self.map is None:
            self.map = {}
            for n in self.graph.nodes:
                for i in n.inputs:
                    self.map.setdefault(i.id, []).append(n)
            for o in list(self.graph.outputs) + [w for _, w in self.graph.writebacks]:
                if isinstance(o, Var):
                    self.map.setdefault(o.id, []).append(None)
        return self.map.get(v.id, []) if isinstance(v, Var) else []


def _resolve(v: Var, subst: dict[int, Any]) -> Var:
    while v.id in subst:
        v = subst[v.id]
    return v


def optimize(graph: Graph, *, disable: Iterable[str] = (), fast_math: bool = False,
             gradient: bool = False, max_sweeps: int = 8, record_listings: bool = False,
             rules: dict[str, Rule] | None = None) -> OptimizeReport:
    """Simplify ``graph`` in place: phases of rules to a fixed point, with CSE, folding, DCE."""
    from .structural import common_subexpressions, fold_constants
    t0 = time.perf_counter()
    report = OptimizeReport()
    disable = set(disable)
    table = RULES if rules is None else rules
    unknown = disable - set(table) - {"cse", "constant_folding", "dce"}
    if unknown:
        raise ValueError(f"unknown rule names in disable: {sorted(unknown)}")
    report.counts.append(("traced", len(graph.nodes)))
    if record_listings:
        report.listings.append(("traced", str(graph)))
    for phase in PHASES:
        active = [r for r in table.values() if r.phase == phase and r.name not in disable
                  and (fast_math or not r.fast_math) and (gradient or not r.gradient_only)]
        for _ in range(max_sweeps):
            changed = False
            if "cse" not in disable:
                changed |= common_subexpressions(graph, report, phase)
            if "constant_folding" not in disable:
                changed |= fold_constants(graph, report, phase)
            if active:
                changed |= apply_rules(graph, active, report, phase, fast_math)
            eliminate_dead_code(graph)
            if not changed:
                break
        report.counts.append((phase, len(graph.nodes)))
        if record_listings:
            report.listings.append((phase, str(graph)))
    report.seconds = time.perf_counter() - t0
    return report
