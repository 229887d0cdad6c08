"""Every NumPy ufunc, over every dtype NumPy accepts for it, against eager NumPy.

The ufuncs come from ``numpy.testing.overrides.get_overridable_numpy_ufuncs()`` and the
input dtypes are decided at run time: a candidate signature is kept when eager NumPy
accepts a call with tame values.  Candidates are every numeric dtype (bool, int8..int64,
uint8..uint64, float16/32/64, complex64/128) given to all inputs, plus each signature in
``ufunc.types`` (``ldexp(float, int)``, ``subtract(datetime, datetime)``, ...), plus
datetime64/timedelta64 and the string dtypes for the string ufuncs.

Each case is compared with :func:`tests.differential.check`: special values (signed
zeros, infinities, NaN, subnormals, integer extremes) on a broadcast grid of all pairs,
NaN positions and zero signs compared exactly, no fallback, no retrace on a second call
with other values, and a graph node calling the ufunc.

The default run has every (ufunc, signature) for ``__call__``; the method and keyword
matrices run on one dtype per kind (bool, int8, uint64, float16, float64, complex64) and
on every dtype under ``-m slow``.
"""
from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import scipy.special
from numpy.testing.overrides import get_overridable_numpy_ufuncs

import tracenp
from tests.differential import (RAISED, _all_ops, check, graph_ops, special_values,
                                tame_values, ufunc_node)

UFUNCS = sorted(get_overridable_numpy_ufuncs(), key=lambda u: u.__name__)

NUMERIC = [np.dtype(c) for c in ("?", "b", "h", "i", "q", "B", "H", "I", "Q",
                                 "e", "f", "d", "F", "D")]
DATETIME = [np.dtype("M8[s]"), np.dtype("m8[s]")]
STRINGS = [np.dtype("U"), np.dtype("S"), np.dtypes.StringDType()]
_CHAR = {"M": DATETIME[0], "m": DATETIME[1]}


def _type_char_dtype(c: str) -> np.dtype | None:
    if c in _CHAR:
        return _CHAR[c]
    if c in "OgGVUST":          # object, long double, strings: not from ufunc.types
        return None
    return np.dtype(c)


def _stringy(sig) -> bool:
    return any(d.kind in "SUT" for d in sig)


def grid_args(ufunc: np.ufunc, sig: tuple, seed: int, tame: bool = False) -> tuple:
    """Inputs for ``ufunc`` of dtypes ``sig``: a broadcast grid of all value combinations
    (operand j varies along axis j); gufuncs get their core dimensions."""
    rng = np.random.default_rng(seed)
    vals = []
    for j, d in enumerate(sig):
        if tame and _stringy(sig):  # values for which even str.index succeeds
            v = np.array([0 if j < 3 else 10], d) if d.kind in "iu" else tame_values(d)[:1]
        else:
            v = tame_values(d) if tame else special_values(d, small_ints=_stringy(sig))
        vals.append(v if seed == 0 else v[rng.permutation(len(v))])
    if ufunc.signature is not None:
        return _core_args(ufunc, vals)
    n = len(sig)
    return tuple(v.reshape([-1 if k == j else 1 for k in range(n)]) for j, v in enumerate(vals))


def _core_args(ufunc: np.ufunc, vals: list) -> tuple:
    sizes = {"n": 3, "k": 4, "m": 2}
    ins = ufunc.signature.split("->")[0]
    shapes = [[sizes[d.strip("?")] for d in re.findall(r"\w\??", spec)]
              for spec in re.findall(r"\(([^)]*)\)", ins)]
    shapes[0] = [2] + shapes[0]          # a broadcast (batch) dimension on the first operand
    return tuple(np.resize(v, s) for v, s in zip(vals, shapes))


# ------------------------------------------------------------------ accepted signatures

def _accepts(ufunc: np.ufunc, sig: tuple) -> bool:
    try:
        with np.errstate(all="ignore"):
            ufunc(*grid_args(ufunc, sig, 0, tame=True))
    except Exception:
        return False
    return True


