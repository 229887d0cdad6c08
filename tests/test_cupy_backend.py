"""The CuPy backend's plans, run on the CPU against a stand-in for CuPy.

Without a GPU, CuPy cannot launch anything.  These tests put a small emulation of the
parts of CuPy the backend uses in its place (``sys.modules["cupy"]``): device arrays are a
NumPy subclass named ``cupy.ndarray`` (copied on the way in and out, as transfers copy),
``getattr(cupy, name)`` is NumPy's function of that name, and ``cupy.ElementwiseKernel`` /
``cupy.ReductionKernel`` compile the very kernel text tracenp generates for the host
(g++, as tests/test_cuda_kernels.py does) and run it.  So everything the backend does
between the call and CuPy is exercised: signatures, tracing on stand-ins, the plan's
steps, kernel arguments (scalars, broadcasting), the fallback to op-by-op CuPy calls,
dtype checks, transfers at the edges, write-backs, gradients and the fallbacks.  What only
a GPU shows (CuPy's launch machinery, CUDA's math library) is in the GPU tests of
tests/test_cuda_kernels.py.
"""
from __future__ import annotations

import ctypes
import re
import shutil
import sys
import types
import warnings

import numpy as np
import pytest

import tracenp
from tracenp.exec import cuda_kernel, cupy_backend
from tracenp.exec.cuda_table import CTYPE

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")


class ndarray(np.ndarray):
    """A "device" array."""


ndarray.__module__ = "cupy"


def _to_device(x, dtype=None):
    return np.array(x, dtype=dtype, copy=True).view(ndarray)


def _to_host(x):
    return np.array(x, copy=True, subok=False)


_DTYPE_OF = {"bool": np.bool_, **{d.name: d.type for d in CTYPE}}


def _params(text: str) -> list[tuple[np.dtype, str]]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        t, name = part.split()
        out.append((np.dtype(_DTYPE_OF[t]), name))
    return out


