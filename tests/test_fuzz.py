"""The differential fuzzer: random NumPy programs, compiled on every CPU kernel kind.

A program (hypothesis) is 1 to 40 steps over a pool of values, built on the first call's
inputs so that every step is valid NumPy there.  It draws from the step kinds of
``tests/test_hypothesis_programs.py`` (ufuncs and operators with Python scalars on either
side, a weak Python float argument, reductions and scans, views, casts, ``np.where``,
``+=`` and friends on locals and on the arguments, ``out=``, ``x[::2] = ...``) and adds
writes into the caller's arrays through indices (ints, slices, masks, fancy indices),
through views of them (``x.T[...] += y``) and ``np.ufunc(..., out=argument)``, reshapes,
``matmul``, ``concatenate``/``stack``, ``clip`` and cumulative sums.  Inputs have random
dtypes (bool, int8..int64, uint8..uint64, float16/32/64, complex64/128), broadcastable
shapes (0-d and empty included), random memory layouts, and special values (0, -0.0,
+-inf, NaN, subnormals, integer extremes).

Each program is compiled once per kernel variant (``VARIANTS``) and compared with eager
NumPy on two argument sets of the same signature (the second must replay, not retrace):
result types, dtypes, shapes and values bit for bit (NaN positions and signs of zeros
included), the caller's arrays after the call, and the exception type and message where
NumPy raises (the caller's arrays must then be as they were before the call).  Three
differences are accepted, each only after it is pinned down:

* ``rules`` (every rule on): a value may differ where an accuracy rewrite (a stability
  rule, ``exp_of_log``, ``cube_to_multiply``) fired; the same program compiled with
  those rules off must then be exact.  Each such rule is checked against mpmath on its
  own in ``tests/test_stability_accuracy.py``.
* ``blocked`` (tiny blocks, two threads): a full sum or mean folded into a fused region
  adds per-block partial sums (documented in docs/kernels.md); if the plan has one, the
  same compiled function with one block per call must be exact.
* a call where eager NumPy casts a NaN, an infinity or an out-of-range float to an
  integer type is compared for types, dtypes and shapes only: NumPy's value is undefined
  there, and depends on the position in the array (see ``_compare``).

CI runs ``test_fuzz_programs`` (1,000 programs, derandomized: the same programs every run;
numba on one in twelve);
``-m slow`` runs ``test_fuzz_programs_long`` (10,000 programs, a seed per run).  The
figures of the last long run are in docs/testing.md.
"""
from __future__ import annotations

import contextlib
import operator
import warnings
import zlib
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracenp
from tests.differential import _run, assert_exact
from tests.test_hypothesis_programs import (ACCURACY_RULES, DTYPES, LAYOUTS, SCALARS, Program,
                                            Step, _apply_step, _draw_step, _elements, _is_array,
                                            _name, _pick)
from tracenp.config import config

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=list(HealthCheck))
CI_RUN = settings(max_examples=1000, derandomize=True, **_COMMON)
LONG_RUN = settings(max_examples=10_000, **_COMMON)

MAX_STEPS = 40

# name -> (compile options, config settings while compiling and calling)
VARIANTS: dict[str, tuple[dict, dict]] = {
    # the cost model with its size thresholds at 1: every region is fused and "auto"
    # picks numexpr (long exact float64 chains) or the blocked kernel
    "auto": (dict(disable=ACCURACY_RULES),
             dict(kernel="auto", min_fuse_elements=1, min_fuse_work=1)),
    # the blocked kernel with blocks of a few elements, spread over two threads
    "blocked": (dict(disable=ACCURACY_RULES), dict(kernel="blocked", chunk_bytes=64, threads=2)),
    "numexpr": (dict(disable=ACCURACY_RULES), dict(kernel="numexpr")),
    "numpy": (dict(disable=ACCURACY_RULES), dict(kernel="numpy")),
    "no_fusion": (dict(disable=ACCURACY_RULES, fuse=False), {}),
    # numba's generated loops, where numba is installed (compiled at the first call)
    "numba": (dict(disable=ACCURACY_RULES), dict(kernel="numba", min_fuse_elements=1)),
    # what a user gets: every rule on, the default cost model; check=True verifies each
    # call against the unoptimized graph (it must not raise here: no false alarms)
    "rules": (dict(check=True), {}),
}


