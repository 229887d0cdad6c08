"""numba kernels: a fused region compiled to one loop gives eager NumPy's results bit for
bit (dtypes, NEP 50 weak scalars, NaN/inf/signed zeros, integer wrap-around, floor
division and modulo, division by zero), its folded sums equal the blocked kernel's, its
floating-point errors warn or raise as NumPy's do, and regions it cannot run exactly are
routed to the blocked kernel."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("numba", reason="numba is an optional extra (pip install tracenp[numba])")

import tracenp  # noqa: E402
from tracenp.config import config  # noqa: E402
from tracenp.exec import numba_kernel as nk  # noqa: E402
from tracenp.exec.kernels import choose_kernel, fallback_kernel  # noqa: E402
from tracenp.exec.numba_table import NUMBA  # noqa: E402
from tracenp.optimize import RULES  # noqa: E402
from tracenp.optimize.fusion import FusedOp  # noqa: E402

pytestmark = pytest.mark.skipif(not nk.available(), reason="numba kernels unavailable here")

N = 70_001
NO_RULES = {"disable": frozenset(RULES)}     # bit for bit: no rewrites
rng = np.random.default_rng(0)

SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1.7e308, -1.7e308, 1.0,
           -1.0, 0.5, 1.5, 2.5, -2.5, 3.0, 1e-310, -7.0]


def floats(dtype, seed=0):
    r = np.random.default_rng(seed)
    x = (r.standard_normal(N) * 10.0 ** r.integers(-3, 4, N)).astype(dtype)
    sp = np.array(SPECIAL, dtype=np.float64).astype(dtype)
    x[:len(sp)] = sp
    x[len(sp):2 * len(sp)] = np.roll(sp, 3 + seed)
    return x


def ints(dtype, seed=0):
    info = np.iinfo(dtype)
    r = np.random.default_rng(seed)
    x = r.integers(info.min, info.max, N, dtype=dtype, endpoint=True)
    x[N // 2:] = r.integers(max(info.min, -9), 9, N - N // 2).astype(dtype)
    sp = [info.min, info.max, 0, 1, -1 if info.min < 0 else 2, 7, info.min + 1, 3]
    x[:len(sp)] = np.array(sp).astype(dtype)
    x[len(sp):2 * len(sp)] = np.array(sp[::-1]).astype(dtype)
    return x


def data(dtype, seed=0):
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return np.random.default_rng(seed).integers(0, 2, N).astype(bool)
    return floats(dt, seed) if dt.kind == "f" else ints(dt, seed)


@pytest.fixture(autouse=True)
def numba_kind(monkeypatch):
    monkeypatch.setattr(config, "kernel", "numba")
    monkeypatch.setattr(config, "parallel_work", 0)     # ranges on the threads: exercised


def _bits(a):
    a = np.asarray(a)
    if a.dtype.kind == "c":
        a = np.stack([a.real, a.imag], axis=-1)
    if a.dtype.kind == "f":
        b = a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.itemsize]).copy()
        b[np.isnan(a)] = 0                 # NaN where NaN; its payload is not compared
        return b, np.isnan(a)
    return a, None


def assert_bits(actual, expected, where=""):
    """Same type, dtype, shape and bits (signed zeros included; NaN where NaN)."""
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected)
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_bits(a, e, f"{where}[{i}]")
        return
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    assert actual.dtype == expected.dtype, f"{where}: {actual.dtype} != {expected.dtype}"
    assert np.shape(actual) == np.shape(expected)
    (ab, an), (eb, en) = _bits(actual), _bits(expected)
    if an is not None:
        bad = np.flatnonzero((an != en).ravel())
        assert not bad.size, f"{where}: NaN at {bad[:5]}: {np.ravel(actual)[bad[:5]]} vs {np.ravel(expected)[bad[:5]]}"
    bad = np.flatnonzero((np.asarray(ab) != np.asarray(eb)).ravel())
    assert not bad.size, (f"{where}: {bad.size} differ, first at {bad[:5]}: "
                          f"{np.ravel(actual)[bad[:5]]} vs {np.ravel(expected)[bad[:5]]}")


def _regions(f, *args):
    g = tracenp.make_graph(f, **NO_RULES)(*args)
    return [n.params for n in g.nodes if isinstance(n.op, FusedOp)]


def check(f, *args, numba=True, runs=None):
    """Compiled with the numba kind == eager NumPy, bit for bit; ``numba``: whether the
    region is run by numba (else it must have been routed to the blocked kernel)."""
    with np.errstate(all="ignore"):
        expected = f(*args)
        c = tracenp.compile(f, **NO_RULES)
        assert_bits(c(*args), expected, "first call")
        assert_bits(c(*args), expected, "second call")
    regions = _regions(f, *args)
    assert regions, "the function should have a fused region"
    kinds = [choose_kernel(r) for r in regions]
    assert ("numba" in kinds) == numba, kinds
    if numba:
        assert any(p.calls for p in programs(c)), "numba did not run the region"
    return c


def programs(c):
    """The numba programs of a compiled function's plans."""
    return [nk.numba_program(n.params) for plan in c._cache.values()
            for n in getattr(getattr(plan, "graph", None), "nodes", ())
            if isinstance(n.op, FusedOp) and nk.numba_program(n.params) is not None]


