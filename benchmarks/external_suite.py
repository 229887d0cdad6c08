"""Run tracenp on real NumPy programs written by others, kept outside this repository.

Two published suites are understood (fetch them into a directory, by default
``/work/external``; see ``benchmarks/external_suite.md``):

* serge-sans-paille/numpy-benchmarks: one kernel per ``*.py`` file, with a ``#setup:``
  line (Python that builds the inputs) and a ``#run:`` line (the call).
* spcl/npbench: ``bench_info/<name>.json`` (preset sizes, argument names) next to
  ``npbench/benchmarks/<path>/<module>.py`` (``initialize``) and ``<module>_numpy.py``
  (the NumPy kernel).

Each program is run in its own subprocess: its inputs are built (sizes shrunk until the
eager run takes under ``--budget`` seconds and the first compiled call under
``--trace-limit`` seconds), it runs eagerly, then twice through
``tracenp.compile`` (the first call traces, the second replays the cached plan), each
time on fresh copies of the inputs.  The return value *and* every array argument after
the call are compared with the eager run.  Outcomes:

``compiled+match``  no FallbackWarning, every value equal to eager (dtype, shape, values
                    within ``rtol`` -- 1e-7 for 64-bit floats, 1e-5 for 32-bit)
``fallback``        a FallbackWarning (its reason is recorded), results equal to eager
``mismatch``        a result differs from eager NumPy (the worst outcome)
``crash``           tracenp raised where eager NumPy did not
``timeout``         the first compiled call stayed over ``--trace-limit`` at every size,
                    or the whole program over ``--timeout`` seconds
``eager-fails``     the program itself fails with this NumPy (excluded from the score)

Usage::

    python benchmarks/external_suite.py [DIR] [--json out.json] [--markdown out.md]
                                        [--jobs 2] [--only NAME...]

To measure another tracenp checkout: ``PYTHONPATH=<dir holding tracenp/> python ...``.
"""
from __future__ import annotations

import argparse
import ast
import collections
import concurrent.futures as cf
import contextlib
import copy
import importlib.util
import inspect
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from typing import Any

import numpy as np

DEFAULT_DIR = "/work/external"
OUTCOMES = ["compiled+match", "fallback", "mismatch", "crash", "timeout", "eager-fails"]

# --------------------------------------------------------------------------- sizes
# Programs whose inputs cannot be shrunk by scaling every integer: explicit choices.
# numpy-benchmarks: literal replacements in the #setup / #run lines (applied before scaling).
NB_OVERRIDES: dict[str, dict[str, Any]] = {
    # the kernel hard-codes n = 280 for its arrays: keep the inputs, shrink the step count
    "grayscott": {"noscale_setup": True},
    # the kernel hard-codes a 3-element state
    "hasting": {"noscale_setup": True},
    # the #setup line builds a (5,4,3,2) array from arange(120): a smaller 4-d shape
    "local_maxima": {"noscale_setup": True,
                     "replace": [("(5,4,3,2)", "(3,3,2,2)"), ("arange(120", "arange(36")]},
    # the size is a float step (np.arange(0, 1, 10e-7)): take a coarser step
    "smoothing": {"replace": [("N = 10e-7", "N = 10e-4")]},
}
# Programs that cannot run within the eager budget at any size, with the budget they get.
BUDGET_OVERRIDES = {
    # iterates until convergence: about 950 steps at any grid size
    "npbench/channel_flow": 1.5,
}
# npbench: parameters that must not be scaled (they are not sizes, or the program needs them).
NPB_FIXED: dict[str, tuple[str, ...]] = {
    "lenet": ("H", "W"),              # two 5x5 convolutions + pools need H, W >= 28
    "stockham_fft": ("R",),           # N = R**K
    "conv2d_bias": ("K", "C_in"),
    "resnet": ("C1", "C2"),
    "scattering_self_energies": ("N3D", "Norb", "NB"),
    "banded_mmt": ("a_lbound", "a_ubound", "b_lbound", "b_ubound"),
    "mlp": ("C_in",),
}
# npbench: arrays the newer bench_info expects but the stored (older) initialize lacks.
NPB_EXTRA_INPUTS = {
    "mlp": lambda c: {"output": np.empty((c["N"], c["S2"]), dtype=c["input"].dtype)},
    "softmax": lambda c: {"output": np.empty_like(c["x"])},
}
SCALE_MIN_INT = 8          # integers below this are never scaled (kernel sizes, small counts)
FACTORS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class _Alarm(BaseException):
    """Raised by SIGALRM; a BaseException so that no ``except Exception`` swallows it."""