@contextlib.contextmanager
def configured(**settings_: Any):
    saved = {k: getattr(config, k) for k in settings_}
    try:
        for k, v in settings_.items():
            setattr(config, k, v)
        yield
    finally:
        for k, v in saved.items():
            setattr(config, k, v)


# ------------------------------------------------------------------ more step kinds

CHAIN = [("add", lambda x, y, c: x + y), ("sub", lambda x, y, c: x - y * c),
         ("mul", lambda x, y, c: x * y), ("div", lambda x, y, c: x / (y + c)),
         ("fma", lambda x, y, c: x * c + y), ("max", lambda x, y, c: np.maximum(x, y)),
         ("min", lambda x, y, c: np.minimum(x, c)), ("abs", lambda x, y, c: np.abs(x) - c),
         ("sqrt", lambda x, y, c: np.sqrt(np.abs(x))), ("square", lambda x, y, c: np.square(x)),
         ("where", lambda x, y, c: np.where(x > c, x, y)), ("floor", lambda x, y, c: np.floor(x)),
         ("copysign", lambda x, y, c: np.copysign(x, y)), ("neg", lambda x, y, c: -x)]


def _index_for(draw, x: np.ndarray):
    """An index into ``x`` (ndim >= 1) of a random kind: int, slice, tuple, mask, fancy."""
    n = x.shape[0]
    kind = draw(st.sampled_from(["int", "slice", "rev", "tuple", "mask", "fancy", "ellipsis"]))
    if kind == "int" and n:
        return draw(st.integers(-n, n - 1)), "int"
    if kind == "slice":
        a, b = draw(st.integers(-4, 4)), draw(st.sampled_from([None, -1, 2, 5]))
        return slice(a, b, draw(st.sampled_from([None, 1, 2, 3]))), "slice"
    if kind == "rev":
        return slice(None, None, -1), "rev"
    if kind == "tuple" and x.ndim >= 2 and x.shape[1]:
        return (slice(None), draw(st.integers(0, x.shape[1] - 1))), "tuple"
    if kind == "fancy" and n:
        return [draw(st.integers(-n, n - 1)) for _ in range(draw(st.integers(1, 3)))], "fancy"
    if kind == "ellipsis":
        return (Ellipsis, slice(None, None, 2)), "ellipsis"
    return None, "mask"


