"""CPU benchmarks: tracenp against eager NumPy and the peers, side by side, in one run.

    python benchmarks/run.py                     # all workloads, sizes 1e3..1e7
    python benchmarks/run.py --sizes 1e6 --only logistic polynomial --no-memory

Reports, per workload and size: the time of each implementation (the least of its
rounds' medians), tracenp's ratio to NumPy and to the best peer (numexpr, numba parallel, jax.jit on CPU), the ratio to the
bandwidth floor (bytes in + out over a measured copy bandwidth), and the peak memory of
one call of each implementation at the largest size, measured in a separate process.
Peers that are not installed are skipped, and the table says so.  Writes
``benchmarks/results/cpu.json``, ``docs/benchmarks.md`` and ``docs/img/cpu_speedup.png``;
the page's last section, "Gradients", is ``benchmarks/autodiff.py``'s, rendered again from
``benchmarks/results/autodiff.json``.

Compile time counts: every implementation's first call (tracing and planning for tracenp,
compiling for numba and jax) is timed and reported.  tracenp runs with
``config.kernel = "auto"``: a region its cost model gives to numba runs another kernel
until it has paid its compile time in rent, then compiles in the background; tracenp is
therefore called until its kernels are settled (at most ``--settle`` seconds, reported as
the warm-up) before it is timed.  numba's on-disk cache starts empty (a fresh
``TRACENP_CACHE_DIR``) unless ``--keep-cache``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# numba's peer kernels run on numba's "workqueue" threading layer unless told otherwise:
# with libgomp ("omp") a parallel launch cost about 8 ms on the 2-core benchmark machine
# (its workers' wake-up), which would understate numba (tracenp's own numba kernels do
# not use numba's threading layer: they run on tracenp's pool)
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from workloads import WORKLOADS, jax_kernels, numba_kernels  # noqa: E402

import tracenp  # noqa: E402

IMPLS = ["numpy", "tracenp", "numexpr", "numba", "jax"]
PEERS = ["numexpr", "numba", "jax"]
# Every implementation is timed in each of ROUNDS alternating rounds (the least of the
# rounds' medians), so a change of the machine's state during a cell (its load, the pages
# of fresh inputs) hits all of them alike instead of whichever ran first.  jax's and numba's
# thread pools spin for a while after a call: a pause follows each implementation's turn.
# (Five rounds of 0.1 s each, the least of their medians: on the shared 2-core machine the
# same call's median moves by 30-50% from one minute to the next (gelu_f32 1e6, tracenp
# alone: 0.32 to 0.45 ms; jax: 0.30 to 0.57), and a cell's ratio to the best peer moved by
# up to 40% between runs taking the median of three rounds of 0.08 s.)  Each round starts
# with the next implementation: which one ran just before moves the next one's time on
# this machine (log1p_exp at 10^4, eager NumPy and tracenp alternating with pauses: 12.1
# against 13.0-13.5 us; alternating with three other functions: 12.4-12.7 against 12.5-12.7).
ROUNDS = 5
PAUSE = 0.05


def available() -> dict[str, str]:
    out = {}
    for name, mod in [("numexpr", "numexpr"), ("numba", "numba"), ("jax", "jax")]:
        try:
            m = __import__(mod)
            out[name] = getattr(m, "__version__", "?")
        except ImportError:
            out[name] = ""
    out["numpy"] = np.__version__
    out["tracenp"] = tracenp.__version__
    return out


def make_impl(name: str, w, peers: dict) -> object | None:
    if name == "numpy":
        return w.numpy
    if name == "tracenp":
        return tracenp.compile(w.numpy)
    if name == "numexpr":
        if not w.numexpr or not peers.get("numexpr"):
            return None
        import numexpr as ne
        names = w.numexpr_names
        if w.numexpr_reduce:
            def run(*args):
                return ne.evaluate(w.numexpr, local_dict=dict(zip(names, args)))[()] / (
                    args[0].size if w.name == "mse" else 1)
            if w.name == "mse":
                return run
            return lambda *args: ne.evaluate(w.numexpr, local_dict=dict(zip(names, args)))[()]
        return lambda *args: ne.evaluate(w.numexpr, local_dict=dict(zip(names, args)))
    if name == "numba":
        return peers["_numba"].get(w.name) if peers.get("numba") else None
    if name == "jax":
        return peers["_jax"].get(w.name) if peers.get("jax") else None
    return None


def nbytes(args, result) -> int:
    total = 0
    for a in list(args) + (list(result) if isinstance(result, tuple) else [result]):
        if isinstance(a, np.ndarray):
            total += a.nbytes
    return total


def warm_up(impl: str, fn, args, settle: float = 10.0) -> dict:
    """The first call's time; for tracenp, calls until its kernels are settled (numba
    kernels compiled, or declined), with their count and seconds."""
    t0 = time.perf_counter()
    fn(*args)
    out = {"first": time.perf_counter() - t0, "warm_calls": 0, "warm_seconds": 0.0}
    if impl == "tracenp":
        from tracenp.exec import numba_kernel
        t0 = time.perf_counter()
        while not numba_kernel.settled(fn) and time.perf_counter() - t0 < settle:
            fn(*args)
            out["warm_calls"] += 1
        out["warm_seconds"] = time.perf_counter() - t0
        out["settled"] = numba_kernel.settled(fn)
        out["kernels"] = kernels_used(fn)
    return out


def kernels_used(fn) -> list[str]:
    """The kernel kind of each fused region of a compiled function's plans (a numba region
    whose kernel never ran is listed as its fallback)."""
    from tracenp.exec.kernels import choose_kernel, fallback_kernel
    from tracenp.exec.numba_kernel import numba_program
    from tracenp.optimize.fusion import FusedOp
    kinds = []
    for plan in getattr(fn, "_cache", {}).values():
        for node in getattr(getattr(plan, "graph", None), "nodes", ()):
            if node.op.name == "rowwise":
                rows = getattr(node.params, "_program", None)
                segs = getattr(rows, "_segments", None) or ()
                kinds.append("rowwise+numba segments" if any(s.prog.kernels for s in segs)
                             else "rowwise")
            elif isinstance(node.op, FusedOp) or node.op.name == "fused_into":
                region = node.params if isinstance(node.op, FusedOp) else node.params.region
                kind = choose_kernel(region)
                if kind == "numba" and not numba_program(region).calls:
                    kind = fallback_kernel(region)
                blocked = getattr(region, "_program", None)
                if kind == "blocked" and any(s.prog.kernels for s in
                                             getattr(blocked, "_segments", None) or ()):
                    kind = "blocked+numba segments"
                kinds.append(kind)
    return kinds


def timeit(fn, args, budget: float = 0.25) -> float:
    fn(*args)                         # warm-up (compiles)
    t0 = time.perf_counter()
    fn(*args)
    one = time.perf_counter() - t0
    reps = int(min(50, max(5, budget / max(one, 1e-7))))
    if one < 1e-4:
        inner = int(min(2000, max(1, 1e-3 / max(one, 1e-7))))
    else:
        inner = 1
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn(*args)
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def copy_bandwidth() -> float:
    src = np.ones(10_000_000)
    dst = np.empty_like(src)
    best = min(_t(lambda: np.copyto(dst, src)) for _ in range(7))
    return 2 * src.nbytes / best


def _t(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


# ------------------------------------------------------------------ peak memory (subprocess)
_MEM_CHILD = r"""
import sys, json, resource
sys.path.insert(0, {here!r}); sys.path.insert(0, {root!r})
import numpy as np
from workloads import WORKLOADS, numba_kernels, jax_kernels
import run as R
w = [w for w in WORKLOADS if w.name == {name!r}][0]
peers = R.available()
if {impl!r} == "numba": peers["_numba"] = numba_kernels()
if {impl!r} == "jax": peers["_jax"] = jax_kernels()
fn = R.make_impl({impl!r}, w, peers)
args = w.make({size})
R.warm_up({impl!r}, fn, args); fn(*args)
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"): return int(line.split()[1]) * 1024
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"): return int(line.split()[1]) * 1024
open("/proc/self/clear_refs", "w").write("5")
base = rss()
out = fn(*args)
print(json.dumps({{"peak": hwm() - base}}))
"""


def peak_memory(name: str, impl: str, size: int) -> int | None:
    code = _MEM_CHILD.format(here=str(HERE), root=str(ROOT), name=name, impl=impl, size=size)
    try:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=300, cwd=str(HERE))
        return json.loads(res.stdout.strip().splitlines()[-1])["peak"]
    except Exception:
        return None


# ------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="*", type=float, default=[1e3, 1e4, 1e5, 1e6, 1e7])
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results" / "cpu.json"))
    ap.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--settle", type=float, default=10.0,
                    help="at most this many seconds of tracenp warm-up per workload and size")
    ap.add_argument("--keep-cache", action="store_true",
                    help="keep numba's on-disk cache of tracenp kernels (default: a fresh one)")
    args = ap.parse_args(argv)
    if not args.keep_cache:
        import tempfile
        os.environ["TRACENP_CACHE_DIR"] = tempfile.mkdtemp(prefix="tracenp-bench-")
    peers = available()
    if peers.get("numba"):
        peers["_numba"] = numba_kernels()
    if peers.get("jax"):
        peers["_jax"] = jax_kernels()
    bw = copy_bandwidth()
    sizes = [int(s) for s in args.sizes]
    rows = []
    for w in WORKLOADS:
        if args.only and w.name not in args.only:
            continue
        for n in sizes:
            inputs = w.make(n)
            row = {"workload": w.name, "size": n, "times": {}, "notes": w.notes}
            result = None
            fns = {}
            for impl in IMPLS:
                fn = make_impl(impl, w, peers)
                if fn is None:
                    continue
                try:
                    row.setdefault("warmup", {})[impl] = warm_up(impl, fn, inputs, args.settle)
                    if impl == "numpy":
                        result = fn(*inputs)
                    fns[impl] = fn
                except Exception as e:  # a peer that cannot run this workload
                    _failed(row, impl, e)
            rounds: dict = {k: [] for k in fns}
            order = list(fns.items())
            for r in range(ROUNDS):
                for impl, fn in order[r % len(order):] + order[:r % len(order)]:
                    if impl in row.get("errors", {}):
                        continue
                    try:
                        rounds[impl].append(timeit(fn, inputs, 0.5 / ROUNDS))
                    except Exception as e:
                        _failed(row, impl, e)
                    time.sleep(PAUSE)
            for impl in fns:
                if impl not in row.get("errors", {}):
                    row["times"][impl] = min(rounds[impl])
            row["floor"] = nbytes(inputs, result) / bw
            rows.append(row)
            _print_row(row)
    if not args.no_memory:
        big = max(sizes)
        for w in WORKLOADS:
            if args.only and w.name not in args.only:
                continue
            row = [r for r in rows if r["workload"] == w.name and r["size"] == big][0]
            row["peak"] = {impl: peak_memory(w.name, impl, big) for impl in row["times"]
                           if row["times"][impl] is not None}
            print(w.name, "peak MB", {k: (v or 0) / 1e6 for k, v in row["peak"].items()})
    meta = {"versions": {k: v for k, v in peers.items() if not k.startswith("_")},
            "copy_bandwidth_GBps": bw / 1e9, "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d"), "threads": tracenp.config.threads,
            "numba_threading_layer": os.environ.get("NUMBA_THREADING_LAYER", "default")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    write_report({"meta": meta, "rows": rows}, Path(args.docs))
    return 0


def _failed(row: dict, impl: str, e: Exception) -> None:
    row["times"][impl] = None
    row.setdefault("errors", {})[impl] = f"{type(e).__name__}: {e}"[:120]


def _ratios(row):
    t = row["times"]
    tn, tp = t.get("tracenp"), t.get("numpy")
    peers = [t[p] for p in PEERS if t.get(p)]
    best = min(peers) if peers else None
    return (tp / tn if tn and tp else None, tn / best if tn and best else None,
            tn / row["floor"] if tn and row.get("floor") else None)


def _print_row(row):
    t = row["times"]
    sp, vs_peer, vs_floor = _ratios(row)
    cells = " ".join(f"{k}={v * 1e3:.3f}ms" for k, v in t.items() if v)
    print(f"{row['workload']:16s} {row['size']:>9d} {cells}  speedup={sp or 0:.2f} "
          f"vs_best_peer={vs_peer or 0:.2f} vs_floor={vs_floor or 0:.2f}", flush=True)


def write_report(data: dict, path: Path) -> None:
    meta, rows = data["meta"], data["rows"]
    v = meta["versions"]
    missing = [p for p in PEERS if not v.get(p)]
    lines = ["# Benchmarks", "",
             "Generated by `python benchmarks/run.py` (do not edit by hand). "
             f"{meta['cpus']} cores, tracenp threads {meta['threads']}, copy bandwidth "
             f"{meta['copy_bandwidth_GBps']:.1f} GB/s, {meta['date']}.",
             "", "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + ".",
             ("Not installed (skipped): " + ", ".join(missing) + ".") if missing else "",
             "", "Times are in ms. *speed-up* = NumPy / tracenp; *vs best peer* = "
             "tracenp / fastest of numexpr, numba, jax (below 1 = tracenp faster); *vs floor* = "
             "tracenp / (bytes in + out over the copy bandwidth). Every implementation is timed in "
             f"{ROUNDS} alternating rounds, each round starting with the next implementation "
             "(the least of the rounds' medians: the machine's noise only adds time), each after its "
             "warm-up (below); numba's peer kernels run on "
             f"numba's `{meta.get('numba_threading_layer', '?')}` threading layer.", "",
             "| workload | size | numpy | numexpr | numba | jax | tracenp | speed-up | vs best peer | vs floor |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        t = r["times"]
        sp, vp, vf = _ratios(r)
        cell = lambda k: f"{t[k] * 1e3:.3f}" if t.get(k) else "—"
        fmt = lambda x: f"{x:.2f}" if x else "—"
        lines.append(f"| {r['workload']} | {r['size']:.0e} | {cell('numpy')} | {cell('numexpr')} | "
                     f"{cell('numba')} | {cell('jax')} | {cell('tracenp')} | {fmt(sp)} | {fmt(vp)} | {fmt(vf)} |")
    big = [r for r in rows if r.get("peak")]
    if big:
        lines += ["", f"Peak memory of one call (MB, extra over the inputs, separate process) at "
                  f"{big[0]['size']:.0e} elements:", "",
                  "| workload | numpy | numexpr | numba | jax | tracenp |", "|---|---:|---:|---:|---:|---:|"]
        for r in big:
            p = r["peak"]
            c = lambda k: f"{p[k] / 1e6:.1f}" if p.get(k) is not None else "—"
            lines.append(f"| {r['workload']} | {c('numpy')} | {c('numexpr')} | {c('numba')} | {c('jax')} | {c('tracenp')} |")
    lines += _warmup_table(rows)
    summary = _summary(rows)
    lines += ["", "## Summary", ""] + summary
    notes = {r["workload"]: r["notes"] for r in rows if r.get("notes")}
    if notes:
        lines += ["", "Notes: " + "; ".join(f"{k}: {v}" for k, v in notes.items()) + "."]
    try:
        plot(rows, path.parent / "img" / "cpu_speedup.png")
        lines += ["", "![speed-up over NumPy](img/cpu_speedup.png)"]
    except ImportError:
        lines += ["", "(matplotlib not installed: no plot)"]
    lines += _gradients_section()
    path.write_text("\n".join(lines) + "\n")


def _gradients_section() -> list[str]:
    """The page's "Gradients" section, written by benchmarks/autodiff.py: rendered again
    from its results (benchmarks/results/autodiff.json), so regenerating the page keeps it."""
    results = HERE / "results" / "autodiff.json"
    if not results.exists():
        return []
    from autodiff import markdown_section     # benchmarks/autodiff.py
    return [""] + markdown_section(json.loads(results.read_text()))


def _warmup_table(rows) -> list[str]:
    """First calls (compile time) and tracenp's warm-up, per workload."""
    names = list(dict.fromkeys(r["workload"] for r in rows))
    if not any(r.get("warmup") for r in rows):
        return []
    mid = 10**6 if any(r["size"] == 10**6 for r in rows) else max(r["size"] for r in rows)
    out = ["", "Compile time: first calls (ms) and tracenp's warm-up. tracenp's first call traces "
           "and plans; regions given to numba then run another kernel until their rent reaches "
           "the compile estimate, and compile in the background: *warm-up* is the seconds "
           "(calls) until settled, over all sizes, from an empty numba cache. *kernels* are "
           f"tracenp's fused regions at {mid:.0e}. numba's first call is its largest (its "
           f"compile); jax's is at {mid:.0e} (jax compiles per shape).", "",
           "| workload | tracenp first call | tracenp warm-up | kernels | numba first call | jax first call |",
           "|---|---:|---:|---|---:|---:|"]
    for name in names:
        rs = [r for r in rows if r["workload"] == name and r.get("warmup")]
        at = [r for r in rs if r["size"] == mid]
        w = at[0]["warmup"] if at else {}
        tn = w.get("tracenp", {})
        warm_s = sum(r["warmup"].get("tracenp", {}).get("warm_seconds", 0) for r in rs)
        warm_n = sum(r["warmup"].get("tracenp", {}).get("warm_calls", 0) for r in rs)
        nb = max((r["warmup"]["numba"]["first"] for r in rs if "numba" in r["warmup"]), default=None)
        jx = w.get("jax", {}).get("first")
        ms = lambda x: f"{x * 1e3:.0f}" if x is not None else "—"   # noqa: E731
        out.append(f"| {name} | {ms(tn.get('first'))} | {warm_s:.2f} s ({warm_n}) | "
                   f"{', '.join(tn.get('kernels', [])) or 'none'} | {ms(nb)} | {ms(jx)} |")
    return out