def _candidates(ufunc: np.ufunc) -> list[tuple]:
    cands = [(d,) * ufunc.nin for d in NUMERIC + DATETIME]
    for t in ufunc.types:
        ds = tuple(_type_char_dtype(c) for c in t.split("->")[0])
        if all(d is not None for d in ds):
            cands.append(ds)
    if not ufunc.types:  # new-style (string) ufuncs: strings and int64 in any position
        cands += list(itertools.product(STRINGS + [np.dtype("q")], repeat=ufunc.nin))
    seen, out = set(), []
    for sig in cands:
        key = tuple(str(d) for d in sig)
        if key not in seen:
            seen.add(key)
            out.append(sig)
    return out


def _sig_id(sig: tuple) -> str:
    return ",".join("T" if d.kind == "T" else d.str.lstrip("<>|=") for d in sig)


ACCEPTED = {u: [s for s in _candidates(u) if _accepts(u, s)] for u in UFUNCS}
CALL_CASES = [pytest.param(u, s, id=f"{u.__name__}-{_sig_id(s)}")
              for u in UFUNCS for s in ACCEPTED[u]]

# The default run covers every dtype *kind* with the dtypes below; the other dtypes of the
# same matrices run under ``-m slow``.
DEFAULT_DTYPES = {np.dtype(c) for c in "?bQedF"}


def _kind_representatives(u: np.ufunc) -> set[str]:
    """For the kwargs matrix: the first accepted signature of each tuple of dtype kinds."""
    seen, keep = set(), set()
    for s in ACCEPTED[u]:
        kinds = tuple(d.kind for d in s)
        if kinds not in seen:
            seen.add(kinds)
            keep.add(_sig_id(s))
    return keep


KWARGS_CASES = [p if _sig_id(p.values[1]) in _kind_representatives(p.values[0])
                else pytest.param(*p.values, id=p.id, marks=pytest.mark.slow)
                for p in CALL_CASES]


def _same_dtype(u: np.ufunc) -> list[np.dtype]:
    return [s[0] for s in ACCEPTED[u] if len(set(map(str, s))) == 1 and s[0] in NUMERIC]


BINARY = [u for u in UFUNCS if u.nin == 2 and u.nout == 1 and u.signature is None]
UNARY = [u for u in UFUNCS if u.nin == 1 and u.nout == 1 and u.signature is None]


def _dtype_param(u: np.ufunc, d: np.dtype):
    marks = () if d in DEFAULT_DTYPES or not any(x in DEFAULT_DTYPES for x in _same_dtype(u)) \
        else (pytest.mark.slow,)
    return pytest.param(u, d, id=f"{u.__name__}-{d.str.lstrip('<>|=')}", marks=marks)


METHOD_CASES = [_dtype_param(u, d) for u in BINARY for d in _same_dtype(u)]
UNARY_AT_CASES = [_dtype_param(u, d) for u in UNARY for d in _same_dtype(u)]


def _representative(u: np.ufunc) -> tuple | None:
    for pref in (np.dtype("d"), np.dtype("q")):
        for s in ACCEPTED[u]:
            if all(d == pref for d in s):
                return s
    return ACCEPTED[u][0] if ACCEPTED[u] else None


REPRESENTATIVE = [pytest.param(u, _representative(u), id=u.__name__)
                  for u in UFUNCS if _representative(u) is not None]


def test_enumeration_covers_numpy():
    """Every public numeric ufunc has cases, each over the dtypes eager NumPy takes."""
    names = {u.__name__ for u in UFUNCS}
    assert {"add", "matmul", "divmod", "ldexp", "isnat", "str_len", "vecdot"} <= names
    missing = [u.__name__ for u in UFUNCS if not ACCEPTED[u]]
    # only the private string ufuncs that insist on out= have no plain-call signature
    assert all(m.startswith("_") for m in missing), missing
    assert len(ACCEPTED[np.add]) >= 14 and len(ACCEPTED[np.sin]) == 14
    assert {_sig_id(s) for s in ACCEPTED[np.ldexp]} >= {"f2,i4", "f8,i8", "f4,i8"}
    assert len(CALL_CASES) > 900


# ------------------------------------------------------------------ __call__

def _call(u):
    def fn(*args):
        return u(*args)
    fn.__name__ = f"call_{u.__name__}"
    return fn


