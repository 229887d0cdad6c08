"""The cached-call path: shorter replay forms of NumPy functions, the flat-tuple output
path and the replay type checks give what eager NumPy gives."""
from __future__ import annotations

import numpy as np
import pytest

import tracenp
from tracenp.exec.replay_forms import _METHODS, replay_form


@pytest.mark.parametrize("name", sorted(_METHODS))
@pytest.mark.parametrize("dtype", ["bool", "int8", "uint16", "float16", "float32", "complex128"])
def test_replay_forms_equal_the_functions(name, dtype):
    fn = getattr(np, name)
    form = replay_form(name, fn)
    assert form is not fn and form.__wrapped__ is fn
    x = (np.arange(24) % 7 - 3).astype(dtype).reshape(2, 3, 4)[:, ::2]   # a strided view
    for args, kwargs in [((), {}), ((1,), {}), ((), {"axis": -1}),
                         ((), {"axis": 0, "keepdims": True})]:
        if name in ("argmax", "argmin", "cumsum", "cumprod") and "keepdims" in kwargs:
            continue
        with np.errstate(all="ignore"):
            try:
                want = fn(x, *args, **kwargs)
            except (TypeError, ValueError) as e:
                with pytest.raises(type(e)):
                    form(x, *args, **kwargs)
                continue
            got = form(x, *args, **kwargs)
        assert type(got) is type(want) and np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)


def test_replay_forms_leave_other_types_to_the_function():
    m = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    assert replay_form("sum", np.sum)(m) == np.sum(m) == 4.0
    assert replay_form("sum", np.nansum) is np.nansum        # not NumPy's np.sum: unchanged
    assert replay_form("median", np.median) is np.median     # no table entry: unchanged


def test_tuple_outputs_and_reductions_replay_like_numpy():
    def f(x, y):
        return x.max(axis=1, keepdims=True), np.sum(x * y), x[1:], x, np.mean(y, axis=0)
    c = tracenp.compile(f)
    x, y = np.arange(12.0).reshape(3, 4), np.ones((3, 4))
    for _ in range(2):
        got, want = c(x, y), f(x, y)
        assert type(got) is tuple and len(got) == len(want)
        for g, w in zip(got, want):
            assert type(g) is type(w) and np.asarray(g).dtype == np.asarray(w).dtype
            np.testing.assert_array_equal(g, w)
        assert got[3] is x                     # the argument itself, as NumPy returns it


def test_only_ops_typed_by_their_input_skip_the_replay_check():
    from tracenp.exec.interpreter import _needs_check

    def f(x, i):
        return x[1:].reshape(-1), np.sum(x, axis=0), np.exp(x), np.take(x, i), x.copy()
    c = tracenp.compile(f)
    c(np.ones((3, 2)), np.array([0, 1]))
    graph = next(iter(c._cache.values())).graph
    checked = {n.op.name for n in graph.nodes if _needs_check(n)}
    assert checked == {"take"}          # two traced inputs: checked
