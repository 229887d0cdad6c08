"""Hardening: self-verification (check=True), threads, the plan cache, memory, bad and
unusual input, no lost data when a call fails, and what every error message holds.

The random-program fuzzer is tests/test_fuzz.py; docs/testing.md has the figures.
"""
from __future__ import annotations

import gc
import os
import re
import threading
import tracemalloc
import warnings
import weakref
from pathlib import Path

import numpy as np
import pytest

import tracenp
from tests.diffcheck import compare_call
from tests.differential import assert_exact
from tracenp.config import config
from tracenp.optimize.framework import RULES, rule
from tracenp.optimize.pattern import C, Const, P, X

pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")

THIS_FILE = os.path.basename(__file__)
ROOT = Path(__file__).resolve().parents[1]


def line_of(marker: str) -> int:
    """The line number of the only line of this file containing ``# marker``."""
    with open(__file__) as fh:
        hits = [i for i, line in enumerate(fh, 1) if line.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


class configured:
    """Set ``tracenp.config`` fields for a block (restored after)."""

    def __init__(self, **kw):
        self.kw = kw

    def __enter__(self):
        self.saved = {k: getattr(config, k) for k in self.kw}
        for k, v in self.kw.items():
            setattr(config, k, v)

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            setattr(config, k, v)


# ============================================================== 2. self-verification

def test_check_is_off_by_default_and_on_with_check_true():
    def f(x):
        return np.exp(x) * 2.0

    plain, checked = tracenp.compile(f), tracenp.compile(f, check=True)
    x = np.linspace(-1, 1, 5)
    assert_exact(checked(x), f(x))
    assert_exact(plain(x), f(x))
    assert [p.verifier for p in plain.plans().values()] == [None]
    assert [type(p.verifier).__name__ for p in checked.plans().values()] == ["Verifier"]


def test_check_passes_where_the_rules_are_right():
    """Exact rewrites, accuracy rewrites (log1p: a different value, on purpose), random
    draws replayed from the same state, writes into arguments, globals, fused kernels."""
    weights = np.arange(4.0)

    def f(x, y, rng):
        z = x * 1 + y * 2.0 - 0.0
        x += np.log(1 + y)                  # log1p: changes values where y is tiny
        noise = np.random.normal(size=x.shape) + rng.uniform(size=x.shape)
        return np.sum(z * weights), np.sqrt(z ** 2 + 1.0) - 2.0, noise

    fc = tracenp.compile(f, check=True)
    for k in range(3):
        y = np.array([1e-20, 1.0, 2.0, -0.5]) * (k + 1)
        x1, x2 = np.arange(4.0), np.arange(4.0)
        np.random.seed(k)
        expected = f(x1, y, np.random.default_rng(k))
        np.random.seed(k)
        actual = fc(x2, y, np.random.default_rng(k))
        np.testing.assert_allclose(x2, x1, rtol=1e-15, atol=1e-15)   # (log1p)
        assert_exact(actual[:2], expected[:2])
        assert_exact(actual[2], expected[2])
    assert fc.trace_count == 1
    with configured(kernel="blocked"):        # every region fused, run by the blocked kernel
        g = tracenp.compile(lambda x: np.sqrt(x * x + 1.0) - x / 3.0, check=True)
        x = np.linspace(-5, 5, 101)
        assert_exact(g(x), np.sqrt(x * x + 1.0) - x / 3.0)


def test_check_accepts_a_folded_sum_over_several_blocks():
    """A sum folded into a fused region adds per-block partials (docs/kernels.md): not
    bit for bit NumPy's pairwise sum of the whole array, and not a VerificationError."""
    def f(x):
        return np.sum(np.sqrt(x * x + 1.0)) * 3.0, np.mean(x * 2.0 - 1.0)

    x = np.random.default_rng(1_000_000).standard_normal(1_000_000)
    with configured(kernel="blocked"):
        fc = tracenp.compile(f, check=True)
        actual = fc(x)
    assert any(n.op.name == "fused" and n.params.reduce is not None
               for p in fc.plans().values() for n in p.graph.nodes)
    np.testing.assert_allclose(actual, f(x), rtol=1e-13)


@pytest.fixture
def broken_rule():
    """A deliberately wrong rewrite, registered through the framework for one test."""
    @rule("broken_times_two", "canonicalize", P("multiply", X("x"), C(2.0)),
          doc="x * 2.0 -> x * 3.0 (wrong on purpose: tests/test_hardening.py)")
    def _broken(b, m):
        return b.call("multiply", m["x"], Const(3.0))
    try:
        yield "broken_times_two"
    finally:
        del RULES["broken_times_two"]


def test_check_names_a_broken_rule_and_the_users_line(broken_rule):
    def f(x, y):
        z = x * 2.0                         # the rewritten line
        return np.sin(y) + z

    x, y = np.arange(3.0), np.ones(3)
    wrong = tracenp.compile(f)(x, y)       # without check=True the broken rule goes unseen
    assert not np.array_equal(wrong, f(x, y))
    fc = tracenp.compile(f, check=True)
    with pytest.raises(tracenp.VerificationError) as info:
        fc(x, y)
    err = info.value
    text = str(err)
    assert "'broken_times_two'" in text
    assert err.source is not None and os.path.basename(err.source.filename) == THIS_FILE
    assert err.source.lineno == line_of("the rewritten line")
    assert "z = x * 2.0" in text and "disable=['broken_times_two']" in text
    assert text.rstrip().endswith("See docs/errors.md#verificationerror")
    # the advice works: without the rule, the checked call is right
    ok = tracenp.compile(f, check=True, disable=[broken_rule])
    assert_exact(ok(x, y), f(x, y))


def test_check_names_a_broken_kernel(monkeypatch):
    from tracenp.exec import kernels
    run_steps = kernels._run_steps

    def off_by_one(steps, ins, tmp, outs):
        run_steps(steps, ins, tmp, outs)
        for o in outs:
            o[...] += 1
    monkeypatch.setattr(kernels, "_run_steps", off_by_one)

    def f(x):
        y = np.abs(x) + 2.0
        return np.sqrt(y * y + 1.0) - 2.0   # the fused line

    with configured(kernel="blocked"):
        fc = tracenp.compile(f, check=True)
        with pytest.raises(tracenp.VerificationError) as info:
            fc(np.arange(6.0))
    text = str(info.value)
    assert "fused region" in text and "blocked kernel" in text
    assert "sqrt" in text and "fuse=False" in text
    assert info.value.source.lineno == line_of("the fused line")


def test_check_names_a_kernel_that_raises(monkeypatch):
    """A kernel that raises where the ops one by one do not."""
    from tracenp.exec import kernels

    def raises(steps, ins, tmp, outs):
        raise FloatingPointError("planted")
    monkeypatch.setattr(kernels, "_run_steps", raises)
    with configured(kernel="blocked"):
        fc = tracenp.compile(lambda x: np.sqrt(x * x + 1.0) * 2.0, check=True)   # raising kernel
        with pytest.raises(tracenp.VerificationError) as info:
            fc(np.arange(6.0))
    text = str(info.value)
    assert "raised FloatingPointError: planted" in text and "fused region" in text
    assert info.value.source.lineno == line_of("raising kernel")


# ============================================================== 3. threads

def _signature_inputs(k: int, seed: int):
    shapes = [(7,), (3, 5), (64, 3), (2, 2, 2), (20_000,), (0, 3)]   # (one block each)
    dtypes = [np.float64, np.float32]
    rng = np.random.default_rng(seed)
    shape, dtype = shapes[k % len(shapes)], dtypes[(k // len(shapes)) % len(dtypes)]
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape[-1:]).astype(dtype)


def _wait_for_background_compiles():
    try:
        from tracenp.exec import numba_kernel
        numba_kernel.wait_compiles()
    except Exception:       # noqa: BLE001 - no numba kind, or nothing to wait for
        pass


@pytest.mark.parametrize("kernel", ["blocked", "numexpr", "auto"])
def test_sixteen_threads_mixed_signatures_trace_once_each(kernel):
    def f(x, w):
        y = x * w + 1.5
        z = np.sqrt(np.abs(y) + 2.0) * 0.5 - y / 3.0 + np.maximum(y, 0.0)
        return z, np.sum(x * x + 1.0), x.T @ np.ones(x.shape[0], x.dtype) if x.ndim == 2 else z

    n_sigs = 12
    # fused regions on every size: the blocked kernel (two threads of its own) and numexpr
    with configured(kernel=kernel, min_fuse_elements=1, min_fuse_work=1, numexpr_min_ops=4):
        fc = tracenp.compile(f)
        errors, done = [], []
        barrier = threading.Barrier(16)

        def worker(t):
            try:
                barrier.wait(10)
                for j in range(30):
                    k = (t * 7 + j * 5) % n_sigs
                    args = _signature_inputs(k, seed=t * 1000 + j)
                    assert_exact(fc(*args), f(*args), where=f"thread {t} signature {k}")
                done.append(t)
            except Exception as e:       # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[0]
        assert sorted(done) == list(range(16))
        assert fc.trace_count == n_sigs              # each signature traced once
        kinds = {_kernel_of(n) for p in fc.plans().values() for n in p.graph.nodes
                 if n.op.name == "fused"}
    _wait_for_background_compiles()
    if kernel != "auto":
        assert kernel in kinds


def test_threads_replaying_a_new_plan_together():
    """Regression (found by the test above): a fused region's kernel was published to
    other threads before it was set up (AttributeError: no attribute 'kernel_for')."""
    def f(x):
        return np.sqrt(x * x + 2.0) - x / 3.0 + 1.0

    errors = []
    with configured(kernel="blocked", min_fuse_elements=1, min_fuse_work=1):
        for n in range(1, 13):
            fc = tracenp.compile(f)
            x = np.linspace(-3, 3, 50 * n)
            barrier = threading.Barrier(16)

            def worker():
                try:
                    barrier.wait(10)
                    assert_exact(fc(x), f(x))
                except Exception as e:       # noqa: BLE001 - reported below
                    errors.append(e)
            threads = [threading.Thread(target=worker) for _ in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert fc.trace_count == 1
    assert not errors, errors[0]


def _kernel_of(node):
    from tracenp.exec.kernels import choose_kernel
    return choose_kernel(node.params)


def test_numexpr_kernels_never_use_numexprs_shared_state(monkeypatch):
    """numexpr.evaluate/re_evaluate keep the last expression in module state (not
    thread-safe); tracenp calls a precompiled NumExpr object with explicit operands."""
    import numexpr

    def refuse(*a, **k):
        raise AssertionError("numexpr's evaluate/re_evaluate must not be used")
    monkeypatch.setattr(numexpr, "evaluate", refuse)
    monkeypatch.setattr(numexpr, "re_evaluate", refuse)
    with configured(kernel="numexpr"):
        f = tracenp.compile(lambda x, y: (x * y + 1.0) * (x - y) / (y * y + 2.0))
        x, y = np.linspace(0, 1, 1000), np.linspace(1, 2, 1000)
        assert_exact(f(x, y), (x * y + 1.0) * (x - y) / (y * y + 2.0))
        assert "numexpr" in {_kernel_of(n) for p in f.plans().values() for n in p.graph.nodes
                             if n.op.name == "fused"}
    source = (ROOT / "tracenp" / "exec" / "numexpr_kernel.py").read_text()
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"\b(re_evaluate|evaluate)\(", code.split('"""', 2)[2])


def test_scratch_buffers_are_per_thread():
    from tracenp.exec.kernels import _scratch
    got = {}

    def grab(name):
        got[name] = _scratch([np.dtype(np.float64)] * 2, 100)
    threads = [threading.Thread(target=grab, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grab("main")
    assert len({id(b) for bufs in got.values() for b in bufs}) == 6    # none shared



@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.float16, np.float64, np.complex128])
def test_scratch_buffers_start_on_a_cache_line(dtype):
    from tracenp.exec.kernels import _scratch
    bufs = _scratch([np.dtype(dtype)] * 3, 1001)
    assert all(b.__array_interface__["data"][0] % 64 == 0 and b.dtype == dtype
               and b.size >= 1001 and b.flags.c_contiguous and b.flags.writeable for b in bufs)
    assert len({b.__array_interface__["data"][0] for b in bufs}) == 3

# ============================================================== 4. the cache

def test_cache_is_bounded_least_recently_used_first():
    f = tracenp.compile(lambda x: x + 1, cache_size=3)
    a, b, c, d = (np.ones(n) for n in (1, 2, 3, 4))
    for x in (a, b, c, a, d):               # a is used again before d comes: b is dropped
        f(x)
    assert f.trace_count == 4 and len(f.plans()) == 3
    f(a), f(c), f(d)
    assert f.trace_count == 4
    f(b)                                    # dropped: traced again (and a, now oldest, goes)
    assert f.trace_count == 5 and len(f.plans()) == 3


def test_cache_size_default_comes_from_config():
    assert config.cache_size == 64
    f = tracenp.compile(lambda x: x * 2)
    with configured(cache_size=2):
        for n in range(1, 6):
            f(np.ones(n))
        assert len(f.plans()) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracenp.RecompileWarning)
        for n in range(1, 80):
            f(np.ones(n))
    assert len(f.plans()) == 64


@pytest.mark.parametrize("vary, says", [
    (lambda k: (np.ones(k + 1),), "argument 0: shape (8,) -> (9,)"),
    (lambda k: (np.ones(3, dtype=[np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                                   np.uint32, np.uint64, np.float16, np.float32][k]),),
     "argument 0: dtype uint64 -> float16"),
    (lambda k: (np.ones(3), k), "argument 1: static value 7 -> 8"),
])
def test_recompile_warning_names_what_keeps_changing(vary, says):
    f = tracenp.compile(lambda x, k=0: x + k)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(10):
            f(*vary(k))
    recompiles = [w for w in caught if issubclass(w.category, tracenp.RecompileWarning)]
    assert len(recompiles) == 1                          # once per function
    assert says in str(recompiles[0].message)
    assert os.path.basename(recompiles[0].filename) == THIS_FILE


@pytest.mark.parametrize("kind", ["plan", "writes", "fallback", "raises", "check"])
def test_compiled_functions_do_not_keep_arguments_alive(kind):
    def body(x, y):
        if kind == "writes":
            x += y
        if kind == "fallback":
            return np.nonzero(x > 0)[0].size       # data-dependent shape: runs eagerly
        if kind == "raises":
            return np.linalg.inv(x.reshape(2, 2))
        return x * y + 1.0

    f = tracenp.compile(body, check=(kind == "check"))
    refs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracenp.FallbackWarning)
        for k in range(3):
            x, y = np.full(4, float(k)), np.ones(4)   # all zeros at k=0: singular
            refs += [weakref.ref(x), weakref.ref(y)]
            try:
                f(x, y)
            except np.linalg.LinAlgError:
                assert kind == "raises"
            del x, y
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)