@pytest.mark.parametrize("u, sig", CALL_CASES)
def test_call(u, sig):
    fn = _call(u)
    if check(fn, lambda seed: grid_args(u, sig, seed), node=ufunc_node(u)) is RAISED:
        # eager raised on the edge values (and the compiled call raised the same error):
        # the tame values must still compute
        assert check(fn, lambda seed: grid_args(u, sig, seed, tame=True),
                     node=ufunc_node(u)) is not RAISED


@pytest.mark.parametrize("u, sig", KWARGS_CASES)
def test_call_kwargs(u, sig):
    """out= into an argument and into a local, where=, dtype=, casting=."""
    nout = u.nout

    def base_args(seed):
        args = grid_args(u, sig, seed)
        try:
            with np.errstate(all="ignore"):
                u(*args)
            return args
        except Exception:
            return grid_args(u, sig, seed, tame=True)

    with np.errstate(all="ignore"):
        ref = u(*base_args(0))
    specs = [(r.shape, r.dtype) for r in (ref if nout > 1 else (ref,))]

    def make_into_arg(seed, dtype=None):
        return (*base_args(seed), *(np.zeros(s, dtype or d) for s, d in specs))

    def into_arg(*a):
        return u(*a[:u.nin], out=a[u.nin:])

    # out= the function's own arguments: the results are those very arrays
    if check(into_arg, make_into_arg, node=ufunc_node(u)) is not RAISED:
        args = make_into_arg(1)
        with np.errstate(all="ignore"):
            got = tracenp.compile(into_arg)(*args)
        got = got if nout > 1 else (got,)
        assert all(g is o for g, o in zip(got, args[u.nin:])), "out= must return the out arrays"

    def into_local(*ins):
        outs = tuple(np.zeros(s, d) for s, d in specs)
        res = u(*ins, out=outs)
        return outs, res[0] if nout > 1 else res

    check(into_local, base_args, node=ufunc_node(u))

    if u.signature is None:
        def masked(*a):
            outs = tuple(np.full(s, 1, d) for s, d in specs)
            u(*a[:-1], out=outs, where=a[-1])
            return outs

        def make_masked(seed):
            mask = np.random.default_rng(seed + 7).random(specs[0][0]) < 0.5
            return (*base_args(seed), mask)
        check(masked, make_masked, node=ufunc_node(u))

    # dtype= and casting=, as eager allows them (an error must be the same error)
    if specs[0][1].kind in "biufc":
        target = np.dtype("D") if specs[0][1].kind == "c" else np.dtype("d")

        def with_dtype(*ins):
            return u(*ins, dtype=target)
        check(with_dtype, base_args)

        def unsafe(*a):
            return u(*a[:u.nin], out=a[u.nin:], casting="unsafe")
        check(unsafe, lambda seed: make_into_arg(seed, np.int16))

        def same_kind(*a):
            return u(*a[:u.nin], out=a[u.nin:], casting="same_kind")
        check(same_kind, lambda seed: make_into_arg(seed, np.float32))


# ------------------------------------------------------------------ methods

def _wider(d: np.dtype) -> np.dtype:
    return {"b": np.dtype("q"), "i": np.dtype("q"), "u": np.dtype("Q"), "f": np.dtype("d"),
            "c": np.dtype("D")}[d.kind]


def _grid2d(d: np.dtype, seed: int, shape=(4, 6)) -> np.ndarray:
    v = special_values(d)
    if seed:
        v = v[np.random.default_rng(seed).permutation(len(v))]
    return np.resize(v, shape)


def _mask(seed: int, shape) -> np.ndarray:
    return np.random.default_rng(seed + 11).random(shape) < 0.6