_HEAD = r"""
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


def _strip_includes(preamble: str) -> str:
    return re.sub(r"^#include <cupy/[^>]*>\n", "", preamble, flags=re.M)


class _Kernel:
    """``cupy.ElementwiseKernel`` / ``cupy.ReductionKernel``, run on the host."""

    made = 0
    launches = 0

    def __init__(self, in_params, out_params, operation, name="kernel", preamble="",
                 options=(), reduce=None):
        type(self).made += 1
        self.ins = _params(in_params)
        self.outs = _params(out_params)
        self.name = name
        body = ['extern "C" void run(long n, void **p) {']
        if reduce is None:
            body.append("  for (long _i = 0; _i < n; ++_i) {")
            for k, (dt, nm) in enumerate(self.ins):
                body.append(f"    const {CTYPE[dt]} {nm} = (({CTYPE[dt]} *)p[{k}])[_i];")
            for m, (dt, nm) in enumerate(self.outs):
                body.append(f"    {CTYPE[dt]} &{nm} = (({CTYPE[dt]} *)p[{len(self.ins) + m}])[_i];")
            body += ["    " + line for line in operation.splitlines()] + ["  }", "}"]
        else:
            map_expr, reduce_expr, post_map_expr, identity, reduce_type = reduce
            body += ["  struct { long n; long size() const { return n; } } _in_ind = {n}, "
                     "_out_ind = {1};",
                     f"  typedef {reduce_type} _type_reduce;",
                     f"  _type_reduce _s = _type_reduce({identity});",
                     "  for (long _i = 0; _i < n; ++_i) {"]
            for k, (dt, nm) in enumerate(self.ins):
                body.append(f"    const {CTYPE[dt]} {nm} = (({CTYPE[dt]} *)p[{k}])[_i];")
            body += [f"    _type_reduce _a = static_cast<_type_reduce>({map_expr});",
                     f"    {{ _type_reduce a = _s, b = _a; _s = ({reduce_expr}); }}", "  }"]
            dt, nm = self.outs[0]
            body += [f"  {CTYPE[dt]} &{nm} = *(({CTYPE[dt]} *)p[{len(self.ins)}]);",
                     f"  {{ _type_reduce a = _s; {post_map_expr}; }}", "}"]
        self.source = _HEAD + _strip_includes(preamble) + "\n" + "\n".join(body)
        self._lib = None

    def _library(self, tmp):
        if self._lib is None:
            import hashlib
            import os
            import subprocess
            h = hashlib.sha256(self.source.encode()).hexdigest()[:16]
            src = os.path.join(tmp, f"k{h}.cpp")
            lib = os.path.join(tmp, f"k{h}.so")
            with open(src, "w") as f:
                f.write(self.source)
            r = subprocess.run(["g++", "-std=c++17", "-O0", "-shared", "-fPIC",
                                "-ffp-contract=off", "-w", src, "-o", lib],
                               capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, r.stderr[-3000:]
            self._lib = ctypes.CDLL(lib)
        return self._lib

    def __call__(self, *args):
        type(self).launches += 1
        arrays = [np.asarray(a) for a in args if isinstance(a, np.ndarray)]
        shape = np.broadcast_shapes(*[a.shape for a in arrays])
        n = int(np.prod(shape))
        ins = [np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=dt), shape))
               for a, (dt, _) in zip(args, self.ins)]
        if self.reduce is not None:
            outs = [np.empty((), self.outs[0][0])]
        else:
            outs = [np.empty(shape, dt) for dt, _ in self.outs]
        ptrs = (ctypes.c_void_p * (len(ins) + len(outs)))(*[a.ctypes.data for a in ins + outs])
        self._library(_TMP[0]).run(ctypes.c_long(n), ptrs)
        outs = [o.view(ndarray) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    reduce = None


class _ReductionKernel(_Kernel):
    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr,
                 identity, name="reduce_kernel", reduce_type=None, preamble="", options=()):
        super().__init__(in_params, out_params, "", name, preamble, options,
                         reduce=(map_expr, reduce_expr, post_map_expr, identity, reduce_type))
        self.reduce = "yes"


_TMP: list = []
_MISSING_NAMES = {"nanmedian"}        # functions this stand-in CuPy "lacks"


def _fake_cupy() -> types.ModuleType:
    m = types.ModuleType("cupy")
    m.__version__ = "0.0-emulated"
    m.ndarray = ndarray
    m.asarray = _to_device
    m.asnumpy = _to_host
    m.broadcast_to = lambda x, shape: np.broadcast_to(x, shape, subok=True)
    m.ElementwiseKernel = _Kernel
    m.ReductionKernel = _ReductionKernel

    class Device:
        def __init__(self, n=0):
            self.n = n

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1,
                                    getDeviceProperties=lambda i: {"name": b"emulated"})
    m.cuda = types.SimpleNamespace(runtime=runtime, Device=Device)

    def __getattr__(name):
        if name in _MISSING_NAMES or name.startswith("__"):
            raise AttributeError(name)
        return getattr(np, name)
    m.__getattr__ = __getattr__
    return m


@pytest.fixture(autouse=True)
def emulated_cupy(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy())
    monkeypatch.setattr(cupy_backend, "_state", {})
    monkeypatch.setattr(cuda_kernel, "_OBJECTS", {})
    _TMP[:] = [str(tmp_path)]
    _Kernel.made = _Kernel.launches = 0
    yield


def _dev(x):
    return _to_device(x)


# ============================================================================ tests
def test_numpy_in_numpy_out_runs_the_kernels():
    def f(x, y, s):
        z = np.sqrt(np.abs(x * s - y)) // 0.25
        return z, np.sum(z * z), np.sum(x, axis=0), x @ y.T

    x = np.random.default_rng(0).standard_normal((40, 30))
    y = np.random.default_rng(1).standard_normal((40, 30))
    gpu = tracenp.compile(f, backend="cupy")
    got = gpu(x, y, 1.5)
    want = f(x, y, 1.5)
    for g, w in zip(got, want):
        assert type(g) is type(w) or type(g) is np.ndarray and isinstance(w, np.ndarray)
        np.testing.assert_allclose(g, w, rtol=1e-12)
    assert type(got[1]) is np.float64          # a NumPy scalar, as eager NumPy gives
    assert _Kernel.launches >= 1 and _Kernel.made >= 1
    (plan,) = cupy_backend.cupy_plans(gpu)
    assert plan.host_io and all(k.refused is None for k in plan.kernels)


def test_cupy_in_cupy_out():
    @tracenp.compile
    def f(x, y):
        return np.maximum(x, y) * 2 - 1, np.max(x - y)

    x, y = np.array([1.0, np.nan, 3.0]), np.array([2.0, 0.0, -1.0])
    a, m = f(_dev(x), _dev(y))
    assert type(a) is ndarray and type(m) is ndarray and m.shape == ()
    np.testing.assert_array_equal(_to_host(a), np.maximum(x, y) * 2 - 1)
    assert np.isnan(_to_host(m))                   # np.max propagates NaN
    assert f(x, y)[0].__class__ is np.ndarray      # NumPy arguments: the CPU plan


def test_integer_semantics_through_the_backend():
    f = tracenp.compile(lambda a, b: (a // b, a % b, a * b * 1000003, -a), backend="cupy")
    a = np.array([7, -7, 0, np.iinfo(np.int32).min, 5, 9], np.int32)
    b = np.array([2, 2, 0, -1, -3, 0], np.int32)
    with np.errstate(all="ignore"):
        want = (a // b, a % b, a * b * 1000003, -a)
    for g, w in zip(f(a, b), want):
        np.testing.assert_array_equal(g, w)
        assert g.dtype == w.dtype


def test_new_size_reuses_the_kernel():
    f = tracenp.compile(lambda x: np.tanh(x) * 3 + 1, backend="cupy")
    f(np.ones(10))
    made = _Kernel.made
    f(np.ones(1000))
    f(np.ones((20, 7)))
    assert _Kernel.made == made and _Kernel.launches == 3


def test_arguments_written_in_place_are_written_back():
    @tracenp.compile(backend="cupy")
    def step(state, dt):
        state += dt * np.sin(state)
        return state.sum()

    s = np.linspace(0, 1, 50)
    ref = s.copy()
    total = step(s, 0.1)
    ref += 0.1 * np.sin(ref)
    np.testing.assert_allclose(s, ref, rtol=1e-15)
    np.testing.assert_allclose(total, ref.sum(), rtol=1e-12)
    d = _dev(np.linspace(0, 1, 50))
    tracenp.compile(step.fn)(d, 0.1)               # CuPy arrays: written in place too
    np.testing.assert_allclose(_to_host(d), ref, rtol=1e-15)


def test_gradients_run_on_the_device():
    def loss(w, x):
        return np.mean(np.logaddexp(0.0, -x @ w))

    w = np.linspace(-1, 1, 5)
    x = np.random.default_rng(2).standard_normal((60, 5))
    want = tracenp.grad(loss)(w, x)
    np.testing.assert_allclose(tracenp.grad(loss, backend="cupy")(w, x), want, rtol=1e-12)
    got = tracenp.grad(loss)(_dev(w), _dev(x))
    assert type(got) is ndarray
    np.testing.assert_allclose(_to_host(got), want, rtol=1e-12)


def test_a_region_without_a_kernel_runs_op_by_op():
    f = tracenp.compile(lambda x, s: x * s + 1, backend="cupy")     # float16 * Python float
    x = np.linspace(0, 3, 11).astype(np.float16)
    got = f(x, 1.1)
    np.testing.assert_array_equal(got, x * 1.1 + 1)
    assert got.dtype == np.float16
    (plan,) = cupy_backend.cupy_plans(f)
    assert plan.kernels[0].refused and _Kernel.launches == 0


def test_random_draws_stay_on_the_host():
    f = tracenp.compile(lambda x, rng: x + rng.standard_normal(x.shape), backend="cupy")
    x = np.zeros(8)
    np.testing.assert_array_equal(f(x, np.random.default_rng(5)),
                                  np.random.default_rng(5).standard_normal(8))


def test_a_function_cupy_lacks_falls_back_with_a_warning():
    f = tracenp.compile(lambda x: np.nanmedian(x * 2) + 1, backend="cupy")
    with pytest.warns(tracenp.FallbackWarning, match="nanmedian"):
        assert f(np.arange(5.0)) == 5.0
    g = tracenp.compile(lambda x: np.nanmedian(x * 2) + 1, backend="cupy", strict=True)
    with pytest.raises(tracenp.ReplayError, match="nanmedian"):
        g(np.arange(5.0))


def test_explain_names_the_kernels_without_a_device():
    ex = tracenp.explain(lambda x: (x * 2).sum(), backend="cupy", print_report=False)(np.ones(4))
    assert "cupy.ReductionKernel(" in str(ex)


def test_device_error_when_cupy_finds_no_device(monkeypatch):
    fake = _fake_cupy()
    fake.cuda.runtime.getDeviceCount = lambda: 0
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(tracenp.DeviceError, match="no CUDA device"):
        tracenp.compile(lambda x: x, backend="cupy")


def test_no_warnings_on_a_plain_call():
    f = tracenp.compile(lambda x: np.exp(-x) + 1, backend="cupy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f(np.ones(3))
