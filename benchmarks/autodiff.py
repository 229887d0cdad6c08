"""Gradient benchmarks: ``tracenp.grad`` against a hand-written NumPy gradient, HIPS
autograd and ``jax.jit(jax.grad)`` on CPU (NumPy arrays in and out), side by side.

    python benchmarks/autodiff.py                    # every workload
    python benchmarks/autodiff.py --only sin_exp rosenbrock --no-docs

Each workload is written once, as a function of a NumPy-like namespace (``np`` and, for
Black-Scholes, ``erf``): with NumPy and scipy.special it is the plain NumPy code tracenp
traces, with ``autograd.numpy`` / ``autograd.scipy.special`` it is autograd's, with
``jax.numpy`` / ``jax.scipy.special`` jax's.  A hand-written NumPy gradient goes with it.
Every implementation is checked against the hand-written gradient (``np.allclose``)
before anything is timed; one that raises or disagrees is reported, not timed.

Times are medians over rounds in which every implementation runs once (in rotating
order, so a load change on a shared machine hits them alike), after warm-up.  Compile
time is what the first call of a fresh compiled function costs over a warm call: the
median over fresh ``tracenp.compile(f)`` and ``tracenp.grad(f)`` objects (interleaved);
for jax, ``jax.jit(jax.grad(f)).lower(*args).compile()`` of a fresh function.

Writes ``benchmarks/results/autodiff.json``, the "Gradients" section of
``docs/benchmarks.md`` (the rest of the page is ``benchmarks/run.py``'s; run.py renders
this section from the JSON when it regenerates the page) and
``docs/img/autodiff_speedup.png``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tracenp  # noqa: E402

IMPLS = ["tracenp", "hand", "autograd", "jax"]
PEERS = ["autograd", "jax"]
LABELS = {"tracenp": "tracenp", "hand": "hand-written", "autograd": "autograd",
          "jax": "jax.jit(jax.grad)"}
SECTION = "## Gradients"


# ============================================================================ workloads
# Each is written once against a namespace ``ns`` (ns.np, ns.erf): see namespaces().

def logistic_regression(ns):
    np = ns.np

    def loss(w, X, y):
        z = X @ w
        return np.mean(np.log(1 + np.exp(z)) - y * z)
    return loss


def sin_exp(ns):
    np = ns.np

    def f(x):
        return np.sum(np.sin(x) * np.exp(-x ** 2))
    return f


def mlp(ns):
    np = ns.np

    def loss(W1, b1, W2, b2, X, Y):
        h = np.maximum(X @ W1 + b1, 0.0)
        logits = h @ W2 + b2
        m = np.max(logits, axis=1, keepdims=True)
        lse = m + np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
        return -np.mean(np.sum(Y * (logits - lse), axis=1))
    return loss


def rosenbrock(ns):
    np = ns.np

    def f(x):
        return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    return f


def black_scholes(ns):
    np, erf = ns.np, ns.erf

    def price(S, K, T, r, sigma):
        sqrtT = np.sqrt(T)
        d1 = (np.log(S / K) + (r + 0.5 * sigma * sigma) * T) / (sigma * sqrtT)
        d2 = d1 - sigma * sqrtT
        cdf1 = 0.5 * (1 + erf(d1 / np.sqrt(2)))
        cdf2 = 0.5 * (1 + erf(d2 / np.sqrt(2)))
        call = S * cdf1 - K * np.exp(-r * T) * cdf2
        return np.sum(call)
    return price


# ---------------------------------------------------------------- hand-written gradients
def logistic_regression_grad(w, X, y):
    z = X @ w
    return X.T @ ((1 / (1 + np.exp(-z)) - y) / len(y))


def sin_exp_grad(x):
    e = np.exp(-x * x)
    return e * (np.cos(x) - 2 * x * np.sin(x))


def mlp_grad(W1, b1, W2, b2, X, Y):
    a = X @ W1 + b1
    h = np.maximum(a, 0.0)
    logits = h @ W2 + b2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    d = (e / e.sum(axis=1, keepdims=True) - Y) / len(X)
    dh = d @ W2.T
    dh *= a > 0
    return X.T @ dh, dh.sum(axis=0), h.T @ d, d.sum(axis=0)


def rosenbrock_grad(x):
    t = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * t - 2 * (1 - x[:-1])
    g[1:] += 200.0 * t
    return g


def black_scholes_grad(S, K, T, r, sigma):
    from scipy.special import erf
    sqrtT = np.sqrt(T)
    d1 = (np.log(S / K) + (r + 0.5 * sigma * sigma) * T) / (sigma * sqrtT)
    delta = 0.5 * (1 + erf(d1 * (1 / math.sqrt(2))))
    vega = S * np.exp(-0.5 * d1 * d1) * (sqrtT * (1 / math.sqrt(2 * math.pi)))
    return delta, vega


# ---------------------------------------------------------------- inputs
def _logreg_inputs(n):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 100))
    w = 0.1 * rng.standard_normal(100)
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ w))).astype(float)
    return w, X, y


def _mlp_inputs(n):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 784))
    W1 = rng.standard_normal((784, 256)) * math.sqrt(2 / 784)
    W2 = rng.standard_normal((256, 10)) * math.sqrt(1 / 256)
    Y = np.eye(10)[rng.integers(0, 10, n)]
    return W1, 0.01 * rng.standard_normal(256), W2, 0.01 * rng.standard_normal(10), X, Y


def _bs_inputs(n):
    rng = np.random.default_rng(2)
    return (rng.uniform(50, 150, n), rng.uniform(50, 150, n), rng.uniform(0.1, 2.0, n), 0.03,
            rng.uniform(0.1, 0.5, n))


@dataclass
class Workload:
    name: str
    build: Callable            # build(ns) -> the function to differentiate
    hand: Callable             # the hand-written NumPy gradient
    make: Callable[[int], tuple]
    size: int
    argnums: int | tuple[int, ...]
    kind: str                  # "elementwise" or "blas"
    shape: str = ""            # how the size reads


WORKLOADS: list[Workload] = [
    Workload("logistic_regression", logistic_regression, logistic_regression_grad, _logreg_inputs,
             100_000, 0, "blas", "X 100000x100"),
    Workload("sin_exp", sin_exp, sin_exp_grad, lambda n: (np.random.default_rng(3).standard_normal(n),),
             10**6, 0, "elementwise", "1e6"),
    Workload("sin_exp", sin_exp, sin_exp_grad, lambda n: (np.random.default_rng(3).standard_normal(n),),
             10**7, 0, "elementwise", "1e7"),
    Workload("mlp", mlp, mlp_grad, _mlp_inputs, 10_000, (0, 1, 2, 3), "blas",
             "batch 10000, 784-256-10"),
    Workload("rosenbrock", rosenbrock, rosenbrock_grad,
             lambda n: (np.random.default_rng(4).standard_normal(n),), 10**6, 0, "elementwise", "1e6"),
    Workload("black_scholes", black_scholes, black_scholes_grad, _bs_inputs, 10**6, (0, 4),
             "elementwise", "1e6 (delta, vega)"),
]


# ============================================================================ implementations
def namespaces() -> dict[str, Any]:
    """The namespace each implementation's copy of a workload is built against (None where
    the library is not installed)."""
    import scipy.special
    out: dict[str, Any] = {"numpy": types.SimpleNamespace(np=np, erf=scipy.special.erf)}
    try:
        import autograd.numpy as anp
        import autograd.scipy.special as asp
        out["autograd"] = types.SimpleNamespace(np=anp, erf=asp.erf)
    except ImportError:
        out["autograd"] = None
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_platforms", "cpu")
        import jax.numpy as jnp
        import jax.scipy.special as jsp
        out["jax"] = types.SimpleNamespace(np=jnp, erf=jsp.erf)
    except ImportError:
        out["jax"] = None
    return out


def versions() -> dict[str, str]:
    out = {"numpy": np.__version__, "tracenp": tracenp.__version__}
    for name in ("autograd", "jax", "scipy"):
        try:
            from importlib.metadata import version
            out[name] = version(name)
        except Exception:
            out[name] = ""
    return out


def _autograd_grad(f: Callable, argnums: int | tuple[int, ...]) -> Callable:
    import autograd
    if isinstance(argnums, int):
        return autograd.grad(f, argnums)

    def packed(diff, *args):      # autograd differentiates one argument: pass a tuple
        full = list(args)
        for i, d in zip(argnums, diff):
            full.insert(i, d)
        return f(*full)
    g = autograd.grad(packed, 0)

    def run(*args):
        rest = [a for i, a in enumerate(args) if i not in argnums]
        return tuple(g(tuple(args[i] for i in argnums), *rest))
    return run


def _jax_grad(f: Callable, argnums: int | tuple[int, ...]) -> Callable:
    import jax
    jf = jax.jit(jax.grad(f, argnums))

    def run(*args):                    # NumPy arrays in and out
        return jax.tree_util.tree_map(np.asarray, jf(*args))
    return run


def make_impl(name: str, w: Workload, ns: dict) -> Callable | None:
    if name == "tracenp":
        return tracenp.grad(w.build(ns["numpy"]), argnums=w.argnums)
    if name == "hand":
        return w.hand
    if name == "autograd":
        return _autograd_grad(w.build(ns["autograd"]), w.argnums) if ns.get("autograd") else None
    if name == "jax":
        return _jax_grad(w.build(ns["jax"]), w.argnums) if ns.get("jax") else None
    return None


# ============================================================================ measuring
def agree(got: Any, want: Any) -> tuple[bool, float]:
    """np.allclose on every leaf (rtol 1e-6; atol relative to the leaf's scale), and the
    largest relative difference."""
    g = got if isinstance(got, tuple) else (got,)
    h = want if isinstance(want, tuple) else (want,)
    if len(g) != len(h):
        return False, math.inf
    ok, worst = True, 0.0
    for a, b in zip(g, h):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False, math.inf
        scale = float(np.max(np.abs(b))) or 1.0
        ok &= bool(np.allclose(a, b, rtol=1e-6, atol=1e-9 * scale))
        worst = max(worst, float(np.max(np.abs(a - b))) / scale)
    return ok, worst


def _settle(fns: dict[str, Callable], args: tuple, limit: float = 90.0) -> None:
    """Warm tracenp's compiled functions up to their steady state: with the numba kernel
    kind (where numba is installed) a fused region runs another kernel until it has spent
    the estimated compile time, then compiles in the background and switches.  Calls each
    until ``numba_kernel.settled(fn)`` (or ``limit`` seconds), then waits for compiles."""
    try:
        from tracenp.exec import numba_kernel
    except ImportError:
        return
    settled = getattr(numba_kernel, "settled", None)
    wait = getattr(numba_kernel, "wait_compiles", None)
    end = time.perf_counter() + limit
    for fn in fns.values():
        if not isinstance(fn, tracenp.CompiledFunction) or settled is None:
            continue
        while time.perf_counter() < end:
            if wait is not None:
                wait(60)
            if settled(fn):
                break
            fn(*args)
    if wait is not None:
        wait(120)


def time_rounds(fns: dict[str, Callable], args: tuple, budget: float, min_rounds: int = 9,
                max_rounds: int = 40) -> dict[str, list[float]]:
    """Seconds per call of each function, one per round; a round runs each once (in
    rotating order).  Warm-up: three calls each."""
    for _ in range(3):
        for fn in fns.values():
            fn(*args)
    _settle(fns, args)
    one = {}
    for k, fn in fns.items():
        t0 = time.perf_counter()
        fn(*args)
        one[k] = time.perf_counter() - t0
    rounds = int(min(max_rounds, max(min_rounds, budget / max(sum(one.values()), 1e-6))))
    names = list(fns)
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            t0 = time.perf_counter()
            fns[k](*args)
            times[k].append(time.perf_counter() - t0)
    return times


def first_call(fn: Callable, args: tuple) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def measure(w: Workload, ns: dict, budget: float, compiles: int) -> dict:
    args = w.make(w.size)
    row: dict[str, Any] = {"workload": w.name, "size": w.size, "shape": w.shape, "kind": w.kind,
                           "argnums": w.argnums, "times": {}, "errors": {}, "max_rel_diff": {},
                           "compile": {}}
    want = w.hand(*args)
    fns: dict[str, Callable] = {}
    for impl in IMPLS:
        if impl != "hand" and impl != "tracenp" and not ns.get(impl):
            row["errors"][impl] = "not installed"
            continue
        try:
            fn = make_impl(impl, w, ns)
            got = fn(*args)
        except Exception as e:
            row["errors"][impl] = f"{type(e).__name__}: {str(e).splitlines()[0]}"[:300]
            print(f"  {impl}: raised {row['errors'][impl]}", flush=True)
            continue
        ok, diff = agree(got, want)
        row["max_rel_diff"][impl] = diff
        if not ok:
            row["errors"][impl] = f"mismatch: largest difference {diff:.3g} of the gradient's scale"
            print(f"  {impl}: {row['errors'][impl]}", flush=True)
            continue
        fns[impl] = fn
    # context: the forward function, eager and compiled
    fwd = w.build(ns["numpy"])
    fns_all = dict(fns)
    fns_all["numpy_forward"] = fwd
    try:
        cf = tracenp.compile(fwd)
        cf(*args)
        fns_all["tracenp_forward"] = cf
    except Exception as e:     # pragma: no cover - the forward benchmarks cover this
        row["errors"]["tracenp_forward"] = f"{type(e).__name__}: {e}"[:300]
    rounds = time_rounds(fns_all, args, budget)
    row["times"] = {k: statistics.median(v) for k, v in rounds.items()}
    row["rounds"] = len(rounds["numpy_forward"])
    # tracenp / other, paired within a round (a load change hits both), then the median
    row["paired"] = {k: statistics.median(a / b for a, b in zip(rounds["tracenp"], rounds[k]))
                     for k in ("hand", "autograd", "jax") if "tracenp" in rounds and k in rounds}
    # compile time: first call of a fresh object minus a warm call
    if "tracenp" in fns and "tracenp_forward" in fns_all:
        f_first, g_first = [], []
        for _ in range(compiles):
            f_first.append(first_call(tracenp.compile(w.build(ns["numpy"])), args))
            g_first.append(first_call(make_impl("tracenp", w, ns), args))
        row["compile"]["tracenp_forward"] = max(0.0, statistics.median(f_first) - row["times"]["tracenp_forward"])
        row["compile"]["tracenp_grad"] = max(0.0, statistics.median(g_first) - row["times"]["tracenp"])
        row["compile"]["tracenp_forward_first"] = f_first
        row["compile"]["tracenp_grad_first"] = g_first
    if "jax" in fns:
        row["compile"]["jax"] = _jax_compile_seconds(w, ns, args)
    return row


def _jax_compile_seconds(w: Workload, ns: dict, args: tuple) -> float:
    """Trace, lower and compile a fresh ``jax.jit(jax.grad(f))`` ahead of time (what its
    first call adds; measured directly, as a difference of two calls drowns it in noise
    at 10^7 elements)."""
    import jax
    jf = jax.jit(jax.grad(w.build(ns["jax"]), w.argnums))
    t0 = time.perf_counter()
    jf.lower(*args).compile()
    return time.perf_counter() - t0


def merge_passes(rows: list[dict]) -> dict:
    """One row from several passes over a workload: every time, ratio and compile time is
    the median over the passes that have it; each pass's figures are kept under "passes"."""
    if len(rows) == 1:
        return rows[0]
    out = {k: v for k, v in rows[0].items() if k not in ("times", "paired", "compile", "errors",
                                                         "max_rel_diff", "rounds")}

    def med(key: str) -> dict:
        names = {k for r in rows for k, v in r.get(key, {}).items() if isinstance(v, (int, float))}
        return {k: statistics.median([r[key][k] for r in rows if isinstance(r.get(key, {}).get(k), (int, float))])
                for k in names}
    out["times"], out["paired"], out["compile"] = med("times"), med("paired"), med("compile")
    out["errors"] = {k: e for r in rows for k, e in r["errors"].items()}
    out["max_rel_diff"] = {k: max(r["max_rel_diff"].get(k, 0.0) for r in rows)
                           for k in rows[0]["max_rel_diff"]}
    out["rounds"] = sum(r.get("rounds", 0) for r in rows)
    out["passes"] = [{"times": r["times"], "paired": r.get("paired", {}),
                      "compile": {k: v for k, v in r["compile"].items() if isinstance(v, float)}}
                     for r in rows]
    return out


# ============================================================================ report
def ratios(row: dict) -> dict[str, float | None]:
    t = row["times"]
    tn = t.get("tracenp")
    paired = row.get("paired", {})
    out: dict[str, float | None] = {}
    for k in ("hand", "autograd", "jax"):
        out[k] = paired.get(k) or (tn / t[k] if tn and t.get(k) else None)
    c = row.get("compile", {})
    out["compile"] = (c["tracenp_grad"] / c["tracenp_forward"]
                      if c.get("tracenp_forward") and c.get("tracenp_grad") is not None else None)
    return out


def _gmean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x]
    return float(np.exp(np.mean(np.log(xs)))) if xs else None