def _summary(rows) -> list[str]:
    out = []
    for sizes in ([10**6, 10**7], [10**3, 10**4, 10**5]):
        sel = [r for r in rows if r["size"] in sizes]
        sp = [s for s, _, _ in map(_ratios, sel) if s]
        vp = [v for _, v, _ in map(_ratios, sel) if v]
        if sp:
            gm = float(np.exp(np.mean(np.log(sp))))
            line = f"- sizes {', '.join(f'{s:.0e}' for s in sizes)}: geometric-mean speed-up over NumPy {gm:.2f}x"
            if vp:
                line += (f"; geometric mean of tracenp / best peer {float(np.exp(np.mean(np.log(vp)))):.2f}, "
                         f"worst {max(vp):.2f}")
            out.append(line + ".")
    return out


def plot(rows, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = sorted({r["workload"] for r in rows})
    sizes = sorted({r["size"] for r in rows})
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(1, len(sizes))
    for k, n in enumerate(sizes):
        vals = []
        for name in names:
            r = [r for r in rows if r["workload"] == name and r["size"] == n]
            vals.append((_ratios(r[0])[0] or 0) if r else 0)
        ax.bar(np.arange(len(names)) + k * width, vals, width, label=f"{n:.0e}")
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xticks(np.arange(len(names)) + width * (len(sizes) - 1) / 2)
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel("speed-up over eager NumPy")
    ax.legend(title="elements")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
