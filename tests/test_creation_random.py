"""Arrays created inside compiled functions, np.array/np.asarray on traced values, random
numbers (NumPy's global state, Generators passed in or read from globals), and the
patching of NumPy while tracing (undone afterwards, invisible to other threads).
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import tracenp
from tests.diffcheck import check, compare_call, rng
from tests.oracle import assert_same
from tracenp.patching import ORIGINALS


def vec(seed, n=10):
    return rng(seed).normal(size=n)


def mat(seed, shape=(4, 5)):
    return rng(seed).normal(size=shape)


# ---------------------------------------------------------------------------- creation

def test_creation_functions_then_written():
    def f(x):
        z = np.zeros((3, 10))
        z[0] = x
        z[1, ::2] = 1
        o = np.ones(10, dtype=np.int32)
        o[3:] = x[3:] * 5
        e = np.empty_like(x)
        e[:] = x
        e2 = np.empty((2, 5))
        e2[...] = x.reshape(2, 5)
        fu = np.full((10,), 2.5)
        fu += x
        ar = np.arange(10.0)
        ar *= x
        ar2 = np.arange(2, 12)
        ar2[x > 0] = 0
        ls = np.linspace(0, 1, 10)
        ls[::3] = x[::3]
        ey = np.eye(10)
        ey[0] = x
        idt = np.identity(10) * x
        tr = np.tri(10, 10, -1)
        tr[5] = x
        return z, o, e, e2, fu, ar, ar2, ls, ey, idt, tr
    check(f, [(vec(0),), (vec(1),)])


def test_creation_with_dtype_order_and_keywords():
    def f(x):
        a = np.zeros((2, 5), dtype=np.float32, order="F")
        a[1] = x[:5]
        b = np.full((2, 2), 7, dtype=np.int8)
        b[0, 0] = 3.9
        c = np.arange(start=1, stop=4, step=0.5)
        c[1] = x[0]
        d = np.linspace(0, 1, num=5, endpoint=False, dtype=np.float32)
        d += x[:5]
        e = np.eye(3, 4, k=1, dtype=int)
        e[2] = x[:4]
        g = np.logspace(0, 2, 4) + x[:4]
        return a, b, c, d, e, g, np.ones(()) + x[0]
    check(f, [(vec(0),), (vec(1),)])


def test_full_with_traced_fill_value():
    def f(x, s):
        a = np.full(x.shape, s)
        b = np.full((3,), x[2])
        a[::2] = x[::2]
        return a, b
    check(f, [(vec(0), 1.5), (vec(1), -0.5)])


def test_creation_shape_from_traced_value_falls_back():
    def f(x):
        n = x.sum()
        return np.zeros(n)
    with pytest.raises(tracenp.DataDependentShapeError):
        tracenp.compile(f, strict=True)(np.arange(4))
    fc = tracenp.compile(f)
    with pytest.warns(tracenp.FallbackWarning):
        compare_call(f, fc, (np.arange(4),))


def test_created_array_reused_across_loop_iterations():
    def f(x):
        out = np.zeros((4, 10))
        row = np.empty(10)
        for k in range(4):
            row[:] = x * k
            out[k] = row
            row[0] = -1.0        # does not change out[k]: out[k] = row copied
        return out, row
    check(f, [(vec(0),), (vec(1),)])


def test_created_array_is_fresh_each_call():
    # The plan must not hand back the same buffer twice (the caller may keep it).
    def f(x):
        z = np.zeros(10)
        z[:] = x
        return z
    fc = check(f, [(vec(0),), (vec(1),)])
    a, b = fc(vec(2)), fc(vec(3))
    assert not np.shares_memory(a, b)
    np.testing.assert_array_equal(a, vec(2))


def test_constant_created_array_returned_is_fresh_each_call():
    def f(x):
        return np.zeros(3), np.arange(4), x.sum()
    fc = check(f, [(vec(0),), (vec(1),)])
    r1, r2 = fc(vec(2)), fc(vec(3))
    r1[0][0] = 99.0
    assert r2[0][0] == 0.0 and not np.shares_memory(r1[1], r2[1])


# ---------------------------------------------------------------------------- np.array & co.

def test_array_copies_traced_values():
    def f(x):
        a = np.array(x)
        a[0] = 100.0            # must not change x
        b = np.array(x[::2], copy=True)
        b *= 2
        return a, b, x
    check(f, [(vec(0),), (vec(1),)])


def test_asarray_ascontiguousarray_are_views_when_numpy_says_so():
    def f(x):
        a = np.asarray(x)
        a[0] = 100.0            # writes x, as in NumPy (asarray returns x itself)
        c = np.ascontiguousarray(x[::2])
        c[1] = -1.0             # a copy: x unchanged
        d = np.ascontiguousarray(x)
        d[2] = 5.0              # x is contiguous: d is x
        return a, c, d
    check(f, [(vec(0),), (vec(1),)])


def test_asarray_with_dtype_and_fortran_order():
    def f(m):
        a = np.asarray(m, dtype=np.float32)
        b = np.asfortranarray(m)
        b[0, 0] = 7.0
        c = np.asarray(m, dtype=m.dtype)
        return a, b, c, np.asarray(m.T, order="C")
    check(f, [(mat(0),), (mat(1),)])


def test_array_of_traced_scalars_and_arrays():
    def f(x, p, q):
        a = np.array([p, q])
        b = np.array([x, x * 2])
        c = np.array([x[0], x[1], 3.0])
        d = np.array([[p, 1.0], [2.0, q]])
        e = np.array(p)
        g = np.array([x[0] * p, q], dtype=np.float32)
        return a, b, c, d, e, g
    check(f, [(vec(0), 1.5, 2.5), (vec(1), -1.0, 3.0)])


def test_array_of_mixed_int_scalar_promotes_like_numpy():
    def f(i, x):
        return np.array([i[0], 2]), np.array([i[0], x[0]]), np.array((i, i + 1))
    check(f, [(np.arange(3, dtype=np.int16), vec(1)), (np.arange(3, 6, dtype=np.int16), vec(2))])


def test_array_with_dtype_cast():
    def f(x):
        return np.array(x, dtype=np.int32), np.array([x[0], x[1]], dtype=int), np.asarray(x, int)
    check(f, [(vec(0) * 10,), (vec(1) * 10,)])


# ---------------------------------------------------------------------------- np.random (global)

def _global_draws(x):
    a = np.random.normal(size=x.shape) + x
    b = np.random.uniform(0, 1, 10)
    c = np.random.rand(3)
    d = np.random.randn(2, 2)
    e = np.random.randint(0, 10, size=5)
    g = np.random.choice(10, 3)
    h = np.random.permutation(10)
    i = np.random.permutation(x)
    j = np.random.normal(x, 0.1)            # traced loc
    k = np.random.choice(x, 4, replace=False)
    return a, b, c, d, e, g, h, i, j, k


def test_global_random_matches_eager_sequence():
    fc = tracenp.compile(_global_draws)
    for seed in (0, 1):
        x = vec(seed)
        np.random.seed(seed)
        expected = [_global_draws(x.copy()) for _ in range(3)]
        np.random.seed(seed)
        actual = [fc(x.copy()) for _ in range(3)]
        state_after_compiled = np.random.get_state()[1].copy()
        for a, e in zip(actual, expected):
            assert_same(a, e)
        np.random.seed(seed)
        for _ in range(3):
            _global_draws(np.zeros(10))
        np.testing.assert_array_equal(state_after_compiled, np.random.get_state()[1])
    assert fc.trace_count == 1
    # different numbers on each call
    assert not np.array_equal(actual[0][0], actual[1][0])


def test_global_random_state_after_calls_matches_eager():
    def f(x):
        return x + np.random.standard_normal(x.shape)
    fc = tracenp.compile(f)
    np.random.seed(3)
    fc(vec(0))
    fc(vec(1))
    after_compiled = np.random.get_state()[1].copy()
    np.random.seed(3)
    f(vec(0))
    f(vec(1))
    np.testing.assert_array_equal(after_compiled, np.random.get_state()[1])


def test_trace_does_not_consume_random_numbers_twice():
    # The first call traces *and* produces its result: one draw's worth of state.
    def f(x):
        return x * np.random.rand()
    fc = tracenp.compile(f)
    np.random.seed(5)
    r = fc(np.ones(2))
    np.random.seed(5)
    e = f(np.ones(2))
    assert_same(r, e)
    assert fc.trace_count == 1


def test_seed_inside_function_is_replayed():
    def f(x):
        np.random.seed(42)
        return x + np.random.normal(size=x.shape)
    fc = check(f, [(vec(0),), (vec(1),)])
    np.random.seed(1)
    a, b = fc(np.zeros(3)), fc(np.zeros(3))
    np.testing.assert_array_equal(a, b)


def test_random_draws_in_loop_and_shuffle():
    def f(x):
        y = x.copy()
        for _ in range(3):
            y += np.random.normal(scale=0.1, size=y.shape)
        np.random.shuffle(y)
        return y
    fc = tracenp.compile(f)
    for seed in (0, 1):
        np.random.seed(seed)
        e = [f(vec(seed)) for _ in range(2)]
        np.random.seed(seed)
        a = [fc(vec(seed)) for _ in range(2)]
        assert_same(a, e)
    assert fc.trace_count == 1


# ---------------------------------------------------------------------------- Generators

def test_generator_argument_matches_eager_and_advances_caller_generator():
    def f(x, g):
        return x + g.normal(size=x.shape), g.integers(0, 5, 3), g.random(), g.permutation(x)
    fc = check(f, [(vec(0), np.random.default_rng(1)), (vec(1), np.random.default_rng(2))])
    # the caller's generator advances exactly as with eager NumPy, call after call
    g_e, g_c = np.random.default_rng(7), np.random.default_rng(7)
    for s in range(3):
        assert_same(fc(vec(s), g_c), f(vec(s), g_e))
        assert g_c.bit_generator.state == g_e.bit_generator.state
    assert fc.trace_count == 1


def test_random_state_argument():
    def f(x, rs):
        return x * rs.uniform(size=x.shape) + rs.randn()
    check(f, [(vec(0), np.random.RandomState(1)), (vec(1), np.random.RandomState(2))])


def test_generator_argument_with_traced_parameters():
    def f(mu, sigma, g):
        return g.normal(mu, sigma), g.uniform(mu, mu + 1.0)
    check(f, [(vec(0), np.abs(vec(1)), np.random.default_rng(3)),
              (vec(2), np.abs(vec(3)), np.random.default_rng(4))])


GLOBAL_GEN = np.random.default_rng(11)
GLOBAL_RS = np.random.RandomState(12)


def _draws_from_global_generator(x):
    return x + GLOBAL_GEN.normal(size=x.shape)


def _draws_from_global_random_state(x):
    return x + GLOBAL_RS.uniform(size=x.shape)


@pytest.mark.parametrize("fn,gen", [
    (_draws_from_global_generator, GLOBAL_GEN),
    (_draws_from_global_random_state, GLOBAL_RS),
], ids=["Generator", "RandomState"])
def test_global_generator_falls_back(fn, gen):
    with pytest.raises(tracenp.UntracedRandomError, match="GLOBAL_"):
        tracenp.compile(fn, strict=True)(vec(0))
    fc = tracenp.compile(fn)
    x = vec(0)
    state = gen.bit_generator.state if isinstance(gen, np.random.Generator) else gen.get_state()
    with pytest.warns(tracenp.FallbackWarning, match="UntracedRandomError"):
        got = fc(x)
    # eager NumPy ran once: the generator advanced by exactly one draw
    if isinstance(gen, np.random.Generator):
        check_gen = np.random.default_rng(0)
        check_gen.bit_generator.state = state
        expected = x + check_gen.normal(size=x.shape)
    else:
        check_gen = np.random.RandomState(0)
        check_gen.set_state(state)
        expected = x + check_gen.uniform(size=x.shape)
    assert_same(got, expected)
    got2 = fc(x)                     # eager again, no second warning
    assert not np.array_equal(got, got2)


def test_global_generator_in_closure_falls_back():
    g = np.random.default_rng(0)

    def f(x):
        return x * g.random(x.shape)
    with pytest.raises(tracenp.UntracedRandomError):
        tracenp.compile(f, strict=True)(vec(0))


def test_unseeded_default_rng_inside_draws_fresh_numbers():
    def f(x):
        return x + np.random.default_rng().normal(size=x.shape)
    fc = tracenp.compile(f)
    a, b = fc(np.zeros(4)), fc(np.zeros(4))
    assert fc.trace_count == 1
    assert a.shape == (4,) and not np.array_equal(a, b)


def test_seeded_default_rng_inside_matches_eager():
    def f(x):
        g = np.random.default_rng(3)
        return x + g.normal(size=x.shape), g.integers(0, 9, 2)
    check(f, [(vec(0),), (vec(1),)])


def test_from_import_random_function_falls_back():
    from numpy.random import rand as imported_rand   # bound before any patching

    def f(x):
        return x * imported_rand()
    with pytest.raises(tracenp.UntracedRandomError):
        tracenp.compile(f, strict=True)(np.ones(2))


# ---------------------------------------------------------------------------- patching

PATCHED = [("zeros", np), ("array", np), ("asarray", np), ("arange", np), ("normal", np.random),
           ("default_rng", np.random), ("seed", np.random)]


def _assert_unpatched():
    for (module, name), original in ORIGINALS.items():
        assert getattr(module, name) is original, f"{module.__name__}.{name} left patched"


def test_patches_are_undone_after_a_trace():
    def f(x):
        return x + np.zeros(3)
    tracenp.compile(f)(np.ones(3))
    _assert_unpatched()
    assert type(np.zeros(2)) is np.ndarray


def test_patches_are_undone_when_the_function_raises():
    class Boom(Exception):
        pass

    def f(x):
        np.zeros(3)
        raise Boom("user error")
    with pytest.raises(Boom):
        tracenp.compile(f)(np.ones(3))
    _assert_unpatched()

    def g(x):
        return np.zeros(int(x.sum()))    # a tracing error (falls back)
    with pytest.raises(tracenp.TraceError):
        tracenp.compile(g, strict=True)(np.ones(3))
    _assert_unpatched()


def test_patches_are_undone_after_fallback_and_for_global_random_state():
    def f(x):
        return x[x > 0]
    with pytest.warns(tracenp.FallbackWarning):
        tracenp.compile(f)(vec(0))
    _assert_unpatched()


def test_other_thread_gets_plain_numpy_during_a_trace():
    inside = threading.Event()
    done = threading.Event()
    seen = {}

    def other():
        inside.wait(10)
        try:
            seen["zeros"] = type(np.zeros(3))
            seen["asarray"] = type(np.asarray([1.0, 2.0]))
            seen["array"] = type(np.array([1, 2]))
            # (not NumPy's *global* random state: a draw from it in another thread while
            # a trace runs is indistinguishable from an untraced draw; that trace falls
            # back.  Private generators are fine.)
            rs = np.random.RandomState(0)
            seen["rand"] = type(rs.rand(2))
            seen["rs"] = rs.rand()
            seen["gen"] = np.random.default_rng(1).random()
        finally:
            done.set()

    def f(x):
        inside.set()
        assert done.wait(10)
        z = np.zeros(3)         # this thread does trace
        seen["mine"] = type(z).__name__
        return z + x

    t = threading.Thread(target=other)
    t.start()
    fc = tracenp.compile(f)
    out = fc(np.ones(3))
    t.join(10)
    assert seen["zeros"] is np.ndarray and seen["asarray"] is np.ndarray
    assert seen["array"] is np.ndarray and seen["rand"] is np.ndarray
    rs = np.random.RandomState(0)
    rs.rand(2)
    assert seen["rs"] == rs.rand()
    assert seen["gen"] == np.random.default_rng(1).random()
    assert seen["mine"] == "ArrayProxy"
    np.testing.assert_array_equal(out, np.ones(3))
    _assert_unpatched()


def test_two_threads_tracing_at_once():
    barrier = threading.Barrier(2, timeout=10)
    results = {}

    def make(k):
        def f(x):
            z = np.zeros(x.shape)
            barrier.wait()               # both traces are active here
            z[:] = x * k
            return z + np.arange(3.0)
        return f

    def run(k):
        fc = tracenp.compile(make(k))
        results[k] = (fc(np.ones(3)), fc(np.full(3, 2.0)), fc.trace_count)

    threads = [threading.Thread(target=run, args=(k,)) for k in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    for k in (2, 3):
        a, b, n = results[k]
        np.testing.assert_array_equal(a, np.ones(3) * k + np.arange(3.0))
        np.testing.assert_array_equal(b, np.full(3, 2.0) * k + np.arange(3.0))
        assert n == 1
    _assert_unpatched()


def test_compiled_code_calling_numpy_internally_gets_real_arrays():
    # NumPy's Generator methods call np.empty from compiled code: they must get an
    # ndarray (a proxy there would crash the interpreter).
    g = np.random.default_rng(0)

    def f(x):
        noise = g.standard_normal(3)          # a global-ish generator: falls back
        return x + noise

    with pytest.raises(tracenp.UntracedRandomError):
        tracenp.compile(f, strict=True)(np.ones(3))
    _assert_unpatched()