def targets(rows: list[dict]) -> list[dict]:
    """The issue's acceptance targets, each with its measured value and whether it is met."""
    rs = [(r, ratios(r)) for r in rows]
    ran = {(r["workload"], r["size"]) for r in rows}
    not_run = [f"{w.name} {w.shape} (not run)" for w in WORKLOADS if (w.name, w.size) not in ran]
    elem = [q["autograd"] for r, q in rs if r["kind"] == "elementwise"]
    elem_missing = [f"{r['workload']} {r['shape']}" for r, q in rs
                    if r["kind"] == "elementwise" and q["autograd"] is None]
    elem_missing += [n for n in not_run if n.split()[0] in {w.name for w in WORKLOADS
                                                             if w.kind == "elementwise"}]
    speed = _gmean([1 / x for x in elem if x])
    out = [{"target": "elementwise workloads: geometric-mean speed-up over autograd >= 3x",
            "value": speed, "text": f"{speed:.2f}x" if speed else "—",
            "met": bool(speed and speed >= 3 and not elem_missing), "missing": elem_missing}]
    for r, q in rs:
        if r["kind"] == "blas":
            v = q["hand"]
            out.append({"target": f"{r['workload']}: time <= 1.1x the hand-written gradient",
                        "value": v, "text": f"{v:.2f}x" if v else "—", "met": bool(v and v <= 1.1),
                        "missing": [] if v else [r["workload"]]})
    vj = [q["jax"] for _, q in rs]
    jm = [f"{r['workload']} {r['shape']}" for r, q in rs if q["jax"] is None] + not_run
    g = _gmean(vj)
    out.append({"target": "geometric mean of tracenp / jax.jit(jax.grad) <= 1.0",
                "value": g, "text": f"{g:.2f}" if g else "—", "met": bool(g and g <= 1.0 and not jm),
                "missing": jm})
    cs = [(r, q["compile"]) for r, q in rs]
    worst = max((c for _, c in cs if c is not None), default=None)
    cm = [f"{r['workload']} {r['shape']}" for r, c in cs if c is None] + not_run
    out.append({"target": "compiling a gradient costs <= 2x compiling its forward function (each workload)",
                "value": worst, "text": f"worst {worst:.2f}x" if worst is not None else "—",
                "met": bool(worst is not None and worst <= 2 and not cm), "missing": cm})
    return out


