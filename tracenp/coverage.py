"""What tracenp covers, op by op and layer by layer, derived from the code.

Every op lives in the registry (:data:`tracenp.graph.ops.REGISTRY`, filled from the
catalog).  A *layer* is anything that has its own table keyed by op name: tracing itself
(the registry), and later gradient rules, numexpr spellings, CUDA spellings...
:data:`LAYERS` maps a layer's name to that table, or to ``"module:attribute"`` naming it
(imported on first use; a layer whose module is missing counts as empty)::

    LAYERS["grad"] = "tracenp.autodiff.rules:GRAD"       # a mapping keyed by op name

Run ``python -m tracenp.coverage`` for a summary, ``--markdown`` for the table that is
``docs/supported.md``.  The markdown includes which functions the dtype sweep of
``tests/function_cases.py`` verified: the generator imports that module (from the source
checkout) and runs the sweep; ``--no-sweep`` leaves the column out.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import patching  # noqa: F401  (registers the creation and np.random ops)
from .graph import catalog
from .graph.ops import REGISTRY, MutateOp

__all__ = ["LAYERS", "layer", "Row", "array_functions", "ufuncs", "other_ops", "overridable",
           "Report", "report", "markdown", "main"]

# layer name -> table keyed by op name (or "module:attribute" for one loaded lazily)
LAYERS: dict[str, Mapping | str] = {
    "trace": REGISTRY,
    "fused": "tracenp.exec.kernels:BLOCKED_OPS",          # runs inside a fused region
    "numexpr": "tracenp.exec.numexpr_table:EXACT",        # bit-exact numexpr spelling
    "numba": "tracenp.exec.numba_table:NUMBA",            # bit-exact numba lowering
    "cuda": "tracenp.exec.cuda_table:CUDA",               # CUDA spelling (CuPy backend)
    "grad": "tracenp.autodiff.rules:GRAD",                # how tracenp.grad differentiates it
}

# Modules whose dispatched functions get_overridable_numpy_array_functions() only lists
# once they are imported.
_NUMPY_MODULES = ("numpy.fft", "numpy.linalg", "numpy.polynomial", "numpy.strings", "numpy.char",
                  "numpy.lib.recfunctions", "numpy.lib.scimath", "numpy.lib.stride_tricks")


def layer(name: str) -> Mapping:
    """The table of layer ``name`` (importing it if it is given as ``"module:attribute"``)."""
    table = LAYERS[name]
    if isinstance(table, str):
        module, _, attr = table.partition(":")
        try:
            table = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            table = {}
        LAYERS[name] = table
    return table


def _layers_of(op_name: str) -> dict[str, bool]:
    return {name: op_name in layer(name) for name in LAYERS}


@dataclass
class Row:
    """One op: its name, category and which layers have it."""

    name: str
    category: str
    layers: dict[str, bool]
    note: str = ""


def _row(name: str, note: str = "") -> Row:
    return Row(name, REGISTRY[name].category, _layers_of(name), note)


def _is_derived(op: Any) -> bool:
    """Ops the registry makes on first use from another op, or per class or method:
    in-place forms (``name!``), ufunc methods, ndarray methods, generator methods and
    ufuncs from other libraries.  They are summarized, not listed."""
    if isinstance(op, MutateOp) or "[out=" in op.name:    # ufunc_out_op: one out of several
        return True
    if getattr(op, "method", "__call__") != "__call__":
        return True
    u = getattr(op, "ufunc", None)
    if u is not None and getattr(np, u.__name__, None) is not u:
        return True
    return op.name.split(".")[0] in ("ndarray", "Generator", "RandomState")


def array_functions() -> list[Row]:
    """The catalog's array functions (``catalog.FUNCTIONS``) that this NumPy has."""
    rows = []
    for names in catalog.FUNCTIONS.values():
        for name in names.split():
            op = REGISTRY.get(name)
            if op is not None and getattr(op, "ufunc", None) is None:
                rows.append(_row(name))
    return rows


def creation() -> list[Row]:
    """Functions tracenp intercepts while tracing (they ignore proxies otherwise)."""
    names = list(catalog.CREATION) + [n for n in patching._ASARRAY if n not in catalog.CREATION]
    return [_row(n) for n in names if n in REGISTRY]


def ufuncs() -> list[tuple[np.ufunc, Row]]:
    """Every NumPy ufunc, each with its op."""
    out = []
    for name in sorted(dir(np)):
        u = getattr(np, name)
        if isinstance(u, np.ufunc) and u.__name__ == name and name in REGISTRY:
            out.append((u, _row(name)))
    return out