def _on_alarm(signum, frame):
    raise _Alarm()


@contextlib.contextmanager
def _time_limit(seconds: float):
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------- discovery
def discover(root: str) -> list[dict]:
    """Every program under ``root``: numpy-benchmarks files and npbench bench_info entries."""
    programs: dict[str, dict] = {}
    # numpy-benchmarks: files with #setup and #run lines.  The same kernel appears in
    # several layouts of the repository: keep the newest layout's copy.
    def rank(path: str) -> int:
        return 0 if "numpy_benchmarks/benchmarks" in path else 1 if "/benchmarks/" in path else 2
    nb: dict[str, str] = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(dirpath, f)
            try:
                text = open(path, encoding="utf-8").read()
            except OSError:
                continue
            if re.search(r"^#\s*setup:", text, re.M) and re.search(r"^#\s*run:", text, re.M):
                stem = f[:-3]
                if stem not in nb or rank(path) < rank(nb[stem]):
                    nb[stem] = path
    for stem, path in nb.items():
        programs[f"nb/{stem}"] = {"name": f"nb/{stem}", "suite": "numpy-benchmarks",
                                  "stem": stem, "path": path}
    # npbench: bench_info/*.json next to npbench/benchmarks/
    for dirpath, dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "bench_info":
            continue
        base = os.path.dirname(dirpath)
        for f in sorted(files):
            if not f.endswith(".json"):
                continue
            info = json.load(open(os.path.join(dirpath, f)))["benchmark"]
            d = os.path.join(base, "npbench", "benchmarks", info["relative_path"])
            kernel = os.path.join(d, info["module_name"] + "_numpy.py")
            init = os.path.join(d, info["module_name"] + ".py")
            if not os.path.exists(kernel):
                continue
            key = f[:-5]
            programs[f"npbench/{key}"] = {
                "name": f"npbench/{key}", "suite": "npbench", "key": key, "info": info,
                "path": kernel, "init": init if "init" in info else None}
    return [programs[k] for k in sorted(programs)]


