"""Every rewrite rule: it fires on its pattern, ``disable={name}`` stops it, and compiled
results agree with eager NumPy on random and special inputs across dtypes.

Exact rules must give NumPy's results bit for bit (NaN where NaN, the sign of zero);
rules that change values (stability, exp/log identities, x**3) are held to the accuracy
criterion of ``tests/test_stability_accuracy.py`` against mpmath.  ``test_every_rule_has_a_case``
lists any rule in ``tracenp.optimize.RULES`` without a case here.

Also: the pattern language (``F``, ``Or``, named ``P``, ``UfuncRef``, Python-operator
nodes), the Builder (ufunc objects, keywords, typing of reductions) and the framework
(the root is bound as ``_node``; a rule's own output is not re-matched in its phase).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
import scipy.special as sp

import tracenp
from tracenp.exec.interpreter import Interpreter
from tracenp.optimize import RULES, optimize
from tracenp.optimize.pattern import (Builder, C, Const, F, Or, P, UfuncRef, X, call_arguments,
                                      match, reduced_shape)

from . import test_stability_accuracy as acc

FLOATS = ("float16", "float32", "float64")
INTS = ("int8", "int32", "int64", "uint8")


# ----------------------------------------------------------------- inputs
def values(dtype: str, n: int = 160, seed: int = 1) -> np.ndarray:
    """Random values over many magnitudes plus the special ones, as a 1-D array."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        fi = np.finfo(dt)
        r = rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 4, n)
        spec = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, 2.0, -2.0, float(fi.max),
                -float(fi.max), float(fi.smallest_subnormal), -float(fi.smallest_normal), 1e-3, -1e-3,
                20.0, -20.0, 100.0, -100.0, 800.0, -800.0]
        with np.errstate(over="ignore"):
            return np.concatenate([spec, r]).astype(dt)
    if dt.kind == "c":
        with np.errstate(invalid="ignore"):
            return (values("float64", n, seed) + 1j * values("float64", n, seed + 1)).astype(dt)
    ii = np.iinfo(dt)
    r = rng.integers(max(ii.min, -60), min(ii.max, 60), n, endpoint=True)
    return np.concatenate([[0, 1, ii.max, ii.min, ii.max - 1, ii.min + 1], r]).astype(dt)


def rows(dtype: str) -> np.ndarray:
    """Rows for the reductions: the accuracy grid's special rows and a random sample."""
    x = acc.row_grid(np.dtype(dtype), seed=3)
    rng = np.random.default_rng(4)
    keep = np.concatenate([np.arange(len(x) - 7, len(x)), rng.choice(len(x) - 7, 60, replace=False)])
    return x[keep]


# ----------------------------------------------------------------- cases
@dataclass
class RuleCase:
    fn: Callable
    fires: tuple                    # dtypes where the rule must fire
    also: tuple = ()                # more dtypes checked for parity (the rule may decline)
    exact: bool = True              # bit for bit NumPy; else the accuracy criterion
    acc_case: acc.Case | None = None
    options: dict = field(default_factory=dict)
    inputs: Callable = values
    compare: Callable | None = None  # custom check (fast_math rules)
    fallback: tuple = ()            # rules that take over when this one is disabled


def _same_but_signed_zero(actual, expected):
    """fast_math add_zero_float: -0.0 + 0 may stay -0.0."""
    np.testing.assert_array_equal(np.where(actual == 0, 0, actual), np.where(expected == 0, 0, expected))


def _same_where_finite(x):
    def check(actual, expected):
        f = np.isfinite(x)
        np.testing.assert_array_equal(actual[f], expected[f])
        assert np.all(actual[~f] == 0)
    return check


def _ref_case(name: str, ref, **kw) -> acc.Case:
    return acc.Case(name, None, ref, **kw)