def _calls_keep_memory_flat(n_calls: int) -> tuple[int, int]:
    @tracenp.compile
    def step(state, force, dt):
        state += dt * force
        return np.sqrt(state * state + 1.0).sum(), state[::2]

    state, force = np.zeros(64), np.ones(64)
    for _ in range(2000):                            # warm up: plans, caches, scratch
        step(state, force, 0.01)
    _wait_for_background_compiles()                  # (of earlier tests: not ours to count)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(n_calls):
            step(state, force, 0.01)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert step.trace_count == 1
    return before, after


def test_20k_calls_do_not_grow_memory():
    before, after = _calls_keep_memory_flat(20_000)
    assert after - before < 16 * 1024, (before, after)


@pytest.mark.slow
def test_100k_calls_do_not_grow_memory():
    before, after = _calls_keep_memory_flat(100_000)
    assert after - before < 16 * 1024, (before, after)


# ============================================================== 5. bad and unusual input

def _readonly(a):
    a.flags.writeable = False
    return a


BAD_INPUTS = {
    "list": lambda: ([1.0, 2.0, -3.0],),
    "tuple of ints": lambda: ((1, 2, 3),),
    "nested list": lambda: ([[1, 2], [3, 4]],),
    "python int": lambda: (3,),
    "python float": lambda: (2.5,),
    "python complex": lambda: (1 - 2j,),
    "python bool": lambda: (True,),
    "numpy float32": lambda: (np.float32(1.5),),
    "numpy int8": lambda: (np.int8(-7),),
    "numpy bool": lambda: (np.bool_(True),),
    "0-d array": lambda: (np.array(4.0),),
    "empty array": lambda: (np.zeros((0, 3)),),
    "empty 1-d int": lambda: (np.array([], dtype=np.int64),),
    "non-contiguous": lambda: (np.arange(10.0)[::3],),
    "negative strides": lambda: (np.arange(6.0).reshape(2, 3)[::-1, ::-1],),
    "fortran order": lambda: (np.asfortranarray(np.arange(12.0).reshape(3, 4)),),
    "read-only": lambda: (_readonly(np.arange(3.0)),),
    "nan and inf": lambda: (np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324]),),
    "integer extremes": lambda: (np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max]),),
    "object dtype": lambda: (np.array([1, 2.5, 3], dtype=object),),
    "datetime64": lambda: (np.array(["2020-01-01", "2024-02-29"], dtype="datetime64[D]"),),
    "timedelta64": lambda: (np.array([1, 2], dtype="timedelta64[s]"),),
    "string array": lambda: (np.array(["a", "bc"]),),
    "np.matrix": lambda: (np.matrix([[1.0, 2.0], [3.0, 4.0]]),),
    "masked array": lambda: (np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0]),),
}

