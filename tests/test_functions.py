"""The dtype sweep of every catalog function, against eager NumPy (see tests/function_cases.py).

Each case runs on every dtype of ``DTYPES`` (bool, int8..64, uint8..64, float16..64,
complex64/128) as built, and on non-contiguous, Fortran-ordered, 0-d and empty inputs
(three dtypes per case by default, rotating over the table; every dtype under ``slow``).
A dtype where eager NumPy raises is skipped because eager raises, and the compiled call
must raise the same exception type there.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracenp
from tests import function_cases as fc
from tests.oracle import assert_same
from tracenp import coverage
from tracenp.graph import catalog


def _param(c: fc.Case):
    marks = [pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
    return pytest.param(c, id=c.id, marks=marks)


def _check(result: fc.CaseResult) -> None:
    failures = result.failures
    assert not failures, (f"{len(failures)} failing runs of {result.case.id}:\n"
                          + "\n".join(f[:600] for f in failures[:12]))
    assert result.ok_dtypes, f"{result.case.id}: eager NumPy rejects every dtype (a bad case)"


@pytest.mark.parametrize("c", [_param(c) for c in fc.CASES])
def test_function(c):
    _check(fc.verify(c))


@pytest.mark.slow
@pytest.mark.parametrize("c", [_param(c) for c in fc.CASES])
def test_function_every_dtype_everywhere(c):
    _check(fc.verify(c, full=True))


# ----------------------------------------------------------------------------- the table

def _catalog_names() -> set[str]:
    names = {n for ns in catalog.FUNCTIONS.values() for n in ns.split()
             if catalog.lookup_name(n) is not None}
    return names | set(catalog.CREATION) | {"asarray", "asanyarray", "ascontiguousarray",
                                            "asfortranarray", "require"}


def test_every_catalog_function_has_a_case():
    missing = sorted(_catalog_names() - {c.name for c in fc.CASES})
    assert not missing, f"catalog functions without a sample call in function_cases: {missing}"


def test_every_numpy_ufunc_has_a_case():
    names = {c.name for c in fc.CASES}
    missing = [u.__name__ for u in fc.UFUNCS if u.__name__ not in names]
    assert not missing, missing


def test_case_names_are_ops():
    from tracenp.graph.ops import REGISTRY
    ufuncs = {u.__name__ for u in fc.UFUNCS}

    def known(n: str) -> bool:     # a registered op, or a ufunc method (made on first use)
        base, _, method = n.partition(".")
        return n in REGISTRY or (base in ufuncs and method in coverage.ufunc_methods(
            getattr(np, base)))
    bad = [c.id for c in fc.CASES for n in c.nodes if not known(n)]
    assert not bad, f"cases whose node names are not registered ops: {bad}"


REQUIRED = """sum prod mean std var min max all any argmin argmax cumsum median
    reshape transpose ravel squeeze expand_dims swapaxes moveaxis broadcast_to
    concatenate stack hstack vstack where clip einsum dot matmul tensordot linalg.norm
    linalg.solve sort take roll flip diff""".split()


def test_requirement_200_overridable_functions_verified():
    """At least 200 of NumPy's overridable array functions trace to graph nodes and pass
    the dtype sweep, the named ones among them."""
    rep = coverage.report(fc.sweep())
    verified = set(rep.traced_verified)
    assert len(verified) >= 200, (len(verified), sorted(set(rep.traced) - verified))
    ufunc_names = {u.__name__ for u in fc.UFUNCS}
    missing = [n for n in REQUIRED if n not in verified and
               not (n in ufunc_names and n in rep.verified)]
    assert not missing, missing
    assert not rep.failing, rep.failing


# ----------------------------------------------------------------------------- excluded

@pytest.mark.parametrize("name", sorted(fc.EXCLUDED_CASES))
def test_excluded_function_falls_back(name):
    fn, specs, error = fc.EXCLUDED_CASES[name]
    argset = fc._argset(list(specs))
    dtype = np.dtype(np.float64)
    call = (lambda *a: fn(np, *a))
    expected = call(*fc.build(argset, dtype, "C", 1))
    f = tracenp.compile(call)
    with pytest.warns(tracenp.FallbackWarning, match=error.__name__):
        actual = f(*fc.build(argset, dtype, "C", 1))
    assert_same(actual, expected)
    assert f.trace_count == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", tracenp.FallbackWarning)  # warned once per signature
        assert_same(f(*fc.build(argset, dtype, "C", 2)), call(*fc.build(argset, dtype, "C", 2)))
    assert f.trace_count == 1, "a fallen-back signature must not be traced again"
    strict = tracenp.compile(call, strict=True)
    with pytest.raises(error) as info:
        strict(*fc.build(argset, dtype, "C", 1))
    assert type(info.value) is error
    with pytest.raises(error):
        tracenp.make_graph(call)(*fc.build(argset, dtype, "C", 1))


def test_every_data_dependent_exclusion_has_a_fallback_test():
    """Each exclusion for a value-dependent shape, dtype or Python value is tested above."""
    skip = ("reads or writes files", "datetime")
    names = [n for n, reason in catalog.EXCLUDED.items()
             if not any(s in reason for s in skip) and catalog.lookup_name(n) is not None]
    missing = [n for n in names if n not in fc.EXCLUDED_CASES]
    assert not missing, missing


def test_excluded_function_message_names_the_reason():
    f = tracenp.compile(lambda x: np.unique(x), strict=True)
    with pytest.raises(tracenp.DataDependentShapeError, match="numpy.unique is not traced: its "
                       "result's shape depends on the values"):
        f(np.arange(3.0))
    g = tracenp.compile(lambda x: np.lib.scimath.sqrt(x), strict=True)
    with pytest.raises(tracenp.UnsupportedFunctionError, match="numpy.lib.scimath.sqrt is not "
                       "traced: its result's dtype depends"):
        g(np.arange(3.0))


# ----------------------------------------------------------------------------- static queries

def test_static_queries_record_no_node():
    def f(x, y):
        return (np.shape(x), np.ndim(x), np.size(x), np.result_type(x, y),
                np.iscomplexobj(y), np.isrealobj(x), np.can_cast(x, y.dtype),
                np.common_type(x, y), np.einsum_path("ij,jk->ik", x, y.T)[0], x + 1)
    x = np.arange(6.0).reshape(2, 3)
    y = np.ones((2, 3), np.complex64)
    c = tracenp.compile(f)
    assert_same(c(x, y), f(x, y))
    assert_same(c(x + 1, y), f(x + 1, y))
    assert c.trace_count == 1
    graph = tracenp.make_graph(f, optimize=False)(x, y)
    assert [n.op.name for n in graph.nodes] == ["add"], str(graph)
    assert set(catalog.QUERIES) == {"shape", "ndim", "size", "result_type", "iscomplexobj",
                                    "isrealobj", "can_cast", "common_type", "einsum_path"}


# ----------------------------------------------------------------------------- layout fixes

def test_asfortranarray_and_ascontiguousarray_change_the_layout():
    """(They used to return the traced argument itself, so replay skipped the copy.)"""
    x = np.arange(12.0).reshape(3, 4)
    f = tracenp.compile(lambda a: np.asfortranarray(a))
    r = f(x)
    assert r.flags.f_contiguous and r is not x and not np.shares_memory(r, x)
    g = tracenp.compile(lambda a: np.ascontiguousarray(a))
    r = g(x[:, ::2])
    assert r.flags.c_contiguous and not np.shares_memory(r, x)
    assert_same(r, np.ascontiguousarray(x[:, ::2]))
