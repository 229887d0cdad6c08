"""The compile API: decorator forms, the cache and what retraces, argument kinds, methods,
globals and closures, fallback warnings and strict errors (naming the user's line),
leaked tracers, graph printing, very long graphs, nested compiled functions.
"""
from __future__ import annotations

import os
import sys
import threading
import warnings

import numpy as np
import pytest

import tracenp
from tests.diffcheck import check, compare_call, rng
from tracenp.compiler import Plan

THIS_FILE = os.path.basename(__file__)


def line_of(marker: str) -> int:
    """The line number of the only line of this file containing ``marker``."""
    with open(__file__) as fh:
        hits = [i for i, line in enumerate(fh, 1) if f"# {marker}" in line]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


def vec(seed, n=6):
    return rng(seed).normal(size=n)


# ---------------------------------------------------------------------------- decorator forms

def test_decorator_plain():
    @tracenp.compile
    def f(x):
        return np.exp(-x) * 2

    assert isinstance(f, tracenp.CompiledFunction)
    assert f.__name__ == "f" and f.__wrapped__ is not None
    check(f.fn, [(vec(0),), (vec(1),)], compiled=f)


def test_decorator_with_static_argnums():
    @tracenp.compile(static_argnums=1)
    def f(x, p):
        return np.sum(np.abs(x) ** p)

    check(f.fn, [(vec(0), 2.0), (vec(1), 2.0)], compiled=f)
    compare_call(f.fn, f, (vec(2), 3.0))
    assert f.trace_count == 2                       # a new static value: a new plan


def test_decorator_with_static_argnames_and_kwargs():
    @tracenp.compile(static_argnames=("axis", "order"))
    def f(x, axis=0, order=2.0):
        return np.sum(np.abs(x) ** order, axis=axis)

    m = rng(0).normal(size=(3, 4))
    for kw in ({"axis": 0}, {"axis": 1}, {"axis": 1, "order": 1.0}, {"axis": 1}):
        compare_call(f.fn, f, (m + kw.get("order", 0),), kw)
    assert f.trace_count == 3


def test_static_argnums_as_keyword_and_negative():
    @tracenp.compile(static_argnums=(-1,))
    def f(x, mode):
        return x * 2 if mode == "double" else x * 3

    compare_call(f.fn, f, (vec(0), "double"))
    compare_call(f.fn, f, (vec(1),), {"mode": "triple"})
    assert f.trace_count == 2


def test_static_argnums_out_of_range_and_unhashable():
    with pytest.raises(tracenp.StaticArgumentError):
        tracenp.compile(lambda x: x, static_argnums=3)
    f = tracenp.compile(lambda x, opts: x * len(opts), static_argnums=1)
    with pytest.raises(tracenp.StaticArgumentError, match="unhashable"):
        f(np.ones(2), [1, 2])


def test_strict_keyword():
    @tracenp.compile(strict=True)
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(tracenp.ConcretizationError):
        f(np.ones(3))


def test_compiling_a_compiled_function_unwraps():
    f = tracenp.compile(lambda x: x + 1)
    g = tracenp.compile(f)
    assert g.fn is f.fn


# ---------------------------------------------------------------------------- the cache

def test_same_signature_does_not_retrace_new_shape_does():
    def f(x):
        return x * x.sum()
    fc = tracenp.compile(f)
    for s in range(3):
        compare_call(f, fc, (vec(s),))
    assert fc.trace_count == 1
    compare_call(f, fc, (vec(0, 7),))
    compare_call(f, fc, (vec(0).astype(np.float32),))
    compare_call(f, fc, (rng(0).normal(size=(2, 3)),))
    assert fc.trace_count == 4
    compare_call(f, fc, (vec(5),))
    assert fc.trace_count == 4


def test_layout_is_part_of_the_signature():
    def f(m):
        return m.ravel(), m + 1
    fc = tracenp.compile(f)
    base = rng(0).normal(size=(4, 6))
    compare_call(f, fc, lambda: (base.copy(),))
    compare_call(f, fc, lambda: (np.asfortranarray(base),))
    compare_call(f, fc, lambda: (np.ascontiguousarray(base[:, ::2]),))
    compare_call(f, fc, lambda: (base.copy()[:, ::2],))               # strided
    compare_call(f, fc, lambda: (base.copy()[:, ::2] * 0 + 1,))      # C again: cached
    compare_call(f, fc, lambda: (np.asfortranarray(base) * 2,))      # F again: cached
    assert fc.trace_count == 4