def _extra_step(draw, pool, weak_flags, n_in) -> Step | None:
    kind = draw(st.sampled_from(["arg_setitem", "setitem", "view_write", "arg_out", "reshape",
                                 "matmul", "concat", "clip", "cumulative", "mask_update",
                                 "chain", "chain"]))
    a = _pick(draw, pool, _is_array)
    if a is None:
        return None
    if kind in ("arg_setitem", "setitem"):
        if kind == "arg_setitem":
            a = draw(st.integers(0, n_in - 1))
        x = pool[a]
        if not isinstance(x, np.ndarray) or x.ndim == 0:
            return None
        idx, ik = _index_for(draw, x)
        by_scalar = draw(st.booleans())
        b = None if by_scalar else _pick(draw, pool)
        c = draw(st.sampled_from(SCALARS)) if by_scalar else None
        owner = "argument" if kind == "arg_setitem" else "copy"
        what = repr(c) if by_scalar else f"v{b}"
        if ik == "mask":
            text = f"{owner} v{a}[v{a} > 0] = {what}"
        else:
            text = f"{owner} v{a}[{idx!r}] = {what}"

        def setitem(x, *y):
            z = x if owner == "argument" else x.copy()
            value = c if by_scalar else y[0]
            if ik == "mask":
                z[np.real(z) > 0] = value
            else:
                z[idx] = value
            return z
        return Step(setitem, (a,) if by_scalar else (a, b), text)
    if kind == "view_write":
        a = draw(st.integers(0, n_in - 1))           # through a view of the caller's array
        x = pool[a]
        if not isinstance(x, np.ndarray) or x.ndim == 0:
            return None
        view = draw(st.sampled_from(["T", "rev", "step2", "row0", "tail"]))
        f = draw(st.sampled_from([operator.iadd, operator.imul, operator.isub]))
        b = _pick(draw, pool)
        views = {"T": lambda z: z.T, "rev": lambda z: z[::-1], "step2": lambda z: z[..., ::2],
                 "row0": lambda z: z[0], "tail": lambda z: z[1:]}

        def view_write(x, y):
            v = views[view](x)
            f(v, y)
            return x
        return Step(view_write, (a, b), f"view_{view}(argument v{a}) {_name(f)}= v{b}")
    if kind == "arg_out":
        a = draw(st.integers(0, n_in - 1))
        x = pool[a]
        if not isinstance(x, np.ndarray):
            return None
        f = draw(st.sampled_from([np.add, np.multiply, np.subtract, np.maximum, np.negative,
                                  np.sqrt, np.floor_divide, np.true_divide]))
        b, c = _pick(draw, pool, _is_array), _pick(draw, pool)
        casting = draw(st.sampled_from(["same_kind", "unsafe"]))
        if f.nin == 1:
            def unary_out(x, y):
                if casting == "unsafe":
                    _flag_undefined_cast(f, (y,), x)
                f(y, out=x, casting=casting)
                return x
            return Step(unary_out, (a, b), f"np.{f.__name__}(v{b}, out=argument v{a}, "
                                           f"casting={casting!r})")

        def binary_out(x, y, z):
            if casting == "unsafe":
                _flag_undefined_cast(f, (y, z), x)
            f(y, z, out=x, casting=casting)
            return x
        return Step(binary_out, (a, b, c), f"np.{f.__name__}(v{b}, v{c}, out=argument v{a}, "
                                           f"casting={casting!r})")
    if kind == "reshape":
        x = pool[a]
        size = int(np.size(x))
        ks = [k for k in (1, 2, 3, 4, 6) if size and size % k == 0]
        if not ks:
            return None
        k = draw(st.sampled_from(ks))
        order = draw(st.sampled_from(["C", "F"]))
        return Step(lambda x: np.reshape(x, (-1, k), order=order), (a,),
                    f"np.reshape(v{a}, (-1, {k}), order={order!r})")
    if kind == "matmul":
        b = _pick(draw, pool, _is_array)
        f = draw(st.sampled_from([np.matmul, np.dot, operator.matmul]))
        return Step(lambda x, y: f(x, y), (a, b), f"{_name(f)}(v{a}, v{b})")
    if kind == "concat":
        b = _pick(draw, pool, _is_array)
        if draw(st.booleans()):
            axis = draw(st.sampled_from([0, -1]))
            return Step(lambda x, y: np.concatenate([x, y], axis=axis), (a, b),
                        f"np.concatenate([v{a}, v{b}], axis={axis})")
        return Step(lambda x, y: np.stack([x, y]), (a, b), f"np.stack([v{a}, v{b}])")
    if kind == "clip":
        lo, hi = draw(st.sampled_from([(0, 1), (-1.5, None), (None, 2), (0.0, np.inf)]))
        return Step(lambda x: np.clip(x, lo, hi), (a,), f"np.clip(v{a}, {lo!r}, {hi!r})")
    if kind == "cumulative":
        f = draw(st.sampled_from([np.cumsum, np.cumprod, np.diff]))
        return Step(lambda x: f(x, axis=-1), (a,), f"np.{f.__name__}(v{a}, axis=-1)")
    if kind == "chain":        # 3-8 exact elementwise ops in a row (numexpr's regions)
        ops = draw(st.lists(st.sampled_from(CHAIN), min_size=3, max_size=8))
        others = [_pick(draw, pool, _is_array) for _ in ops]
        consts = [draw(st.sampled_from([0.5, -1.5, 2.0, 0.0, -0.0, 3.0])) for _ in ops]

        def chain(x, *ys):
            for (name, f), y, c in zip(ops, ys, consts):
                x = f(x, y, c)
            return x
        text = " -> ".join(f"{n}(v{o}, {c!r})" for (n, _), o, c in zip(ops, others, consts))
        return Step(chain, (a, *others), f"chain v{a}: {text}")
    if kind == "mask_update":
        x = pool[a]
        if not isinstance(x, np.ndarray) or x.ndim == 0 or x.dtype.kind not in "fc":
            return None         # (a 0-d selection falls back: DataDependentShapeError)
        g = draw(st.sampled_from([np.sqrt, np.negative, np.exp, np.square]))

        def mask_update(x):
            z = x.copy()
            m = np.real(z) > 0
            z[m] = g(z[m])
            return z
        return Step(mask_update, (a,), f"copy(v{a})[m] = {g.__name__}(copy(v{a})[m])")
    return None


