"""GPU benchmarks: tracenp's CuPy backend against eager CuPy, ``cupy.fuse`` and ``jax.jit``.

    python benchmarks/gpu.py [--sizes 1e6,1e7,1e8] [--dtypes float32,float64] [--repeat 10]
                             [--only logistic,mse] [--json benchmarks/results/gpu.json]

The workloads are the CPU suite's (``benchmarks/workloads.py``), each the same plain NumPy
function: tracenp compiles it unchanged and it is called with CuPy arrays; eager CuPy
runs it op by op (the NumPy function called on CuPy arrays: NumPy hands every call to
CuPy); ``cupy.fuse`` fuses it with CuPy's own tracer; ``jax.jit`` runs the suite's JAX
version where JAX sees a GPU.  Times are medians of ``--repeat`` calls after warm-up
(compiles excluded; the first call's time is reported apart), the device synchronized
around each call.  The floor is the time to read every input and write every output once
at the device's measured copy bandwidth.

Without a GPU (no CuPy, no driver, no device) it prints that it was skipped and why, and
exits 0.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)


def _skip_reason() -> str | None:
    from tracenp.exec.cupy_backend import device_status
    ok, why = device_status()
    return None if ok else why


def _sync():
    import cupy
    cupy.cuda.Device().synchronize()


def _time(fn, args, repeat: int, sync) -> tuple[float, float]:
    """(first call, median of ``repeat`` later calls) in seconds."""
    sync()
    t0 = time.perf_counter()
    fn(*args)
    sync()
    first = time.perf_counter() - t0
    fn(*args)
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        sync()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def _bandwidth() -> float:
    """The device's copy bandwidth (bytes read + written per second)."""
    import cupy
    x = cupy.ones(1 << 28, dtype=cupy.float32)      # 1 GiB
    y = cupy.empty_like(x)
    _, t = _time(lambda: cupy.copyto(y, x), (), 10, _sync)
    return 2 * x.nbytes / t


def _cast(args: tuple, dtype) -> tuple:
    return tuple(a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
                 for a in args)


def _nbytes(args, out) -> int:
    leaves = list(args) + (list(out) if isinstance(out, tuple) else [out])
    return sum(getattr(x, "nbytes", 0) for x in leaves)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1e6,1e7,1e8")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--only", default="")
    p.add_argument("--json", default=os.path.join(HERE, "results", "gpu.json"))
    args = p.parse_args(argv)
    why = _skip_reason()
    if why is not None:
        print(f"benchmarks/gpu.py: skipped: no CUDA device ({why})")
        return 0
    import cupy
    import tracenp
    from workloads import WORKLOADS, jax_kernels

    jax_fns, jax_dev = {}, None
    try:
        import jax
        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if gpus:
            jax_fns, jax_dev = jax_kernels(), gpus[0]
    except Exception as e:      # not installed, or no GPU build
        print(f"jax.jit: not measured ({type(e).__name__}: {e})")
    bw = _bandwidth()
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    print(f"device: {name}; copy bandwidth {bw / 1e9:.0f} GB/s; CuPy {cupy.__version__}")
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    dtypes = [np.dtype(d) for d in args.dtypes.split(",")]
    only = set(filter(None, args.only.split(",")))
    rows = []
    head = (f"{'workload':16s} {'dtype':8s} {'n':>9s} {'floor':>9s} {'tracenp':>9s} "
            f"{'(first)':>9s} {'cupy':>9s} {'fuse':>9s} {'jax':>9s}  speed-up vs cupy")
    print(head)
    for w in WORKLOADS:
        if only and w.name not in only:
            continue
        for dt in dtypes:
            for n in sizes:
                host = _cast(w.make(n), dt)
                dev = tuple(cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in host)
                row = {"workload": w.name, "dtype": dt.name, "n": n}
                try:
                    cf = tracenp.compile(w.numpy)
                    out = cf(*dev)
                    row["floor_s"] = _nbytes(dev, out) / bw
                    row["tracenp_first_s"], row["tracenp_s"] = _time(cf, dev, args.repeat, _sync)
                except Exception as e:
                    row["tracenp_error"] = f"{type(e).__name__}: {e}"[:200]
                for label, make in (("cupy", lambda: w.numpy), ("fuse", lambda: cupy.fuse(w.numpy))):
                    try:
                        fn = make()
                        row[f"{label}_s"] = _time(fn, dev, args.repeat, _sync)[1]
                    except Exception as e:
                        row[f"{label}_error"] = f"{type(e).__name__}: {e}"[:200]
                if w.name in jax_fns:
                    try:
                        import jax
                        jf = jax.jit(jax_fns[w.name])
                        jargs = tuple(jax.device_put(a, jax_dev) if isinstance(a, np.ndarray)
                                      else a for a in host)
                        block = lambda *a: jax.block_until_ready(jf(*a))   # noqa: E731
                        row["jax_s"] = _time(block, jargs, args.repeat, lambda: None)[1]
                    except Exception as e:
                        row["jax_error"] = f"{type(e).__name__}: {e}"[:200]
                rows.append(row)
                cell = lambda k: f"{row[k] * 1e3:8.3f}m" if k in row else f"{'n/a':>9s}"  # noqa: E731
                up = (f"{row['cupy_s'] / row['tracenp_s']:.2f}x"
                      if "cupy_s" in row and "tracenp_s" in row else "")
                print(f"{w.name:16s} {dt.name:8s} {n:9d} {cell('floor_s')} {cell('tracenp_s')} "
                      f"{cell('tracenp_first_s')} {cell('cupy_s')} {cell('fuse_s')} "
                      f"{cell('jax_s')}  {up}")
                for k, v in row.items():
                    if k.endswith("_error"):
                        print(f"    {k[:-6]}: {v}")
                del dev
                cupy.get_default_memory_pool().free_all_blocks()
    ups = [r["cupy_s"] / r["tracenp_s"] for r in rows if "cupy_s" in r and "tracenp_s" in r]
    if ups:
        geo = math.exp(sum(map(math.log, ups)) / len(ups))
        print(f"geometric-mean speed-up of tracenp over eager CuPy: {geo:.2f}x ({len(ups)} cases)")
    if args.json:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"device": name, "bandwidth_Bps": bw, "cupy": cupy.__version__,
                       "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