def markdown_section(data: dict) -> list[str]:
    """The "Gradients" section of docs/benchmarks.md (also used by benchmarks/run.py)."""
    meta, rows = data["meta"], data["rows"]
    v = meta["versions"]
    missing = [p for p in PEERS if not v.get(p)]
    ms = lambda x: f"{x * 1e3:.1f}" if x else "—"
    fx = lambda x: f"{x:.2f}" if x else "—"
    lines = [SECTION, "",
             "Generated by `python benchmarks/autodiff.py` (do not edit by hand). "
             f"{meta['cpus']} cores, tracenp threads {meta['threads']}, kernel "
             f"`{meta['kernel']}`, {meta['date']}. "
             + ("The machine was shared with other jobs while this ran (load average "
                f"{meta['load_before']:.1f} before, {meta['load_after']:.1f} after), so times are noisy: "
                "each is a median over rounds that run every implementation once, in rotating order."
                if meta.get("shared", True) else "")
             + (f" Every figure is the median over {meta['passes']} passes over all workloads, "
                "run one after another." if meta.get("passes", 1) > 1 else ""),
             "", "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + ".",
             *([f"Not installed (skipped): {', '.join(missing)}."] if missing else []),
             "",
             "Times are medians in ms of one gradient call (NumPy arrays in and out). The ratios "
             "are tracenp's time over each other implementation's (below 1 = tracenp faster), "
             "taken within each round and then the median over rounds. "
             "*compile* = what the first call of a fresh function costs over a warm call, for "
             "tracenp's forward function (`tracenp.compile(f)`) and its gradient "
             "(`tracenp.grad(f)`): medians over fresh functions; *jax compile* = "
             "`jax.jit(jax.grad(f)).lower(*args).compile()`.", "",
             "| workload | size | tracenp | hand-written | autograd | jax | / hand | / autograd | "
             "/ jax | compile fwd | compile grad | grad / fwd | jax compile |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        t, c, q = r["times"], r.get("compile", {}), ratios(r)
        cell = lambda k: ms(t.get(k)) if t.get(k) else ("error" if k in r["errors"]
                                                          and r["errors"][k] != "not installed" else "—")
        lines.append(f"| {r['workload']} | {r['shape']} | {cell('tracenp')} | {cell('hand')} | "
                     f"{cell('autograd')} | {cell('jax')} | {fx(q['hand'])} | {fx(q['autograd'])} | "
                     f"{fx(q['jax'])} | {ms(c.get('tracenp_forward'))} | {ms(c.get('tracenp_grad'))} | "
                     f"{fx(q['compile'])} | {ms(c.get('jax'))} |")
    lines += ["", "For scale, the forward function alone (ms): "
              + "; ".join(f"{r['workload']} {r['shape']}: NumPy {ms(r['times'].get('numpy_forward'))}, "
                          f"tracenp {ms(r['times'].get('tracenp_forward'))}" for r in rows) + "."]
    errs = [(r, k, e) for r in rows for k, e in r["errors"].items() if e != "not installed"]
    if errs:
        lines += ["", "Failures (not timed):", ""]
        lines += [f"- {r['workload']} {r['shape']}, {LABELS.get(k, k)}: `{e}`" for r, k, e in errs]
    lines += ["", "### Targets", "", "| target | measured | met |", "|---|---:|---|"]
    for tg in data.get("targets") or targets(rows):
        extra = f" (no result: {', '.join(tg['missing'])})" if tg["missing"] else ""
        lines.append(f"| {tg['target']} | {tg['text']}{extra} | {'yes' if tg['met'] else 'no'} |")
    if data.get("notes"):
        lines += ["", "Notes:", ""] + [f"- {n}" for n in data["notes"]]
    if data.get("plot"):
        lines += ["", "![tracenp's gradient speed-up over each implementation](img/autodiff_speedup.png)"]
    return lines


def write_section(data: dict, page: Path) -> None:
    """Replace (or append) the Gradients section of ``page``; the rest stays as it is."""
    text = page.read_text() if page.exists() else "# Benchmarks\n"
    lines = text.rstrip("\n").split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    if start is not None:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        head, tail = lines[:start], lines[end:]
    else:
        head, tail = lines, []
    while head and not head[-1].strip():
        head.pop()
    out = head + [""] + markdown_section(data) + ([""] + tail if tail else [])
    page.write_text("\n".join(out) + "\n")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401  (matplotlib.ticker below)
    labels = [f"{r['workload']}\n{r['shape']}" for r in rows]
    peers = ["hand", "autograd", "jax"]
    fig, ax = plt.subplots(figsize=(11, 4.8))
    width = 0.8 / len(peers)
    for k, p in enumerate(peers):
        vals = []
        for r in rows:
            q = ratios(r)[p]
            vals.append(1 / q if q else 0)
        bars = ax.bar(np.arange(len(rows)) + k * width, vals, width, label=LABELS[p])
        for b, val in zip(bars, vals):
            if val:
                ax.annotate(f"{val:.2g}", (b.get_x() + b.get_width() / 2, val), ha="center",
                            va="bottom", fontsize=7)
            else:
                ax.annotate("n/a", (b.get_x() + b.get_width() / 2, 1), ha="center", va="bottom",
                            fontsize=7, rotation=90)
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_yscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xticks(np.arange(len(rows)) + width * (len(peers) - 1) / 2)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("speed-up of tracenp.grad (other / tracenp)")
    ax.set_title("Gradients: tracenp.grad against each implementation (above 1 = tracenp faster)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_or_not(rows: list[dict], page: Path) -> bool:
    try:
        plot(rows, page.parent / "img" / "autodiff_speedup.png")
        return True
    except ImportError:
        return False


def _print_row(row: dict) -> None:
    t = row["times"]
    q = ratios(row)
    c = row.get("compile", {})
    cells = " ".join(f"{k}={v * 1e3:.2f}ms" for k, v in t.items() if v)
    print(f"{row['workload']:20s} {row['shape']:>24s} {cells}\n    /hand={q['hand'] or 0:.2f} "
          f"/autograd={q['autograd'] or 0:.2f} /jax={q['jax'] or 0:.2f} "
          f"compile fwd={(c.get('tracenp_forward') or 0) * 1e3:.0f}ms "
          f"grad={(c.get('tracenp_grad') or 0) * 1e3:.0f}ms ratio={q['compile'] or 0:.2f} "
          f"jax={(c.get('jax') or 0) * 1e3:.0f}ms", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="workload names")
    ap.add_argument("--budget", type=float, default=4.0, help="seconds of timed rounds per workload")
    ap.add_argument("--compiles", type=int, default=3, help="fresh compiles per median")
    ap.add_argument("--passes", type=int, default=1,
                    help="measure every workload this many times, one pass after another, and "
                         "report the median over passes (steadier on a shared machine)")
    ap.add_argument("--out", default=str(HERE / "results" / "autodiff.json"))
    ap.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--no-docs", action="store_true", help="write the JSON only")
    ap.add_argument("--kernel", help="tracenp.config.kernel for the run (default: tracenp's own)")
    ap.add_argument("--note", action="append", default=[], help="a note for the page (repeatable)")
    ap.add_argument("--render-only", action="store_true",
                    help="no measuring: rewrite the plot and the page from the JSON (adding --note's)")
    args = ap.parse_args(argv)
    if args.render_only:
        data = json.loads(Path(args.out).read_text())
        data["notes"] = data.get("notes", []) + args.note
        data["targets"] = targets(data["rows"])
        data["plot"] = _plot_or_not(data["rows"], Path(args.docs))
        Path(args.out).write_text(json.dumps(data, indent=1, default=float))
        write_section(data, Path(args.docs))
        return 0
    if args.kernel:
        tracenp.config.kernel = args.kernel
    ns = namespaces()
    load_before = os.getloadavg()[0]
    chosen = [w for w in WORKLOADS if not args.only or w.name in args.only]
    passes: list[list[dict]] = []
    for k in range(args.passes):
        passes.append([])
        for w in chosen:
            print(f"[pass {k + 1}/{args.passes}] {w.name} {w.shape} ...", flush=True)
            row = measure(w, ns, args.budget, args.compiles)
            passes[-1].append(row)
            _print_row(row)
    rows = [merge_passes([p[i] for p in passes]) for i in range(len(chosen))]
    if args.passes > 1:
        print("median over passes:")
        for row in rows:
            _print_row(row)
    v = versions()
    meta = {"versions": v, "cpus": os.cpu_count(), "threads": tracenp.config.threads,
            "kernel": tracenp.config.kernel, "date": time.strftime("%Y-%m-%d"),
            "load_before": load_before, "load_after": os.getloadavg()[0], "shared": True,
            "passes": args.passes}
    data = {"meta": meta, "rows": rows, "targets": targets(rows), "notes": args.note}
    for tg in data["targets"]:
        print(f"{'MET ' if tg['met'] else 'MISS'} {tg['target']}: {tg['text']}"
              + (f" (no result: {', '.join(tg['missing'])})" if tg["missing"] else ""))
    if not args.no_docs:
        data["plot"] = _plot_or_not(rows, Path(args.docs))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(data, indent=1, default=float))
    if not args.no_docs:
        write_section(data, Path(args.docs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
