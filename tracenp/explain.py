"""``tracenp.explain(f, **options)(*args)``: what tracenp does with a function, and why."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import TraceError
from .graph.ir import Graph

__all__ = ["explain", "Explanation"]


@dataclass
class Explanation:
    """A report a person can read (``str``) and a test can inspect (the fields)."""

    name: str
    graph: Graph | None
    rules: list[tuple[str, str]] = field(default_factory=list)     # (rule, "file:line")
    node_counts: list[tuple[str, int]] = field(default_factory=list)
    listings: list[tuple[str, str]] = field(default_factory=list)
    kernels: list[tuple[str, str]] = field(default_factory=list)   # (kind, what runs)
    fallbacks: list[str] = field(default_factory=list)
    optimize_seconds: float = 0.0

    @property
    def rules_fired(self) -> list[str]:
        return [r for r, _ in self.rules]

    def __str__(self) -> str:
        out = [f"tracenp.explain: {self.name}"]
        if self.fallbacks:
            out.append("Falls back to eager NumPy:")
            out += [f"  {reason}" for reason in self.fallbacks]
            return "\n".join(out)
        out.append("Node counts: " + ", ".join(f"{p} {n}" for p, n in self.node_counts)
                   + f"  (optimized in {self.optimize_seconds * 1e3:.1f} ms)")
        out.append("Rules fired:" if self.rules else "Rules fired: none")
        for r, where in self.rules:
            out.append(f"  {r:32s} {where}")
        for phase, text in self.listings:
            out.append(f"-- graph after {phase} --")
            out.append(text)
        out.append("Kernels:")
        for kind, what in self.kernels:
            out.append(f"  [{kind}] {what}")
        return "\n".join(out)

    def __repr__(self) -> str:
        return (f"<Explanation {self.name}: {len(self.rules)} rules fired, "
                f"{len(self.kernels)} kernels, {len(self.fallbacks)} fallbacks>")


def explain(fn: Callable, *, print_report: bool = True, **options: Any) -> Callable[..., Explanation]:
    """``explain(f, **options)(*args)`` traces and optimizes ``f`` for ``args``, prints the
    report and returns it as an :class:`Explanation`.  Options are those of ``compile``."""
    from .compiler import CompiledFunction, trace

    cf = fn if isinstance(fn, CompiledFunction) else CompiledFunction(fn, **options)

    def run(*args: Any, **kwargs: Any) -> Explanation:
        name = getattr(cf.fn, "__name__", "f")
        m_args, m_kwargs = cf._mark_static(args, kwargs)
        try:
            graph = trace(cf.fn, m_args, m_kwargs, cf._auto_static)
        except TraceError as e:
            ex = Explanation(name, None, fallbacks=[f"{type(e).__name__}: {e}"])
        else:
            cf._optimize(graph, record_listings=True)
            report = graph.report
            ex = Explanation(name, graph)
            if report is not None:
                ex.rules = [(f.rule, f.source.short() if f.source else "-") for f in report.fired]
                ex.node_counts = list(report.counts)
                ex.listings = list(report.listings)
                ex.optimize_seconds = report.seconds
            else:
                ex.node_counts = [("traced", len(graph.nodes))]
                ex.listings = [("trace", str(graph))]
            ex.kernels = kernels_of(graph, cf.options.get("backend"))
        if print_report:
            print(ex)
        return ex
    return run


def kernels_of(graph: Graph, backend: str | None = None) -> list[tuple[str, str]]:
    """What runs for each node: a fused region's kernel kind (``blocked``: NumPy's ufunc
    loops block by block; ``numexpr`` with its expression; ``numba`` with its generated
    source; ``numpy``: op by op for small sizes), or one NumPy call.  With
    ``backend="cupy"``: each region's ``ElementwiseKernel``/``ReductionKernel`` and its
    source, or the CuPy function of each other node."""
    from .exec.kernels import choose_kernel
    from .exec.numexpr_kernel import numexpr_text
    from .graph.printing import var_namer
    from .optimize.fusion import FusedOp
    name = var_namer()
    for v in graph.inputs:
        name(v)
    if backend == "cupy":
        from .exec.cupy_backend import describe
        return describe(graph, name)
    out = []
    for node in graph.nodes:
        outs = " ".join(name(o) for o in node.outputs) or "_"
        text = f"{outs} = {node.op.format(node.params, [name(v) for v in node.inputs])}"
        if node.op.name == "rowwise":
            from .exec.rowwise import describe
            out.append(("rowwise", f"{text}\n      {describe(node.params)}"))
        elif node.op.name == "fused_into":
            kind = choose_kernel(node.params.region)
            how = ("the numba rows loop writes the slices; the rest is copied"
                   if kind == "numba" else "its outputs are copied into the slices")
            out.append((kind, f"{text}\n      into fresh copies: {how}"))
        elif isinstance(node.op, FusedOp):
            kind = choose_kernel(node.params)
            if kind == "numexpr":
                text = f"{outs} = numexpr({numexpr_text(node.params)!r})"
            elif kind == "blocked":
                from .exec.kernels import compile_region
                from .exec.numba_kernel import segments
                prog = compile_region(node.params)
                segs = segments(prog)
                if segs:
                    text += "\n      numba segments (one loop each, once compiled): " + ", ".join(
                        f"t{s.first}..t{s.last}" for s in segs)
                guarded = [k for k, step in enumerate(prog.steps) if step[0] == "guard"]
                if guarded:
                    text += ("\n      overflow guard (the select runs only if exp overflowed): "
                             + ", ".join(f"t{k}" for k in guarded))
            elif kind == "numba":
                from .exec.kernels import fallback_kernel
                from .exec.numba_kernel import numba_program
                prog = numba_program(node.params)
                flat = prog.loop_source("flat")
                text = (f"{text}\n      until compiled: {fallback_kernel(node.params)}; "
                        f"numba kernel k{prog.key} (``nd``: the same body over n-d indices):\n"
                        + "\n".join("      | " + line for line in flat.splitlines()))
            out.append((kind, text))
        else:
            out.append(("numpy", text))
    return out
