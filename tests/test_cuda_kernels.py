"""The CuPy backend's kernels, checked on a machine without a GPU, and on one with.

* Every op of the CUDA table (tracenp/exec/cuda_table.py) on every dtype NumPy has a loop
  for (bool, int8..int64, uint8..uint64, float16/32/64, complex64/128), with weak Python
  scalars, broadcasting, casts, ``where`` and folded reductions, is lowered to a kernel.
* **Host check**: each elementwise kernel's body (the very text given to
  ``cupy.ElementwiseKernel``, with the helper preamble) is compiled for the CPU with g++
  (``-ffp-contract=off``, UndefinedBehaviorSanitizer on) and run on special values (zeros
  of both signs, infinities, NaN, subnormals, integer extremes, shift counts out of
  range) and random ones; the results must equal NumPy's bit for bit where the kernel
  says it is exact (NaN payloads aside), within a few ULP for transcendentals (the host's
  libm stands in for CUDA's there), and no signed overflow or bad shift may happen.
* **nvcc**: every kernel generated in this module is written out as the full CUDA
  translation unit CuPy would compile (CuPy's own code generator, headers of the cupy
  wheel) for contiguous and for broadcasting arguments, and compiled with nvcc (cached by
  source hash under ``~/.cache/tracenp/nvcc``).  Skipped without CuPy or nvcc.
* Without a GPU, ``backend="cupy"`` raises ``DeviceError``; with one, the GPU tests below
  compare the backend with eager NumPy (skipped here with "no CUDA device").
"""
from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import time

import numpy as np
import pytest

import tracenp
from tracenp.compiler import trace
from tracenp.exec import cuda_table
from tracenp.exec.cuda_kernel import CudaKernel, generated_kernels, translation_unit
from tracenp.exec.cupy_backend import device_status, region_kernels
from tracenp.optimize import optimize
from tracenp.optimize.fusion import fuse

HAVE_CUPY = importlib.util.find_spec("cupy") is not None
GPU, GPU_WHY = device_status() if HAVE_CUPY else (False, "CuPy is not installed")
needs_gpu = pytest.mark.skipif(not GPU, reason=f"no CUDA device ({GPU_WHY})")
GXX = shutil.which("g++")

DTYPES = [np.dtype(t) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                                np.float64, np.complex64, np.complex128)]


def lower(fn, *args) -> list[CudaKernel]:
    """The kernels of ``fn``'s regions as the CuPy backend fuses them."""
    g = trace(fn, args, {})
    optimize(g)
    fuse(g, min_size=1, cost_model=False)
    g.name = getattr(fn, "__name__", "f")
    return [k for _, k in region_kernels(g)]


def sample(dt: np.dtype, n: int = 6) -> np.ndarray:
    return (np.arange(n) % 3 + 1).astype(dt)


# ============================================================================ the sweep
_SWEEP: list = []