def test_float_argument_does_not_retrace():
    def f(x, dt, z):
        return x + dt * x, x * z
    check(f, [(vec(0), 0.1, 1j), (vec(1), 0.7, 2 - 1j), (vec(2), -3.0, 0j)])


def test_float_deciding_control_flow_specializes():
    def f(x, limit):
        if limit > 1.0:
            return np.minimum(x, limit)
        return x
    fc = tracenp.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error", tracenp.FallbackWarning)
        for lim in (2.5, 0.5, 2.5, 3.0):
            compare_call(f, fc, (vec(0) * 3, lim))
    assert fc.trace_count >= 3
    assert all(type(p) is Plan for p in fc.plans().values())


def test_int_argument_specializes():
    def f(x, n):
        for _ in range(n):
            x = x * 0.5 + 1
        return x, n
    fc = tracenp.compile(f)
    for n in (1, 3, 1, 3):
        compare_call(f, fc, (vec(n), n))
    assert fc.trace_count == 2


def test_numpy_scalar_argument_is_traced():
    def f(x, s):
        return x * s, s + 1
    check(f, [(vec(0), np.float32(2.0)), (vec(1), np.float32(-1.5))])


@pytest.mark.parametrize("args", [
    lambda s: ((vec(s), vec(s + 1)), ),
    lambda s: ([vec(s), vec(s + 1)], ),
    lambda s: ({"a": vec(s), "b": vec(s + 1)}, ),
], ids=["tuple", "list", "dict"])
def test_container_arguments(args):
    def f(c):
        a, b = (c["a"], c["b"]) if isinstance(c, dict) else c
        return {"sum": a + b, "pair": (a * 2, [b])}
    check(f, [args(0), args(2)])


def test_container_arguments_mutated_in_place():
    def f(state):
        state["x"] += state["v"] * 0.1
        state["log"][0][...] = state["x"].sum()
    check(f, [({"x": vec(0), "v": vec(1), "log": [np.zeros(())]},),
              ({"x": vec(2), "v": vec(3), "log": [np.zeros(())]},)])


def test_none_strings_and_defaults():
    def f(x, y=None, mode="add", scale=2):
        if y is None:
            y = x
        return x + y * scale if mode == "add" else x - y
    fc = tracenp.compile(f)
    compare_call(f, fc, (vec(0),))
    compare_call(f, fc, (vec(1),))
    compare_call(f, fc, (vec(2), vec(3)))
    compare_call(f, fc, (vec(2), vec(3)), {"mode": "sub"})
    compare_call(f, fc, (vec(4), vec(5)), {"mode": "sub"})
    compare_call(f, fc, (vec(4),), {"scale": 3})
    assert fc.trace_count == 4


def test_keyword_and_positional_spellings():
    def f(x, y):
        return x - y
    fc = tracenp.compile(f)
    compare_call(f, fc, (vec(0), vec(1)))
    compare_call(f, fc, (vec(0),), {"y": vec(1)})
    compare_call(f, fc, (), {"y": vec(1), "x": vec(2)})
    compare_call(f, fc, (), {"x": vec(3), "y": vec(4)})


def test_varargs_and_varkwargs():
    def f(*xs, **weights):
        total = sum(x * weights.get(f"w{i}", 1.0) for i, x in enumerate(xs))
        return total
    check(f, [(vec(0), vec(1), vec(2)), (vec(3), vec(4), vec(5))],
          kwargsets=[{"w1": 0.5}, {"w1": 2.0}])


def test_python_scalar_results_types():
    def f(x, a):
        return a * 2.0, x.shape[0], x.ndim, "tag", None, x.sum()
    check(f, [(vec(0), 1.5), (vec(1), 2.5)])


def test_unsupported_argument_type_falls_back():
    class Box:
        pass

    def f(x, box):
        return x * 2
    fc = tracenp.compile(f)
    with pytest.warns(tracenp.FallbackWarning, match="Box"):
        compare_call(f, fc, (vec(0), Box()))


# ---------------------------------------------------------------------------- methods

class Model:
    def __init__(self, w, lr=0.5, steps=2):
        self.w = w
        self.lr = lr
        self.steps = steps

    @tracenp.compile
    def forward(self, x):
        for _ in range(self.steps):
            x = np.tanh(x * self.w) + self.lr
        return x

    def eager_forward(self, x):
        return Model.forward.fn(self, x)

    def __eq__(self, other):           # makes instances unhashable
        return self is other


