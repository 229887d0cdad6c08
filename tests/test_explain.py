"""``tracenp.explain``: the report names the rules that fired and the user's lines, gives
node counts per phase, the kernels that run, and why a function falls back; and the
Theano seed example ``y = x**2; y - x**2`` simplifies as it should."""
from __future__ import annotations

import inspect
import time
import warnings

import numpy as np
import pytest

import tracenp
from tracenp.optimize import optimize

HERE = __file__.rsplit("/", 1)[-1]


def _line(fn, text: str) -> int:
    """The line number of ``text`` inside ``fn``'s source."""
    lines, start = inspect.getsourcelines(fn)
    for i, line in enumerate(lines):
        if text in line:
            return start + i
    raise AssertionError(text)


def softplus_loss(x):
    z = np.log(1 + np.exp(x))
    return z.sum() + np.sqrt(x * x)


def test_report_names_rules_and_the_users_line():
    x = np.linspace(-3, 3, 7)
    ex = tracenp.explain(softplus_loss, print_report=False)(x)
    where_sp = f"{HERE}:{_line(softplus_loss, 'np.log(1 + np.exp(x))')}"
    where_abs = f"{HERE}:{_line(softplus_loss, 'np.sqrt(x * x)')}"
    assert ("softplus_from_log_one_plus_exp", where_sp) in ex.rules
    assert ("sqrt_of_square_to_abs", where_abs) in ex.rules
    text = str(ex)
    assert text.startswith("tracenp.explain: softplus_loss")
    for rule, where in [("softplus_from_log_one_plus_exp", where_sp), ("sqrt_of_square_to_abs", where_abs)]:
        line = next(ln for ln in text.splitlines() if rule in ln)
        assert where in line
    assert ex.rules_fired == [r for r, _ in ex.rules]
    assert f"{len(ex.rules)} rules fired" in repr(ex)


def test_report_gives_node_counts_per_phase_and_graphs():
    x = np.linspace(-3, 3, 7)
    ex = tracenp.explain(softplus_loss, print_report=False)(x)
    phases = [p for p, _ in ex.node_counts]
    assert phases[:4] == ["traced", "canonicalize", "stabilize", "specialize"]
    assert all(isinstance(n, int) and n > 0 for _, n in ex.node_counts)
    counts = dict(ex.node_counts)
    # the stable softplus has one node more, |x| for sqrt(x * x) one less
    assert counts["traced"] == counts["stabilize"] == 7
    text = str(ex)
    assert "Node counts: traced %d, canonicalize" % counts["traced"] in text
    assert "optimized in" in text and ex.optimize_seconds > 0
    assert "-- graph after stabilize --" in text and "log1p" in text
    listing = dict(ex.listings)
    assert listing["stabilize"] != listing["canonicalize"]
    assert "log(" in listing["traced"] and "logaddexp" not in listing["traced"]
    assert "absolute" in listing["specialize"]


def test_report_lists_kernels():
    x = np.linspace(-3, 3, 7)
    ex = tracenp.explain(softplus_loss, print_report=False)(x)
    assert ex.kernels and all(isinstance(k, str) and isinstance(w, str) for k, w in ex.kernels)
    text = str(ex)
    assert "Kernels:" in text
    assert all(f"[{k}] {w}" in text for k, w in ex.kernels)


def untraceable(x):
    if x.sum() > 0:          # data-dependent Python control flow
        return x
    return -x


def test_report_explains_a_fallback():
    ex = tracenp.explain(untraceable, print_report=False)(np.ones(3))
    assert ex.graph is None and ex.fallbacks and not ex.rules and not ex.kernels
    text = str(ex)
    assert "Falls back to eager NumPy" in text
    assert f"line {_line(untraceable, 'if x.sum() > 0')}" in text and "np.where" in text
    assert "1 fallbacks" in repr(ex)


def test_explain_prints_by_default(capsys):
    tracenp.explain(lambda x: np.log(1 + x))(np.ones(3))
    out = capsys.readouterr().out
    assert "log1p_from_log_add_one" in out and "Node counts" in out


