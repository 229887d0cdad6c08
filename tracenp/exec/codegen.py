"""A faster executor of the same steps: the interpreter's plan written out as one Python
function (straight-line code, ``del`` after last use), compiled once per plan.

It runs exactly the calls the reference interpreter runs, in the same order, with the
same type checks; it only removes the per-node loop overhead (what dominates graphs of
many small NumPy calls, such as unrolled scalar loops).
"""
from __future__ import annotations

from typing import Any

from ..errors import ReplayError

__all__ = ["compile_steps", "MAX_NODES"]

MAX_NODES = 20000      # larger graphs stay with the interpreter loop (compile time)


def _mismatch(node: Any, value: Any, shape: tuple, dtype: Any) -> ReplayError:
    from .interpreter import _describe
    return ReplayError(f"{node.op.name} produced {_describe(value)} where the trace recorded "
                       f"{dtype}{list(shape)}", source=node.source)


def compile_steps(interp: Any) -> Any:
    """A function ``run(inputs) -> results`` equivalent to ``interp.run``, or None."""
    steps = interp.steps
    if len(steps) > MAX_NODES:
        return None
    ns: dict[str, Any] = {"_mismatch": _mismatch, "getattr": getattr}
    lines = ["def run(inputs):"]
    template = interp.template
    # constants: template slots no input or step writes (None is a constant too: x[None])
    produced = set(interp.input_slots)
    for kind, _, _, _, out, *_ in steps:
        produced.update(out if kind == 2 else (out,))
    live_consts = {s for s in range(len(template)) if s not in produced}
    for s in live_consts:
        ns[f"c{s}"] = template[s]

    def ref(s: int) -> str:
        return f"c{s}" if s in live_consts and s not in assigned else f"v{s}"

    assigned: set[int] = set()
    if interp.input_slots:
        lines.append(f"    ({', '.join(f'v{s}' for s in interp.input_slots)},) = inputs")
        assigned.update(interp.input_slots)
    for k, (kind, fn, arg_slots, kwargs, out, frees, checks, node) in enumerate(steps):
        ns[f"f{k}"] = fn
        args = ", ".join(ref(s) for s in arg_slots)
        if kind == 0:
            lines.append(f"    v{out} = f{k}({args})")
            assigned.add(out)
        elif kind == 3:
            lines.append(f"    v{out} = f{k}({args}, out={ref(kwargs)})")
            assigned.add(out)
        elif kind == 1:
            ns[f"k{k}"] = kwargs
            lines.append(f"    v{out} = f{k}({args}{', ' if args else ''}**k{k})")
            assigned.add(out)
        else:
            targets = "".join(f"v{s}, " for s in out)
            call = f"f{k}([{args}])"
            lines.append(f"    ({targets}) = {call}" if out else f"    {call}")
            assigned.update(out)
        for j, (s, shape, dtype) in enumerate(checks):
            ns[f"s{k}_{j}"], ns[f"d{k}_{j}"], ns[f"n{k}"] = shape, dtype, node
            lines.append(f"    if getattr(v{s}, 'shape', None) != s{k}_{j} or "
                         f"getattr(v{s}, 'dtype', None) != d{k}_{j}: "
                         f"raise _mismatch(n{k}, v{s}, s{k}_{j}, d{k}_{j})")
        dead = [f"v{s}" for s in frees if s in assigned]
        if dead:
            lines.append(f"    del {', '.join(dead)}")
            assigned.difference_update(s for s in frees)
    results = ", ".join(ref(s) for s in interp.result_slots)
    lines.append(f"    return [{results}]")
    source = "\n".join(lines)
    try:
        code = compile(source, "<tracenp plan>", "exec")
        exec(code, ns)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    run = ns["run"]
    run.__tracenp_source__ = source
    run.direct = _direct_step(interp)
    return run


def _direct_step(interp: Any) -> Any:
    """The plan's one step, where the plan is nothing else: ``f(inputs)`` on its inputs in
    order, returning its results in order and checked by nothing (one fused region), so a
    caller may call it in place of ``run`` (one frame less; it returns a tuple)."""
    if len(interp.steps) != 1:
        return None
    kind, fn, arg_slots, _, out, _, checks, _ = interp.steps[0]
    if kind != 2 or checks or list(arg_slots) != list(interp.input_slots) \
            or list(out) != list(interp.result_slots):
        return None
    return fn