# what each gets (checked below): NumPy's result from a compiled plan, NumPy's result from
# eager NumPy with a FallbackWarning, or NumPy's own exception
FALLS_BACK = {"np.matrix", "masked array"}

BODIES = {
    "sum": lambda x: np.sum(np.asarray(x) * 2),
    "add": lambda x: x + x,
    "method": lambda x: np.abs(x).T,
}


def _outcome(fn, args):
    try:
        with np.errstate(all="ignore"):
            return fn(*args), None
    except Exception as e:       # noqa: BLE001 - compared below
        return None, e


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_and_unusual_input(name, body):
    fn = BODIES[body]
    f = tracenp.compile(fn)
    traces = []
    for call in range(2):
        expected, e_exc = _outcome(fn, BAD_INPUTS[name]())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            actual, a_exc = _outcome(f, BAD_INPUTS[name]())
        fallbacks = [w for w in caught if issubclass(w.category, tracenp.FallbackWarning)]
        if e_exc is not None:
            assert type(a_exc) is type(e_exc) and str(a_exc) == str(e_exc), (a_exc, e_exc)
            continue
        assert a_exc is None, a_exc
        assert type(actual) is type(expected)
        if isinstance(expected, np.ma.MaskedArray):
            assert_exact(actual.mask, expected.mask)
            assert_exact(actual.filled(0), expected.filled(0))
        elif isinstance(expected, np.ndarray) and expected.dtype == object:
            assert actual.dtype == object and actual.shape == expected.shape
            assert actual.tolist() == expected.tolist()
        elif isinstance(expected, (np.ndarray, np.generic)):
            assert_exact(np.asarray(actual), np.asarray(expected))
        else:
            assert actual == expected
        if name in FALLS_BACK:
            # not traced: eager NumPy, with one FallbackWarning for the signature
            assert len(fallbacks) == (call == 0), caught
            assert f.trace_count == 0
        else:
            assert not fallbacks
        traces.append(f.trace_count)
    if name not in FALLS_BACK and e_exc is None:
        # traced on the first call (a list of floats: specialized on their values, one
        # retrace per float), replayed on the second
        assert traces[0] >= 1 and traces[1] == traces[0]