# ---------------------------------------------------------------- every op, every kind
_UNARY = [n for n in NUMBA if n != "where" and getattr(np, n).nin == 1]
_BINARY = [n for n in NUMBA if n != "where" and getattr(np, n).nin == 2]
_DT = {"b": [np.bool_], "i": [np.int8, np.int16, np.int32, np.int64],
       "u": [np.uint8, np.uint16, np.uint32, np.uint64], "f": [np.float32, np.float64]}


def _cases(names):
    out = []
    for n in names:
        for kind in NUMBA[n]:
            for dt in _DT[kind]:
                out.append(pytest.param(n, dt, id=f"{n}-{np.dtype(dt).name}"))
    return out


@pytest.mark.parametrize("name,dtype", _cases(_UNARY))
def test_unary_ops_bit_identical(name, dtype):
    op = getattr(np, name)
    x = data(dtype)

    def f(x):
        r = op(x)
        return r, np.equal(r, r)
    check(f, x)


@pytest.mark.parametrize("name,dtype", _cases(_BINARY))
def test_binary_ops_bit_identical(name, dtype):
    op = getattr(np, name)
    x, y = data(dtype, 0), data(dtype, 1)
    if name in ("left_shift", "right_shift"):
        y = (np.abs(y.astype(np.int64)) % (np.dtype(dtype).itemsize * 8 + 4)).astype(dtype)
        if np.dtype(dtype).kind == "i":
            y[:5] = np.array([-1, -100, 0, 64, 8]).astype(dtype)

    def f(x, y):
        r = op(x, y)
        return r, np.equal(r, r)
    check(f, x, y)


def test_where_and_mixed_dtypes_promote_like_numpy():
    x8, x32, u16 = ints(np.int8), floats(np.float32), ints(np.uint16, 2)
    x64 = floats(np.float64, 3)

    def f(a, b, c, d):
        m = a > 0
        return np.where(m, b, c) * d + a, np.where(b > d, a, c) - 1, (a + c) * 3
    check(f, x8, x32, u16, x64)