# Rules whose result is their operand are used inside a bigger expression: a compiled
# function never returns (a view of) its argument where NumPy returns a new array.
ALGEBRA = {
    "mul_by_one": RuleCase(lambda x: np.positive(x * 1), FLOATS + INTS, also=("complex128",)),
    "div_by_one": RuleCase(lambda x: np.positive(x / 1), FLOATS, also=INTS + ("complex128",)),
    "sub_zero": RuleCase(lambda x: np.positive(x - 0), FLOATS + INTS, also=("complex128",)),
    "add_zero_int": RuleCase(lambda x: np.positive(x + 0), INTS, also=FLOATS),
    "add_zero_float": RuleCase(lambda x: np.positive(x + 0), FLOATS, options={"fast_math": True},
                               compare=lambda x: _same_but_signed_zero),
    "double_negation": RuleCase(lambda x: np.positive(-(-x)), FLOATS + INTS),
    "pow_one": RuleCase(lambda x: np.positive(np.power(x, 1)), FLOATS + INTS, also=("complex128",)),
    "self_subtract": RuleCase(lambda x: x - x, FLOATS + INTS),
    "self_subtract_fast": RuleCase(lambda x: x - x, FLOATS, options={"fast_math": True},
                                   compare=_same_where_finite),
    "exp_of_log": RuleCase(lambda x: np.exp(np.log(x)), FLOATS, exact=False,
                           acc_case=_ref_case("exp_of_log", lambda x: x if x >= 0 else None)),
    "log_of_exp": RuleCase(lambda x: np.log(np.exp(x)), FLOATS, exact=False,
                           acc_case=_ref_case("log_of_exp", lambda x: x)),
    "square_to_multiply": RuleCase(lambda x: np.power(x, 2), FLOATS + INTS),
    "cube_to_multiply": RuleCase(lambda x: np.power(x, 3), FLOATS + INTS, exact=False,
                                 acc_case=_ref_case("cube", lambda x: x ** 3)),
    "pow_half_to_sqrt": RuleCase(lambda x: np.power(x, 0.5), ("float32", "float64"),
                                 also=("float16", "longdouble")),
    "pow_minus_one_to_reciprocal": RuleCase(lambda x: np.power(x, -1.0), FLOATS),
    "div_by_power_of_two": RuleCase(lambda x: x / 4 + x / 0.5, FLOATS, also=("complex128",)),
    # chains (tracenp/optimize/chains.py); x has an even number of elements
    "reshape_of_reshape": RuleCase(lambda x: np.positive(x.reshape(2, -1).reshape(-1, 2)),
                                   FLOATS + INTS, also=("complex128",)),
    "transpose_of_transpose": RuleCase(lambda x: np.positive(x.reshape(2, -1).T.T),
                                       FLOATS + INTS, also=("complex128",)),
    "cast_through_exact_type": RuleCase(lambda x: np.positive(x.astype(np.float64).astype(np.float32)),
                                        ("float16", "float32", "int8", "int32", "uint8"),
                                        also=("float64", "int64")),   # int64 -> f64 rounds
    "reduction_of_reduction": RuleCase(lambda x: np.max(x.reshape(2, -1).max(axis=0)),
                                       FLOATS + INTS),
    # slicing (tracenp/optimize/slicing.py): overlapping, strided and reversed slices
    "slice_of_elementwise": RuleCase(
        lambda x: (x * 3 - 1)[1:] + (x * 3 - 1)[:-1] * np.abs(x)[::-1][1:] - (x + 2)[::2][1:].sum(),
        FLOATS + INTS, also=("complex128",), inputs=lambda dtype: np.tile(values(dtype), 100)),
    "uniform_array_factor": RuleCase(
        lambda x: np.positive(x * np.broadcast_to(np.full((), 3, dtype=x.dtype), x.shape)),
        FLOATS + INTS, also=("complex128",)),
    "uniform_array_term": RuleCase(
        lambda x: np.positive(x + np.broadcast_to(np.full((), 3, dtype=x.dtype), x.shape)),
        FLOATS + INTS, also=("complex128",)),
    "uniform_array_difference": RuleCase(
        lambda x: np.positive(np.broadcast_to(np.full((), 3, dtype=x.dtype), x.shape) - x),
        FLOATS + INTS, also=("complex128",)),
    "uniform_array_quotient": RuleCase(
        lambda x: np.positive(x / np.broadcast_to(np.full((), 4, dtype=x.dtype), x.shape)),
        FLOATS, also=("complex128",)),
    "where_constant_condition": RuleCase(lambda x: np.positive(np.where(True, x * 2, 0)),
                                         FLOATS + INTS, also=("complex128",)),
}

