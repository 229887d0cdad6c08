"""The dask backend: compiled functions called with dask arrays return dask arrays whose
computed values equal eager NumPy on the same data (values, dtypes, shapes)."""
from __future__ import annotations

import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import tracenp

da = pytest.importorskip("dask.array", reason="dask is not installed (extra: dask)")
dask = pytest.importorskip("dask")

from tracenp.exec.dask_backend import block_kernels, dask_plans  # noqa: E402
from tests.programs import black_scholes as bs_program  # noqa: E402

RNG = np.random.default_rng(20260801)


def chunked(a, chunks):
    return da.from_array(a, chunks=chunks)


def compute(x):
    return dask.compute(x, scheduler="threads")[0]


def same(got, want, exact=True):
    """Equal values, dtypes and shapes (NumPy scalars for full reductions)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        # reductions add in dask's order (per block, then a tree): NumPy's error bound
        eps = np.finfo(want.dtype).eps if want.dtype.kind in "fc" else 0
        np.testing.assert_allclose(got, want, rtol=max(1e-12, 20 * eps), atol=0)


# ----------------------------------------------------------------------------- elementwise
def black_scholes_erf(S, K, T, r, sigma):
    from scipy.special import erf
    sqrtT = np.sqrt(T)
    d1 = (np.log(S / K) + (r + 0.5 * sigma * sigma) * T) / (sigma * sqrtT)
    d2 = d1 - sigma * sqrtT
    cdf1 = 0.5 * (1 + erf(d1 / np.sqrt(2)))
    cdf2 = 0.5 * (1 + erf(d2 / np.sqrt(2)))
    disc = K * np.exp(-r * T)
    call = S * cdf1 - disc * cdf2
    return call, call - S + disc


def bs_inputs(n):
    return RNG.uniform(50, 150, n), RNG.uniform(60, 140, n), RNG.uniform(0.1, 2.0, n)


@pytest.mark.parametrize("fn", [black_scholes_erf, bs_program.program], ids=["erf", "polynomial"])
def test_black_scholes_equals_numpy(fn):
    if fn is black_scholes_erf:
        pytest.importorskip("scipy.special")
    S, K, T = bs_inputs(50_000)
    f = tracenp.compile(fn)
    call, put = f(chunked(S, 12_000), chunked(K, 12_000), chunked(T, 12_000), 0.03, 0.25)
    assert isinstance(call, da.Array) and isinstance(put, da.Array)
    want = fn(S, K, T, 0.03, 0.25)
    got = dask.compute(call, put, scheduler="threads")
    for g, w in zip(got, want):
        same(g, w)           # the block kernels run NumPy's own loops: bit for bit
    # the whole pricer is one fused region: one kernel, one task per block and output
    assert len(block_kernels(f)) == 1
    # a new float is not a new signature (weak scalars), as for NumPy arrays
    f(chunked(S, 12_000), chunked(K, 12_000), chunked(T, 12_000), 0.05, 0.2)
    assert f.trace_count == 1


def test_broadcasting_between_chunked_arrays():
    x = RNG.standard_normal((40, 1))
    y = RNG.standard_normal((30,))
    z = RNG.standard_normal((1, 30))

    def fn(x, y, z):
        return np.exp(-x * y) + np.sqrt(np.abs(z)) * x - np.where(y > 0, y, 2 * z)

    f = tracenp.compile(fn)
    got = f(chunked(x, (15, 1)), chunked(y, 8), chunked(z, (1, 12)))
    assert isinstance(got, da.Array) and got.shape == (40, 30)
    same(compute(got), fn(x, y, z))


def test_numpy_arguments_and_zero_d_dask_values_mix_in():
    x = RNG.standard_normal((30, 20))
    w = RNG.standard_normal(20)

    def fn(x, w, s):
        m = x.mean()                       # a 0-d dask array flows into a fused region
        return np.tanh((x - m) * w) * s + 1.0

    f = tracenp.compile(fn)
    got = f(chunked(x, (7, 20)), w, 2.5)
    same(compute(got), fn(x, w, 2.5), exact=False)
    total = chunked(x, 10).sum()           # a 0-d dask argument
    g = tracenp.compile(lambda a, t: np.exp(a) / t)
    same(compute(g(chunked(x, 10), total)), np.exp(x) / x.sum(), exact=False)


# ----------------------------------------------------------------------------- reductions
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod"])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1), -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_use_dask_with_axis_and_keepdims(name, axis, keepdims):
    x = RNG.uniform(0.5, 1.5, (24, 18))

    def fn(x):
        return getattr(np, name)(np.exp(x) - 1, axis=axis, keepdims=keepdims)

    got = tracenp.compile(fn)(chunked(x, (7, 5)))
    assert isinstance(got, da.Array)
    same(compute(got), fn(x), exact=False)


def test_folded_full_reductions_are_unfolded_into_dask_trees():
    x = RNG.standard_normal(10_000)

    def fn(x):
        return np.sum((x - 1) ** 2), np.mean(np.exp(x) * 2), (x * x + 1).max()

    f = tracenp.compile(fn)
    got = f(chunked(x, 1_000))
    (plan,) = dask_plans(f)
    folded = [n for n in plan.graph.nodes if n.op.name == "fused" and n.params.reduce is not None]
    assert len(folded) == 3
    for g, w in zip(got, fn(x)):
        assert isinstance(g, da.Array) and g.shape == ()
        same(compute(g), w, exact=False)
    # the reduction runs as dask's tree: a partial per block, then a combine
    names = list(dict(got[0].dask.layers))
    assert any(n.startswith("tracenp-fused") for n in names)
    assert any("sum" in n for n in names)


def test_ufunc_reduce_and_accumulate_map_to_dask():
    x = RNG.standard_normal((12, 9))

    def fn(x):
        return np.add.reduce(x * 2, axis=1), np.maximum.reduce(x, axis=0, keepdims=True), \
            np.multiply.accumulate(x + 1, axis=0)

    got = tracenp.compile(fn)(chunked(x, 4))
    for g, w in zip(got, fn(x)):
        same(compute(g), w, exact=False)


# ----------------------------------------------------------------------------- other ops
def test_mixed_ops_run_through_dasks_numpy_api():
    x = RNG.standard_normal((30, 20))
    y = RNG.standard_normal(20)

    def fn(x, y):
        h = np.maximum(x @ y, 0) + 1
        t = x.T.reshape(-1)[::3] * 2
        s = np.concatenate([x, x * 2], axis=0).std(axis=0)
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return h, t, s, e / e.sum(axis=1, keepdims=True), np.matmul(x.T, x)[:3, :4]

    got = tracenp.compile(fn)(chunked(x, (8, 6)), chunked(y, 6))
    for g, w in zip(got, fn(x, y)):
        assert isinstance(g, da.Array)
        same(compute(g), w, exact=False)


@pytest.mark.parametrize("case", ["f32_weak", "int_divide", "int32_f32", "bool", "f16"])
def test_dtype_parity_with_numpy(case):
    if case == "f32_weak":
        args, fn = (RNG.standard_normal(100).astype(np.float32),), \
            lambda x: (x * 2.5 + 1, np.exp(x) * np.float32(3), x.mean())
    elif case == "int_divide":
        args, fn = (RNG.integers(-5, 9, 100),), lambda a: (a / 3, a // 2 + 1, (a > 2).sum(), a * 1.5)
    elif case == "int32_f32":
        args, fn = (RNG.integers(0, 9, 100).astype(np.int32), RNG.standard_normal(100).astype(np.float32)), \
            lambda a, b: (a + b, a * 2 + b * b, np.where(a > 3, a, b))
    elif case == "bool":
        args, fn = (RNG.standard_normal(100),), lambda x: ((x > 0) & (x < 1), np.logical_not(x > 0) * 2)
    else:
        args, fn = (RNG.standard_normal(100).astype(np.float16),), lambda x: (x * 2 + 1, np.sqrt(np.abs(x)))
    got = tracenp.compile(fn)(*[chunked(a, 30) for a in args])
    want = fn(*args)
    for g, w in zip(got, want):
        assert g.dtype == np.asarray(w).dtype          # known before computing
        same(compute(g), w, exact=False)


# ----------------------------------------------------------------------------- kernels
def test_block_kernel_compiles_once_per_block_signature():
    def fn(x, y):
        return np.sqrt(x * x + y * y) + np.log1p(np.abs(x))

    x, y = RNG.standard_normal(1000), RNG.standard_normal(1000)
    f = tracenp.compile(fn)
    even = f(chunked(x, 100), chunked(y, 100))           # 10 blocks of one shape
    same(compute(even), fn(x, y))
    (kernel,) = block_kernels(f)
    assert kernel.compile_count == 1 and list(kernel.compiled) == [(100,)]
    same(compute(even), fn(x, y))                       # computing again compiles nothing
    same(compute(f(chunked(x, 100), chunked(y, 100))), fn(x, y))
    assert kernel.compile_count == 1 and f.trace_count == 1
    uneven = f(chunked(x, 300), chunked(y, 300))        # blocks of 300 and one of 100
    same(compute(uneven), fn(x, y))
    kernels = block_kernels(f)
    assert f.trace_count == 1                          # same signature: same plan, one kernel
    assert len(kernels) == 1 and sorted(kernels[0].compiled) == [(100,), (300,)]


def test_threaded_scheduler():
    S, K, T = bs_inputs(20_000)
    f = tracenp.compile(bs_program.program)
    call, put = f(chunked(S, 5_000), chunked(K, 5_000), chunked(T, 5_000), 0.03, 0.25)
    with dask.config.set(scheduler="threads", num_workers=2):
        got = dask.compute(call, put)
    for g, w in zip(got, bs_program.program(S, K, T, 0.03, 0.25)):
        same(g, w)


def test_distributed_local_cluster_on_loopback():
    distributed = pytest.importorskip("distributed")
    S, K, T = bs_inputs(20_000)
    f = tracenp.compile(black_scholes_erf)
    pytest.importorskip("scipy.special")
    call, put = f(chunked(S, 5_000), chunked(K, 5_000), chunked(T, 5_000), 0.03, 0.25)
    total = tracenp.compile(lambda c: np.mean(c * c))(call)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp", host="127.0.0.1", dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        got = client.compute([call, put, total], sync=True)
    want = black_scholes_erf(S, K, T, 0.03, 0.25)
    same(got[0], want[0])
    same(got[1], want[1])
    same(got[2], np.mean(want[0] * want[0]), exact=False)


# ----------------------------------------------------------------------------- the corpus
# Programs of tests/programs that compile for dask (the others write in place, or do what
# dask's NumPy API cannot: those fall back, see below).  Every array argument is chunked
# in three along each axis.
CORPUS = """atax batch_norm_forward bicg bilinear_resize black_scholes burgers_1d corrcoef_cov
covariance cumsum_diff dense_relu describe_stats doitgen_einsum gamma_correction gelu_tanh
gemm gemver great_circle histogram_free_quantize horner_polynomial image_patches_transpose
kmeans_step layer_norm least_squares_solve logistic_loss median_percentile minmax_normalize
mlp_backprop mse_loss mvt option_greeks pairwise_distance_loop power_iteration
projectile_drag rgb_to_gray scaled_dot_attention syrk tensor_contraction three_mm two_mm
weighted_average zscore""".split()


@pytest.mark.parametrize("name", CORPUS)
def test_corpus_program_on_dask_equals_numpy(name):
    import importlib
    from tracenp.graph.pytree import flatten
    mod = importlib.import_module(f"tests.programs.{name}")
    args = mod.make_args(np.random.default_rng(0))
    f = tracenp.compile(mod.program, static_argnums=getattr(mod, "STATIC_ARGNUMS", ()))
    dargs = [chunked(a, tuple(max(1, (d + 2) // 3) for d in a.shape))
             if isinstance(a, np.ndarray) and a.ndim and a.size > 1 else a for a in args]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)   # np.column_stack & co: dask's own
        got = compute(f(*dargs))
    want = mod.program(*args)
    got, got_tree = flatten(got)
    want, want_tree = flatten(want)
    assert got_tree == want_tree
    rtol = max(getattr(mod, "RTOL", 1e-9), 1e-9)
    for g, w in zip(got, want):
        if isinstance(w, (np.ndarray, np.generic, float, complex)):
            g, w = np.asarray(g), np.asarray(w)
            assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape, w.shape)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-6 if rtol > 1e-9 else 1e-12)
        else:
            assert g == w


# ----------------------------------------------------------------------------- limits
def test_in_place_writes_fall_back_to_dask_with_a_warning():
    x = RNG.standard_normal((10, 10))

    def clip_big(x):
        y = np.exp(x)
        y[y > 2] = 0
        return y

    f = tracenp.compile(clip_big)
    with pytest.warns(tracenp.FallbackWarning, match="dask's NumPy API.*UnsupportedMutationError"):
        got = f(chunked(x, 5))
    assert isinstance(got, da.Array)
    same(compute(got), clip_big(x))
    with pytest.raises(tracenp.UnsupportedMutationError):
        tracenp.compile(clip_big, strict=True)(chunked(x, 5))


def test_data_dependent_control_flow_falls_back():
    def flip(x):
        return x if x.sum() > 0 else -x

    x = RNG.standard_normal(20)
    with pytest.warns(tracenp.FallbackWarning, match="ConcretizationError"):
        got = tracenp.compile(flip)(chunked(x, 5))
    same(compute(got), flip(x))


def test_unknown_chunk_sizes_fall_back():
    x = RNG.standard_normal(20)
    dx = chunked(x, 5)
    selected = dx[dx > 0]                    # nan chunks: the shape is not known
    with pytest.warns(tracenp.FallbackWarning, match="unknown shape"):
        got = tracenp.compile(lambda a: np.exp(a) + 1)(selected)
    same(compute(got), np.exp(x[x > 0]) + 1)


def test_tracing_uses_stand_ins_not_the_full_arrays():
    # 10^10 float64 elements (80 GB): traced on zero-stride stand-ins, nothing allocated
    n = 100_000
    x = da.zeros((n, n), chunks=(10_000, 10_000))
    y = da.ones(n, chunks=10_000)

    def fn(x, y):
        z = np.exp(-x) * y + 1
        return z.mean(axis=0), (x - x.mean(axis=0)).std(axis=1), np.zeros_like(x) + y, \
            x.astype(np.float32)[:, :3].T @ y, np.cumsum(x, axis=1)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    got = tracenp.compile(fn)(x, y)
    elapsed = time.perf_counter() - t0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert elapsed < 20 and grown_mb < 200, (elapsed, grown_mb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = [np.asarray(a) for a in fn(np.zeros((3, 3)), np.ones(3))]  # dtypes only
    shapes = [(n,), (n,), (n, n), (3,), (n, n)]
    for g, w, shape in zip(got, want, shapes):
        assert isinstance(g, da.Array) and g.shape == shape and g.dtype == w.dtype


def test_numpy_calls_do_not_import_dask():
    code = ("import numpy as np, sys, tracenp\n"
            "f = tracenp.compile(lambda x: np.exp(x) + 1)\n"
            "f(np.ones(4)); f(np.ones(4))\n"
            "assert not any(m == 'dask' or m.startswith('dask.') for m in sys.modules), 'dask'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