@st.composite
def fuzz_programs(draw, max_steps: int = MAX_STEPS) -> Program:
    n_in = draw(st.integers(1, 3))
    # a quarter of the programs are float64 only, on arrays of at least one dimension: the
    # regions numexpr runs (exact float64 arithmetic) are drawn often enough
    f64 = draw(st.integers(0, 3)) == 0
    base = draw(st.lists(st.integers(2, 5), min_size=1 if f64 else 0, max_size=3))
    if base and draw(st.integers(0, 9)) == 0:
        base[draw(st.integers(0, len(base) - 1))] = 0          # an empty array
    shapes = []
    for _ in range(n_in):     # broadcastable: drop leading dims, or make some dims 1
        drop = draw(st.integers(0, len(base) - f64))
        shapes.append(tuple(1 if draw(st.integers(0, 3)) == 0 else n for n in base[drop:]))
    inputs = []
    dtypes = [np.dtype(np.float64)] if f64 else DTYPES
    for shape in shapes:
        d = draw(st.sampled_from(dtypes))
        layout = draw(st.sampled_from(LAYOUTS))
        data = [draw(hnp.arrays(d, shape, elements=_elements(d))) for _ in range(2)]
        inputs.append((d, shape, layout, *data))
    weak = None
    if draw(st.booleans()):
        weak = (draw(st.sampled_from([2.5, -0.5, 0.5, 3.0, float("nan")])),
                draw(st.sampled_from([1.25, -3.0, 0.5, float("inf"), -0.0])))
    prog = Program(inputs, weak)
    pool = list(prog.make_args(0))
    weak_flags = [False] * n_in + ([True] if weak is not None else [])
    # short programs are the most common, long ones are drawn often enough
    n_steps = draw(st.sampled_from([draw(st.integers(1, 8)), draw(st.integers(1, max_steps))]))
    attempts = 0
    while len(prog.steps) < n_steps and attempts < 3 * n_steps + 10:
        attempts += 1
        if draw(st.integers(0, 3)) == 0:
            step, weak_out = _extra_step(draw, pool, weak_flags, n_in), False
        else:
            step, weak_out = _draw_step(draw, pool, weak_flags, n_in, prog)
        if step is None:
            continue
        trial = _apply_step(step, pool)
        if trial is None:
            continue          # not valid NumPy here, or too big: draw another step
        pool = trial
        weak_flags.append(weak_out)
        prog.steps.append(step)
    assume(prog.steps)
    n = len(pool)
    last = n - 1
    extra = draw(st.integers(0, n - 1))
    prog.outputs = (last,) if extra == last else (last, extra)
    return prog