def test_weak_python_scalars_and_constants():
    x = floats(np.float32)

    def f(x, s):
        return x * s + 0.1 - x / 3.0, np.maximum(x, s) * 2
    check(f, x, 2.5)
    check(f, x, 1e300)           # overflows float32 like NumPy (inf, with its warning)
    xi = ints(np.int16)
    check(lambda x: (x * 3 + 1000) // 7 - x % -5, xi)
    check(lambda x: (x + True) * 2, ints(np.uint8))


def test_integer_floor_division_and_modulo_by_zero_and_min_over_minus_one():
    for dt in (np.int8, np.int32, np.int64, np.uint8, np.uint64):
        x, y = ints(dt, 4), ints(dt, 5)
        y[::7] = 0
        if np.dtype(dt).kind == "i":
            y[1::11] = -1
            x[1::11] = np.iinfo(dt).min
        check(lambda a, b: (a // b, a % b, (a // b) * b + a % b), x, y)


def test_broadcasting_scalars_and_strided_inputs():
    a = floats(np.float64)[:70000].reshape(7, -1)[:, :9000]    # strided rows: nd loop
    b = floats(np.float64, 1)[:9000]
    c = floats(np.float64, 2)[:7].reshape(7, 1)
    check(lambda a, b, c: np.sqrt(np.abs(a * b + c)) - np.floor(a / c), a, b, c)
    t = floats(np.float32).reshape(-1, 1)[:60000].reshape(20, 30, 100)
    check(lambda t, s: (t - s) * (t + s), t.transpose(1, 0, 2), np.float32(0.5))
    x = floats(np.float64)[::2]                              # a strided 1-d input
    check(lambda x: x * x - 1.0, x)


def test_operands_numba_cannot_take_run_blocked():
    x = floats(np.float64)
    check(lambda x: x * 2.0 - x, x.astype(">f8"), numba=False)     # byte-swapped: not lowered
    raw = np.zeros(x.nbytes + 1, np.uint8)
    unaligned = np.frombuffer(raw.data, np.float64, count=x.size, offset=1)
    assert not unaligned.flags.aligned
    c = tracenp.compile(lambda x: x * 2.0 - x, **NO_RULES)
    c(x)                                   # compiled for aligned arrays
    raw[1:] = x.view(np.uint8)
    with np.errstate(all="ignore"):        # numba declines the call: blocked answers it
        assert_bits(c(unaligned), x * 2.0 - x)


def test_multiple_outputs_and_zero_d_array_inputs():
    x = floats(np.float64)
    s = np.array(3.0)
    check(lambda x, s: (x * s, x - s, (x * s) / (x - s)), x, s)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_folded_sum_and_mean_equal_the_blocked_kernel(dtype, monkeypatch):
    x, y = floats(dtype, 1) % 100, floats(dtype, 2) % 100
    for f in (lambda x, y: np.sum((x - y) ** 2), lambda x, y: np.mean(x * y - 1.0),
              lambda x, y: (x * 2.0 + y).sum()):
        with np.errstate(all="ignore"):
            numba_result = tracenp.compile(f, **NO_RULES)(x, y)
            monkeypatch.setattr(config, "kernel", "blocked")
            blocked_result = tracenp.compile(f, **NO_RULES)(x, y)
            monkeypatch.setattr(config, "kernel", "numba")
            eager = f(x, y)
        assert_bits(numba_result, blocked_result)
        assert type(numba_result) is type(eager) and numba_result.dtype == eager.dtype
        np.testing.assert_allclose(numba_result, eager, rtol=1e-5 if dtype == np.float32 else 1e-12)
        assert "numba" in [choose_kernel(r) for r in _regions(f, x, y)]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_folded_sum_leaves_of_every_length_are_numpys(dtype, stream, monkeypatch):
    """The loops' leaves of NumPy's pairwise sum (fewer than 8 values; 8 accumulators and
    a remainder; a full 128), buffered (``flat``) or summed as computed (``stream``, here
    for any range), give np.sum's bits: one chunk, so the very same tree."""
    monkeypatch.setattr(nk, "_stream", lambda prog, ranges, size: stream)
    f = lambda x, y: np.sum((x - y) ** 2)      # noqa: E731
    g = lambda x, y: np.mean(x * y - 1.0)      # noqa: E731
    for n in (1, 3, 7, 8, 9, 15, 16, 17, 63, 127, 128, 129, 136, 255, 256, 1031):
        x, y = floats(dtype, 1)[:n] % 100, floats(dtype, 2)[:n] % 100
        for fn in (f, g):
            c = tracenp.compile(fn, **NO_RULES)
            with np.errstate(all="ignore"):
                got, want = c(x, y), fn(x, y)
            assert_bits(got, want, f"n={n}")
            regions = [node.params for plan in c._cache.values() for node in plan.graph.nodes
                       if isinstance(node.op, FusedOp)]
            assert [nk.numba_program(r).calls for r in regions] == [1], n
            assert ("stream" in nk.numba_program(regions[0]).kernels) == stream


def test_folded_sum_of_a_broadcast_region_equals_the_blocked_kernel(monkeypatch):
    a = floats(np.float64)[:70000].reshape(7, -1)[:, :9000] % 10
    b = floats(np.float64, 1)[:9000] % 10

    def f(a, b):
        return np.sum(a * b - a)
    numba_result = tracenp.compile(f, **NO_RULES)(a, b)
    monkeypatch.setattr(config, "kernel", "blocked")
    assert_bits(numba_result, tracenp.compile(f, **NO_RULES)(a, b))


def test_integer_reductions_wrap_like_numpy():
    for dt in (np.int8, np.int64, np.uint32, np.bool_):
        x = data(dt)
        check(lambda x: np.sum(x * x + x), x) if dt is not np.bool_ else check(lambda x: np.sum(x & ~x | x), x)
        check(lambda x: np.max(x + x - 1), x) if dt is not np.bool_ else None
        check(lambda x: np.min((x ^ 3) - 1), x) if dt is not np.bool_ else None


# ---------------------------------------------------------------- errors, as NumPy
def _warns_like_numpy(f, x):
    """Compile ``f``; its first call gives eager NumPy's bits and warning messages (the
    blocked kernel warns once per block group: the sets are compared).  Returns it and
    eager NumPy's result."""
    c = tracenp.compile(f, **NO_RULES)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        r = c(x)
    with warnings.catch_warnings(record=True) as want:
        warnings.simplefilter("always")
        e = f(x)
    assert_bits(r, e)
    assert {str(w.message) for w in got} == {str(w.message) for w in want}
    return c, e


def test_warnings_and_raises_are_numpys():
    x = floats(np.float64)
    f = lambda x: x / (x - x) + 1.0          # noqa: E731  divide by zero and 0/0
    c, e = _warns_like_numpy(f, x)
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        c(x)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_bits(c(x), e)
    xi, yi = ints(np.int32), ints(np.int32, 1)
    yi[5] = 0
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        tracenp.compile(lambda a, b: a // b + 1, **NO_RULES)(xi, yi)


def test_clean_inputs_raise_nothing():
    x = np.abs(floats(np.float64)[100:]) + 1.0
    c = tracenp.compile(lambda x: np.sqrt(x) * 2.0 - x / 3.0, **NO_RULES)
    with np.errstate(all="raise"):
        c(x)
        c(x)
    region = _regions(lambda x: np.sqrt(x) * 2.0 - x / 3.0, x)[0]
    assert choose_kernel(region) == "numba"


# ---------------------------------------------------------------- routed away
@pytest.mark.parametrize("f,args", [
    (lambda x: np.exp(x) * x + 1.0, (floats(np.float64),)),                  # transcendental
    (lambda x: x ** 2.5 + x, (np.abs(floats(np.float64)),)),                 # power
    (lambda x: x * x + x - 1, (floats(np.float16),)),                        # float16
    (lambda x: x * x + x - 1, ((floats(np.float64) + 1j).astype(np.complex64),)),
    (lambda x, y: x // y + x % y, (floats(np.float64), floats(np.float64, 1))),  # float //
    (lambda x, y: (x < y) & (y > 0), (ints(np.int64), ints(np.uint64))),     # mixed compare
    (lambda x, y: np.where(x > y, x, y) * 2 + 1, (ints(np.int64), ints(np.uint64))),  # -> f64 via where
])
def test_unsupported_regions_run_blocked(f, args):
    with np.errstate(all="ignore"):
        expected = f(*args)
        c = tracenp.compile(f, **NO_RULES)
        assert_bits(c(*args), expected)
    assert all(choose_kernel(r) != "numba" for r in _regions(f, *args))


def test_blocked_regions_run_their_exact_runs_as_numba_segments():
    x = floats(np.float64)
    xf = floats(np.float32, 1)

    def logistic(x):
        return 1.0 / (1.0 + np.exp(-(x * 0.5 - 1.0)))

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))
    for f, a in ((logistic, x), (gelu, xf), (lambda x: np.sum(np.exp(x * 0.5 - 1.0) * 2.0 + x), x)):
        c = check(f, a, numba=False)
        segs = [s for plan in c._cache.values() for n in plan.graph.nodes
                if isinstance(n.op, FusedOp) for s in nk.segments(n.params._program)]
        assert segs and all(s.prog.kernels for s in segs)
    ex = tracenp.explain(logistic, print_report=False, **NO_RULES)(x)
    assert "numba segments" in dict(ex.kernels)["blocked"]


def test_segments_warn_like_numpy():
    x = floats(np.float64)
    f = lambda x: np.exp(x / (x - x)) * 2.0 + 1.0      # noqa: E731
    c, e = _warns_like_numpy(f, x)
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        c(x)


def test_max_of_floats_is_left_to_blocked():
    x = floats(np.float64)
    check(lambda x: np.max(x * 2.0 + 1.0), x, numba=False)


# ---------------------------------------------------------------- cost model, explain
def test_auto_rents_then_compiles_in_the_background(monkeypatch):
    monkeypatch.setattr(config, "kernel", "auto")
    monkeypatch.setattr(nk, "_compile_estimate", lambda prog: 0.0)   # buy at once
    x = floats(np.float64, 7)[100:] % 10 + 1.0
    x = np.tile(x, 4)

    def f(x):
        return 0.25 * x * x * x + 0.75 * x * x - 1.5 * x - 2.0
    c = tracenp.compile(f, **NO_RULES)
    expected = f(x)
    region = _regions(f, x)[0]
    assert choose_kernel(region) == "numba"
    assert_bits(c(x), expected)                 # runs the fallback, starts the compile
    assert nk.wait_compiles(timeout=120)
    for _ in range(2):
        assert_bits(c(x), expected)
    assert [p.calls for p in programs(c)] == [2]


def test_cheap_regions_are_fused_for_numba_only(monkeypatch):
    monkeypatch.setattr(config, "kernel", "auto")
    x = floats(np.float64)[100:]
    x = np.tile(np.nan_to_num(x, posinf=1.0, neginf=-1.0) % 10, 2)

    def cheap(x):
        return np.sum((x - 1.0) * (x + 1.0))
    assert [choose_kernel(r) for r in _regions(cheap, x)] == ["numba"]
    monkeypatch.setattr(nk, "available", lambda: False)
    assert _regions(cheap, x) == []
    monkeypatch.undo()
    monkeypatch.setattr(config, "kernel", "auto")
    monkeypatch.setattr(nk, "_compile_estimate", lambda prog: 0.0)
    c = tracenp.compile(cheap, **NO_RULES)
    first = c(x)                       # op by op while it compiles
    assert nk.wait_compiles(timeout=120)
    assert_bits(c(x), first)           # the same bits from numba (the blocked partials)
    assert [p.calls for p in programs(c)] == [1]


def test_auto_prefers_numba_for_exact_regions_and_blocked_for_transcendentals(monkeypatch):
    monkeypatch.setattr(config, "kernel", "auto")
    big = np.tile(floats(np.float64), 5)

    def long_chain(x):
        return 0.25 * x * x * x + 0.75 * x * x - 1.5 * x - 2.0
    assert [choose_kernel(r) for r in _regions(long_chain, big)] == ["numba"]
    assert [choose_kernel(r) for r in _regions(lambda x: np.exp(x) * x + 1.0, big)] == ["blocked"]
    assert _regions(long_chain, big[:100]) == []          # small: not fused at all


def test_explain_shows_the_kind_and_the_source():
    x = floats(np.float64)
    ex = tracenp.explain(lambda x: x * 2.0 - x * x, print_report=False, **NO_RULES)(x)
    kinds = [k for k, _ in ex.kernels]
    assert "numba" in kinds
    text = dict(ex.kernels)["numba"]
    assert "def flat(" in text and "np.float64(x0 * x0)" in text


def test_compiled_kernels_are_cached_by_structure_not_size():
    a, b = floats(np.float64)[:40000], floats(np.float64)
    r1 = _regions(lambda x: x * 3.0 - x, a)[0]
    r2 = _regions(lambda x: x * 3.0 - x, b)[0]
    assert nk.numba_program(r1).key == nk.numba_program(r2).key


@pytest.mark.parametrize("threads", [2, 3, 4, 8])
@pytest.mark.parametrize("stream", [False, True])
def test_a_whole_sum_on_several_threads_is_numpys_bit_for_bit(threads, stream, monkeypatch):
    """A cheap region fused for numba only sums the whole value, as np.sum does: the top
    levels of NumPy's pairwise tree are split over the threads and added back in its order
    (by the ``flat`` loop, or the ``stream`` loop)."""
    monkeypatch.setattr(nk, "_stream", lambda prog, ranges, size: stream)
    monkeypatch.setattr(config, "kernel", "auto")
    monkeypatch.setattr(config, "threads", threads)
    monkeypatch.setattr(nk, "_compile_estimate", lambda prog: 0.0)
    split = []
    real = nk._run_whole_sum
    monkeypatch.setattr(nk, "_run_whole_sum", lambda *a: split.append(a[3]) or real(*a))
    rng = np.random.default_rng(5)
    funcs = [lambda x, y: np.mean((x - y) ** 2), lambda x, y: np.sum(x * y - 1.0)]
    for n in (1_000_003, 300_017, 262_144):
        for dt in (np.float64, np.float32):
            x = (rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)).astype(dt)
            y = rng.standard_normal(n).astype(dt)
            for f in funcs:
                c = tracenp.compile(f, **NO_RULES)
                c(x, y)
                assert nk.wait_compiles(timeout=120)
                assert_bits(c(x, y), f(x, y), f"n={n} {dt.__name__}")
    zeros = np.full(400_000, -0.0)                   # signed zeros: NumPy's sum is +0.0
    c = tracenp.compile(lambda x, y: np.sum(x * y), **NO_RULES)
    c(zeros, zeros.copy())
    assert nk.wait_compiles(timeout=120)
    assert_bits(c(zeros, -zeros), np.sum(zeros * -zeros))
    assert_bits(c(zeros, zeros.copy()), np.sum(zeros * zeros))
    assert len(split) >= 13 and set(split) >= {1_000_003, 300_017, 262_144}


def test_memory_bound_sums_over_large_ranges_stream(monkeypatch):
    """``_stream``: a folded float sum of at most one op per array read, in ranges of at
    least ``_STREAM_FROM`` on several threads, runs its ``stream`` loop; in auto mode the
    loop compiles in the background while ``flat`` answers; the result is np.sum's."""
    monkeypatch.setattr(config, "kernel", "auto")
    monkeypatch.setattr(config, "threads", 2)
    monkeypatch.setattr(nk, "_compile_estimate", lambda prog: 0.0)
    n = 2 * nk._STREAM_FROM + 17
    x, y = np.random.default_rng(1).standard_normal((2, n))
    light = lambda x, y: np.mean((x - y) ** 2)                                 # noqa: E731
    heavy = lambda x, y: np.sum(100.0 * (y - x * x) ** 2 + (1.0 - x) ** 2)     # noqa: E731
    for f, streams in ((light, True), (heavy, False)):
        c = tracenp.compile(f, **NO_RULES)
        c(x, y)
        assert nk.wait_compiles(timeout=120)
        for _ in range(2):
            assert_bits(c(x, y), f(x, y))
            assert nk.wait_compiles(timeout=120)
        [prog] = [nk.numba_program(node.params) for plan in c._cache.values()
                  for node in plan.graph.nodes if isinstance(node.op, FusedOp)]
        assert nk._stream(prog, 2, nk._STREAM_FROM) == streams
        assert not nk._stream(prog, 1, n) and not nk._stream(prog, 2, nk._STREAM_FROM - 1)
        assert ("stream" in prog.kernels) == streams


def test_the_pairwise_split_follows_numpys_tree():
    assert nk._pairwise_split(0, 1000, 1) == [(0, 496), (496, 1000)]
    assert nk._pairwise_split(0, 1000, 2) == [[(0, 248), (248, 496)], [(496, 744), (744, 1000)]]
    assert nk._pairwise_split(10, 100, 3) == (10, 110)          # at most 128: a leaf


def test_settled_once_the_region_runs_its_own_loop(monkeypatch):
    """The segments of a region's blocked fallback never run once the region's own loop
    does: they must not keep ``settled`` (a benchmark's warm-up) waiting forever."""
    monkeypatch.setattr(config, "kernel", "auto")
    monkeypatch.setattr(config, "min_fuse_elements", 1)
    monkeypatch.setattr(config, "min_fuse_work", 0)
    monkeypatch.setattr(nk, "_compile_estimate", lambda prog: 0.0)
    x, y = floats(np.float64, 1) % 100, floats(np.float64, 2) % 100

    def f(x, y):
        return np.sum((x - y) * (x + y))
    assert fallback_kernel(_regions(f, x, y)[0]) == "blocked"
    c = tracenp.compile(f, **NO_RULES)
    c(x, y)
    assert nk.wait_compiles(timeout=120)
    c(x, y)
    blocked = _regions_of_plan(c)[0]._program
    assert blocked._segments and any("flat" not in s.prog.kernels for s in blocked._segments)
    assert [p.calls for p in programs(c)] == [1]
    assert nk.settled(c)


def _regions_of_plan(c):
    return [n.params for plan in c._cache.values()
            for n in getattr(getattr(plan, "graph", None), "nodes", ()) if isinstance(n.op, FusedOp)]


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_float_fmax_and_fmin_run_numpys_loops(name):
    """Found by the fuzzer: which zero ``np.fmax(0.0, -0.0)`` returns depends on the
    element's place in NumPy's loop (SIMD body or C tail), so no scalar lowering is exact."""
    fn = getattr(np, name)
    for dt in (np.float32, np.float64):
        for n in (1, 17, 40, N + 3):
            x = np.zeros(n, dt)
            x[::3] = -0.0
            check(lambda x: fn(x + 0.0, -x), x, numba=False)
    check(lambda x: fn(x * 3, x - 1), data(np.int32))         # integers: no tie to tell