def sweep() -> list[tuple]:
    """``(op, dtypes, how, kernel, args)`` for every table op and dtype NumPy has a loop for
    (``how``: the operand form), plus weak scalars, casts, broadcasting and reductions."""
    if _SWEEP:
        return _SWEEP
    out = _SWEEP

    def add(label, fn, args):
        # a name per case: kernel names differ, so nvcc compiles many per call
        fn.__name__ = "_".join(re.sub(r"\W+", "_", str(p)) for p in label).strip("_")
        with np.errstate(all="ignore"):
            try:
                fn(*args)
            except (TypeError, ValueError):
                return             # NumPy itself has no loop for it
        ks = lower(fn, *args)
        out.append((label, tuple(np.asarray(a).dtype for a in args), ks, fn, args))

    for name in sorted(cuda_table.CUDA):
        if name == "where":
            for dt in DTYPES:
                add(("where", dt.name), lambda c, a, b: np.where(c, a, b),
                    (sample(np.bool_) > 1, sample(dt), sample(dt)[::-1].copy()))
            continue
        u = getattr(np, name)
        for dt in DTYPES:
            if u.nin == 1:
                add((name, dt.name), lambda a, u=u: u(a), (sample(dt),))
            else:
                add((name, dt.name), lambda a, b, u=u: u(a, b), (sample(dt), sample(dt)[::-1].copy()))
    # weak Python scalars (constants and arguments) and scalars on the left
    for name in ("add", "subtract", "multiply", "divide", "floor_divide", "remainder",
                 "maximum", "power", "less", "logical_and", "arctan2"):
        u = getattr(np, name)
        for dt in DTYPES:
            add((name, dt.name, "const 2.5"), lambda a, u=u: u(a, 2.5), (sample(dt),))
            add((name, dt.name, "const 3"), lambda a, u=u: u(a, 3), (sample(dt),))
            add((name, dt.name, "3 on the left"), lambda a, u=u: u(3, a), (sample(dt),))
            add((name, dt.name, "weak float argument"), lambda a, s, u=u: u(a, s),
                (sample(dt), 1.25))
    # NEP 50 promotion between dtypes (casts inside the kernel)
    pairs = [(np.int8, np.float32), (np.int32, np.float32), (np.uint64, np.int64),
             (np.bool_, np.float16), (np.float16, np.float32), (np.complex64, np.float64),
             (np.uint8, np.int8), (np.int16, np.uint32), (np.float32, np.complex64),
             (np.uint8, np.float16), (np.bool_, np.int8)]
    for a, b in pairs:
        for name in ("add", "multiply", "maximum", "equal", "divide"):
            u = getattr(np, name)
            add((name, f"{np.dtype(a).name}+{np.dtype(b).name}"), lambda x, y, u=u: u(x, y),
                (sample(a), sample(b)))
    # broadcasting, 0-d arrays, NumPy scalars, several outputs, chains
    for dt in (np.float32, np.float64, np.int32, np.uint8, np.complex128, np.float16):
        add(("broadcast", np.dtype(dt).name), lambda x, y: (x + y) * (x - y),
            (np.ones((4, 5), dt), np.arange(5).astype(dt)))
        add(("outer", np.dtype(dt).name), lambda x, y: x * y - 1,
            (np.ones((3, 1), dt), np.ones((1, 4), dt)))
        add(("0-d", np.dtype(dt).name), lambda x, y: x * y + y,
            (np.ones(5, dt), np.array(2, dt)))
        add(("npscalar", np.dtype(dt).name), lambda x, y: x * y + y,
            (np.ones(5, dt), np.dtype(dt).type(2)))
        add(("two outputs", np.dtype(dt).name), lambda x: (x * 2, x == 1), (np.ones(5, dt),))
    add(("chain", "float64"), lambda x, y: np.where(x > y, np.sqrt(np.abs(x - y)) // 0.3,
                                                    -(x % 1.5)) ** 2, (np.ones(7), np.zeros(7)))
    add(("chain", "int64"), lambda x, y: ((x // 3) % (y | 1) << 2) ^ -x,
        (np.arange(7), np.arange(7) + 1))
    # folded reductions (ReductionKernel)
    for dt in DTYPES:
        if dt == np.float16:
            continue
        for red in ("sum", "max", "min", "mean"):
            if red == "mean" and dt.kind != "f" or red in ("max", "min") and dt.kind == "c":
                continue
            add((red, dt.name, "folded"), lambda x, red=red: getattr(np, red)(x * x),
                (sample(dt, 40),))
    return out


def test_every_spelled_loop_is_lowered():
    """Where the table spells the op for the loop's kind, the region becomes a kernel."""
    bad, kernels = [], 0
    for label, dts, ks, fn, args in sweep():
        for k in ks:
            kernels += 1
            if k.refused is None:
                continue
            name = label[0]
            dt = np.result_type(*[a for a in args if not isinstance(a, np.ndarray)
                                  or a.dtype.kind != "b" or name != "where"])
            if name in cuda_table.CUDA and cuda_table.template(name, cuda_table.kind_of(dt)):
                bad.append(f"{label}: {k.refused}")
    assert kernels > 400
    expected_refusals = [b for b in bad if "does not convert" in b or "mixed loop" in b
                         or "weak Python int" in b or "kernel does not convert" in b]
    assert sorted(set(bad) - set(expected_refusals)) == []


def test_refusals_say_why():
    # float64 -> float16 would round twice; float to int casts; mixed loops
    ks = lower(lambda x, s: x * s, np.ones(4, np.float16), 1.1)
    assert ks[0].refused and "float16" in ks[0].refused
    ks = lower(lambda x, y: x < y, np.ones(4, np.int64), np.ones(4, np.uint64))
    assert ks[0].refused and "mixed loop" in ks[0].refused
    ks = lower(lambda x: np.ldexp(x, 2), np.ones(4))
    assert ks[0].refused


def test_kernels_have_concrete_types_numpy_dtypes_and_a_recognisable_name():
    def loss(x, y):
        return (x * 2.5 + y) // 3

    (k,) = lower(loss, np.ones((4, 5), np.float32), np.ones(5, np.int16))
    assert k.refused is None
    assert k.in_params == "float32 x0, int16 x1" and k.out_params == "float32 y0"
    assert k.name.startswith("tracenp_loss_") and k.name.endswith("_fused0")
    assert "0x1.4000000000000p+1f" in k.operation        # 2.5 as a float32 constant
    assert "((float)(x1))" in k.operation                # int16 -> float32, as NumPy
    assert "_tnp_floordivf" in k.operation               # NumPy's floor division


def test_integer_semantics_are_spelled_with_the_helpers():
    (k,) = lower(lambda x, y: (x + y) * y - x // y + x % y, np.ones(3, np.int32), np.ones(3, np.int32))
    for helper in ("_tnp_add", "_tnp_mul", "_tnp_sub", "_tnp_floordiv", "_tnp_rem"):
        assert helper in k.operation
    assert k.exact


def test_kernels_are_cached_by_structure_not_size():
    f = lambda x: np.exp(x) * 2 - 1          # noqa: E731
    a = lower(f, np.ones(10))
    b = lower(f, np.ones((300, 7)))
    c = lower(f, np.ones(10, np.float32))
    assert a[0] is b[0]                     # a new size: the same kernel (CuPy's binary too)
    assert c[0] is not a[0]


def test_reductions_become_reduction_kernels():
    (k,) = lower(lambda x: np.max(x * 2), np.ones(100, np.float32))
    assert k.reduce == "max" and k.kind == "ReductionKernel"
    assert "_tnp_maximum" in k.reduce_expr           # NaN propagates, as np.max
    (k,) = lower(lambda x: np.sum(x > 0), np.ones(100))
    assert k.reduce == "sum" and k.out_params == "int64 y0"   # bool sums count in int64


def test_cuda_layer_covers_the_fused_layer_or_says_what_it_lacks():
    from tracenp import coverage
    fused = coverage.layer("fused")
    ufuncs = [r.name for _, r in coverage.ufuncs() if r.name in fused]
    missing = [n for n in ufuncs if n not in cuda_table.CUDA and n not in cuda_table.LACKS]
    assert missing == [], f"neither spelled nor listed in cuda_table.LACKS: {missing}"
    assert not set(cuda_table.LACKS) & set(cuda_table.CUDA)
    assert "cuda" in coverage.LAYERS and "add" in coverage.layer("cuda")


def test_explain_shows_each_kernels_source():
    def f(x, y):
        return np.sqrt(x * x + y * y).sum(), np.maximum(x, y)

    ex = tracenp.explain(f, backend="cupy", print_report=False)(np.ones(8), np.ones(8))
    text = str(ex)
    assert "cupy.ElementwiseKernel(" in text or "cupy.ReductionKernel(" in text
    assert "tracenp_f_" in text and "_tnp_maximum" in text


# ============================================================================ no device
@pytest.mark.skipif(GPU, reason="a CUDA device is present")
def test_backend_cupy_without_a_device_raises_device_error():
    with pytest.raises(tracenp.DeviceError) as info:
        tracenp.compile(lambda x: x + 1, backend="cupy")
    msg = str(info.value)
    assert "CUDA device" in msg and "docs/errors.md#deviceerror" in msg
    assert not any(os.sep + "cupy" + os.sep in str(e.path) for e in info.traceback)


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError):
        tracenp.compile(lambda x: x, backend="tpu")


# ============================================================================ host check
_KINDS_ON_HOST = set("biufec")


def _special(dt: np.dtype) -> np.ndarray:
    if dt.kind == "b":
        return np.array([False, True])
    if dt.kind in "iu":
        info = np.iinfo(dt)
        bits = dt.itemsize * 8
        vals = [0, 1, 2, 3, 7, info.max, info.max - 1, info.min, bits - 1, bits, bits + 1]
        if dt.kind == "i":
            vals += [-1, -2, -3, -7, info.min + 1]
        return np.array(vals, dtype=object).astype(dt)
    if dt.kind == "f":
        info = np.finfo(dt)
        vals = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.0, -7.0, 0.1, 1e-3,
                float(info.tiny), float(info.tiny) / 2, float(info.max), -float(info.max),
                np.inf, -np.inf, np.nan, 100.0, -0.3]
        with np.errstate(all="ignore"):
            return np.array(vals, dtype=np.float64).astype(dt)
    part = np.dtype(np.float32 if dt == np.complex64 else np.float64)
    re = _special(part)[[0, 1, 2, 3, 4, 7, 17, 19]]
    out = np.empty((len(re), len(re)), dt)
    out.real, out.imag = re[:, None], re[None, :]
    return out.ravel()


def _random(dt: np.dtype, n: int, rng) -> np.ndarray:
    if dt.kind == "b":
        return rng.integers(0, 2, n).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    if dt.kind == "f":
        return (rng.standard_normal(n) * 10).astype(dt)
    return (rng.standard_normal(n) * 10 + 1j * rng.standard_normal(n) * 10).astype(dt)


def _operands(dts, shapes, rng) -> list[np.ndarray]:
    """Inputs of equal length: every combination of special values of the first two
    operands, then random values."""
    n_rand = 256
    specials = [_special(d) for d in dts]
    if len(dts) == 1:
        cols = [np.concatenate([specials[0], _random(dts[0], n_rand, rng)])]
    else:
        a, b = np.meshgrid(np.arange(len(specials[0])), np.arange(len(specials[1])), indexing="ij")
        cols = [specials[0][a.ravel()], specials[1][b.ravel()]]
        for d, s in zip(dts[2:], specials[2:]):
            cols.append(np.resize(s, cols[0].shape))
        cols = [np.concatenate([c, _random(d, n_rand, rng)]) for c, d in zip(cols, dts)]
    return cols


_HARNESS_HEAD = r"""
#define TRACENP_HOST_CHECK 1
#define __device__
#define __forceinline__ inline
#include <math.h>
#include <complex>
namespace thrust { template <typename T> using complex = std::complex<T>; }
struct float16 {
  _Float16 v;
  float16() {}
  float16(float f) : v((_Float16)f) {}
  operator float() const { return (float)v; }
};
"""


def _harness_function(idx: int, k: CudaKernel) -> str:
    from tracenp.exec.cuda_table import CTYPE
    lines = [f'extern "C" void k{idx}(long n, void **p) {{',
             "  for (long _i = 0; _i < n; ++_i) {"]
    for i, (d, s) in enumerate(zip(k.in_dtypes, k.in_scalar)):
        ct = CTYPE[d]
        at = "0" if s else "_i"
        lines.append(f"    const {ct} x{i} = (({ct} *)p[{i}])[{at}];")
    for m, d in enumerate(k.out_dtypes):
        ct = CTYPE[d]
        lines.append(f"    {ct} &y{m} = (({ct} *)p[{len(k.in_dtypes) + m}])[_i];")
    lines += ["    " + line for line in k.operation.splitlines()]
    lines += ["  }", "}"]
    return "\n".join(lines)


def _host_checkable(k: CudaKernel) -> bool:
    return (k.refused is None and not k.reduce
            and not any(h in k.operation for h in ("_tnp_cexp", "_tnp_clog", "_tnp_csqrt")))


def _build_harness(kernels: list[CudaKernel], workdir) -> ctypes.CDLL:
    src = _HARNESS_HEAD + cuda_table.PREAMBLE + "\n".join(
        _harness_function(i, k) for i, k in enumerate(kernels))
    h = hashlib.sha256(src.encode()).hexdigest()[:16]
    cache = os.path.join(os.environ.get("TRACENP_CACHE_DIR") or
                         os.path.join(os.path.expanduser("~"), ".cache", "tracenp"), "hostcheck")
    os.makedirs(cache, exist_ok=True)
    lib = os.path.join(cache, f"h{h}.so")
    if not os.path.exists(lib):
        path = os.path.join(workdir, f"h{h}.cpp")
        with open(path, "w") as f:
            f.write(src)
        cmd = [GXX, "-std=c++17", "-O1", "-shared", "-fPIC", "-ffp-contract=off",
               "-fno-fast-math", "-fsanitize=undefined", "-fsanitize-recover=all",
               "-w", path, "-o", lib + ".tmp"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        os.replace(lib + ".tmp", lib)
    return ctypes.CDLL(lib)


def _same(got: np.ndarray, want: np.ndarray, exact: bool) -> np.ndarray:
    """Elementwise agreement (NaN matches NaN; exact: the same bits otherwise)."""
    if got.dtype.kind == "c":
        return _same(got.real, want.real, exact) & _same(got.imag, want.imag, exact)
    if got.dtype.kind != "f":
        return got == want
    gnan, wnan = np.isnan(got), np.isnan(want)
    if exact:
        bits = {2: np.uint16, 4: np.uint32, 8: np.uint64}[got.dtype.itemsize]
        eq = got.view(bits) == want.view(bits)
    else:
        eps = np.finfo(got.dtype).eps
        tiny = np.finfo(got.dtype).tiny
        with np.errstate(all="ignore"):
            eq = (got == want) | (np.abs(got.astype(np.float64) - want.astype(np.float64))
                                  <= 16 * eps * np.abs(want.astype(np.float64)) + 16 * tiny)
    return np.where(gnan | wnan, gnan & wnan, eq)


def _reference(fn, args) -> tuple:
    """NumPy's loops, op by op, on the graph tracenp optimized (the graph the kernel is
    made from: a rewrite such as ``x**3 -> x*x*x`` is the optimizer's, on every backend)."""
    from tracenp.exec.interpreter import Interpreter
    from tracenp.graph.ir import Var
    g = trace(fn, tuple(args), {})
    optimize(g)
    outs = [v for v in g.outputs if isinstance(v, Var)]
    with np.errstate(all="ignore"):
        values = Interpreter(g, outs, codegen=False).run(
            [args[s.index] for s in g.input_sources])
    return tuple(values)


@pytest.mark.skipif(GXX is None, reason="g++ is not installed")
def test_kernel_bodies_compute_what_numpy_computes(tmp_path, capfd):
    rng = np.random.default_rng(0)
    cases = []
    for label, dts, ks, fn, args in sweep():
        if len(ks) != 1 or not _host_checkable(ks[0]):
            continue
        if any(np.ndim(a) > 1 for a in args):
            continue
        cases.append((label, ks[0], fn, args))
    kernels = list({id(k): k for _, k, _, _ in cases}.values())
    index = {id(k): i for i, k in enumerate(kernels)}
    lib = _build_harness(kernels, str(tmp_path))
    capfd.readouterr()
    failures = []
    for label, k, fn, args in cases:
        region_args = [a for a in args]
        arrays = [i for i, a in enumerate(region_args) if np.ndim(a) == 1]
        dts = [np.asarray(region_args[i]).dtype for i in arrays]
        cols = _operands(dts, None, rng)
        full = list(region_args)
        for i, c in zip(arrays, cols):
            full[i] = c
        n = len(cols[0])
        want = _reference(fn, full)
        ins = []
        for x, d, s in zip([full[j] for j in k.used], k.in_dtypes, k.in_scalar):
            ins.append(np.ascontiguousarray(np.broadcast_to(np.asarray(x, dtype=d), (n,))
                                            if not s else np.asarray([x], dtype=d)))
        outs = [np.empty(n, d) for d in k.out_dtypes]
        ptrs = (ctypes.c_void_p * (len(ins) + len(outs)))(*[a.ctypes.data for a in ins + outs])
        getattr(lib, f"k{index[id(k)]}")(ctypes.c_long(n), ptrs)
        for got, w in zip(outs, want):
            w = np.asarray(w)
            assert got.dtype == w.dtype, (label, got.dtype, w.dtype)
            ok = _same(got, w, k.exact)
            if not ok.all():
                bad = np.flatnonzero(~ok)[:3]
                failures.append(f"{label}: inputs {[c[bad] for c in cols]} gave {got[bad]}, "
                                f"NumPy {w[bad]}")
    ub = capfd.readouterr().err          # UndefinedBehaviorSanitizer reports on stderr
    assert "runtime error" not in ub, f"undefined behaviour in kernel bodies:\n{ub[:3000]}"
    assert not failures, "\n".join(failures[:60])
    assert len(cases) > 300


# ============================================================================ GPU
@needs_gpu
@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int32, np.int8, np.uint16,
                                np.float16, np.complex64, np.bool_])
