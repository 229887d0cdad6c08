"""CPU benchmarks: tracenp against eager NumPy and the peers, side by side, in one run.

    python benchmarks/run.py                     # all workloads, sizes 1e3..1e7
    python benchmarks/run.py --sizes 1e6 --only logistic polynomial --no-memory

Reports, per workload and size: the median time of each implementation, tracenp's ratio
to NumPy and to the best peer (numexpr, numba parallel, jax.jit on CPU), the ratio to the
bandwidth floor (bytes in + out over a measured copy bandwidth), and the peak memory of
one call of each implementation at the largest size, measured in a separate process.
Peers that are not installed are skipped, and the table says so.  Writes
``benchmarks/results/cpu.json``, ``docs/benchmarks.md`` and ``docs/img/cpu_speedup.png``.
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from workloads import WORKLOADS, jax_kernels, numba_kernels  # noqa: E402

import tracenp  # noqa: E402

IMPLS = ["numpy", "tracenp", "numexpr", "numba", "jax"]   # peers with thread pools last
PEERS = ["numexpr", "numba", "jax"]


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
fn(*args); fn(*args)
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
    ap.add_argument("--sizes", nargs="*", type=float, default=[1e3, 1e5, 1e6, 1e7])
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results" / "cpu.json"))
    ap.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args(argv)
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
            for impl in IMPLS:
                fn = make_impl(impl, w, peers)
                if fn is None:
                    continue
                try:
                    row["times"][impl] = timeit(fn, inputs)
                    if impl == "numpy":
                        result = fn(*inputs)
                except Exception as e:  # a peer that cannot run this workload
                    row["times"][impl] = None
                    row.setdefault("errors", {})[impl] = f"{type(e).__name__}: {e}"[:120]
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
            "date": time.strftime("%Y-%m-%d"), "threads": tracenp.config.threads}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    write_report({"meta": meta, "rows": rows}, Path(args.docs))
    return 0


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
             "", "Times are medians in ms. *speed-up* = NumPy / tracenp; *vs best peer* = "
             "tracenp / fastest of numexpr, numba, jax (below 1 = tracenp faster); *vs floor* = "
             "tracenp / (bytes in + out over the copy bandwidth).", "",
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
    path.write_text("\n".join(lines) + "\n")


def _summary(rows) -> list[str]:
    out = []
    for sizes in ([10**6, 10**7], [10**3, 10**5]):
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