_SCALAR_STABILITY_INTS = {"softplus_from_log_one_plus_exp", "softplus_from_log1p_exp",
                          "log1mexp_from_log_one_minus_exp", "log1mexp_from_log1p_neg_exp",
                          "log1mexp_from_log_neg_expm1", "expm1_from_exp_sub_one", "log_of_sqrt",
                          "erfc_from_one_minus_erf"}


# Disabling a rule lets a more general one take the pattern (still more accurate than
# NumPy's formula): log(1 + exp(x)) is then log1p(exp(x)).
_FALLBACK = {
    "softplus_from_log_one_plus_exp": ("log1p_from_log_add_one",),
    "log1mexp_from_log_one_minus_exp": ("log1p_from_log_one_minus",),
    "log_sigmoid_to_neg_softplus": ("stable_sigmoid",),
    "one_minus_sigmoid": ("stable_sigmoid",),
    "log_softmax": ("stable_softmax",),
}


def _stability_case(c: acc.Case) -> RuleCase:
    fallback = _FALLBACK.get(c.rule, ())
    if c.kind != "scalar":
        return RuleCase(c.fn, FLOATS, exact=False, acc_case=c, inputs=rows, fallback=fallback)
    ints = ("int8", "int32", "int64") if c.rule in _SCALAR_STABILITY_INTS else ()
    floats = FLOATS if c.rule != "erfc_from_one_minus_erf" else ("float32", "float64")
    return RuleCase(c.fn, floats + ints, also=INTS if not ints else ("uint8",), exact=False,
                    acc_case=c, fallback=fallback)


CASES: dict[str, RuleCase] = {**ALGEBRA, **{c.rule: _stability_case(c) for c in acc.CASES}}
GRADIENT_ONLY = {"where_zero_sink_mul"}      # tested below with optimize(gradient=True)


def _fired(fn, *args, **options) -> list[str]:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return tracenp.explain(fn, print_report=False, **options)(*args).rules_fired


def _run(fn, x, **options):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return tracenp.compile(fn, **options)(x), fn(x)


# ----------------------------------------------------------------- the tests
def test_every_rule_has_a_case():
    missing = sorted(set(RULES) - set(CASES) - GRADIENT_ONLY)
    assert not missing, f"rules without a test case: {missing}"
    assert not (set(CASES) | GRADIENT_ONLY) - set(RULES), "cases for rules that do not exist"


def test_rule_names_are_unique_and_documented():
    for name, r in RULES.items():
        assert r.name == name and r.doc, name
        assert r.phase in ("canonicalize", "stabilize", "specialize")


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_fires_and_disable_stops_it(name):
    case = CASES[name]
    for dtype in case.fires:
        x = case.inputs(dtype)
        fired = _fired(case.fn, x, **case.options)
        assert name in fired, f"{name} did not fire for {dtype}: {fired}"
        assert name not in _fired(case.fn, x, disable={name}, **case.options), dtype


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_keeps_numpy_results(name):
    case = CASES[name]
    for dtype in case.fires + case.also:
        x = case.inputs(dtype)
        got, want = _run(case.fn, x, **case.options)
        assert type(got) is type(want) and got.dtype == want.dtype and got.shape == want.shape, dtype
        if case.compare is not None:
            case.compare(x)(got, want)
        elif case.exact or got.dtype.kind in "biu":
            np.testing.assert_array_equal(got, want, strict=True, err_msg=f"{name} {dtype}")
            if got.dtype.kind == "f":
                zero = want == 0
                assert np.array_equal(np.signbit(got[zero]), np.signbit(want[zero])), \
                    f"{name} {dtype}: signed zeros"
        else:
            c = case.acc_case
            exact = acc.exact_values(c, x)
            bad = acc.judge(c, None, x, exact, np.ravel(want), np.ravel(got))
            assert not bad, f"{name} {dtype}: {len(bad)} points\n" + "\n".join(bad[:10])


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_off_gives_numpy_bit_for_bit(name):
    """With the rule disabled, the function replays NumPy exactly (for the single-rule
    cases, nothing else changes values)."""
    case = CASES[name]
    for dtype in case.fires[:3]:
        x = case.inputs(dtype)
        off = {name, *case.fallback}
        got, want = _run(case.fn, x, disable=off, **case.options)
        np.testing.assert_array_equal(got, want, strict=True)