def test_subclass_fallback_warning_names_the_call_and_the_class():
    f = tracenp.compile(lambda x: x + 1)
    with pytest.warns(tracenp.FallbackWarning) as caught:
        f(np.ma.masked_array([1.0, 2.0], mask=[0, 1]))     # the masked call
    text = str(caught[0].message)
    assert "MaskedArray" in text and f"line {line_of('the masked call')}" in text
    assert "See docs/errors.md#traceerror" in text


@pytest.mark.parametrize("call", [
    lambda f: f(np.ones(2)),
    lambda f: f(np.ones(2), 1, 2),
    lambda f: f(np.ones(2), y=1, z=1),
    lambda f: f(),
    lambda f: f(np.ones(2), x=np.ones(2)),
])
@pytest.mark.parametrize("strict", [False, True])
def test_wrong_arguments_raise_pythons_own_type_error(call, strict):
    def f(x, y):
        return x + y
    fc = tracenp.compile(f, strict=strict)
    with pytest.raises(TypeError) as eager:
        call(f)
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("error")     # no FallbackWarning, no RecompileWarning
            with pytest.raises(TypeError) as compiled:
                call(fc)
        assert str(compiled.value) == str(eager.value)
        assert type(compiled.value) is TypeError
    assert fc.trace_count == 0