def ufunc_methods(u: np.ufunc) -> list[str]:
    """The methods NumPy allows on ``u`` (each traced, as ``name.method``)."""
    if u.signature is not None:
        return []
    if u.nin == 2 and u.nout == 1:
        return ["reduce", "accumulate", "reduceat", "outer", "at"]
    return ["at"] if u.nin == 1 and u.nout == 1 else []


def other_ops() -> list[Row]:
    """Every other op in the registry (indexing, Python operators, np.random, ...)."""
    seen = {r.name for r in array_functions()} | {r.name for r in creation()}
    seen |= {r.name for _, r in ufuncs()}
    rows = [_row(name) for name, op in REGISTRY.items()
            if name not in seen and not _is_derived(op)]
    return sorted(rows, key=lambda r: (r.category, r.name))


def overridable() -> dict[str, Any]:
    """NumPy's overridable array functions (``__array_function__``), by catalog name."""
    for module in _NUMPY_MODULES:
        importlib.import_module(module)
    from numpy.testing.overrides import get_overridable_numpy_array_functions
    out: dict[str, Any] = {}
    for f in get_overridable_numpy_array_functions():
        out.setdefault(catalog.qualified_name(f), f)
    return dict(sorted(out.items()))


# ----------------------------------------------------------------------------- the report

@dataclass
class Report:
    """Where every overridable function stands, and what the sweep verified."""

    traced: list[str] = field(default_factory=list)       # overridable, with a graph op
    queries: list[str] = field(default_factory=list)      # answered from static types
    excluded: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)      # not yet supported
    verified: dict[str, str] = field(default_factory=dict)  # op name -> dtypes verified
    failing: dict[str, str] = field(default_factory=dict)   # op name -> first failure
    known_bugs: dict[str, list[str]] = field(default_factory=dict)  # op name -> xfail reasons
    swept: bool = False

    @property
    def traced_verified(self) -> list[str]:
        return [n for n in self.traced if n in self.verified]


def report(sweep: Mapping | None = None) -> Report:
    """Classify every overridable function; with ``sweep`` (case id -> result, from
    ``tests.function_cases.sweep()``) also say which ops the sweep verified."""
    rep = Report(swept=sweep is not None)
    for name in overridable():
        if name in REGISTRY:
            rep.traced.append(name)
        elif name in catalog.QUERIES:
            rep.queries.append(name)
        elif catalog.excluded_reason(name):
            rep.excluded[name] = catalog.excluded_reason(name)
        else:
            rep.missing.append(name)
    if sweep is not None:
        _add_sweep(rep, sweep)
    return rep


_KINDS = (("b", "?"), ("i", "i1 i2 i4 i8"), ("u", "u1 u2 u4 u8"), ("f", "f2 f4 f8"),
          ("c", "c8 c16"))


def dtype_summary(names: set[str]) -> str:
    """``{"float32", "float64", ...}`` -> ``"b i u f32,64 c"`` (a letter: every size)."""
    parts = []
    for letter, codes in _KINDS:
        dts = [np.dtype(c) for c in codes.split()]
        ok = [d for d in dts if d.name in names]
        if len(ok) == len(dts):
            parts.append(letter)
        elif ok:
            parts.append(letter + ",".join(str(d.itemsize * 8) for d in ok))
    return " ".join(parts)


def _add_sweep(rep: Report, sweep: Mapping) -> None:
    by_name: dict[str, list] = {}
    for result in sweep.values():
        by_name.setdefault(result.case.name, []).append(result)
    for name, results in by_name.items():
        dtypes: set[str] = set()
        failure = ""
        for r in results:
            if r.case.xfail:
                rep.known_bugs.setdefault(name, []).append(r.case.xfail)
                continue
            if r.failures and not failure:
                failure = f"{r.case.id}: {r.failures[0]}".splitlines()[0]
            dtypes |= set(r.ok_dtypes)
        if failure:
            rep.failing[name] = failure
        elif dtypes:
            rep.verified[name] = dtype_summary(dtypes)


# ----------------------------------------------------------------------------- markdown

HEADER = """# Supported NumPy functions

<!-- Generated: run `python -m tracenp.coverage --markdown > docs/supported.md` from the
repository root to regenerate.  Do not edit by hand: tests/test_supported_table.py fails
when this page is out of date with the code. -->

This page is generated from the code: the op registry (filled from
`tracenp/graph/catalog.py`, the one table of supported functions), the catalog's
exclusions, and the dtype sweep of `tests/function_cases.py`, which the generator runs.
"""


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