def test_numpy_scalars_and_zero_d():
    """Rules on NumPy scalars: sqrt(x**2) is recorded as py.pow for a NumPy float scalar."""
    for v in (np.float64(-3.5), np.float32(-0.0), np.float64(np.nan), np.float64(1e200)):
        got, want = _run(lambda x: np.sqrt(x ** 2), v)
        assert type(got) is type(want)
        if np.isfinite(want):
            assert got == want and np.signbit(got) == np.signbit(want)
    assert "sqrt_of_square_to_abs" in _fired(lambda x: np.sqrt(x ** 2), np.float64(2.0))
    got, want = _run(lambda x: np.sqrt(x ** 2), np.float64(1e200))
    assert got == 1e200 and want == np.inf
    # where-based rewrites decline for scalars (np.where returns a 0-d array)
    got, want = _run(lambda x: 1 / (1 + np.exp(-x)), np.float64(0.3))
    assert type(got) is type(want) and got == want
    # reductions over everything return NumPy scalars
    got, want = _run(lambda x: np.log(np.sum(np.exp(x))), np.array([1.0, 2.0, 3.0]))
    assert type(got) is np.float64 and got == want


def test_python_floats_keep_their_overflow_error():
    """A Python float argument is a weak scalar: x ** 2 is Python's own, which raises
    OverflowError; sqrt_of_square_to_abs leaves it (and its error) alone."""
    f = lambda x: np.sqrt(x ** 2)          # noqa: E731
    assert "sqrt_of_square_to_abs" not in _fired(f, 2.0)
    assert tracenp.compile(f)(-3.0) == 3.0
    with pytest.raises(OverflowError):
        f(1e200)
    with pytest.raises(OverflowError):
        tracenp.compile(f)(1e200)


def test_where_sink_is_gradient_only():
    def f(x, c):
        return x * np.where(c, 0, np.log(x))

    x = np.array([1.0, 2.0, np.inf, np.nan, -3.0, 0.0, -0.0])
    c = np.array([True, False, True, True, True, False, True])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        ex = tracenp.explain(f, print_report=False)(x, c)
        assert "where_zero_sink_mul" not in ex.rules_fired            # forward graphs: never
        want = f(x, c)
        for gradient, disable in [(True, ()), (True, {"where_zero_sink_mul"}), (False, ())]:
            g = tracenp.make_graph(f, optimize=False)(x, c)
            report = optimize(g, gradient=gradient, disable=disable)
            fired = "where_zero_sink_mul" in report.rules_fired()
            assert fired == (gradient and not disable)
            got = Interpreter(g, [g.outputs[0]]).run([x, c])[0]
            same = (got == want) | (np.isnan(got) & np.isnan(want))
            if fired:   # differs only where c and x is inf/NaN (inf*0 = NaN became 0), or -x*0
                assert np.all(same | (c & ~np.isfinite(x)) | (c & (got == 0)))
                assert got[2] == 0 and np.isnan(want[2])
            else:
                assert np.all(same)
        # where(c, f, 0) the other way round
        g = tracenp.make_graph(lambda x, c: np.where(c, x + 1, 0) * x, optimize=False)(x, c)
        assert "where_zero_sink_mul" in optimize(g, gradient=True).rules_fired()


# ----------------------------------------------------------------- pattern language
def _graph(fn, *args):
    g = tracenp.make_graph(fn, optimize=False)(*args)
    producer = {o.id: n for n in g.nodes for o in n.outputs}
    return g, producer