# ------------------------------------------------------------------ running one program

def _folded_float_sum(f: tracenp.CompiledFunction) -> bool:
    for plan in f.plans().values():
        for node in getattr(getattr(plan, "graph", None), "nodes", ()):
            red = getattr(node.params, "reduce", None)
            if red is not None and red.op.name in ("sum", "mean") and \
                    red.inputs[0].aval.dtype.kind in "fc":
                return True
    return False


def _fired_accuracy_rules(f: tracenp.CompiledFunction) -> set[str]:
    fired = set()
    for plan in f.plans().values():
        report = getattr(getattr(plan, "graph", None), "report", None)
        if report is not None:
            fired.update(r for r in report.rules_fired() if r in ACCURACY_RULES)
    return fired


def _flag_undefined_cast(f: Callable, args: tuple, out: Any) -> None:
    """Eager NumPy only: ``f(*args, out=out, casting="unsafe")`` into an integer ``out`` of
    a NaN, an infinity or an out-of-range float is undefined, but NumPy reports it under
    the ufunc's own name ("invalid value encountered in divide"), if at all: warn as its
    casts do, so ``_eager`` sees it (found by the long run: 0 / 0 into uint32 gave
    2147483648 eagerly and 0 compiled)."""
    if type(out) is not np.ndarray or out.dtype.kind not in "iu":
        return                      # (traced: the proxies; bool: every float is defined)
    with np.errstate(all="ignore"):
        r = np.asarray(f(*args))
        if r.dtype.kind not in "fc":
            return
        r = np.trunc(r.real)
        info = np.iinfo(out.dtype)
        if not (np.isfinite(r) & (r >= info.min) & (r <= info.max)).all():
            warnings.warn("invalid value encountered in cast", RuntimeWarning, stacklevel=2)