def _layer_cells(row: Row) -> list[str]:
    # (a layer table may describe its cell itself: the grad layer says how)
    return [layer(n).describe(row.name) if hasattr(layer(n), "describe") else
            _yes(row.layers[n]) for n in LAYERS]


def _sweep_cell(rep: Report, name: str) -> str:
    if not rep.swept:
        return "not run"
    if name in rep.failing:
        return "FAILS: " + rep.failing[name].replace("|", "\\|")[:120]
    cell = rep.verified.get(name, "")
    if name in rep.known_bugs:
        cell += f" (known bugs: {len(rep.known_bugs[name])}, see below)"
    return cell or "no case"


def _function_table(rows: list, layers: list[str], rep: Report) -> list[str]:
    return _table(["function", "category", *layers, "sweep"],
                  [[f"`{r.name}`", r.category, *_layer_cells(r), _sweep_cell(rep, r.name)]
                   for r in rows])


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def markdown(sweep: Mapping | None = None) -> str:
    """The text of ``docs/supported.md``."""
    rep = report(sweep)
    layers = list(LAYERS)
    funcs, made, ufs, others = array_functions(), creation(), ufuncs(), other_ops()
    n_over = len(overridable())
    lines = [HEADER]
    lines.append(f"## Summary (NumPy {np.__version__})\n")
    lines.append(f"- **Overridable array functions** (NumPy's "
                 f"`numpy.testing.overrides.get_overridable_numpy_array_functions()`, "
                 f"counted by name): {n_over}")
    lines.append(f"  - traced to graph nodes: **{len(rep.traced)}**"
                 + (f", of which verified by the dtype sweep: **{len(rep.traced_verified)}**"
                    if rep.swept else ""))
    lines.append(f"  - answered from static types (no node): {len(rep.queries)}")
    lines.append(f"  - deliberately excluded (they fall back to NumPy, reason below): "
                 f"{len(rep.excluded)}")
    lines.append(f"  - not yet supported: {len(rep.missing)}")
    n_uv = sum(1 for _, r in ufs if r.name in rep.verified)
    lines.append(f"- **Ufuncs**: {len(ufs)} traced (every NumPy ufunc, with its methods)"
                 + (f", {n_uv} verified by the dtype sweep" if rep.swept else ""))
    lines.append(f"- Array functions in the catalog: {len(funcs)}; functions intercepted while "
                 f"tracing (creation, asarray family): {len(made)}; other ops: {len(others)}")
    lines.append("")
    lines.append("""**Layers**: each column after the category says whether a layer has the op
(`trace`: tracenp records it as a graph node and replays it; `fused`: it can run inside a
fused region's blocked kernel; `numexpr`: it has a bit-exact numexpr spelling; `numba`:
a numba-compiled region can hold it, bit for bit, for some dtypes: see
`tracenp/exec/numba_table.py`; `cuda`: a fused region's CUDA kernel can hold it (the CuPy
backend, for some dtypes: see `tracenp/exec/cuda_table.py`); `grad`: how `tracenp.grad` differentiates it: `yes` by a
rule, `NumPy` through NumPy's own Python code, `zero` piecewise constant, `n/a` not
differentiable (integer or boolean results, random draws: a gradient through it raises),
`no` no rule yet (`DifferentiationError`, see `NO_RULE_YET` in
`tracenp/autodiff/rules/`)).

**Sweep**: the dtypes for which `tests/function_cases.py` verified the op (compiled call
equal to eager NumPy, on two data sets of one signature, no fallback, no retrace, a node of
the op in the graph), also on non-contiguous and Fortran-ordered inputs and 0-d and empty
arrays.  `b` bool, `i` int8 to int64, `u` uint8 to uint64, `f` float16 to float64, `c`
complex64 and complex128; a letter with sizes lists the sizes verified (`f32,64`).  A dtype
is left out where eager NumPy itself rejects it (the sweep checks that the compiled call
raises the same error there).
""")

    lines.append("## Array functions\n")
    lines += _function_table(funcs, layers, rep)
    lines.append("")
    lines.append("## Creation functions and the asarray family\n")
    lines.append("NumPy does not hand these to `__array_function__` (they take no array, or "
                 "only convert one), so tracenp intercepts them while it traces.\n")
    lines += _function_table(made, layers, rep)
    lines.append("")
    lines.append("## Ufuncs\n")
    lines.append("Each method (`ufunc.reduce`, ...) is an op of its own, `name.method`, made on "
                 "first use; `out=`, `where=`, `dtype=`, `axis=`, `keepdims=` are traced.\n")
    lines += _table(["ufunc", "in/out", "methods", *layers, "sweep"],
                    [[f"`{r.name}`", f"{u.nin}/{u.nout}" + (f" `{u.signature}`" if u.signature else ""),
                      " ".join(ufunc_methods(u)), *_layer_cells(r), _sweep_cell(rep, r.name)]
                     for u, r in ufs])
    lines.append("")
    lines.append("## Other ops\n")
    lines.append("Indexing, Python operators on weak scalars and `np.random`.  Not listed: "
                 "ops made on first use from another (the in-place form `name!` of an op, "
                 "ufunc methods, `ndarray.*` methods, `Generator.*`/`RandomState.*` draws).\n")
    lines += _table(["op", "category", *layers],
                    [[f"`{r.name}`", r.category, *_layer_cells(r)] for r in others])
    lines.append("")
    lines.append("## Answered from static types\n")
    lines.append("These read only shapes and dtypes, which are fixed for a signature, so they "
                 "record no node: " + ", ".join(f"`{n}`" for n in catalog.QUERIES) + ".\n")
    lines.append("## Excluded\n")
    lines.append("Deliberately not traced: a call on traced arrays falls back to NumPy with a "
                 "`tracenp.FallbackWarning` (`strict=True` raises the error instead).\n")
    lines += _table(["function", "reason"],
                    [[f"`{n}`", r] for n, r in sorted(catalog.EXCLUDED.items())])
    lines.append("")
    lines.append("Whole modules:\n")
    for module, reason in catalog.EXCLUDED_MODULES.items():
        members = [n.rpartition(".")[2] for n in rep.excluded if n.startswith(module + ".")]
        lines.append(f"- `numpy.{module}`: {reason}. " + ", ".join(f"`{m}`" for m in members))
    lines.append("")
    checked = [r.name for r in funcs if REGISTRY[r.name].check is not None]
    static = {r.name: REGISTRY[r.name].static_params for r in funcs
              if REGISTRY[r.name].static_params}
    lines.append("Refused for some arguments only (a check in the catalog says when): "
                 + ", ".join(f"`{n}`" for n in checked) + ".  Refused when one of these arguments "
                 "is a traced value (the catalog's `STATIC_PARAMS`): "
                 + ", ".join(f"`{n}` ({', '.join(f'`{p}`' for p in ps)})"
                             for n, ps in static.items())
                 + "; and the shape arguments of the creation functions.\n")
    lines.append("## Not yet supported\n")
    if rep.missing:
        lines.append("Overridable functions that are neither traced nor excluded: "
                     + ", ".join(f"`{n}`" for n in rep.missing) + ".")
    else:
        lines.append("None: every overridable function is traced, answered statically or "
                     "excluded with a reason.")
    if rep.swept:
        lines.append("")
        lines.append("## Known bugs\n")
        lines.append("Cases of the sweep marked as expected failures (`xfail(strict=True)`): "
                     "each must fail until the bug is fixed.\n")
        for name, reasons in sorted(rep.known_bugs.items()):
            for reason in reasons:
                lines.append(f"- `{name}`: {reason}")
        if not rep.known_bugs:
            lines.append("None.")
        unverified = [n for n in rep.traced if n not in rep.verified]
        lines.append("")
        lines.append("Traced but not verified by the sweep: "
                     + (", ".join(f"`{n}`" for n in unverified) if unverified else "none") + ".")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- command line

