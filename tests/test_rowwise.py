"""Row regions (axis reductions with keepdims fused with their elementwise work, run
block by block: tracenp.optimize.rowwise, tracenp.exec.rowwise) against eager NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import tracenp
from tracenp.config import config
from tracenp.optimize import RULES
from tests.oracle import assert_same

NO_RULES = {"disable": frozenset(RULES)}
ROWS = 3 * config.min_fuse_elements // 500 + 7      # several blocks of 500-wide rows


@pytest.fixture(autouse=True, params=["auto", "numba"])
def _threads(monkeypatch, request):
    # "numba": the rows loops of the regions' segments compile at the first call, and the
    # second call of each check runs them
    monkeypatch.setattr(config, "kernel", request.param)
    monkeypatch.setattr(config, "parallel_work", 0)     # use the pool, however small
    monkeypatch.setattr(config, "chunk_bytes", 1 << 14)  # many blocks, a ragged last one
    monkeypatch.setattr(config, "min_rowwise_elements", 1 << 15)   # this file's sizes fuse


def _rowwise_nodes(f, *args, **opts):
    g = tracenp.make_graph(f, **{**NO_RULES, **opts})(*args)
    return [n for n in g.nodes if n.op.name == "rowwise"]


def _check(f, *args, fused=1, rtol=0.0, **opts):
    c = tracenp.compile(f, **{**NO_RULES, **opts})
    with np.errstate(all="ignore"):
        expected = f(*args)
        assert_same(c(*args), expected, rtol=rtol)
        assert_same(c(*args), expected, rtol=rtol)
    assert len(_rowwise_nodes(f, *args, **opts)) == fused


def softmax1(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax0(x):
    e = np.exp(x - np.max(x, axis=0, keepdims=True))
    return e / np.sum(e, axis=0, keepdims=True)


def softmax_last(x):
    e = np.exp(x - np.amax(x, axis=-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def log_softmax(x):
    y = x - x.max(axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(y), axis=1, keepdims=True))
    return y - lse, lse


def layer_norm(x, g, b):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    return xc / np.sqrt(var + 1e-5) * g + b


def _rows(dtype, shape=(ROWS, 500), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


@pytest.mark.parametrize("f", [softmax1, softmax0, softmax_last])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_softmax_bit_for_bit(f, dtype):
    # max is exact and the sums are each row's pairwise sum, as NumPy's on C-ordered rows
    _check(f, _rows(dtype))


@pytest.mark.parametrize("order", ["F", "strided", "transposed"])
def test_layouts(order):
    x = _rows(np.float64, (2 * ROWS, 1000))
    x = {"F": np.asfortranarray(x[:ROWS, :500]), "strided": x[::2, ::2],
         "transposed": x[:500, :ROWS].T}[order]
    # another memory order: NumPy may sum in another order, within its summation error
    _check(softmax1, x, rtol=1e-13)
    _check(softmax0, x, rtol=1e-13)


def test_nan_inf_rows():
    x = _rows(np.float64)
    x[3, 7] = np.nan
    x[5, :] = np.inf
    x[6, 2] = -np.inf
    x[8, :] = -np.inf
    _check(softmax1, x)
    _check(log_softmax, x)


def test_outputs_of_both_shapes_and_log_softmax():
    _check(log_softmax, _rows(np.float64))


def test_layer_norm_broadcast_params():
    x = _rows(np.float64, (ROWS, 4, 500))
    g, b = np.linspace(0.5, 2, 500), np.float64(0.25)
    _check(layer_norm, x, g, b, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_])
def test_integer_and_bool_reductions(dtype):
    def f(x):
        s = x.sum(axis=1, keepdims=True)
        return x * 2 + s, np.min(x, axis=1, keepdims=True) <= x, x.mean(axis=1, keepdims=True) - x
    x = np.random.default_rng(1).integers(0, 7, (ROWS, 500)).astype(dtype)
    _check(f, x)


def test_complex():
    def f(x):
        return x / x.sum(axis=1, keepdims=True) + np.prod(x * 0 + 1, axis=1, keepdims=True)
    _check(f, _rows(np.complex128))


def test_keepdims_false_not_fused():
    def f(x):
        return x - x.max(axis=1)[:, None]

    def g(x):
        return x - x.max(axis=1, keepdims=True)
    _check(f, _rows(np.float64), fused=0)
    _check(g, _rows(np.float64), fused=1)


@pytest.mark.parametrize("shape", [(1, 40000), (40000, 1), (8, 1), (1, 8), (0, 5), (5, 0), (3, 0, 4)])
def test_one_row_one_column_empty(shape, monkeypatch):
    monkeypatch.setattr(config, "kernel", "blocked")     # fuse even the small ones
    x = np.random.default_rng(2).standard_normal(shape)

    def f(x):
        return x - x.sum(axis=1, keepdims=True)
    if 0 in shape:
        _check(f, x, fused=0)
    else:
        _check(f, x)
        _check(softmax1, x)


def test_empty_reduced_axis_raises_like_numpy(monkeypatch):
    monkeypatch.setattr(config, "kernel", "blocked")
    x = np.zeros((4, 0))
    with pytest.raises(ValueError):
        softmax1(x)
    with pytest.raises(ValueError):
        tracenp.compile(softmax1)(x)


def test_threads_do_not_change_results(monkeypatch):
    x = _rows(np.float64)
    c = tracenp.compile(softmax1)
    monkeypatch.setattr(config, "threads", 1)
    one = c(x)
    monkeypatch.setattr(config, "threads", 3)
    assert_same(c(x), one)


def test_convexity_outside_use_between():
    def f(x):
        m = x.max(axis=1, keepdims=True)
        t = np.sort(x - m, axis=1)            # outside the region, then used by it
        return t / np.sum(x - m, axis=1, keepdims=True)
    _check(f, _rows(np.float64))


def test_small_sizes_stay_op_by_op(monkeypatch):
    monkeypatch.setattr(config, "kernel", "auto")       # (a forced kind fuses every size)
    x = _rows(np.float64, (10, 10))
    _check(softmax1, x, fused=0)


def test_errstate_raise_in_region():
    x = _rows(np.float64)
    x[4, 4] = 0.0

    def f(x):
        return x / x.min(axis=1, keepdims=True)
    c = tracenp.compile(f)
    x[4, :] = 0.0
    with np.errstate(invalid="raise"):
        with pytest.raises(FloatingPointError):
            f(x)
        with pytest.raises(FloatingPointError):
            c(x)


def test_explain_shows_rowwise(capsys):
    tracenp.explain(softmax1)(_rows(np.float64))
    out = capsys.readouterr().out
    assert "[rowwise]" in out and "rowwise[" in out and "blocks of" in out
    assert "numba segments (one rows loop each, once compiled): t1..t1, t4..t4" in out


@pytest.mark.parametrize("layout", ["C", "F"])
def test_check_mode_accepts_row_sums(layout):
    x = _rows(np.float64)
    x = np.asfortranarray(x) if layout == "F" else x
    c = tracenp.compile(log_softmax, check=True)
    with np.errstate(all="ignore"):
        assert_same(c(x), log_softmax(x), rtol=1e-13)


def _segments(c):
    return [s for plan in c._cache.values() for n in plan.graph.nodes if n.op.name == "rowwise"
            for s in getattr(getattr(n.params, "_program", None), "_segments", None) or ()]


def layer_norm_2d(x, g, b):
    mu = x.mean(axis=1, keepdims=True)
    xc = x - mu
    return xc / np.sqrt(np.mean(xc * xc, axis=1, keepdims=True) + 1e-5) * g + b


def scaled_exp0(x):
    return np.exp((x - np.max(x, axis=0, keepdims=True)) * 0.5)


@pytest.mark.parametrize("f, args", [
    (softmax1, (_rows(np.float64),)), (softmax1, (_rows(np.float32),)),
    (scaled_exp0, (_rows(np.float64),)), (log_softmax, (_rows(np.float64),)),
    (softmax1, (_rows(np.float64, (2 * ROWS, 1000))[::2, 3:503],)),
    (layer_norm_2d, (_rows(np.float64), np.linspace(0.5, 2, 500), np.float64(0.25)))])
def test_numba_segments_run_bit_for_bit(f, args, monkeypatch):
    """The elementwise runs of a 2-d row region (with a column operand, such as ``x - m``
    and ``e / s``, or of two ops and more) run as numba rows loops once compiled: NumPy's
    bits, on every layout (strided blocks; rows broadcast over a block)."""
    monkeypatch.setattr(config, "kernel", "numba")
    c = tracenp.compile(f, **NO_RULES)
    with np.errstate(all="ignore"):
        expected = f(*args)
        c(*args)
        assert_same(c(*args), expected)
    segs = _segments(c)
    assert segs and all(s.calls for s in segs), [(s.first, s.last, s.calls) for s in segs]
    assert any(s.prog.columns for s in segs) == (f is not scaled_exp0)


def test_numba_segments_decline_what_their_loop_cannot_take(monkeypatch):
    """Blocks of an operand whose rows are not contiguous run NumPy's steps; a single op on full-shape
    operands is not a segment (NumPy's loop is as fast); softmax over axis 0 has none."""
    monkeypatch.setattr(config, "kernel", "numba")
    x = _rows(np.float64, (2 * ROWS, 1000))[::2, 1::2]
    c = tracenp.compile(softmax1, **NO_RULES)
    with np.errstate(all="ignore"):
        c(x)
        assert_same(c(x), softmax1(x))
    calls = [s.calls for s in _segments(c)]
    assert calls[0] == 0 and calls[1] > 0        # x - m reads x; e / s reads scratch
    c0 = tracenp.compile(softmax0, **NO_RULES)
    c0(x)
    assert _segments(c0) == []


def test_numba_segment_flags_rerun_numpys_steps(monkeypatch):
    """A floating-point flag NumPy would warn for sends the block back to NumPy's steps:
    NumPy's warning, once per call as NumPy gives it."""
    monkeypatch.setattr(config, "kernel", "numba")
    x = _rows(np.float64)
    c = tracenp.compile(softmax1, **NO_RULES)
    c(x)
    x[8, :] = -np.inf                 # x - max: -inf - -inf = nan (invalid)
    with pytest.warns(RuntimeWarning, match="invalid value"):
        r = c(x)
    with np.errstate(all="ignore"):
        assert_same(r, softmax1(x))
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        c(x)


_SEG_OPS = [np.add, np.subtract, np.multiply, np.divide, np.maximum, np.minimum]
_REDUCERS = ["max", "min", "sum", "mean"]


def _random_row_program(seed: int):
    """A row program: a keepdims reduction of ``x`` over axis 1, then 1 to 4 elementwise
    ops mixing ``x``, the column, earlier values and scalars (a where of a comparison at
    times), its last value the output."""
    rng = np.random.default_rng(seed)
    red = _REDUCERS[rng.integers(len(_REDUCERS))]
    plan = []
    for k in range(int(rng.integers(1, 5))):
        if rng.random() < 0.2:
            plan.append(("where", int(rng.integers(3)), int(rng.integers(3))))
        else:
            op = _SEG_OPS[rng.integers(len(_SEG_OPS))]
            a, b = rng.integers(4, size=2)
            plan.append((op, int(a), int(b)))

    def f(x):
        m = getattr(x, red)(axis=1, keepdims=True)
        vals = [x, m]
        for step in plan:
            pick = [vals[-1], x, m, 1.5]
            if step[0] == "where":
                v = np.where(pick[step[1]] > m, pick[step[2]], vals[-1])
            else:
                v = step[0](pick[step[1]], pick[step[2]])
            vals.append(v)
        return vals[-1] + x * 0          # (full shape)
    return f


@pytest.mark.parametrize("seed", range(32))
def test_numba_segments_of_random_row_programs_are_numpys_bits(seed, monkeypatch):
    monkeypatch.setattr(config, "kernel", "numba")
    rng = np.random.default_rng(100 + seed)
    dtype = [np.float64, np.float32, np.int64, np.int32][seed % 4]
    x = _rows(dtype) if np.dtype(dtype).kind == "f" else rng.integers(-9, 9, (ROWS, 500)).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x.ravel()[rng.integers(x.size, size=20)] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0], 20)
    if seed % 3 == 2:
        x = np.concatenate([x, x], axis=1)[:, 3:503]     # rows of a wider array
    f = _random_row_program(seed)
    c = tracenp.compile(f, **NO_RULES)
    with np.errstate(all="ignore"):
        expected = f(x)
        for _ in range(2):
            got = c(x)
            assert_same(got, expected)
            if expected.dtype.kind == "f":
                ok = np.isnan(expected) | (np.signbit(got) == np.signbit(expected))
                assert ok.all(), np.argwhere(~ok)[:5]       # zero signs (not NaN's)