def _eager(prog: Program, args: tuple) -> tuple[Any, BaseException | None, bool]:
    """Eager NumPy's outcome, and whether it cast a NaN, an infinity or an out-of-range
    float to an integer type ("invalid value encountered in cast")."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        with np.errstate(all="ignore", invalid="warn"):
            try:
                result, exc = prog(*args), None
            except Exception as e:      # noqa: BLE001 - compared by the caller
                result, exc = None, e
    return result, exc, any("encountered in cast" in str(w.message) for w in caught)


def _same_types(actual: Any, expected: Any, where: str) -> None:
    from tracenp.graph.pytree import flatten
    a_leaves, a_tree = flatten(actual)
    e_leaves, e_tree = flatten(expected)
    assert a_tree == e_tree, f"{where}: structure {a_tree} != {e_tree}"
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        assert type(a) is type(e), f"{where} leaf {i}: {type(a).__name__} != {type(e).__name__}"
        if isinstance(e, (np.ndarray, np.generic)):
            assert (a.dtype, a.shape) == (e.dtype, e.shape), f"{where} leaf {i}"


UNDEFINED = {"calls": 0}     # calls compared for types only (an undefined cast)


def _compare(prog: Program, f: Callable, tag: str, calls: tuple[int, ...] = (0, 1)) -> None:
    """``f`` against eager NumPy on each call's arguments (see the module docstring).

    Where eager NumPy casts a NaN, an infinity or an out-of-range float to an integer
    type, NumPy's result is undefined, and in fact depends on where the value sits in the
    array (a SIMD lane or the scalar tail of NumPy's cast loop: ``np.array([np.nan] * 8)
    .astype(np.uint32)`` is 2147483648 in the first lane, a lone NaN gives 0).  For such a
    call only types, dtypes and shapes are compared."""
    traces = None
    for call in calls:
        eager_args, comp_args = prog.make_args(call), prog.make_args(call)
        expected, e_exc, undefined = _eager(prog, eager_args)
        actual, a_exc = _run(f, comp_args)
        where = f"{tag} call {call}"
        if e_exc is not None:
            assert a_exc is not None, f"{where}: eager raised {e_exc!r}, compiled did not"
            assert type(a_exc) is type(e_exc) and str(a_exc) == str(e_exc), \
                f"{where}: raised {a_exc!r}, eager {e_exc!r}"
            # the caller's arrays are as they were before the call (no partial writes)
            assert_exact(list(comp_args), list(prog.make_args(call)),
                         where=where + " args after raise")
            continue
        assert a_exc is None, f"{where}: compiled raised {a_exc!r}, eager returned"
        if undefined:
            _same_types(actual, expected, where)
            _same_types(list(comp_args), list(eager_args), where + " args")
            UNDEFINED["calls"] += 1
        else:
            assert_exact(actual, expected, where=where)
            assert_exact(list(comp_args), list(eager_args), where=where + " args")
        if isinstance(f, tracenp.CompiledFunction):
            if traces is None:
                traces = f.trace_count
            elif not prog.retraces:
                assert f.trace_count == traces, f"{where}: the second call retraced"


def run_variant(prog: Program, name: str) -> None:
    options, cfg = VARIANTS[name]
    with configured(**cfg):
        f = tracenp.compile(prog, **options)
        f.__name__ = "program"
        try:
            _compare(prog, f, f"{prog!r}\n[{name}]")
        except AssertionError:
            if name == "rules":
                fired = _fired_accuracy_rules(f)
                if not fired:
                    raise
                exact = tracenp.compile(prog, disable=sorted(fired))
                _compare(prog, exact, f"{prog!r}\n[rules without {sorted(fired)}]")
            elif name == "blocked" and _folded_float_sum(f):
                with configured(chunk_bytes=1 << 18):
                    _compare(prog, f, f"{prog!r}\n[blocked, one block]")
            else:
                raise


def _numba_installed() -> bool:
    try:
        from tracenp.exec.numba_kernel import available
        return bool(available())
    except Exception:      # noqa: BLE001 - no numba kind in this tree
        return False


NUMBA = _numba_installed()


def run_program(prog: Program, numba_share: int = 1) -> None:
    """Every variant; "numba" (0.2 s of compiling per region) on one program in
    ``numba_share``, chosen by the program's text (the same ones on every run)."""
    for name in VARIANTS:
        if name == "numba" and not (NUMBA and zlib.crc32(repr(prog).encode()) % numba_share == 0):
            continue
        run_variant(prog, name)


@CI_RUN
@given(fuzz_programs())
def test_fuzz_programs(prog):
    run_program(prog, numba_share=12)


@pytest.mark.slow
@LONG_RUN
@given(fuzz_programs())
def test_fuzz_programs_long(prog):
    run_program(prog)


# ------------------------------------------------------------------ regressions found by it

def test_regression_arguments_put_back_when_numpy_raises_midway():
    """Found by the fuzzer (shrunk): the program wrote into its argument, then raised
    (an integer to a negative integer power); the compiled call fell back to eager NumPy,
    which raised after writing part of the argument."""
    def prog(x):
        np.add(x, x, out=x)
        x[0] = -x[0]
        return np.power(x, x)

    f = tracenp.compile(prog)
    x = np.array([[0]], dtype=np.int8)
    assert_exact(f(x), prog(np.array([[0]], dtype=np.int8)))   # traced: 0 ** 0
    x[...] = 1
    with pytest.raises(ValueError, match="negative integer powers"):
        f(x)                                    # x -> 2 -> -2, then (-2) ** (-2) raises
    assert_exact(x, np.array([[1]], dtype=np.int8))            # as before the call
    assert f.trace_count == 1