def _load_sweep() -> Mapping:
    root = Path(__file__).resolve().parents[1]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        from tests import function_cases
    except ImportError as e:
        raise SystemExit(f"the sweep needs tests/function_cases.py from the source checkout "
                         f"({e}); use --no-sweep to leave it out") from e
    return function_cases.sweep()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracenp.coverage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markdown", action="store_true", help="print docs/supported.md")
    parser.add_argument("--no-sweep", action="store_true",
                        help="do not run the dtype sweep of tests/function_cases.py")
    args = parser.parse_args(argv)
    sweep = None if args.no_sweep else _load_sweep()
    if args.markdown:
        sys.stdout.write(markdown(sweep))
        return 0
    rep = report(sweep)
    print(f"overridable array functions: {len(overridable())}")
    print(f"  traced: {len(rep.traced)}" + (f" (verified by the sweep: {len(rep.traced_verified)})"
                                             if rep.swept else ""))
    print(f"  static queries: {len(rep.queries)}; excluded: {len(rep.excluded)}; "
          f"not yet supported: {len(rep.missing)}")
    print(f"ufuncs traced: {len(ufuncs())}")
    if rep.missing:
        print("not yet supported:", " ".join(rep.missing))
    for name, msg in rep.failing.items():
        print(f"FAILING {name}: {msg}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