def test_pattern_F_binds_static_arguments_by_name():
    x = np.ones((2, 3))
    for fn, kw in [(lambda x: np.sum(np.exp(x), axis=1), {"axis": 1}),
                   (lambda x: np.sum(np.exp(x), 1, keepdims=True), {"axis": 1, "keepdims": True}),
                   (lambda x: np.exp(x).sum(axis=(0, 1)), {"axis": (0, 1)}),
                   (lambda x: np.sum(np.exp(x)), {})]:
        g, prod = _graph(fn, x)
        m = match(F("sum", P("exp", X("x")), kw="kw"), g.outputs[0], prod)
        assert m is not None and m["kw"] == kw and m["x"] is g.inputs[0]
        assert m["_node"].op.name == "sum"                           # the root
        strict = match(F("sum", P("exp", X("x"))), g.outputs[0], prod)
        assert (strict is not None) == (kw == {})                    # kw=None: nothing else passed
    # a traced value in a non-pattern argument does not match
    g, prod = _graph(lambda x, w: np.sum(np.exp(x), where=w), x, x > 0)
    assert match(F("sum", P("exp", X("x")), kw="kw"), g.outputs[0], prod) is None


def test_pattern_F_where_and_Any_and_named_P():
    x = np.linspace(-1, 1, 5)
    g, prod = _graph(lambda x: np.where(x > 0, 0, x * 2), x)
    pat = Or(F("where", X("c"), X("f"), C(0, name="z1")), F("where", X("c"), C(0, name="z0"), X("f")))
    m = match(pat, g.outputs[0], prod)
    assert m is not None and "z0" in m and "z1" not in m and m["_node"].op.name == "where"
    assert pat.root_ops() == ("where",)
    # a name bound twice by P must be the same value
    g, prod = _graph(lambda x: np.exp(x) / (1 + np.exp(x)), x)
    same = P("divide", P("exp", X("x"), name="e"), P("add", C(1), P("exp", X("x"), name="e")))
    assert match(same, g.outputs[0], prod) is None                 # two exp nodes (no CSE here)
    loose = P("divide", P("exp", X("x")), P("add", C(1), P("exp", X("x"))))
    assert match(loose, g.outputs[0], prod) is not None


def test_pattern_ufunc_objects_and_refs():
    x = np.linspace(-1, 1, 5)
    g, prod = _graph(lambda x: 1 - sp.erf(x), x)
    op_name = g.nodes[0].op.name
    assert match(P("subtract", C(1), P(sp.erf, X("x"))), g.outputs[0], prod) is not None
    ref = P(UfuncRef("scipy.special", "erf"), X("x"))
    assert ref.root_ops() == (op_name,)
    assert match(ref, g.nodes[0].outputs[0], prod) is not None
    assert P(UfuncRef("no_such_module_xyz", "erf"), X("x")).root_ops() == ()
    assert match(P("exp", X("x")), g.nodes[0].outputs[0], prod) is None


def test_pattern_python_operator_nodes():
    g, prod = _graph(lambda x: x ** 2, np.float64(3.0))
    assert g.nodes[0].op.name == "py.pow"
    assert match(P("py.pow", X("x"), C(2)), g.outputs[0], prod) is not None


def test_call_arguments():
    g, _ = _graph(lambda x: np.sum(x, 0, keepdims=True), np.ones((2, 2)))
    args = call_arguments(g.nodes[0])
    assert args["a"] is g.inputs[0] and args["axis"] == 0 and args["keepdims"] is True
    g, _ = _graph(lambda x: np.exp(x), np.ones(2))
    assert call_arguments(g.nodes[0]) is None                       # a ufunc: use operands()