def test_keyword_only_and_defaults_wrong_calls():
    def g(x, *, scale=2.0):
        return x * scale
    gc_ = tracenp.compile(g)
    for bad in [lambda h: h(np.ones(2), 3.0), lambda h: h(np.ones(2), scal=1.0)]:
        with pytest.raises(TypeError) as e1:
            bad(g)
        with pytest.raises(TypeError) as e2:
            bad(gc_)
        assert str(e1.value) == str(e2.value)
    compare_call(g, gc_, (np.ones(2),), {"scale": 3.0})


# ============================================================== 6. no lost data

def test_failed_call_leaves_arguments_as_they_were_linalg():
    def f(state, a):
        state += 1.0
        inv = np.linalg.inv(a)
        state *= 2.0
        return inv

    fc = tracenp.compile(f)
    state = np.arange(4.0)
    fc(state, np.eye(2) * 2.0)                       # traced, writes into state
    assert_exact(state, (np.arange(4.0) + 1.0) * 2.0)
    before = state.copy()
    with pytest.raises(np.linalg.LinAlgError):
        fc(state, np.zeros((2, 2)))                  # singular: raises midway
    assert_exact(state, before)                      # (eager NumPy would have added 1)
    assert fc.trace_count == 1
    fc(state, np.eye(2))                             # the plan still runs
    assert_exact(state, (before + 1.0) * 2.0)