@pytest.mark.parametrize("u, d", METHOD_CASES)
def test_reduce(u, d):
    v = special_values(d)
    init = v[min(2, len(v) - 1)].item()
    cases = {
        "default": lambda x, m: u.reduce(x),
        "axis1": lambda x, m: u.reduce(x, axis=1),
        "axis_none": lambda x, m: u.reduce(x, axis=None),
        "axis_tuple": lambda x, m: u.reduce(x, axis=(0, 1)),
        "keepdims": lambda x, m: u.reduce(x, axis=1, keepdims=True),
        "keepdims_none": lambda x, m: u.reduce(x, axis=None, keepdims=True),
        "dtype": lambda x, m: u.reduce(x, axis=0, dtype=_wider(d)),
        "initial": lambda x, m: u.reduce(x, axis=1, initial=init),
        "where": lambda x, m: u.reduce(x, axis=0, where=m, initial=init),
        "where_no_initial": lambda x, m: u.reduce(x, axis=1, where=m),
        "empty": lambda x, m: u.reduce(x[:0], axis=0),
        "empty_initial": lambda x, m: u.reduce(x[:0], axis=0, initial=init),
        "row_scalar": lambda x, m: u.reduce(x[0]),
        "out_local": lambda x, m: _reduce_out_local(u, x),
        "method_kw": lambda x, m: u.reduce(array=x, axis=-1),
    }
    results = {}
    for name, body in cases.items():
        def fn(x, m, body=body):
            return body(x, m)
        fn.__name__ = f"{u.__name__}.reduce[{name}]"
        results[name] = check(fn, lambda s: (_grid2d(d, s), _mask(s, (4, 6))),
                              node=None)
    for name in ("default", "axis1", "keepdims"):
        if results[name] is RAISED:
            continue
        ops = graph_ops(lambda x: cases[name](x, None), _grid2d(d, 0))
        assert any(ufunc_node(u, "reduce")(op) for op in ops), name
    # a full reduction returns a NumPy scalar, not a 0-d array
    assert results["axis_none"] is RAISED or isinstance(results["axis_none"], np.generic)


def _reduce_out_local(u, x):
    out = np.zeros(x.shape[0], dtype=x.dtype)
    u.reduce(x, axis=1, out=out)
    return out


@pytest.mark.parametrize("u, d", METHOD_CASES)
def test_reduce_out_argument(u, d):
    def fn(x, out):
        return u.reduce(x, axis=0, out=out)

    def make(seed):
        return _grid2d(d, seed), np.zeros(6, dtype=d)
    check(fn, make, node=ufunc_node(u, "reduce"))


@pytest.mark.parametrize("u, d", METHOD_CASES)
def test_accumulate(u, d):
    cases = {
        "axis0": lambda x: u.accumulate(x),
        "axis1": lambda x: u.accumulate(x, axis=1),
        "dtype": lambda x: u.accumulate(x, axis=1, dtype=_wider(d)),
        "out_local": lambda x: _acc_out_local(u, x),
        "one_d": lambda x: u.accumulate(x[1]),
    }
    for name, body in cases.items():
        fn = (lambda body: lambda x: body(x))(body)
        fn.__name__ = f"{u.__name__}.accumulate[{name}]"
        check(fn, lambda s: (_grid2d(d, s),), node=ufunc_node(u, "accumulate"))


def _acc_out_local(u, x):
    out = np.empty(x.shape, dtype=x.dtype)
    u.accumulate(x, axis=1, out=out)
    return out


@pytest.mark.parametrize("u, d", METHOD_CASES)
def test_outer(u, d):
    def fn(x, y):
        return u.outer(x, y)

    def make(seed):
        v = special_values(d)
        if seed:
            v = v[np.random.default_rng(seed).permutation(len(v))]
        return v, v[::-1][:5].copy()
    check(fn, make, node=ufunc_node(u, "outer"))

    def fn2(x, y):
        return u.outer(x, y[0])
    check(fn2, lambda s: (_grid2d(d, s, (2, 3)), _grid2d(d, s + 3, (3, 4))),
          node=ufunc_node(u, "outer"))


_AT_IDX = np.array([0, 3, 3, 1, 0, -1, 5])


@pytest.mark.parametrize("u, d", METHOD_CASES)
def test_at(u, d):
    def on_local(x, b):
        a = x.copy()
        u.at(a, _AT_IDX, b)
        return a

    def on_argument(x, b):
        u.at(x, _AT_IDX, b)

    def on_argument_2d(x, b, rows):
        u.at(x, (rows, slice(1, 3)), b[0])
        return x.sum(dtype=x.dtype) if x.dtype.kind != "b" else x.any()

    def make(seed):
        v = special_values(d)
        if seed:
            v = v[np.random.default_rng(seed).permutation(len(v))]
        return np.resize(v, 8), np.resize(v[::-1], 7)

    for fn in (on_local, on_argument):
        fn.__name__ = f"{u.__name__}.at[{fn.__name__}]"
        check(fn, make, node=ufunc_node(u, "at"))
    check(on_argument_2d, lambda s: (_grid2d(d, s), _grid2d(d, s + 1, (3, 2)),
                                     np.array([0, 2, 2])), node=ufunc_node(u, "at"))