def test_regression_check_true_on_a_weak_nan():
    """Found by the fuzzer: check=True compared Python floats with ==, so a NaN weak
    scalar result was reported as a difference (NaN != NaN)."""
    def prog(x, w):
        return w + 0.5, x * w

    f = tracenp.compile(prog, check=True)
    for w in (float("nan"), -0.0, 2.5):
        actual = f(np.arange(3), w)
        assert_exact(actual, prog(np.arange(3), w))
    assert f.trace_count == 1


def test_regression_list_of_floats_reaching_a_ufunc():
    """Found by the bad-input tests: a list of Python floats is traced as numbers; a ufunc
    given the list made an object array of traced numbers (a wrong dtype).  Now the trace
    specializes on the values (as for a float in an `if`) and NumPy's result comes back."""
    f = tracenp.compile(lambda xs: np.abs(xs).T)
    for xs in ([1.0, -2.0, 3.0], [1.0, -2.0, 3.0], [0.5, -0.0, float("nan")]):
        assert_exact(f(xs), np.abs(xs).T)


def test_regression_numexpr_arithmetic_on_bools():
    """Found by the fuzzer (shrunk): abs(x == x) in a float64 region qualified for numexpr,
    whose abs of a bool is a float32 (NumPy's is a bool): the kernel raised at the call
    and the signature fell back to NumPy.  Arithmetic on bools stays with NumPy's loops."""
    def prog(x):
        return np.absolute(np.equal(np.clip(x, 0, 1), x)), (x > 0) + (x < 1), np.abs(x) * 2.0

    with configured(kernel="numexpr", min_fuse_elements=1):
        f = tracenp.compile(prog)
        for x in (np.array([0.0, -1.5, 2.0, np.nan]), np.array([1.0, 0.5, -0.0, np.inf])):
            assert_exact(f(x), prog(x))
        assert f.trace_count == 1


def test_regression_fusion_cycle_through_a_grown_region():
    """Found by the fuzzer (shrunk by hand): region A = {b = x + x}; region B grew an
    outside input that depends on A (``multiply.accumulate(b)``); then ``b + l`` (l in B)
    joined A, so A needed B and B needed A ("fusion produced a cycle"): the whole function
    fell back to NumPy.  Convexity now follows the regions' own outside inputs."""
    def prog(x):
        b = x + x
        x[1] = 0
        v = x
        for _ in range(3):
            v = v + x
        v = np.minimum(np.abs(v) - 0.5, 0.5)
        for _ in range(3):
            v = v + x
        n = v + np.multiply.accumulate(b, axis=0)
        p = b + v
        np.add(x, n + 0, out=x)
        return x.astype(np.int16) ** p, x

    for kernel in ("auto", "blocked", "numpy"):
        with configured(kernel=kernel, min_fuse_elements=1, min_fuse_work=1):
            f = tracenp.compile(prog)
            for k in range(2):
                a, b = (np.arange(6.0).reshape(3, 2) * (k + 1) for _ in range(2))
                assert_exact(f(a), prog(b))
                assert_exact(a, b)
            assert f.trace_count == 1
            assert any(n.op.name == "fused" for p in f.plans().values() for n in p.graph.nodes)


# ------------------------------------------------------------------ the long run, counted