@pytest.mark.parametrize("kernel", ["auto", "blocked"])
def test_failed_call_leaves_arguments_as_they_were_divide_by_zero(kernel):
    def f(counts, d, total):
        counts += 1
        total[:] = counts // d + total
        counts[::2] = 0
        return counts.sum()

    with configured(kernel=kernel, min_fuse_elements=1, min_fuse_work=1):
        fc = tracenp.compile(f)
        counts, total = np.arange(8), np.ones(8, np.int64)
        with np.errstate(divide="raise"):
            fc(counts, np.full(8, 2), total)
            c0, t0 = counts.copy(), total.copy()
            d = np.full(8, 3)
            d[5] = 0
            with pytest.raises(FloatingPointError):
                fc(counts, d, total)
        assert_exact(counts, c0)
        assert_exact(total, t0)
        with np.errstate(divide="ignore"):           # without errstate: NumPy's result
            compare_call(f, fc, (c0, d, t0))


# ============================================================== 7. errors

def _all_subclasses(cls):
    out = []
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("tracenp"):
            out.append(sub)
        out += _all_subclasses(sub)
    return list(dict.fromkeys(out))


ERROR_CLASSES = [tracenp.TracenpError] + _all_subclasses(tracenp.TracenpError)


def _sections() -> set[str]:
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    return {m.group(1).strip() for m in re.finditer(r"^## (\w+)\s*$", text, re.M)}


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_class_has_a_docs_section_and_a_good_message(cls):
    assert cls.__name__ in _sections(), f"docs/errors.md has no '## {cls.__name__}' section"

    def users_code():
        raise cls("something went wrong")     # raised here
    with pytest.raises(cls) as info:
        users_code()
    _check_message(info.value, line_of("raised here"))