def test_builder_types_what_numpy_returns():
    x = tracenp.make_graph(lambda x: x, optimize=False)(np.ones((2, 3), np.float32)).inputs[0]
    b = Builder(None, "t")
    assert b.call("max", x, axis=1, keepdims=True).aval.short() == "f32[2,1]"
    assert b.call("sum", x, axis=(0, 1)).aval.short() == "f32"        # a NumPy scalar
    assert b.call("sum", x, axis=-1).aval.short() == "f32[2]"
    assert b.call("where", b.call("isfinite", x), x, 0).aval.short() == "f32[2,3]"
    assert b.call(np.logaddexp, 0, x).aval.short() == "f32[2,3]"      # a ufunc object
    assert b.call(sp.erfc, x).aval.short() == "f32[2,3]"              # a foreign ufunc
    assert b.call("reshape", b.call("max", x, axis=1, keepdims=True), (2,)).aval.short() == "f32[2]"
    assert b.call("add", x, Const(np.float64(1))).aval.short() == "f64[2,3]"
    with pytest.raises(NotImplementedError):
        b.call("sort", x)
    assert reduced_shape((2, 3, 4), (0, -1), False) == (3,)
    assert reduced_shape((2, 3, 4), None, True) == (1, 1, 1)


def test_rule_output_is_not_rematched_in_its_phase():
    """logsumexp emits log(sum(exp(x - s))): the rule must not fire on its own output."""
    x = np.ones((3, 4))
    ex = tracenp.explain(lambda x: np.log(np.sum(np.exp(x), axis=1)), print_report=False)(x)
    assert ex.rules_fired.count("logsumexp_from_log_sum_exp") == 1
    ex = tracenp.explain(lambda x: np.log(1 - np.exp(x)), print_report=False)(-x)
    assert [r for r in ex.rules_fired if r.startswith("log1mexp")] == ["log1mexp_from_log_one_minus_exp"]


def test_chains_of_rules():
    x = np.linspace(-30, 30, 61)
    ex = tracenp.explain(lambda x: np.log(1 - 1 / (1 + np.exp(-x))), print_report=False)(x)
    assert ex.rules_fired == ["stable_sigmoid", "one_minus_sigmoid", "log_sigmoid_to_neg_softplus"]
    with np.errstate(all="ignore"):
        got = tracenp.compile(lambda x: np.log(1 - 1 / (1 + np.exp(-x))))(x)
    np.testing.assert_allclose(got, -np.logaddexp(0, x), rtol=1e-15)
    # a softmax that is only logged goes to log_softmax; one used elsewhere too is stabilized
    y = np.linspace(-3, 3, 12).reshape(3, 4)
    ex = tracenp.explain(lambda x: np.log(np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
                         print_report=False)(y)
    assert "log_softmax" in ex.rules_fired and "stable_softmax" not in ex.rules_fired

    def both(x):
        p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
        return p, np.log(p)
    ex = tracenp.explain(both, print_report=False)(y)
    assert "stable_softmax" in ex.rules_fired
    # with log_softmax off, the logged softmax is at least a stable one
    ex = tracenp.explain(lambda x: np.log(np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
                         print_report=False, disable={"log_softmax"})(y)
    assert ex.rules_fired.count("stable_softmax") == 1
    # the user's own stable forms are left alone
    ex = tracenp.explain(lambda x: np.log(np.sum(np.exp(x - x.max(axis=1, keepdims=True)), axis=1)),
                         print_report=False)(y)
    assert "logsumexp_from_log_sum_exp" not in ex.rules_fired


def test_softmax_broadcasting_that_is_not_a_softmax_is_left_alone():
    y = np.linspace(-3, 3, 9).reshape(3, 3)
    f = lambda x: np.exp(x) / np.exp(x).sum(axis=1)        # noqa: E731  (rows divided by column sums)
    assert "stable_softmax" not in _fired(f, y)
    g = lambda x: np.exp(x) / np.exp(x).sum(axis=0)        # noqa: E731  (a softmax over axis 0)
    assert "stable_softmax" in _fired(g, y)
    got, want = _run(g, y)
    np.testing.assert_array_equal(got, want)


def test_empty_reduction_keeps_numpy():
    f = lambda x: np.log(np.sum(np.exp(x), axis=1))      # noqa: E731
    got, want = _run(f, np.ones((3, 0)))
    np.testing.assert_array_equal(got, want)
    assert "logsumexp_from_log_sum_exp" not in _fired(f, np.ones((3, 0)))


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int64", "float16", "float32", "float64",
                                   "complex64", "bool"])