def _long_run(n: int, seed: int, out: str | None) -> dict:
    """Run ``n`` programs (hypothesis seed ``seed``) on every variant without stopping at
    the first mismatch; count programs, runs and mismatches (docs/testing.md)."""
    import collections
    import json
    import time

    from hypothesis import seed as hseed

    warnings.simplefilter("error", tracenp.FallbackWarning)
    warnings.simplefilter("ignore", tracenp.RecompileWarning)
    stats: collections.Counter = collections.Counter()
    fails: list = []
    t0 = time.time()

    def save(done: bool = False) -> dict:
        report = {"stats": dict(stats), "seconds": round(time.time() - t0, 1),
                  "mismatches": fails, "done": done}
        if out:
            with open(out, "w") as fh:
                json.dump(report, fh, indent=1)
        return report

    @hseed(seed)
    @settings(max_examples=n, **_COMMON)
    @given(fuzz_programs())
    def run(prog):
        stats["programs"] += 1
        stats["steps"] += len(prog.steps)
        for name in VARIANTS:
            if name == "numba" and not NUMBA:
                continue
            stats["runs " + name] += 1
            try:
                run_variant(prog, name)
            except Exception as e:      # noqa: BLE001 - counted, the run goes on
                stats["mismatches " + name] += 1
                fails.append({"variant": name, "program": repr(prog), "error": str(e)[-3000:]})
        if stats["programs"] % 250 == 0:
            save()

    run()
    stats["calls with an undefined cast (types compared)"] = UNDEFINED["calls"]
    return save(done=True)


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="the long fuzz run, every mismatch counted")
    parser.add_argument("--programs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", default=None, help="a JSON file for the figures")
    a = parser.parse_args()
    r = _long_run(a.programs, a.seed, a.out)
    print(r["stats"], f"{r['seconds']} s", f"{len(r['mismatches'])} mismatches")


def test_regression_undefined_casts_are_compared_for_types_only():
    """Found by the long run: ``mod(x, y).astype(np.uint32)`` of NaN values, after a fused
    region made the values C-ordered where NumPy's were Fortran-ordered.  NumPy's cast of a
    NaN to an integer is undefined and depends on the value's position in the array, so
    the compiled and the eager results differed (2147483648 and 0), each right by NumPy."""
    with np.errstate(invalid="ignore"):
        lanes = np.full(8, np.nan).astype(np.uint32)
        alone = np.full(1, np.nan).astype(np.uint32)
    if lanes[0] == alone[0]:
        pytest.skip("this NumPy build casts NaN the same way in every position")

    def prog(x, y):
        v = np.mod(x, y)
        return np.arctan(y >= v), np.clip(v.astype(np.uint32), -1.5, None)

    x = np.asfortranarray([[np.nan, 1.0], [np.inf, 2.0], [np.nan, -3.0]])
    y = np.asfortranarray([2.0, np.nan])
    program = Program([(x.dtype, x.shape, "C", x, x), (y.dtype, y.shape, "C", y, y)], None,
                      [Step(prog, (0, 1), "prog(v0, v1)")], outputs=(2,))
    before = UNDEFINED["calls"]
    for name in ("auto", "blocked", "no_fusion"):
        run_variant(program, name)          # passes: the cast is undefined, types agree
    assert UNDEFINED["calls"] > before


def test_regression_undefined_casts_into_integer_out():
    """Found by the long run: ``np.divide(v0, v6, out=v0, casting="unsafe")`` with uint32
    zeros is 0 / 0 cast to uint32: undefined (2147483648 eagerly, 0 compiled), and NumPy
    warns about it as "invalid value encountered in divide", not "in cast".  The fuzzer's
    out= steps flag such casts themselves (``_flag_undefined_cast``)."""
    def prog(x, y):
        _flag_undefined_cast(np.divide, (x, y), x)
        np.divide(x, y, out=x, casting="unsafe")
        return -x

    x = np.asfortranarray(np.zeros((5, 5), np.uint32))
    program = Program([(x.dtype, x.shape, "F", x, x)], None,
                      [Step(prog, (0, 0), "prog(v0, v0)")], outputs=(1, 0))
    before = UNDEFINED["calls"]
    for name in ("auto", "blocked", "no_fusion"):
        run_variant(program, name)
    assert UNDEFINED["calls"] > before
    with warnings.catch_warnings(record=True) as caught:       # defined casts: no flag
        warnings.simplefilter("always")
        _flag_undefined_cast(np.divide, (np.ones(3), np.full(3, 2.0)), np.zeros(3, np.uint32))
        _flag_undefined_cast(np.divide, (np.zeros(3), np.zeros(3)), np.zeros(3, bool))
    assert not caught