def _check_message(err, line, op=None):
    text = str(err)
    lines = text.splitlines()
    assert len(lines) <= 15, text
    assert err.source is not None and os.path.basename(err.source.filename) == THIS_FILE, text
    assert err.source.lineno == line, text
    assert f'File "{err.source.filename}", line {line}' in text
    anchor = type(err).__name__.lower()
    assert lines[-1].strip() == f"See docs/errors.md#{anchor}", text
    assert "What to do:" in text or type(err) is tracenp.TracenpError, text
    if op is not None:
        assert op in err.reason, text


_SHUFFLE_RNG = np.random.default_rng(0)
_TOTAL = np.zeros(3)


def _concretization(x):
    if x.sum() > 0:                          # concretization
        return x
    return -x


def _data_dependent(x):
    return x[x > 0]                          # data-dependent


def _unsupported(x):
    return np.allclose(x, 0)                 # unsupported


def _mutation(x):
    np.add(_TOTAL, x, out=_TOTAL)            # mutation


def _untraced_random(x, rng):
    rng.shuffle(x)                           # shuffle
    return x


def _replay(x):
    return np.apply_along_axis(lambda r: r[r > 0], 0, x)   # replay


RAISED = [
    (tracenp.ConcretizationError, _concretization, (np.ones(3),), "concretization", "bool"),
    (tracenp.DataDependentShapeError, _data_dependent, (np.ones(3),), "data-dependent", "mask"),
    (tracenp.UnsupportedFunctionError, _unsupported, (np.ones(3),), "unsupported", "allclose"),
    (tracenp.UnsupportedMutationError, _mutation, (np.ones(3),), "mutation", "write"),
    (tracenp.UntracedRandomError, _untraced_random, (np.arange(3.0), np.random.default_rng(0)),
     "shuffle", "shuffle"),
]


@pytest.mark.parametrize("cls, fn, args, marker, op", RAISED, ids=lambda v: getattr(v, "__name__", ""))
def test_raised_errors_name_the_line_the_op_and_the_docs(cls, fn, args, marker, op):
    with pytest.raises(cls) as info:
        tracenp.compile(fn, strict=True)(*args)
    _check_message(info.value, line_of(marker), op)


def test_call_site_errors_name_the_call_line():
    permute = tracenp.compile(lambda x, axes: x.transpose(axes), static_argnums=1)
    with pytest.raises(tracenp.StaticArgumentError) as info:
        permute(np.ones((2, 3)), [1, 0])     # unhashable static
    _check_message(info.value, line_of("unhashable static"), "unhashable")
    with pytest.raises(tracenp.TraceError) as info:
        tracenp.compile(lambda x: x + 1, strict=True)(np.matrix([[1.0]]))   # subclass call
    _check_message(info.value, line_of("subclass call"), "matrix")


def test_replay_error_names_the_op():
    f = tracenp.compile(_replay, strict=True)
    f(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(tracenp.ReplayError) as info:
        f(np.array([-1.0, 2.0, -3.0]))
    _check_message(info.value, line_of("replay"), "apply_along_axis")


def test_verification_error_message(broken_rule):
    def f(x):
        return x * 2.0                       # verified line
    with pytest.raises(tracenp.VerificationError) as info:
        tracenp.compile(f, check=True)(np.ones(3))
    _check_message(info.value, line_of("verified line"), broken_rule)