def test_large_uniform_constants_fold_to_views_with_numpy_values(dtype):
    """broadcast_to of a small constant, and ufuncs of such constants, fold however large
    (as zero-stride views); dtypes and wrap-around follow NumPy (NEP 50), outputs are the
    user's own writeable arrays."""
    n = 70_000                  # above the folding limit for full constants

    def f(x):
        a = np.broadcast_to(np.ones((), dtype=dtype) * 3, (n,))   # a node, not a trace-time value
        b = a * 100 if dtype != "bool" else a & True
        return b, np.float32(2) * a, a + x, -b

    x = np.ones(n, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = f(x)
        cf = tracenp.compile(f)
        for _ in range(2):
            got = cf(x)
            for g, w in zip(got, want):
                assert g.dtype == w.dtype and g.shape == w.shape
                np.testing.assert_array_equal(g, w)
                assert g.flags.writeable and g.flags.owndata or g.base is not None
                g[...] = 0          # the next call's outputs are fresh
    ex = tracenp.explain(f, print_report=False)(x)
    assert "broadcast_to" not in str(ex.graph)


def test_gradient_seed_over_a_reduced_array_becomes_a_scalar():
    """mean's cotangent (1.0 broadcast over the array, then divided by n) is one scalar in
    the fused gradient region, not a stride-0 array input."""
    def loss(w, X, y):
        return np.mean(np.log1p(np.exp(-y * (X @ w))))
    rng = np.random.default_rng(0)
    X, w, y = rng.standard_normal((80_000, 3)), rng.standard_normal(3), np.sign(rng.standard_normal(80_000))
    ex = tracenp.explain(tracenp.grad(loss), print_report=False)(w, X, y)
    assert "broadcast_to" not in str(ex.graph)
    s = 1 / (1 + np.exp(y * (X @ w)))
    np.testing.assert_allclose(tracenp.grad(loss)(w, X, y), X.T @ (-y * s) / len(y), rtol=1e-12)


def _signs_and_dtypes(got, want):
    for g, w in zip(got, want):
        assert type(g) is type(w) and g.dtype == w.dtype
        np.testing.assert_array_equal(g, w, strict=True)
        assert np.ascontiguousarray(g).tobytes() == np.ascontiguousarray(w).tobytes()


def test_cse_tells_scalars_apart_that_python_calls_equal():
    """Found by the fuzzer: ``0``, ``0.0``, ``-0.0``, ``False`` (and ``1``, ``1.0``,
    ``True``) compare and hash equal in Python, but NumPy gives them different dtypes
    (NEP 50 weak scalars) or signs; common subexpressions must not merge them."""
    def scalars(a):
        return a * 1, a * 1.0, a * True, a * 0, a * -0.0, a * False, a + 0j, a + 0
    def literals(a):
        return a * np.float64(0.0), a * np.float64(-0.0), a * np.float32(0.0)
    for x in (np.arange(-3, 3, dtype=np.int8), np.array([1.0, -1.0, 0.0, -0.0]),
              np.array([2.0, -1.5], np.float32)):
        for f in (scalars, literals):
            _signs_and_dtypes(tracenp.compile(f)(x), f(x))
    def sliced(a):
        return a[0:2:1], a[0:2:True], a[0.0 == 0:2]
    x = np.arange(5.0)
    _signs_and_dtypes(tracenp.compile(sliced)(x), sliced(x))


def test_fuzz_regression_cse_merged_times_zero_with_times_minus_zero():
    def f(a):
        x = a + a + a + a - a * -0.0 + a + a + a
        a[::-1] = a * 0
        v = np.negative(a)
        np.add(x, a, out=a)
        return v
    a, b = np.zeros(1), np.zeros(1)
    got = tracenp.compile(f)(a)
    want = f(b)
    _signs_and_dtypes([got, a], [want, b])