@pytest.mark.parametrize("u", [np.add, np.maximum, np.multiply, np.logical_or, np.subtract])
def test_reduceat(u):
    idx = np.array([0, 2, 2, 5, 1])

    def fn(x, i):
        return u.reduceat(x, i, axis=1), u.reduceat(x, [0, 3], axis=0), u.reduceat(array=x[0],
                                                                                     indices=i)
    check(fn, lambda s: (_grid2d(np.dtype("d"), s), idx), node=ufunc_node(u, "reduceat"))


@pytest.mark.parametrize("u, d", UNARY_AT_CASES)
def test_unary_at(u, d):
    def on_local(x):
        a = x + x if d.kind != "b" else x.copy()
        u.at(a, _AT_IDX)
        return a

    def on_argument(x):
        u.at(x, _AT_IDX)

    for fn in (on_local, on_argument):
        fn.__name__ = f"{u.__name__}.at[{fn.__name__}]"
        check(fn, lambda s: (np.resize(_grid2d(d, s), 8),), node=ufunc_node(u, "at"))


# ------------------------------------------------------------------ shapes and layouts

def _eager_type(fn, args):
    try:
        with np.errstate(all="ignore"):
            return type(fn(*args))
    except Exception:
        return None


def _layout_makers(u, sig):
    """name -> make(seed) for the same ufunc on differently shaped / laid out inputs."""
    def vals(d, seed, n):
        v = special_values(d, small_ints=_stringy(sig))
        if seed:
            v = v[np.random.default_rng(seed).permutation(len(v))]
        return np.resize(v, n)

    def core(shape_fn):
        def make(seed):
            return tuple(shape_fn(vals(d, seed + j, 6 * 8 * 2), j) for j, d in enumerate(sig))
        return make

    if u.signature is not None:
        base = _core_args(u, [vals(d, 0, 64) for d in sig])
        return {
            "fortran": lambda s: tuple(np.asfortranarray(np.resize(vals(d, s, 64), b.shape))
                                       for d, b in zip(sig, base)),
            "reversed": lambda s: tuple(np.resize(vals(d, s, 64), b.shape)[..., ::-1]
                                        for d, b in zip(sig, base)),
        }
    return {
        "zero_d": lambda s: tuple(vals(d, s, 1).reshape(()) for d in sig),
        "empty": core(lambda v, j: v[:0].reshape(0, 3)),
        "broadcast": core(lambda v, j: v[:12].reshape(3, 1, 4) if j == 0 else v[:20].reshape(5, 4)),
        "strided": core(lambda v, j: v[:96].reshape(8, 12)[::2, ::-3]),
        "fortran": core(lambda v, j: np.asfortranarray(v[:30].reshape(5, 6))),
        "transposed": core(lambda v, j: v[:30].reshape(5, 6).T),
        "mixed_layout": core(lambda v, j: (v[:30].reshape(5, 6) if j % 2 else
                                           np.asfortranarray(v[:30].reshape(5, 6)))),
        "zero_d_and_array": core(lambda v, j: v[:1].reshape(()) if j == 0 else v[:10].reshape(2, 5)),
    }


@pytest.mark.parametrize("u, sig", REPRESENTATIVE)
def test_layouts(u, sig):
    fn = _call(u)
    for name, make in _layout_makers(u, sig).items():
        if name == "zero_d" and _eager_type(fn, make(0)) is str:
            # a 0-d StringDType result is a plain Python str: not traced, runs eagerly
            with pytest.warns(tracenp.FallbackWarning, match="Python str"):
                assert tracenp.compile(fn)(*make(1)) == fn(*make(1))
            continue
        r = check(fn, make, node=ufunc_node(u), layout=True, where=f"{u.__name__}[{name}]")
        if name == "zero_d" and r is not RAISED:
            first = r[0] if u.nout > 1 else r
            assert isinstance(first, np.generic), "a ufunc on 0-d arrays returns a NumPy scalar"