# --------------------------------------------------------------------------- building inputs
class _Scale(ast.NodeTransformer):
    """Fold integer constant expressions, then divide integers >= SCALE_MIN_INT by ``factor``."""

    def __init__(self, factor: int):
        self.factor = factor

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant) and \
                type(node.left.value) is int and type(node.right.value) is int and \
                isinstance(node.op, (ast.Pow, ast.Mult)):
            try:
                value = eval(compile(ast.Expression(node), "<fold>", "eval"))
            except Exception:
                return node
            return ast.copy_location(ast.Constant(value), node)
        return node

    def visit_Constant(self, node):
        v = node.value
        if type(v) is int and v >= SCALE_MIN_INT and self.factor > 1:
            return ast.copy_location(ast.Constant(max(SCALE_MIN_INT // 2, v // self.factor)), node)
        return node


def _scaled_source(src: str, factor: int, mode: str) -> str:
    tree = ast.parse(src, mode=mode)
    tree = ast.fix_missing_locations(_Scale(factor).visit(tree))
    return ast.unparse(tree)


def _load_module(path: str, name: str, preset: dict | None = None):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    if preset:
        mod.__dict__.update(preset)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _seed():
    np.random.seed(0)
    random.seed(0)


def build_nb(prog: dict, factor: int):
    """(kernel, args, kwargs, description) for a numpy-benchmarks file at a scale factor."""
    text = open(prog["path"], encoding="utf-8").read()
    setup = re.search(r"^#\s*setup:(.*)$", text, re.M).group(1).strip()
    run = re.search(r"^#\s*run:(.*)$", text, re.M).group(1).strip()
    over = NB_OVERRIDES.get(prog["stem"], {})
    for old, new in over.get("replace", ()):
        setup, run = setup.replace(old, new), run.replace(old, new)
    if factor > 1:
        if not over.get("noscale_setup"):
            setup = _scaled_source(setup, factor, "exec")
        run = _scaled_source(run, factor, "eval")
    mod = _load_module(prog["path"], f"_ext_nb_{prog['stem']}")
    ns: dict[str, Any] = {}
    _seed()
    exec(compile(setup, "<setup>", "exec"), ns)
    call = ast.parse(run, mode="eval").body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise ValueError(f"unsupported #run line: {run}")
    kernel = getattr(mod, call.func.id)
    args: list = []
    for a in call.args:
        if isinstance(a, ast.Starred):
            args.extend(eval(compile(ast.Expression(a.value), "<run>", "eval"), ns))
        else:
            args.append(eval(compile(ast.Expression(a), "<run>", "eval"), ns))
    kwargs = {k.arg: eval(compile(ast.Expression(k.value), "<run>", "eval"), ns)
              for k in call.keywords}
    # (the #setup/#run text is compared, not reported: results hold no third-party code)
    return kernel, args, kwargs, {"setup": setup, "run": run}


def _datatype_arg(fn) -> dict:
    """npbench's framework passes ``datatype``; use float64 where a float type is asked."""
    try:
        p = inspect.signature(fn).parameters.get("datatype")
    except (TypeError, ValueError):
        return {}
    if p is None:
        return {}
    if p.default is inspect.Parameter.empty or p.default in (np.float32, np.float64):
        return {"datatype": np.float64}
    return {}


def build_npb(prog: dict, factor: int):
    info, key = prog["info"], prog["key"]
    params = dict(info["parameters"]["S"])
    fixed = NPB_FIXED.get(key, ())
    if factor > 1:
        for k, v in params.items():
            if type(v) is int and v >= SCALE_MIN_INT and k not in fixed:
                params[k] = max(SCALE_MIN_INT // 2, v // factor)
    ctx: dict[str, Any] = dict(params)
    _seed()
    if prog["init"]:
        # The harness pre-seeds ``np`` (one stored initialize uses it without importing it).
        init_mod = _load_module(prog["init"], f"_ext_npb_init_{key}", {"np": np})
        init = getattr(init_mod, info["init"]["func_name"])
        in_args = [ctx[a] for a in info["init"]["input_args"]]
        out = init(*in_args, **_datatype_arg(init))
        names = info["init"]["output_args"]
        if not isinstance(out, tuple):
            out = (out,)
        ctx.update(zip(names, out))
    if key in NPB_EXTRA_INPUTS:
        ctx.update(NPB_EXTRA_INPUTS[key](ctx))
    mod = _load_module(prog["path"], f"_ext_npb_{key}")
    kernel = getattr(mod, info["func_name"])
    # Bind by parameter name when every required parameter is known (the stored kernel
    # and bench_info may come from different revisions); else positionally.
    sig = inspect.signature(kernel)
    required = [p for p in sig.parameters.values() if p.default is p.empty]
    if all(p.name in ctx for p in required):
        args = [ctx[p.name] for p in sig.parameters.values() if p.name in ctx]
    else:
        args = [ctx[a] for a in info["input_args"]]
    return kernel, args, {}, {"params": {k: v for k, v in params.items()}}


def build(prog: dict, factor: int):
    return build_nb(prog, factor) if prog["suite"] == "numpy-benchmarks" else build_npb(prog, factor)


# --------------------------------------------------------------------------- comparing
def _leaves(x: Any, out: list) -> list:
    if isinstance(x, (list, tuple)):
        for c in x:
            _leaves(c, out)
    elif isinstance(x, dict):
        for c in x.values():
            _leaves(c, out)
    else:
        out.append(x)
    return out


def _tol(dtype: np.dtype) -> float:
    return 1e-5 if dtype in (np.float32, np.complex64, np.float16) else 1e-7


def compare(actual: Any, expected: Any) -> dict:
    """Leaf-by-leaf comparison; returns {'ok', 'bitwise', 'max_abs', 'max_rel', 'why'}."""
    a_l, e_l = _leaves(actual, []), _leaves(expected, [])
    res = {"ok": True, "bitwise": True, "max_abs": 0.0, "max_rel": 0.0, "why": ""}
    if len(a_l) != len(e_l):
        return {**res, "ok": False, "bitwise": False,
                "why": f"structure: {len(a_l)} leaves vs {len(e_l)}"}
    for i, (a, e) in enumerate(zip(a_l, e_l)):
        if isinstance(e, (np.ndarray, np.generic)):
            if type(a) is not type(e):
                return {**res, "ok": False, "bitwise": False,
                        "why": f"leaf {i}: type {type(a).__name__} != {type(e).__name__}"}
            if a.dtype != e.dtype or a.shape != e.shape:
                return {**res, "ok": False, "bitwise": False,
                        "why": f"leaf {i}: {a.dtype}{a.shape} != {e.dtype}{e.shape}"}
            aa, ee = np.asarray(a), np.asarray(e)
            if aa.dtype.kind in "fc":
                same = np.array_equal(aa, ee, equal_nan=True)
                if not same:
                    res["bitwise"] = False
                    fin = np.isfinite(ee)
                    if not np.array_equal(np.isfinite(aa), fin) or \
                            not np.array_equal(aa[~fin], ee[~fin], equal_nan=True):
                        return {**res, "ok": False, "why": f"leaf {i}: non-finite values differ"}
                    diff = np.abs(aa[fin] - ee[fin])
                    scale = float(np.max(np.abs(ee[fin]))) if fin.any() else 0.0
                    max_abs = float(diff.max()) if diff.size else 0.0
                    res["max_abs"] = max(res["max_abs"], max_abs)
                    res["max_rel"] = max(res["max_rel"], max_abs / scale if scale else max_abs)
                    tol = _tol(ee.dtype)
                    if not np.allclose(aa[fin], ee[fin], rtol=tol, atol=tol * scale):
                        res["ok"] = False
                        res["why"] = f"leaf {i}: max abs err {max_abs:.3g} (rel {res['max_rel']:.3g})"
            elif not np.array_equal(aa, ee):
                n = int(np.sum(aa != ee)) if aa.shape == ee.shape else -1
                return {**res, "ok": False, "bitwise": False,
                        "why": f"leaf {i}: {n} of {ee.size} {ee.dtype} values differ"}
        elif isinstance(e, float) or isinstance(e, complex):
            if type(a) is not type(e):
                return {**res, "ok": False, "bitwise": False,
                        "why": f"leaf {i}: type {type(a).__name__} != {type(e).__name__}"}
            if a != e and not (a != a and e != e):
                res["bitwise"] = False
                err = abs(a - e)
                res["max_abs"] = max(res["max_abs"], err)
                res["max_rel"] = max(res["max_rel"], err / abs(e) if e else err)
                if err > 1e-7 * abs(e):
                    return {**res, "ok": False, "why": f"leaf {i}: {a!r} != {e!r}"}
        else:
            if type(a) is not type(e) or not (a is e or a == e):
                return {**res, "ok": False, "bitwise": False,
                        "why": f"leaf {i}: {a!r:.60} != {e!r:.60}"}
    return res


# --------------------------------------------------------------------------- one program
def _call(fn, args, kwargs):
    """Run ``fn`` on fresh copies; return (result, arguments after the call, seconds)."""
    a, k = copy.deepcopy(args), copy.deepcopy(kwargs)
    _seed()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        out = fn(*a, **k)
    return out, (a, k), time.perf_counter() - t0


def _strip_source(tb: str) -> str:
    """A traceback without the quoted source lines (they may be third-party code)."""
    return "\n".join(line for line in tb.splitlines() if not line.startswith("    "))


def _first_line(msg: str) -> str:
    return msg.strip().splitlines()[0] if msg.strip() else ""


def run_program(prog: dict, budget: float, trace_limit: float) -> dict:
    import tracenp
    res: dict[str, Any] = {"name": prog["name"], "suite": prog["suite"],
                           "path": prog["path"], "outcome": None, "detail": ""}
    budget = BUDGET_OVERRIDES.get(prog["name"], budget)
    # Inputs are shrunk (factor 1, 2, 4, ...) until the eager run takes at most `budget`
    # seconds and the first compiled call (the trace) at most `trace_limit` seconds.
    last_exc, factor, expected, runs, cfn, caught = None, 1, None, [], None, []
    over_budget, over_trace, prev_desc = [], [], None
    for factor in FACTORS:
        try:
            kernel, args, kwargs, desc = build(prog, factor)
        except Exception as e:
            last_exc = e
            break
        # nothing left to shrink: this is the last attempt
        last = factor == FACTORS[-1] or desc == prev_desc
        prev_desc = desc
        try:
            with _time_limit(2 * budget):
                expected = _call(kernel, args, kwargs)
        except _Alarm:
            expected = None
            over_budget.append(factor)
            if last:
                break
            continue
        except Exception as e:
            last_exc, expected = e, None
            break
        if expected[2] > budget:
            over_budget.append(factor)
            expected = None
            if last:
                break
            continue
        cfn = tracenp.compile(kernel)
        runs = []
        with warnings.catch_warnings(record=True) as caught:  # noqa: F811 (used after the loop)
            warnings.simplefilter("always")
            try:
                with contextlib.nullcontext() if last else _time_limit(trace_limit):
                    runs.append(_call(cfn, args, kwargs))
                runs.append(_call(cfn, args, kwargs))
            except _Alarm:
                over_trace.append(factor)
                continue
            except Exception as e:
                res.update(scale=factor, eager_s=round(expected[2], 4))
                res["outcome"] = "crash"
                res["detail"] = f"{type(e).__name__}: {_first_line(str(e))}"
                res["traceback"] = _strip_source(traceback.format_exc(limit=8))
                return res
        res.update(scale=factor, eager_s=round(expected[2], 4))
        if "params" in desc:
            res["params"] = desc["params"]
        break
    if over_trace:
        res["trace_over_limit_at_scales"] = over_trace
    if not runs:
        if over_trace and last_exc is None:
            res["outcome"] = "timeout"
            res["detail"] = f"first compiled call over {trace_limit}s at every scale"
            return res
        res["outcome"] = "eager-fails"
        res["detail"] = (f"{type(last_exc).__name__}: {_first_line(str(last_exc))}"
                         if last_exc is not None else f"eager run over {budget}s at every scale")
        if last_exc is not None and factor > 1:
            res["detail"] += f" (at inputs shrunk by {factor}; larger ones ran over the budget)"
        return res
    res["trace_s"] = round(runs[0][2], 4)
    res["replay_s"] = round(runs[1][2], 4)
    res["traces"] = cfn.trace_count
    fallbacks = [w for w in caught if issubclass(w.category, tracenp.FallbackWarning)]
    others = sorted({f"{w.category.__name__}: {_first_line(str(w.message))}" for w in caught
                     if not issubclass(w.category, tracenp.FallbackWarning)})
    if others:
        res["other_warnings"] = others[:5]
    plans = list(cfn.plans().values())
    eager_plans = [p for p in plans if type(p).__name__ == "_Eager"]
    # 3. compare both compiled calls with eager
    worst = None
    for i, (out, state, _) in enumerate(runs):
        c = compare((out, state), (expected[0], expected[1]))
        c["call"] = i + 1
        if worst is None or (not c["ok"] and worst["ok"]) or c["max_rel"] > worst["max_rel"]:
            worst = c
    res["bitwise"] = worst["bitwise"]
    res["max_abs_err"] = worst["max_abs"]
    res["max_rel_err"] = worst["max_rel"]
    if fallbacks or eager_plans:
        msg = str(fallbacks[0].message) if fallbacks else "(no FallbackWarning was emitted)"
        m = re.search(r"runs eagerly with NumPy(?: at ([^:]+:\d+))?: (\w+): (.*)", msg)
        res["reason_class"] = m.group(2) if m else "?"
        res["reason"] = _first_line(m.group(3)) if m else _first_line(msg)
        res["where"] = m.group(1) if m and m.group(1) else ""
        # the warning quotes the program's source line: keep only tracenp's own words
        res["warning"] = "\n".join(line for line in msg.splitlines()
                                   if not line.startswith("    ") and "What to do" not in line)
        if not fallbacks:
            res["silent_fallback"] = True
    if not worst["ok"]:
        res["outcome"] = "mismatch"
        res["detail"] = f"call {worst['call']}: {worst['why']}"
    elif fallbacks or eager_plans:
        res["outcome"] = "fallback"
        res["detail"] = f"{res['reason_class']}: {res['reason']}"
    else:
        res["outcome"] = "compiled+match"
        res["detail"] = "bitwise equal" if worst["bitwise"] else \
            f"max rel err {worst['max_rel']:.2g}"
        if cfn.trace_count != 1:
            res["detail"] += f" ({cfn.trace_count} traces)"
    return res


# --------------------------------------------------------------------------- driver
def _worker(spec_path: str, out_path: str) -> None:
    spec = json.load(open(spec_path))
    prog, budget = spec["prog"], spec["budget"]
    try:
        res = run_program(prog, budget, spec["trace_limit"])
    except Exception as e:     # a harness bug: report it, do not hide it
        res = {"name": prog["name"], "suite": prog["suite"], "path": prog["path"],
               "outcome": "crash", "detail": f"harness: {type(e).__name__}: {e}",
               "traceback": _strip_source(traceback.format_exc(limit=8))}
    with open(out_path, "w") as f:
        json.dump(res, f, default=str)


def run_one(prog: dict, budget: float, trace_limit: float, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        spec, out = os.path.join(tmp, "spec.json"), os.path.join(tmp, "out.json")
        json.dump({"prog": prog, "budget": budget, "trace_limit": trace_limit}, open(spec, "w"),
                  default=str)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", spec, out],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"name": prog["name"], "suite": prog["suite"], "path": prog["path"],
                    "outcome": "timeout", "detail": f"no result within {timeout:.0f}s",
                    "wall_s": round(time.perf_counter() - t0, 2)}
        if not os.path.exists(out):
            return {"name": prog["name"], "suite": prog["suite"], "path": prog["path"],
                    "outcome": "crash", "detail": f"worker died (exit {proc.returncode}): "
                    + _first_line(proc.stderr[-2000:].strip().splitlines()[-1] if proc.stderr.strip() else ""),
                    "wall_s": round(time.perf_counter() - t0, 2)}
        res = json.load(open(out))
        res["wall_s"] = round(time.perf_counter() - t0, 2)
        return res


def _reason_key(r: dict) -> str:
    reason = re.sub(r"\s+", " ", r.get("reason", ""))
    return f"{r.get('reason_class', '?')}: {reason}"


def summarize(results: list[dict]) -> tuple[str, dict]:
    counts = collections.Counter(r["outcome"] for r in results)
    scored = [r for r in results if r["outcome"] != "eager-fails"]
    ok = counts["compiled+match"]
    pct = 100.0 * ok / len(scored) if scored else 0.0
    lines = []
    w = max(len(r["name"]) for r in results) if results else 10
    lines.append(f"{'program':<{w}}  {'outcome':<15} {'eager_s':>8} {'trace_s':>8} {'replay_s':>8}  detail")
    for r in results:
        f = lambda k: f"{r[k]:8.3f}" if isinstance(r.get(k), (int, float)) else f"{'-':>8}"
        lines.append(f"{r['name']:<{w}}  {r['outcome']:<15} {f('eager_s')} {f('trace_s')} "
                     f"{f('replay_s')}  {r.get('detail', '')[:110]}")
    lines.append("")
    lines.append(f"programs: {len(results)} ({len(scored)} scored, "
                 f"{counts['eager-fails']} eager-fails excluded)")
    for o in OUTCOMES:
        lines.append(f"  {o:<15} {counts[o]}")
    lines.append(f"compiled+match: {ok}/{len(scored)} = {pct:.1f}%")
    reasons = collections.Counter(_reason_key(r) for r in results if r["outcome"] == "fallback")
    if reasons:
        lines.append("")
        lines.append("fallback reasons (by frequency):")
        for k, n in reasons.most_common():
            lines.append(f"  {n:3d}  {k[:150]}")
    classes = collections.Counter(r.get("reason_class", "?") for r in results
                                  if r["outcome"] == "fallback")
    summary = {"programs": len(results), "scored": len(scored), "counts": dict(counts),
               "compiled_match_pct": round(pct, 1),
               "fallback_reasons": reasons.most_common(),
               "fallback_classes": classes.most_common()}
    return "\n".join(lines), summary


def markdown(results: list[dict], summary: dict, meta: dict) -> str:
    """The results as a Markdown report (program names and outcomes only, no code)."""
    c = summary["counts"]
    out = [f"Measured {meta['date']} on tracenp {meta['tracenp']}, NumPy {np.__version__}, "
           f"{meta['jobs']} jobs, {meta['wall_s']:.0f} s wall.", "",
           "| | count |", "|---|---:|",
           f"| programs | {summary['programs']} |",
           f"| scored (eager-fails excluded) | {summary['scored']} |"]
    for o in OUTCOMES:
        out.append(f"| {o} | {c.get(o, 0)} |")
    out.append(f"| **compiled+match** | **{c.get('compiled+match', 0)}/{summary['scored']} = "
               f"{summary['compiled_match_pct']}%** |")
    out += ["", "### Fallback reasons, by frequency", "", "| n | reason |", "|---:|---|"]
    for k, n in summary["fallback_reasons"]:
        out.append(f"| {n} | {k.replace('|', '/')} |")
    out += ["", "### Per program", "",
            "| program | outcome | scale | eager s | 1st call s | replay s | detail |",
            "|---|---|---:|---:|---:|---:|---|"]
    fmt = lambda v: f"{v:.3f}" if isinstance(v, (int, float)) else "-"
    for r in results:
        detail = r.get("detail", "")
        if r["outcome"] == "fallback":
            where = f" at {r['where']}" if r.get("where") else " (no file:line given)"
            detail = f"{r.get('reason_class', '?')}{where}: {r.get('reason', '')[:90]}"
        out.append(f"| {r['name']} | {r['outcome']} | {r.get('scale', '-')} | "
                   f"{fmt(r.get('eager_s'))} | {fmt(r.get('trace_s'))} | "
                   f"{fmt(r.get('replay_s'))} | {detail.replace('|', '/')[:160]} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _worker(argv[1], argv[2])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", default=DEFAULT_DIR)
    ap.add_argument("--json", help="write per-program results here")
    ap.add_argument("--markdown", help="write the results as a Markdown table here")
    ap.add_argument("--label", help="name of the tracenp version measured (default: git commit)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--budget", type=float, default=0.5, help="eager seconds per program")
    ap.add_argument("--trace-limit", type=float, default=5.0,
                    help="shrink inputs further while the first compiled call takes longer")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per program")
    ap.add_argument("--only", nargs="*", help="substrings of program names to run")
    args = ap.parse_args(argv)
    progs = discover(args.dir)
    if args.only:
        progs = [p for p in progs if any(s in p["name"] for s in args.only)]
    if not progs:
        print(f"no programs found under {args.dir}", file=sys.stderr)
        return 2
    import tracenp
    where = os.path.dirname(os.path.dirname(os.path.abspath(tracenp.__file__)))
    try:
        commit = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except Exception:
        commit = ""
    if commit:
        dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "tracenp"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        commit = commit[:10] + ("+uncommitted changes" if dirty else "")
    if args.label:
        commit = args.label
    print(f"tracenp from {where} (commit {commit or '?'}), numpy {np.__version__}, "
          f"{len(progs)} programs, {args.jobs} jobs", file=sys.stderr)
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        results = list(ex.map(lambda p: run_one(p, args.budget, args.trace_limit, args.timeout),
                               progs))
    text, summary = summarize(results)
    print(text)
    print(f"\nwall time: {time.perf_counter() - t0:.1f}s with {args.jobs} jobs")
    wall = time.perf_counter() - t0
    if args.markdown:
        meta = {"date": time.strftime("%Y-%m-%d"), "jobs": args.jobs, "wall_s": wall,
                "tracenp": commit or where}
        with open(args.markdown, "w") as f:
            f.write(markdown(results, summary, meta))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "numpy": np.__version__, "tracenp": where,
                       "tracenp_commit": commit, "wall_s": round(time.perf_counter() - t0, 1),
                       "results": results}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