def test_explain_takes_compile_options_and_compiled_functions():
    f = lambda x: np.log(1 + x)            # noqa: E731
    x = np.ones(3)
    assert tracenp.explain(f, print_report=False)(x).rules_fired == ["log1p_from_log_add_one"]
    ex = tracenp.explain(f, print_report=False, disable={"log1p_from_log_add_one"})(x)
    assert ex.rules_fired == [] and "Rules fired: none" in str(ex)
    ex = tracenp.explain(tracenp.compile(f, disable={"log1p_from_log_add_one"}), print_report=False)(x)
    assert ex.rules_fired == []
    ex = tracenp.explain(f, print_report=False, optimize=False)(x)
    assert ex.rules == [] and ex.node_counts[0] == ("traced", 2)
    with pytest.raises(ValueError, match="unknown rule"):
        tracenp.explain(f, print_report=False, disable={"no_such_rule"})(x)


# ----------------------------------------------------------------- the Theano seed example
def seed(x):
    y = x ** 2
    return y - x ** 2


def _final(ex) -> str:
    return dict(ex.listings)["specialize"]


def test_seed_example_floats_a_guarded_zero():
    x = np.array([0.0, -1.5, 3.0, np.inf, -np.inf, np.nan, 1e200])
    ex = tracenp.explain(seed, print_report=False)(x)
    assert "self_subtract" in ex.rules_fired and "cse" in ex.rules_fired
    final = _final(ex)
    assert "subtract" not in final and "isfinite" in final and "where" in final
    with np.errstate(all="ignore"):
        got, want = tracenp.compile(seed)(x), seed(x)
    np.testing.assert_array_equal(got, want)               # NaN where x**2 is inf or NaN
    assert np.isnan(got[-1])                               # 1e200**2 overflows, as in NumPy


def test_seed_example_ints_a_plain_zero():
    x = np.arange(-3, 4)
    ex = tracenp.explain(seed, print_report=False)(x)
    final = _final(ex)
    assert "subtract" not in final and "square" not in final and "full" in final
    got = tracenp.compile(seed)(x)
    np.testing.assert_array_equal(got, seed(x), strict=True)


def test_seed_example_fast_math_a_plain_zero():
    x = np.array([0.0, -1.5, 3.0, np.inf, np.nan])
    ex = tracenp.explain(seed, print_report=False, fast_math=True)(x)
    assert "self_subtract_fast" in ex.rules_fired and "self_subtract" not in ex.rules_fired
    final = _final(ex)
    assert "subtract" not in final and "square" not in final and "isfinite" not in final
    got = tracenp.compile(seed, fast_math=True)(x)
    np.testing.assert_array_equal(got, np.zeros(5), strict=True)


def test_seed_example_without_cse_still_simplifies_per_dtype():
    ex = tracenp.explain(seed, print_report=False, disable={"cse"})(np.ones(3))
    assert "self_subtract" not in ex.rules_fired           # two square nodes: not x - x
    assert "subtract" in _final(ex)


# ----------------------------------------------------------------- a large graph
def chain(x):
    for _ in range(2500):
        x = np.log(1 + np.exp(x)) * 0.5
    return x


def test_optimizer_on_a_10k_node_graph():
    """10,000 traced nodes; 2,500 softplus rewrites.  (The time is reported, not asserted:
    see ``optimizer_seconds`` below.)"""
    x = np.linspace(-3, 3, 8)
    g = tracenp.make_graph(chain, optimize=False)(x)
    assert len(g.nodes) == 10_000
    report = optimize(g)
    assert report.rules_fired().count("softplus_from_log_one_plus_exp") == 2500
    # each log(1 + exp(x)) * 0.5 becomes where(x > 709, x, log1p(exp(x))), then * 0.5: 5 ops
    assert len(g.nodes) == 5 * 2500
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(tracenp.compile(chain)(x), chain(x), rtol=1e-14)


def optimizer_seconds(n_iter: int = 2500, repeat: int = 3) -> tuple[float, float]:
    """(wall, CPU) seconds of ``optimize`` on ``chain``'s 4 * n_iter-node graph (best of
    ``repeat``)."""
    x = np.linspace(-3, 3, 8)
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        g = tracenp.make_graph(chain, optimize=False)(x)
        t, c = time.perf_counter(), time.process_time()
        optimize(g)
        best = min(best, (time.perf_counter() - t, time.process_time() - c))
    return best


if __name__ == "__main__":
    wall, cpu = optimizer_seconds()
    print(f"optimize on 10,000 nodes: {wall:.3f} s wall, {cpu:.3f} s CPU")