@pytest.mark.parametrize("u, sig", [p for p in REPRESENTATIVE if p.values[0].nin == 1
                                    and p.values[0].nout == 1
                                    and p.values[0].signature is None])
def test_out_into_views(u, sig):
    """out= a strided view of an argument, a Fortran argument, and a 0-d argument."""
    d = sig[0]
    with np.errstate(all="ignore"):
        out_dtype = u(tame_values(d)).dtype

    def fn(x, base):
        u(x, out=base[::2, 1:])
        return base

    def make(seed):
        x = np.resize(special_values(d), 12)
        if seed:
            x = x[::-1].copy()
        return x.reshape(3, 4), np.zeros((6, 5), out_dtype, order="F")
    check(fn, make, node=ufunc_node(u))

    def fn0(x, o):
        return u(x, out=o)
    check(fn0, lambda s: (np.array(special_values(d)[s]), np.array(0, out_dtype)),
          node=ufunc_node(u))


# ------------------------------------------------------------------ a ufunc from another library

@pytest.mark.parametrize("d", ["f", "d", "F", "D"])
def test_scipy_erf_is_a_node(d):
    erf = scipy.special.erf

    def fn(x):
        return erf(x) * 2

    dt = np.dtype(d)
    check(fn, lambda s: (np.resize(special_values(dt), 30).reshape(5, 6)[:, ::-1],),
          node=ufunc_node(erf))
    graph = tracenp.make_graph(fn)(special_values(dt))
    names = [op.name for op in _all_ops(graph.nodes)]
    assert any("erf" in n for n in names), names


def test_scipy_binary_ufunc_methods():
    xlogy = scipy.special.xlogy

    def fn(x, y, o):
        a = xlogy(x, y)
        xlogy(x, y, out=o)
        return a, xlogy.outer(x[0], y[:, 0])

    def make(s):
        v = special_values(np.dtype("d"))
        if s:
            v = v[::-1].copy()
        return v.reshape(4, 5), v.reshape(4, 5)[::-1].copy(), np.zeros((4, 5))
    check(fn, make, node=ufunc_node(xlogy))
    check(fn, make, node=ufunc_node(xlogy, "outer"))


def test_two_user_ufuncs_with_the_same_name():
    """np.frompyfunc ufuncs all share a name: each must still be its own op."""
    f1 = np.frompyfunc(lambda a: a + 1, 1, 1)
    f2 = np.frompyfunc(lambda a: a * 10, 1, 1)

    def fn(x):
        return f1(x), f2(x)
    check(fn, lambda s: (np.arange(4, dtype=object) + s,), node=ufunc_node(f2))


# ------------------------------------------------------------------ several outputs

def test_multi_output_out_tuples():
    """divmod/modf/frexp with out= tuples: partly None, aliasing the inputs, views."""
    def into_inputs(x, y):
        np.divmod(x, y, out=(x, y))          # reads both inputs before writing either
        return x, y

    def partly_none(x, y, q):
        r = np.divmod(x, y, out=(q, None))
        return r[1], r[0] is q

    def into_views(x, base):
        m, e = np.frexp(x, out=(base[0, ::2], None))
        return m, e, base

    def modf_where(x, m):
        a, b = np.ones_like(x), np.full_like(x, 7.0)
        np.modf(x, out=(a, b), where=m)
        return a, b

    f8 = np.dtype("d")
    check(into_inputs, lambda s: (_grid2d(f8, s, (3, 4)), _grid2d(f8, s + 1, (3, 4))),
          node=ufunc_node(np.divmod))
    check(into_inputs, lambda s: (np.arange(-6, 6, dtype=np.int16) + s,
                                  np.array([3, -2, 5, 7, -1, 4] * 2, dtype=np.int16)))
    check(partly_none, lambda s: (_grid2d(f8, s, (3, 4)), _grid2d(f8, s + 1, (3, 4)),
                                  np.zeros((3, 4))), node=ufunc_node(np.divmod))
    check(into_views, lambda s: (_grid2d(f8, s, (5,)), np.zeros((2, 9))),
          node=ufunc_node(np.frexp))
    check(modf_where, lambda s: (_grid2d(f8, s, (3, 4)), _mask(s, (3, 4))),
          node=ufunc_node(np.modf))