def test_compiled_method():
    m = Model(vec(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", tracenp.FallbackWarning)
        for s in (1, 2):
            np.testing.assert_array_equal(m.forward(vec(s)), m.eager_forward(vec(s)))
        before = Model.forward.trace_count
        np.testing.assert_array_equal(m.forward(vec(3)), m.eager_forward(vec(3)))
        assert Model.forward.trace_count == before
        # in-place change of an attribute array: seen without retracing
        m.w[0] = 10.0
        np.testing.assert_array_equal(m.forward(vec(3)), m.eager_forward(vec(3)))
        assert Model.forward.trace_count == before
        # rebinding attributes: retraced, right results
        m.w = vec(9)
        np.testing.assert_array_equal(m.forward(vec(3)), m.eager_forward(vec(3)))
        m.lr = 0.0
        m.steps = 3
        np.testing.assert_array_equal(m.forward(vec(3)), m.eager_forward(vec(3)))
        # another instance: its own attributes
        other = Model(vec(4), lr=1.0)
        np.testing.assert_array_equal(other.forward(vec(3)), other.eager_forward(vec(3)))
        # called through the class
        np.testing.assert_array_equal(Model.forward(other, vec(5)), other.eager_forward(vec(5)))


def test_method_with_static_argnums_zero():
    class Scaler:
        def __init__(self, k):
            self.k = k

        def __hash__(self):
            return hash(self.k)

        def __eq__(self, other):
            return type(other) is Scaler and other.k == self.k

        @tracenp.compile(static_argnums=0)
        def apply(self, x):
            return x * self.k

    a, b, c = Scaler(2.0), Scaler(3.0), Scaler(2.0)
    for s in (a, b, c, a):
        np.testing.assert_array_equal(s.apply(vec(0)), vec(0) * s.k)
    assert Scaler.apply.trace_count == 2


# ---------------------------------------------------------------------------- globals & closures

GLOBAL_W = np.ones(4)


def _uses_global(x):
    return x * GLOBAL_W + GLOBAL_W.sum()


def test_global_array_read_at_call_time():
    global GLOBAL_W
    saved = GLOBAL_W
    try:
        fc = tracenp.compile(_uses_global)
        compare_call(_uses_global, fc, (vec(0, 4),))
        GLOBAL_W = vec(1, 4)                      # rebound, same type: no retrace
        compare_call(_uses_global, fc, (vec(2, 4),))
        assert fc.trace_count == 1
        GLOBAL_W[1] = 100.0                       # in place
        compare_call(_uses_global, fc, (vec(2, 4),))
        assert fc.trace_count == 1
        GLOBAL_W = vec(1, 5)                      # new shape: retrace
        compare_call(_uses_global, fc, (vec(3, 5),))
        assert fc.trace_count == 2
        GLOBAL_W = vec(1, 5).astype(np.float32)   # new dtype: retrace
        compare_call(_uses_global, fc, (vec(3, 5),))
        assert fc.trace_count == 3
    finally:
        GLOBAL_W = saved


def test_closure_array_read_at_call_time():
    w = np.ones(3)

    def f(x):
        return x @ w
    fc = tracenp.compile(f)
    compare_call(f, fc, (vec(0, 3),))
    w = vec(5, 3)                                 # rebinding the closure cell
    compare_call(f, fc, (vec(0, 3),))
    w[0] = -7.0
    compare_call(f, fc, (vec(1, 3),))
    assert fc.trace_count == 1
    w = vec(5, 4)
    compare_call(f, fc, (vec(1, 4),))
    assert fc.trace_count == 2


def test_computation_on_a_global_alone_is_not_baked_in():
    # W.sum(), W.T @ W, W[0]: no traced value takes part, yet they are computed per call.
    global GLOBAL_W
    saved = GLOBAL_W
    try:
        GLOBAL_W = vec(0, 4)

        def f(x):
            return x * GLOBAL_W.sum() + GLOBAL_W[0] + (GLOBAL_W @ GLOBAL_W.T)
        fc = tracenp.compile(f)
        compare_call(f, fc, (vec(1, 4),))
        GLOBAL_W *= 3.0                           # in place
        compare_call(f, fc, (vec(1, 4),))
        GLOBAL_W = vec(2, 4)                      # rebound
        compare_call(f, fc, (vec(1, 4),))
        assert fc.trace_count == 1
    finally:
        GLOBAL_W = saved


def test_closure_array_alone_and_unused_global():
    scale = np.array(2.0)
    unused = np.ones(3)

    def f(x, flag):
        if flag:
            return x * unused
        return x * float(2.0) + scale * scale     # scale*scale: no traced operand
    fc = tracenp.compile(f)
    compare_call(f, fc, (vec(0, 3), False))
    scale[...] = 5.0
    compare_call(f, fc, (vec(0, 3), False))
    unused = np.ones(7)                           # not read by this plan: no retrace
    compare_call(f, fc, (vec(1, 3), False))
    assert fc.trace_count == 1
    g = tracenp.make_graph(f)(vec(0, 3), False)
    assert "@closure" in str(g) and len(g.inputs) == 2


INTERIOR = np.array([False, True, True, True, False])


def test_global_boolean_mask_is_guarded_by_value():
    def f(x):
        y = x.copy()
        y[INTERIOR] = 0.0
        return x[INTERIOR] * 2, y
    fc = tracenp.compile(f)
    saved = INTERIOR.copy()
    try:
        for s in (0, 1):
            compare_call(f, fc, (vec(s, 5),))
        assert fc.trace_count == 1
        INTERIOR[0] = True                        # the mask changes: a new plan
        compare_call(f, fc, (vec(2, 5),))
        assert fc.trace_count == 2
        compare_call(f, fc, (vec(3, 5),))
        assert fc.trace_count == 2
    finally:
        INTERIOR[...] = saved


def test_write_into_global_array_falls_back_and_writes_it():
    global GLOBAL_W
    saved = GLOBAL_W
    try:
        GLOBAL_W = np.zeros(4)

        def f(x):
            GLOBAL_W[:] = x
            return x * 2
        fc = tracenp.compile(f)
        with pytest.warns(tracenp.FallbackWarning, match="UnsupportedMutationError"):
            fc(vec(0, 4))
        np.testing.assert_array_equal(GLOBAL_W, vec(0, 4))
        GLOBAL_W[:] = 0.0
        with pytest.raises(tracenp.UnsupportedMutationError):
            tracenp.compile(f, strict=True)(vec(0, 4))
        np.testing.assert_array_equal(GLOBAL_W, 0.0)       # the trace wrote nothing
    finally:
        GLOBAL_W = saved


# ---------------------------------------------------------------------------- fallback & errors

def _concretizes(x):
    if x.sum() > 0:                                   # <concretize>
        return x
    return -x


def _masks(x):
    y = x * 2
    return y[y > 0]                                   # <mask-read>


def _unsupported(x):
    return np.array_str(x)                            # <unsupported>


def test_fallback_warning_names_file_and_line_once():
    fc = tracenp.compile(_concretizes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for s in range(3):
            compare_call(_concretizes, fc, (vec(s),))
        compare_call(_concretizes, fc, (vec(0, 7),))   # another signature, same reason
    fallbacks = [w for w in caught if issubclass(w.category, tracenp.FallbackWarning)]
    assert len(fallbacks) == 1, [str(w.message) for w in fallbacks]
    msg = str(fallbacks[0].message)
    assert f"{THIS_FILE}:{line_of('<concretize>')}" in msg
    assert "ConcretizationError" in msg
    # the warning itself points at the caller's line (outside tracenp)
    assert os.path.basename(fallbacks[0].filename) in (THIS_FILE, "diffcheck.py")


def test_fallback_warning_per_reason():
    def f(x, mode):
        if mode == "a":
            return x[x > 0]
        return np.unique(x)
    fc = tracenp.compile(f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for mode in ("a", "b", "a", "b"):
            compare_call(f, fc, (vec(0), mode))
    kinds = [str(w.message) for w in caught if issubclass(w.category, tracenp.FallbackWarning)]
    assert len(kinds) == 2
    assert "x[mask]" in kinds[0] and "unique" in kinds[1]


@pytest.mark.parametrize("fn,err,marker", [
    (_concretizes, tracenp.ConcretizationError, "<concretize>"),
    (_masks, tracenp.DataDependentShapeError, "<mask-read>"),
    (_unsupported, tracenp.UnsupportedFunctionError, "<unsupported>"),
], ids=["concretization", "data-dependent-shape", "unsupported-function"])
def test_strict_errors_name_the_line(fn, err, marker):
    fc = tracenp.compile(fn, strict=True)
    with pytest.raises(err) as info:
        fc(vec(0))
    assert isinstance(info.value, tracenp.TraceError)
    src = info.value.source
    assert src is not None and os.path.basename(src.filename) == THIS_FILE
    assert src.lineno == line_of(marker)
    text = str(info.value)
    assert f"line {line_of(marker)}" in text and marker in text     # the source line is shown
    assert "docs/errors.md#" in text
    # non-strict: the same error becomes a FallbackWarning and the right result
    with pytest.warns(tracenp.FallbackWarning, match=err.__name__):
        compare_call(fn, tracenp.compile(fn), (vec(0),))


def test_user_error_propagates_unchanged_and_function_runs_once():
    calls = []

    def f(x, y):
        calls.append(1)
        return x + y                   # shapes do not broadcast
    fc = tracenp.compile(f)
    with pytest.raises(ValueError, match="broadcast"):
        fc(np.ones(3), np.ones(4))
    assert len(calls) == 2             # the trace, then eager NumPy: once each


def test_internal_tracing_error_runs_eagerly_once(monkeypatch):
    calls = []

    def f(x):
        calls.append(1)
        if tracenp.tracer.is_tracer(x):
            raise RuntimeError("stands in for a tracenp bug")
        return x * 2
    fc = tracenp.compile(f)
    with pytest.warns(tracenp.FallbackWarning, match="internal error"):
        out = fc(np.ones(3))
    np.testing.assert_array_equal(out, np.full(3, 2.0))
    assert len(calls) == 2                      # the trace, then one eager run
    fc(np.ones(3))
    assert len(calls) == 3                      # eager from now on, no retrace
    with pytest.raises(tracenp.TraceError, match="internal error"):
        tracenp.compile(f, strict=True)(np.ones(3))


def test_leaked_tracer():
    leaked = []

    def leak(x):
        leaked.append(x * 2)
        return x
    tracenp.compile(leak)(np.ones(3))
    assert tracenp.tracer.is_tracer(leaked[0])

    def use(x):
        return x + leaked[0]                      # <leaked>
    with pytest.raises(tracenp.TraceError, match="leaked tracer") as info:
        tracenp.compile(use, strict=True)(np.ones(3))
    assert info.value.source.lineno == line_of("<leaked>")
    # outside any trace, a leaked tracer refuses to compute (no silent proxy results)
    with pytest.raises(tracenp.TraceError, match="leaked tracer"):
        leaked[0] + 1
    with pytest.raises(tracenp.TraceError, match="leaked tracer"):
        np.sin(leaked[0])
    # non-strict: the eager run raises the same error; no traced value is returned
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracenp.FallbackWarning)
        with pytest.raises(tracenp.TraceError, match="leaked tracer"):
            tracenp.compile(use)(np.ones(3))


# ---------------------------------------------------------------------------- make_graph

def test_make_graph_listing():
    def f(x, y, dt):
        z = np.zeros(x.shape)
        z[1:] = x[:-1] * dt                        # <graph-write>
        return np.sum(z + y)                       # <graph-sum>
    g = tracenp.make_graph(f)(vec(0), vec(1), 0.5)
    text = str(g)
    assert isinstance(g, tracenp.Graph)
    assert text.startswith("{ lambda a:f64[6] b:f64[6] c:float~. let")
    for op in ("zeros", "getitem" if "getitem" in text else "a[:-1]", "multiply", "add", "sum"):
        assert op in text, text
    assert f"{THIS_FILE}:{line_of('<graph-write>')}" in text
    assert f"{THIS_FILE}:{line_of('<graph-sum>')}" in text
    assert "] = " in text                           # the write is shown as a write
    assert text.rstrip().endswith("}")
    assert repr(g).startswith("<tracenp.Graph f:")
    # node sources know the user's line text too
    sources = [n.source for n in g.nodes if n.source is not None]
    assert any("<graph-write>" in s.line for s in sources)


def test_make_graph_static_args_and_writebacks():
    def f(x, k):
        x *= k
        return None
    g = tracenp.make_graph(f, static_argnums=1)(vec(0), 3)
    text = str(g)
    assert "writes back: arg0" in text
    assert "3" in text


def test_make_graph_does_not_touch_arguments():
    def f(x):
        x[0] = 99.0
        return x
    a = vec(0)
    before = a.copy()
    tracenp.make_graph(f)(a)
    np.testing.assert_array_equal(a, before)


# ---------------------------------------------------------------------------- long graphs

def _long_chain(n):
    def f(x):
        for _ in range(n):
            x = x + 1.0
        return x
    return f


def _long_graph_roundtrip(n):
    f = _long_chain(n)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(min(old, 1000))          # nothing may recurse per node
    try:
        g = tracenp.make_graph(f, optimize=False)(np.zeros(3))
        assert len(g) == n
        text = str(g)
        assert text.count("\n") >= n and text.count("add(") == n
        x = np.linspace(0.1, 0.3, 3)               # (not exact integers: rounding matters)
        expected = f(x.copy())
        fc = tracenp.compile(f)                     # traced, optimized, replayed
        np.testing.assert_array_equal(fc(np.zeros(3)), np.full(3, float(n)))
        np.testing.assert_array_equal(fc(x), expected)
        assert fc.trace_count == 1
    finally:
        sys.setrecursionlimit(old)


def test_long_graph_20k_nodes():
    _long_graph_roundtrip(20_000)


@pytest.mark.slow
def test_long_graph_100k_nodes():
    _long_graph_roundtrip(100_000)


def test_long_graph_with_writes():
    def f(x):
        y = np.zeros(x.shape)
        for i in range(5000):
            y[i % 3] += x[i % 3]
        return y
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(min(old, 1000))
    try:
        check(f, [(vec(0, 3),), (vec(1, 3),)])
    finally:
        sys.setrecursionlimit(old)


# ---------------------------------------------------------------------------- nesting

@tracenp.compile
def _inner(x, k):
    return np.sin(x) * k


@tracenp.compile
def _outer(x):
    return _inner(x, 2) + _inner(x * 2, 3)


def test_nested_compiled_functions():
    def eager(x):
        return _inner.fn(x, 2) + _inner.fn(x * 2, 3)
    inner_before = _inner.trace_count
    check(eager, [(vec(0),), (vec(1),)], compiled=_outer)
    assert _inner.trace_count == inner_before      # inlined into the outer trace
    # the inner function still works (and traces) on its own
    check(_inner.fn, [(vec(0), 2), (vec(1), 2)], compiled=_inner, traces=inner_before + 1)


def test_nested_compiled_function_that_mutates():
    @tracenp.compile
    def step(s, dt):
        s += dt * np.cos(s)

    @tracenp.compile
    def run(s, dt, n):
        for _ in range(n):
            step(s, dt)
        return s

    def eager(s, dt, n):
        for _ in range(n):
            step.fn(s, dt)
        return s
    check(eager, [(vec(0), 0.1, 3), (vec(1), 0.2, 3)], compiled=run)


def test_nested_untraceable_inner_falls_back_as_a_whole():
    @tracenp.compile
    def inner(x):
        return x[x > 0]

    @tracenp.compile
    def outer(x):
        return inner(x).max()        # (a full .sum() of a selection would be traced)

    with pytest.warns(tracenp.FallbackWarning):
        compare_call(lambda x: inner.fn(x).max(), outer, (vec(0),))


def test_compiled_function_called_from_threads():
    def f(x, k):
        return np.cumsum(x) * k
    fc = tracenp.compile(f)
    results, errors = {}, []

    def worker(i):
        try:
            for j in range(20):
                x = vec(i * 100 + j)
                np.testing.assert_array_equal(fc(x, 2), f(x, 2))
            results[i] = True
        except Exception as e:       # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(results) == 4
    assert fc.trace_count == 1


def test_a_specialized_or_static_minus_zero_is_not_zero():
    """0.0 == -0.0 in Python, but a plan specialized on one must not answer the other;
    NaN, equal to nothing, still reuses its plan."""
    x = np.array([1.0, -1.0])

    @tracenp.compile
    def f(a, s):
        return a * s if s == 0 else a
    for s in (0.0, -0.0, 0.0, -0.0):
        np.testing.assert_array_equal(np.signbit(f(x, s)), np.signbit(x * s))
    g = tracenp.compile(lambda a, s: a * s, static_argnums=(1,))
    for s in (0.0, -0.0, 0.0, -0.0):
        np.testing.assert_array_equal(np.signbit(g(x, s)), np.signbit(x * s))

    @tracenp.compile
    def h(a, s):
        return a if s > 0.5 else -a
    h(x, float("nan"))
    count = h.trace_count
    for _ in range(3):
        np.testing.assert_array_equal(h(x, float("nan")), -x)
    assert h.trace_count == count
