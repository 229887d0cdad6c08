"""Figures for the core: cached-call overhead, trace and optimize time of big graphs,
and how many NumPy functions trace.

    python benchmarks/core_figures.py
"""
from __future__ import annotations

import time

import numpy as np

import tracenp
from tracenp.compiler import trace


def per_call(fn, *args, n: int = 20000) -> float:
    fn(*args)
    best = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(n):
            fn(*args)
        best.append((time.perf_counter() - t0) / n)
    return min(best)


def logistic(x):
    return 1 / (1 + np.exp(-x))


def chain(x, n):
    for _ in range(n // 2):
        x = x * 1.0001 + 0.5
    return x


def main() -> None:
    x = np.linspace(-1, 1, 10)
    eager = per_call(logistic, x)
    compiled = per_call(tracenp.compile(logistic), x)
    print(f"cached call, logistic on 10 elements: eager {eager * 1e6:.2f} us, compiled "
          f"{compiled * 1e6:.2f} us, overhead {(compiled - eager) * 1e6:.2f} us")
    for n in (10_000, 100_000):
        t0 = time.perf_counter()
        g = trace(chain, (np.ones(10), n), {})
        t_trace = time.perf_counter() - t0
        from tracenp.optimize import optimize
        from tracenp.optimize.fusion import fuse
        t0 = time.perf_counter()
        optimize(g)
        t_opt = time.perf_counter() - t0
        t0 = time.perf_counter()
        fuse(g)
        t_fuse = time.perf_counter() - t0
        print(f"{n}-op function: trace {t_trace:.2f} s ({t_trace / n * 1e6:.1f} us/op), "
              f"optimize {t_opt:.2f} s, fuse {t_fuse:.2f} s -> {len(g.nodes)} nodes")
    try:
        from tracenp import coverage
        print(coverage.summary() if hasattr(coverage, "summary") else "")
    except Exception as e:  # pragma: no cover
        print("coverage:", e)


if __name__ == "__main__":
    main()
