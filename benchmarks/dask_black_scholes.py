"""Black-Scholes on dask arrays: tracenp's dask backend against dask's op-by-op graph.

    python benchmarks/dask_black_scholes.py                    # 10^8 elements, chunks of 10^7
    python benchmarks/dask_black_scholes.py --n 1e7 --chunk 1e6 --runs 3 --no-memory

Both implementations call the same NumPy function on the same dask arrays: dask runs it
op by op (one task per op and chunk, its own NumPy API), ``tracenp.compile`` runs it as
one fused kernel per chunk (plus dask's graph around it).  Both are ``.compute()``-d on
dask's threaded scheduler (all cores).

* time: the median of ``--runs`` computes of both outputs (call and put), the inputs
  already in memory (generated once with ``da.random`` and persisted), after one warm-up
  compute; and the time to build the graph (tracenp's first call includes its trace).
* peak memory: one process per implementation generates its inputs lazily (``da.random``
  in the same graph), computes both outputs once with ``da.store`` into two arrays it
  allocated before, and reports its peak resident memory (VmHWM after resetting it, as
  benchmarks/run.py; ``ru_maxrss`` where /proc is not available) minus what it held
  before computing: the working memory of the computation, without the results.

Two variants: ``erf`` (scipy.special.erf, the repo's CPU benchmark workload) and
``polynomial`` (the Abramowitz-Stegun normal CDF in plain NumPy, tests/programs).
Writes benchmarks/results/dask.json and the results table of docs/dask.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
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

import dask  # noqa: E402
import dask.array as da  # noqa: E402

import tracenp  # noqa: E402
from tests.programs.black_scholes import program as bs_polynomial  # noqa: E402
from workloads import black_scholes as bs_erf  # noqa: E402

VARIANTS = {"erf": bs_erf, "polynomial": bs_polynomial}
IMPLS = ("dask", "tracenp")
R, SIGMA = 0.03, 0.25
DOC = ROOT / "docs" / "dask.md"
START, END = "<!-- dask-bench:start -->", "<!-- dask-bench:end -->"


def inputs(n: int, chunk: int, seed: int = 0):
    rng = da.random.default_rng(seed)
    return (rng.uniform(50, 150, n, chunks=chunk), rng.uniform(60, 140, n, chunks=chunk),
            rng.uniform(0.1, 2.0, n, chunks=chunk))


def impl(name: str, variant: str):
    fn = VARIANTS[variant]
    return tracenp.compile(fn) if name == "tracenp" else fn


def time_variant(variant: str, n: int, chunk: int, runs: int) -> dict:
    S, K, T = dask.persist(*inputs(n, chunk), scheduler="threads")
    inputs_keys = set().union(*(dict(a.__dask_graph__()) for a in (S, K, T)))
    out, graphs = {}, {}
    for name in IMPLS:
        fn = impl(name, variant)
        t0 = time.perf_counter()
        fn(S, K, T, R, SIGMA)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        call, put = graphs[name] = fn(S, K, T, R, SIGMA)
        build = time.perf_counter() - t0
        keys = set(dict(call.__dask_graph__())) | set(dict(put.__dask_graph__()))
        out[name] = {"times_s": [], "first_call_s": first, "graph_build_s": build,
                     "tasks": len(keys - inputs_keys)}
        dask.compute(call, put, scheduler="threads")           # warm-up
    # interleaved (dask, tracenp, tracenp, dask, ...): both see the same machine load
    for i in range(runs):
        for name in (IMPLS if i % 2 == 0 else IMPLS[::-1]):
            t0 = time.perf_counter()
            c, p = dask.compute(*graphs[name], scheduler="threads")
            out[name]["times_s"].append(time.perf_counter() - t0)
            del c, p
    for name in IMPLS:
        r = out[name]
        r["median_s"] = statistics.median(r["times_s"])
        print(f"  {variant:10s} {name:8s} median {r['median_s']:7.3f} s  (runs "
              f"{', '.join(f'{t:.3f}' for t in r['times_s'])}; first call "
              f"{r['first_call_s'] * 1e3:.1f} ms, {r['tasks']} tasks)", flush=True)
    del S, K, T, graphs
    return out


def _status(field: str) -> int | None:
    try:
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak() -> int:
    """Resident memory now; the peak restarts from here where Linux allows it (as
    benchmarks/run.py does), else ``ru_maxrss`` (the peak since the process started)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _peak() -> int:
    hwm = _status("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(variant: str, name: str, n: int, chunk: int) -> None:
    """One implementation in a fresh process: peak memory of one end-to-end compute."""
    fn = impl(name, variant)
    # warm the code paths on a small problem (compile caches, thread pools)
    dask.compute(*fn(*inputs(4 * 10**4, 10**4), R, SIGMA), scheduler="threads")
    call, put = fn(*inputs(n, chunk), R, SIGMA)
    # the results go into arrays allocated (and touched) beforehand: what is measured is
    # the working memory of the computation (chunks of inputs, temporaries, results in
    # flight), not the results themselves, which are the same for both
    c, p = np.ones(n), np.ones(n)
    base = _reset_peak()
    t0 = time.perf_counter()
    da.store([call, put], [c, p], scheduler="threads", lock=False)
    elapsed = time.perf_counter() - t0
    peak = _peak()
    print(json.dumps({"peak_bytes": peak, "before_bytes": base, "delta_bytes": peak - base,
                      "end_to_end_s": elapsed, "check": float(c[:10].sum() + p[:10].sum())}))


def peak_memory(variant: str, name: str, n: int, chunk: int) -> dict | None:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", variant, name,
           "--n", str(n), "--chunk", str(chunk)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=str(ROOT))
        return json.loads(res.stdout.strip().splitlines()[-1])
    except Exception as e:  # pragma: no cover
        print(f"  memory child failed: {e}", file=sys.stderr)
        return None