def test_gpu_results_equal_numpy(dt):
    import cupy
    rng = np.random.default_rng(1)
    x = _random(np.dtype(dt), 10007, rng)
    y = _random(np.dtype(dt), 10007, rng)

    def f(a, b):
        if a.dtype.kind == "b":
            return np.logical_xor(a, b), a & b, np.where(a, b, ~b)
        s = a + b * 3 - a * a
        m = np.maximum(a, b) if a.dtype.kind != "c" else a - b
        return s, m, a == b

    with np.errstate(all="ignore"):
        want = f(x, y)
        got = tracenp.compile(f, backend="cupy")(x, y)
        dev = tracenp.compile(f)(cupy.asarray(x), cupy.asarray(y))
    for g, d, w in zip(got, dev, want):
        assert type(g) is np.ndarray and g.dtype == w.dtype
        assert isinstance(d, cupy.ndarray) and d.dtype == w.dtype
        exact = np.dtype(dt).kind != "c"
        assert _same(g, w, exact).all()
        assert _same(cupy.asnumpy(d), w, exact).all()


@needs_gpu
def test_gpu_integer_division_overflow_and_nan_reductions():
    x = np.array([7, -7, 0, np.iinfo(np.int32).min, 5], np.int32)
    y = np.array([2, 2, 0, -1, -3], np.int32)
    f = tracenp.compile(lambda a, b: (a // b, a % b, a * b * 1000003), backend="cupy")
    with np.errstate(all="ignore"):
        for g, w in zip(f(x, y), (x // y, x % y, x * y * 1000003)):
            np.testing.assert_array_equal(g, w)
    v = np.array([1.0, np.nan, 3.0] * 20000)
    g = tracenp.compile(lambda a: (np.max(a * 2), np.min(a * 2)), backend="cupy")(v)
    assert np.isnan(g[0]) and np.isnan(g[1])


@needs_gpu
def test_gpu_workloads_and_gradients_match_numpy():
    import cupy

    def loss(w, x):
        return np.mean(np.logaddexp(0.0, -x @ w))

    w = np.linspace(-1, 1, 8)
    x = np.random.default_rng(2).standard_normal((1000, 8))
    g_cpu = tracenp.grad(loss)(w, x)
    g_gpu = tracenp.grad(loss, backend="cupy")(w, x)
    np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-10)
    g_dev = tracenp.grad(loss)(cupy.asarray(w), cupy.asarray(x))
    assert isinstance(g_dev, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(g_dev), g_cpu, rtol=1e-10)


@needs_gpu
def test_gpu_new_size_does_not_compile_again():
    from tracenp.exec import cuda_kernel
    f = tracenp.compile(lambda a: np.tanh(a) * 2 + 1, backend="cupy")
    f(np.ones(1000))
    before = dict(cuda_kernel._OBJECTS)
    f(np.ones(5000))
    assert dict(cuda_kernel._OBJECTS) == before


# ============================================================================ nvcc (last)
_ND_CASES = ("broadcast", "outer", "0_d", "npscalar", "two_outputs", "chain", "folded",
             "weak_float")


def _wants_nd(k: CudaKernel) -> bool:
    """Kernels whose broadcasting (n-d, 64-bit index) unit is compiled too by default:
    reductions, scalar parameters, float16 and complex, and the broadcasting cases."""
    return (k.reduce is not None or any(k.in_scalar) or any(c in k.name for c in _ND_CASES)
            or any(d.kind == "c" or d == np.float16 for d in k.in_dtypes + k.out_dtypes))


def _nvcc_check(every_layout: bool) -> None:
    from tracenp.exec import nvcc
    sweep()
    units = {}
    for k in generated_kernels():
        units[f"{k.name}#{k.key}/flat"] = (translation_unit(k, "flat"), k.options)
        if every_layout or _wants_nd(k):
            units[f"{k.name}#{k.key}/nd"] = (translation_unit(k, "nd", 3), k.options)
    t0 = time.perf_counter()
    failures, stats = nvcc.check_units(units)
    seconds = time.perf_counter() - t0
    print(f"nvcc: {stats} in {seconds:.1f} s")
    assert stats["units"] >= 1500
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in list(failures.items())[:5])


needs_nvcc = [pytest.mark.skipif(not HAVE_CUPY, reason="CuPy is not installed (its wheel "
                                                       "ships the headers)"),
              pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")]


@needs_nvcc[0]
@needs_nvcc[1]
def test_nvcc_compiles_every_generated_kernel():
    """Every kernel generated in this test module (and any other lowered in this process),
    as the full translation unit CuPy would compile for contiguous arguments; for
    broadcasting arguments too where that unit differs in more than its index types."""
    _nvcc_check(every_layout=False)


@pytest.mark.slow
@needs_nvcc[0]
@needs_nvcc[1]
def test_nvcc_compiles_every_generated_kernel_for_every_layout():
    _nvcc_check(every_layout=True)