def table(results: dict) -> str:
    env = results["environment"]
    lines = [
        f"Black-Scholes (call and put) on {_count(results['n'])} float64 elements in chunks of "
        f"{_count(results['chunk'])}, `dask.compute` on the threaded scheduler, "
        f"{env['cpus']} cores, dask {env['dask']}, NumPy {env['numpy']}. Time: median of "
        f"{results['runs']} computes of both outputs (interleaved), inputs in memory. Peak "
        f"memory: the working memory of one end-to-end run in a fresh process (inputs "
        f"generated in the graph, results stored into arrays allocated before)."
        + _load_note(env),
        "",
        "| variant | dask op by op | tracenp | speed-up | tasks (dask / tracenp) | "
        "peak memory (dask / tracenp) | tracenp first call (trace) |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, r in results["variants"].items():
        d, t = r["dask"], r["tracenp"]
        mem = r.get("memory") or {}
        md, mt = mem.get("dask"), mem.get("tracenp")
        mem_s = (f"{md['delta_bytes'] / 2**30:.2f} GiB / {mt['delta_bytes'] / 2**30:.2f} GiB"
                 if md and mt else "not measured")
        lines.append(
            f"| {variant} | {d['median_s']:.2f} s | {t['median_s']:.2f} s | "
            f"{d['median_s'] / t['median_s']:.2f}x | {d['tasks']} / {t['tasks']} | {mem_s} | "
            f"{t['first_call_s'] * 1e3:.0f} ms |")
    return "\n".join(lines)


def _count(n: int) -> str:
    k = len(str(n)) - 1
    return f"10^{k}" if n == 10 ** k else f"{n:,}"


def _load_note(env: dict) -> str:
    before, after = env.get("load_average"), env.get("load_average_after")
    if not before or not after:
        return ""
    high = max(before[0], after[0])
    note = f" The 1-minute load average was {before[0]:.1f} before and {after[0]:.1f} after the run"
    if high > env["cpus"]:
        note += (" (other jobs shared the cores: expect the times, and their ratios, to "
                 "vary from run to run)")
    return note + "."


def write_doc(results: dict) -> None:
    if not DOC.exists():
        return
    text = DOC.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{table(results)}\n{END}{tail}", encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=float, default=1e8)
    ap.add_argument("--chunk", type=float, default=1e7)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", nargs="*", choices=sorted(VARIANTS))
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results" / "dask.json"))
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("VARIANT", "IMPL"))
    ap.add_argument("--doc-only", action="store_true",
                    help="rewrite the table of docs/dask.md from --out, run nothing")
    a = ap.parse_args(argv)
    n, chunk = int(a.n), int(a.chunk)
    if a.doc_only:
        write_doc(json.loads(Path(a.out).read_text(encoding="utf-8")))
        return 0
    if a.child:
        child(a.child[0], a.child[1], n, chunk)
        return 0
    results = {
        "n": n, "chunk": chunk, "runs": a.runs, "scheduler": "threads",
        "environment": {"cpus": os.cpu_count(), "dask": dask.__version__,
                        "numpy": np.__version__, "tracenp": tracenp.__version__,
                        "python": platform.python_version(),
                        "load_average": os.getloadavg()},
        "variants": {},
    }
    for variant in a.only or VARIANTS:
        print(f"{variant}: timing", flush=True)
        r = results["variants"][variant] = time_variant(variant, n, chunk, a.runs)
        if not a.no_memory:
            r["memory"] = {}
            for name in IMPLS:
                m = r["memory"][name] = peak_memory(variant, name, n, chunk)
                if m:
                    print(f"  {variant:10s} {name:8s} peak +{m['delta_bytes'] / 2**30:.2f} GiB "
                          f"(end to end {m['end_to_end_s']:.2f} s)", flush=True)
    results["environment"]["load_average_after"] = os.getloadavg()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    if not a.no_doc:
        write_doc(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
