"""Every gradient rule against central finite differences (``check_grads(order=2)``), and
the coverage walk: every op of the registry has a rule or is declared.

- ``UFUNC`` entries: each on a domain where it is smooth, over the shapes (), (3,),
  (2, 3), (1, 3) and broadcasting combinations, in float64; some in float32; the
  holomorphic ones in complex128.
- ``FUNC``, ``MUTATE``, selection and ufunc-method rules: representative calls
  (:data:`CALLS`), each name of the tables at least once.
- ops differentiated through NumPy's own Python implementation (``decompose``): each
  sample call of ``tests/function_cases.py``.
- the coverage walk over the registry (and the ops made on first use: ufunc methods,
  ``ndarray.*`` methods, in-place forms).

``slow``: every float64 sample call of ``tests/function_cases.py``.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracenp
from tracenp import coverage, tracer
from tracenp.autodiff import rules
from tracenp.graph.ops import REGISTRY, MutateOp, ufunc_op, ufunc_out_op
from tracenp.testing import GradientMismatch, check_grads

# ============================================================================ values

R, P, U, G1, NZ = "real", "pos", "unit", "gt1", "nonzero"
_RANGES = {R: (-2.0, 2.0), P: (0.5, 2.0), U: (-0.9, 0.9), G1: (1.2, 3.0), NZ: (0.5, 2.0)}


def arr(shape, kind=R, dtype=np.float64, seed=0):
    """A random array of ``shape`` on the domain ``kind`` (a name, or a (lo, hi) pair)."""
    rng = np.random.default_rng([seed, len(shape), *shape])
    lo, hi = _RANGES[kind] if isinstance(kind, str) else kind
    v = rng.uniform(lo, hi, shape)
    if kind == NZ:
        v = v * rng.choice([-1.0, 1.0], shape)
    dt = np.dtype(dtype)
    if dt.kind == "c":
        v = v + 1j * rng.uniform(0.2, 0.5, shape)
    return np.asarray(v).astype(dt)


def spd(n, batch=(), seed=1, dtype=np.float64):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal(batch + (n, n))
    if np.dtype(dtype).kind == "c":
        m = m + 1j * rng.standard_normal(batch + (n, n))
    return (m @ np.conj(np.swapaxes(m, -1, -2)) + n * np.eye(n)).astype(dtype)


def wellcond(shape, seed=2):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) + 3 * shape[-1] * np.eye(shape[-1])


def _check(f, args, order=2, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        check_grads(f, args, order=order, **kw)


# ============================================================================ ufuncs

UNARY_SHAPES = [(), (3,), (2, 3), (1, 3)]
BINARY_SHAPES = [((), ()), ((3,), (3,)), ((2, 3), (1, 3)), ((1, 3), (2, 3)), ((3,), ()),
                 ((), (2, 3))]
MOD = ((0.2, 0.8), (1.5, 2.5))      # x % y away from its jumps

UFUNC_DOMAINS: dict[str, tuple] = {
    "add": (R, R), "subtract": (R, R), "multiply": (R, R), "divide": (R, NZ),
    "true_divide": (R, NZ), "negative": (R,), "positive": (R,), "reciprocal": (NZ,),
    "square": (R,), "sqrt": (P,), "cbrt": (NZ,), "exp": (R,), "exp2": (R,), "expm1": (R,),
    "log": (P,), "log2": (P,), "log10": (P,), "log1p": (P,), "sin": (R,), "cos": (R,),
    "tan": (U,), "arcsin": (U,), "arccos": (U,), "arctan": (R,), "sinh": (R,), "cosh": (R,),
    "tanh": (R,), "arcsinh": (R,), "arccosh": (G1,), "arctanh": (U,), "deg2rad": (R,),
    "radians": (R,), "rad2deg": (R,), "degrees": (R,), "conjugate": (R,),
    "arctan2": (NZ, NZ), "hypot": (NZ, NZ), "logaddexp": (R, R), "logaddexp2": (R, R),
    "remainder": MOD, "mod": MOD, "fmod": MOD, "copysign": (NZ, NZ), "absolute": (NZ,),
    "fabs": (NZ,), "power": (P, R), "float_power": (P, R), "maximum": (R, R),
    "minimum": (R, R), "fmax": (R, R), "fmin": (R, R), "divmod": MOD, "modf": (R,),
    "frexp": (NZ,),
}
# tested with their own shapes or arguments below
UFUNC_ELSEWHERE = {"ldexp", "nextafter", "heaviside", "sign", "matmul", "vecdot", "matvec", "vecmat", "scipy.special.erf",
                   "scipy.special.erfc", "scipy.special.expit"}
HOLOMORPHIC = """add subtract multiply divide negative positive reciprocal square sqrt exp
    exp2 expm1 log log2 log10 log1p sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh
    arccosh arctanh power conjugate absolute""".split()
FLOAT32 = "add multiply divide exp log sin tanh sqrt power maximum arctan2 hypot".split()


def _ufunc(name):
    return getattr(np, name)


def _ufunc_params():
    out = []
    for name, dom in UFUNC_DOMAINS.items():
        shapes = UNARY_SHAPES if len(dom) == 1 else BINARY_SHAPES
        for sh in shapes:
            sh = sh if len(dom) > 1 else (sh,)
            out.append(pytest.param(name, sh, id=f"{name}-{'-'.join(map(str, sh))}"))
    return out


@pytest.mark.parametrize("name, shapes", _ufunc_params())
def test_ufunc_rule(name, shapes):
    dom = UFUNC_DOMAINS[name]
    args = [arr(s, k, seed=i) for i, (s, k) in enumerate(zip(shapes, dom))]
    _check(_ufunc(name), args)


@pytest.mark.parametrize("name", HOLOMORPHIC)
def test_ufunc_rule_complex(name):
    dom = UFUNC_DOMAINS[name]
    shapes = [(2, 3), (3,)][:len(dom)]
    kinds = [(0.3, 0.8) if k in (P, U, R, NZ) else (1.2, 2.0) for k in dom]
    args = [arr(s, k, np.complex128, seed=i) for i, (s, k) in enumerate(zip(shapes, kinds))]
    _check(_ufunc(name), args)


@pytest.mark.parametrize("name", FLOAT32)
def test_ufunc_rule_float32(name):
    dom = UFUNC_DOMAINS[name]
    args = [arr(s, k, np.float32, seed=i) for i, (s, k) in enumerate(zip([(2, 3), (3,)], dom))]
    _check(_ufunc(name), args)


def test_ufunc_rules_special_arguments():
    n = np.array([1, -2, 3])
    _check(lambda x: np.ldexp(x, n), [arr((2, 3))])
    _check(np.nextafter, [arr((2, 3)), arr((3,))])
    _check(np.sign, [arr((2, 3), dtype=np.complex128)])
    _check(lambda x: np.sign(x) * x, [arr((2, 3), NZ)])
    _check(lambda h: np.heaviside(np.array([0.0, 1.0, -2.0, 0.0]), h), [arr((4,))])
    _check(np.matmul, [arr((2, 3)), arr((3, 4), seed=1)])
    _check(np.matmul, [arr((3,)), arr((2, 3, 4), seed=1)])
    _check(np.matmul, [arr((2, 1, 3, 4)), arr((4,), seed=1)])
    _check(np.matmul, [arr((2, 3), dtype=np.complex128), arr((3,), dtype=np.complex128)])
    _check(np.vecdot, [arr((2, 3)), arr((3,), seed=1)])
    _check(np.vecdot, [arr((2, 3), dtype=np.complex128), arr((2, 3), dtype=np.complex128, seed=1)])
    _check(lambda a, b: np.vecdot(a, b, axis=0), [arr((3, 2)), arr((3, 1), seed=1)])
    _check(lambda a, b: np.matmul(a, b, axes=[(0, 1), (0, 1), (0, 1)]),
           [arr((2, 3)), arr((3, 4), seed=1)])
    _check(np.matvec, [arr((2, 3)), arr((3,), seed=1)])
    _check(np.matvec, [arr((2, 3), dtype=np.complex128), arr((3,), dtype=np.complex128)])
    _check(np.vecmat, [arr((3,)), arr((3, 2), seed=1)])
    _check(np.vecmat, [arr((3,), dtype=np.complex128), arr((3, 2), dtype=np.complex128)])


REDUCTIONS = {
    "sum": np.sum, "mean": np.mean, "prod": np.prod, "max": np.max, "min": np.min,
    "var": np.var, "std": np.std, "cumsum": np.cumsum, "cumprod": np.cumprod, "sort": np.sort,
    "median": np.median, "linalg.norm": np.linalg.norm,
}


def _reduction_params():
    out = []
    for name in REDUCTIONS:
        for shape in UNARY_SHAPES:
            axes = [None] if not shape else [None, 0, -1]
            for axis in axes:
                if name == "sort" and axis is None and len(shape) > 1:
                    continue
                kds = [False, True] if name not in ("cumsum", "cumprod", "sort") and \
                    axis is not None else [False]
                for kd in kds:
                    out.append(pytest.param(name, shape, axis, kd,
                                            id=f"{name}-{shape}-axis{axis}-kd{int(kd)}"))
    return out


@pytest.mark.parametrize("name, shape, axis, keepdims", _reduction_params())
def test_reduction_rule_shapes(name, shape, axis, keepdims):
    """Reductions and scans over the shapes (), (3,), (2, 3), (1, 3), with axis and
    keepdims (the cotangent is broadcast back, then summed to each input's shape)."""
    fn = REDUCTIONS[name]
    kw = {} if axis is None and name != "sort" else {"axis": axis}
    if name == "sort" and not shape:
        return
    if keepdims:
        kw["keepdims"] = True
    kind = NZ if name in ("cumprod", "prod", "linalg.norm") else R
    if name in ("var", "std") and (np.prod(shape, dtype=int) if axis is None else
                                   (shape[axis] if shape else 1)) < 2:
        return                  # a variance of one element: std is not differentiable at 0
    # broadcasting on the way in: (3,) against each shape
    _check(lambda x, y: fn(x * y, **kw), [arr(shape, kind), arr(shape[-1:] or (), P, seed=3)])


def test_scipy_special_rules():
    sp = pytest.importorskip("scipy.special")
    for f in (sp.erf, sp.erfc, sp.expit):
        _check(f, [arr((2, 3))])
        _check(lambda x, f=f: np.sum(f(x) * x), [arr((3,))])


def test_python_scalar_operators():
    # operators between NumPy scalars record py.* ops (NumPy's scalar math)
    def f(x):
        s = x[0]
        t = x[1]
        q, r = divmod(s * 3.0 + 5.0, t + 3.0)
        return np.stack([s + t, s - t, s * t, s / t, -s, +s, abs(s), s ** 2.0, s % 1.5,
                         s.conjugate(), s.real, s.imag + t, r, q + s, (s + t) // 2.0])
    _check(f, [np.array([0.7, -1.3])])


# ============================================================================ FUNC, MUTATE,
#                                                                              selections

def _nanify(x, every=5):
    """``x`` with NaN at every ``every``-th position (through np.where: no cotangent there)."""
    mask = (np.arange(x.size).reshape(x.shape) % every) == 1
    return np.where(mask, np.nan, x)


def _ties():
    return np.array([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]])


def _setitem_inside(x):
    y = np.zeros((4, 3))
    y[1:3] = x
    y[0, 1] = x[0, 0] * 2
    return y


def _setitem_fancy(x, v):
    y = x * 1.0
    y[[0, 2, 0]] = v          # repeated index: the last write wins
    return y


def _iadd(x, y):
    z = x * 1.0
    z += y
    z[1] += y * 2
    z[0, ::2] *= 3.0
    return z


def _ufunc_out(x, y):
    z = np.empty_like(x)
    np.add(x, y, out=z)
    np.multiply(z, x, out=z, where=x > 0)
    return z


def _fill(x):
    y = x * 1.0
    y.fill(x[0, 0])
    return y + x


def _sort_inplace(x):
    y = x * 1.0
    y.sort(axis=0)
    return y


def _partition_inplace(x):
    y = x * 1.0
    y.partition(1)
    return y


def _nd_put(x, v):
    y = x * 1.0
    y.put([0, 4, 5], v)
    return y


def _copyto(x, v):
    y = x * 1.0
    np.copyto(y, v, where=np.array([True, False, True]))
    return y


def _out_kw(x):
    o = np.zeros(3)
    np.sum(x, axis=0, out=o)
    c = np.zeros((2, 3))
    np.cumsum(x, axis=1, out=c)
    return o * 2 + c.sum(axis=0)


def _add_at(x, b):
    y = x * 1.0
    np.add.at(y, [0, 2, 0], b)
    np.subtract.at(y, [1], b[0])
    return y


def _floor_at(x):
    y = x * 1.0
    np.floor.at(y, [0, 2])
    return y * x


def _divmod_out(x, y):
    q = np.zeros_like(x)
    r = np.zeros_like(x)
    np.divmod(x, y, out=(q, r))
    return q + r


# (name covered, function, argument arrays, argnums or None)
CALLS: list[tuple[str, object, list, object]] = [
    # ----------------------------------------------------------------- reductions
    ("sum", lambda x: np.sum(x), [arr((2, 3))], None),
    ("sum", lambda x: np.sum(x, axis=0, keepdims=True), [arr((2, 3))], None),
    ("sum", lambda x: np.sum(x, axis=(0, 2)), [arr((2, 3, 2))], None),
    ("sum", lambda x, i: np.sum(x, axis=1, initial=i, where=np.array([True, False, True])),
     [arr((2, 3)), arr(())], None),
    ("add.reduce", lambda x: np.add.reduce(x, axis=1), [arr((2, 3))], None),
    ("mean", lambda x: np.mean(x, axis=-1), [arr((2, 3))], None),
    ("mean", lambda x: np.mean(x, axis=0, where=np.array([[True, False, True], [True, True, False]])),
     [arr((2, 3))], None),
    ("var", lambda x: np.var(x, axis=0, ddof=1), [arr((3, 2))], None),
    ("var", lambda x: np.var(x), [arr((2, 3), dtype=np.complex128)], None),
    ("std", lambda x: np.std(x, axis=1, keepdims=True), [arr((2, 3))], None),
    ("max", lambda x: np.max(x, axis=0), [arr((2, 3))], None),
    ("max", lambda x: np.max(x, axis=1, keepdims=True), [arr((2, 3))], None),
    ("max", lambda x, i: np.max(x, axis=0, initial=i), [arr((2, 3), (-1, 0)), arr((), (-0.5, 0.5))],
     None),
    ("min", lambda x: np.min(x), [arr((2, 3))], None),
    ("amax", lambda x: np.amax(x, axis=(0, 1)), [arr((2, 3))], None),
    ("amin", lambda x: np.amin(x, axis=-1), [arr((2, 3))], None),
    ("maximum.reduce", lambda x: np.maximum.reduce(x, axis=1), [arr((2, 3))], None),
    ("minimum.reduce", lambda x: np.minimum.reduce(x), [arr((2, 3))], None),
    ("fmax.reduce", lambda x: np.fmax.reduce(x), [arr((2, 3))], None),
    ("fmin.reduce", lambda x: np.fmin.reduce(x, axis=1), [arr((2, 3))], None),
    ("prod", lambda x: np.prod(x, axis=1), [arr((2, 3))], None),
    ("prod", lambda x: np.prod(x * np.array([1.0, 0.0, 1.0])), [arr((2, 3))], None),
    ("prod", lambda x, i: np.prod(x, axis=0, initial=i), [arr((2, 3)), arr(())], None),
    ("multiply.reduce", lambda x: np.multiply.reduce(x, axis=0), [arr((2, 3))], None),
    ("median", lambda x: np.median(x, axis=0), [arr((3, 4))], None),
    ("median", lambda x: np.median(x), [arr((2, 3))], None),
    ("quantile", lambda x: np.quantile(x, [0.2, 0.7], axis=1, keepdims=True), [arr((2, 5))], None),
    ("quantile", lambda x: np.quantile(x, 0.4, method="nearest"), [arr((2, 5))], None),
    ("quantile", lambda x: np.quantile(x, 0.3, axis=0, method="midpoint"), [arr((5, 2))], None),
    ("percentile", lambda x: np.percentile(x, 30, axis=0, method="lower"), [arr((4, 3))], None),
    ("percentile", lambda x: np.percentile(x, 30, method="higher"), [arr((4, 3))], None),
    ("trace", lambda x: np.trace(x, offset=1), [arr((3, 4))], None),
    ("linalg.trace", lambda x: np.linalg.trace(x), [arr((2, 3, 3))], None),
    # ----------------------------------------------------------------- nan-functions
    ("nansum", lambda x: np.nansum(_nanify(x), axis=1), [arr((2, 3))], None),
    ("nanprod", lambda x: np.nanprod(_nanify(x)), [arr((2, 3))], None),
    ("nanmean", lambda x: np.nanmean(_nanify(x), axis=1, keepdims=True),
     [arr((2, 3))], None),
    ("nanvar", lambda x: np.nanvar(_nanify(x), axis=0, ddof=1),
     [arr((4, 3))], None),
    ("nanstd", lambda x: np.nanstd(_nanify(x)), [arr((2, 4))], None),
    ("nanmax", lambda x: np.nanmax(_nanify(x), axis=1), [arr((2, 3))], None),
    ("nanmin", lambda x: np.nanmin(_nanify(x)), [arr((2, 3))], None),
    ("nancumsum", lambda x: np.nancumsum(_nanify(x), axis=1), [arr((2, 3))],
     None),
    ("nancumprod", lambda x: np.nancumprod(_nanify(x)), [arr((2, 3))], None),
    ("nanmedian", lambda x: np.nanmedian(_nanify(x), axis=1),
     [arr((2, 4))], None),
    ("nanquantile", lambda x: np.nanquantile(_nanify(x), 0.3, axis=1),
     [arr((2, 4))], None),
    ("nanpercentile", lambda x: np.nanpercentile(_nanify(x), [20, 70]),
     [arr((2, 4))], None),
    # ----------------------------------------------------------------- scans
    ("cumsum", lambda x: np.cumsum(x), [arr((2, 3))], None),
    ("cumsum", lambda x: np.cumsum(x, axis=0), [arr((2, 3))], None),
    ("cumulative_sum", lambda x: np.cumulative_sum(x, axis=1, include_initial=True),
     [arr((2, 3))], None),
    ("cumprod", lambda x: np.cumprod(x, axis=1), [arr((2, 3), NZ)], None),
    ("cumulative_prod", lambda x: np.cumulative_prod(x, axis=0, include_initial=True),
     [arr((2, 3), NZ)], None),
    ("add.accumulate", lambda x: np.add.accumulate(x, axis=1), [arr((2, 3))], None),
    ("multiply.accumulate", lambda x: np.multiply.accumulate(x), [arr((3, 2), NZ)], None),
    ("diff", lambda x: np.diff(x, n=2, axis=0), [arr((4, 3))], None),
    ("diff", lambda x, p: np.diff(x, prepend=p, append=0.5), [arr((2, 3)), arr((2, 1))], None),
    ("ediff1d", lambda x, b: np.ediff1d(x, to_begin=b, to_end=[1.0, 2.0]), [arr((2, 3)), arr((2,))],
     None),
    ("gradient", lambda x: np.gradient(x), [arr((3, 4))], None),
    ("gradient", lambda x, c: np.gradient(x, c, edge_order=2),
     [arr((5,)), np.array([0.0, 0.5, 1.5, 2.0, 3.5])], None),
    ("gradient", lambda x: np.gradient(x, 0.5, axis=1, edge_order=2), [arr((2, 4))], None),
    ("unwrap", lambda x: np.unwrap(x * 3, axis=0), [arr((4, 3))], None),
    ("trapezoid", lambda y: np.trapezoid(y), [arr((2, 3))], None),
    ("trapezoid", lambda y, x: np.trapezoid(y, x=x, axis=0), [arr((3, 2)), np.array([0.0, 0.4, 1.5])],
     None),
    ("average", lambda x: np.average(x, axis=0), [arr((2, 3))], None),
    ("average", lambda x, w: np.average(x, axis=1, weights=w, returned=True),
     [arr((2, 3)), arr((3,), P)], None),
    # ----------------------------------------------------------------- elementwise
    ("clip", lambda x, lo, hi: np.clip(x, lo, hi), [arr((2, 3), seed=4), arr((2, 3), seed=5),
                                                     arr((3,), seed=6)], None),
    ("clip", lambda x: np.clip(x, -0.5, 0.6), [arr((2, 3))], None),
    ("clip", lambda x, hi: np.clip(x, None, hi), [arr((2, 3)), arr(())], None),
    ("where", lambda x, y: np.where(x > 0, x * y, y), [arr((2, 3)), arr((3,))], None),
    ("where", lambda x: np.where(x > 0, np.sqrt(np.abs(x)), np.log(np.abs(x))), [arr((2, 3), NZ)],
     None),
    ("choose", lambda x, y: np.choose(np.array([[0, 1, 2], [3, 1, 0]]), [x, y, x * y], mode="wrap"),
     [arr((2, 3)), arr((3,))], None),
    ("choose", lambda x, y: np.choose(np.array([0, 1, 2]), [x, y], mode="clip"),
     [arr((2, 3)), arr((2, 3))], None),
    ("nan_to_num", lambda x: np.nan_to_num(np.where(x > 1.5, np.inf, _nanify(x))),
     [arr((2, 3), P)], None),
    ("nan_to_num", lambda x, v: np.nan_to_num(_nanify(x), nan=v, posinf=2.0), [arr((2, 3)), arr(())],
     None),
    ("angle", lambda z: np.angle(z, deg=True), [arr((2, 3), dtype=np.complex128)], None),
    ("angle", lambda x: np.angle(x) * x, [arr((3,), NZ)], None),
    ("real", lambda z: np.real(z) * 2, [arr((2, 3), dtype=np.complex128)], None),
    ("imag", lambda z: np.imag(z) ** 2, [arr((2, 3), dtype=np.complex128)], None),
    ("i0", lambda x: np.i0(x), [np.array([-9.0, -1.0, 0.5, 3.0, 10.0])], None),
    ("piecewise", lambda x: np.piecewise(x, [x < 0, x > 0.5], [lambda v: v ** 2, np.sin, 1.0]),
     [arr((2, 3))], None),
    ("select", lambda x, y: np.select([x > 0.5, x < -0.5], [x * y, y], default=x),
     [arr((2, 3)), arr((3,))], None),
    ("interp", lambda x, xp, fp: np.interp(x, xp, fp), [arr((2, 3)), np.array([-3.0, -1.0, 0.5, 3.0]),
                                                       arr((4,))], None),
    ("interp", lambda x, fp: np.interp(x, [-1.0, 0.0, 1.0], fp, left=0.5, right=-1.0),
     [arr((5,)), arr((3,))], None),
    ("sort", lambda x: np.sort(x, axis=0), [arr((3, 2))], None),
    ("sort", lambda x: np.sort(x, axis=None), [arr((2, 3))], None),
    ("sort_complex", lambda x: np.sort_complex(x), [arr((4,))], None),
    ("partition", lambda x: np.partition(x, 1, axis=-1), [arr((2, 4))], None),
    ("partition", lambda x: np.partition(x, 2, axis=None), [arr((2, 3))], None),
    # ----------------------------------------------------------------- shapes
    ("reshape", lambda x: np.reshape(x, (3, 2), order="F"), [arr((2, 3))], None),
    ("ravel", lambda x: np.ravel(x, order="F"), [arr((2, 3))], None),
    ("ndarray.flatten", lambda x: x.flatten("F") * 2, [arr((2, 3))], None),
    ("squeeze", lambda x: np.squeeze(x, 0), [arr((1, 3))], None),
    ("expand_dims", lambda x: np.expand_dims(x, (0, 2)), [arr((3,))], None),
    ("atleast_1d", lambda x: np.atleast_1d(x), [arr(())], None),
    ("atleast_2d", lambda x, y: np.atleast_2d(x, y), [arr(()), arr((3,))], None),
    ("atleast_3d", lambda x: np.atleast_3d(x), [arr((2, 3))], None),
    ("transpose", lambda x: np.transpose(x, (1, 2, 0)), [arr((2, 3, 2))], None),
    ("matrix_transpose", lambda x: np.matrix_transpose(x), [arr((2, 3, 2))], None),
    ("linalg.matrix_transpose", lambda x: np.linalg.matrix_transpose(x), [arr((2, 3))], None),
    ("swapaxes", lambda x: np.swapaxes(x, 0, 2), [arr((2, 3, 2))], None),
    ("moveaxis", lambda x: np.moveaxis(x, [0, 1], [2, 0]), [arr((2, 3, 2))], None),
    ("rollaxis", lambda x: np.rollaxis(x, 2), [arr((2, 3, 2))], None),
    ("flip", lambda x: np.flip(x, (0, 1)), [arr((2, 3))], None),
    ("fliplr", lambda x: np.fliplr(x), [arr((2, 3))], None),
    ("flipud", lambda x: np.flipud(x), [arr((2, 3))], None),
    ("rot90", lambda x: np.rot90(x, -1, axes=(1, 0)), [arr((2, 3))], None),
    ("roll", lambda x: np.roll(x, (1, -2), axis=(0, 1)), [arr((2, 3))], None),
    ("roll", lambda x: np.roll(x, 2), [arr((2, 3))], None),
    ("diagonal", lambda x: np.diagonal(x, 1, 0, 2), [arr((3, 2, 4))], None),
    ("linalg.diagonal", lambda x: np.linalg.diagonal(x, offset=-1), [arr((2, 3, 3))], None),
    ("diag", lambda x: np.diag(x, 1), [arr((3,))], None),
    ("diag", lambda x: np.diag(x, -1), [arr((3, 4))], None),
    ("diagflat", lambda x: np.diagflat(x, 1), [arr((2, 2))], None),
    ("tril", lambda x: np.tril(x, -1), [arr((2, 3, 3))], None),
    ("triu", lambda x: np.triu(x, 1), [arr((3, 4))], None),
    ("repeat", lambda x: np.repeat(x, 2, axis=1), [arr((2, 3))], None),
    ("repeat", lambda x: np.repeat(x, [1, 0, 2], axis=1), [arr((2, 3))], None),
    ("tile", lambda x: np.tile(x, (2, 1, 2)), [arr((2, 3))], None),
    ("resize", lambda x: np.resize(x, (4, 4)), [arr((2, 3))], None),
    ("pad", lambda x: np.pad(x, ((1, 0), (2, 1))), [arr((2, 3))], None),
    ("pad", lambda x, c: np.pad(x, 1, constant_values=c), [arr((2, 3)), arr(())], None),
    ("pad", lambda x: np.pad(x, ((1, 2), (4, 1)), mode="reflect"), [arr((2, 3))], None),
    ("pad", lambda x: np.pad(x, 2, mode="symmetric"), [arr((2, 3))], None),
    ("pad", lambda x: np.pad(x, ((0, 2), (3, 1)), mode="wrap"), [arr((2, 3))], None),
    ("pad", lambda x: np.pad(x, 1, mode="edge"), [arr((2, 3))], None),
    ("pad", lambda x: np.pad(x, ((1, 1), (0, 2)), mode="mean"), [arr((2, 3))], None),
    ("pad", lambda x: np.pad(x, 1, mode="maximum"), [arr((2, 3))], None),
    ("pad", lambda x: np.pad(x, (2, 1), mode="linear_ramp", end_values=(0.5, -1)), [arr((2, 3))],
     None),
    ("lib.stride_tricks.sliding_window_view",
     lambda x: np.lib.stride_tricks.sliding_window_view(x, (2, 2)) * 1.0, [arr((3, 4))], None),
    ("broadcast_to", lambda x: np.broadcast_to(x, (2, 2, 3)) * 1.0, [arr((1, 3))], None),
    ("broadcast_arrays", lambda x, y: np.broadcast_arrays(x, y), [arr((2, 1)), arr((3,))], None),
    ("meshgrid", lambda x, y: np.meshgrid(x, y, indexing="ij"), [arr((2,)), arr((3,))], None),
    ("ix_", lambda x, y: np.ix_(x, y), [arr((2,)), arr((3,))], None),
    ("array_split", lambda x: np.array_split(x, 2, axis=1), [arr((2, 3))], None),
    ("split", lambda x: np.split(x, [1], axis=0), [arr((3, 2))], None),
    ("hsplit", lambda x: np.hsplit(x, 3), [arr((2, 3))], None),
    ("vsplit", lambda x: np.vsplit(x, 2), [arr((2, 3))], None),
    ("dsplit", lambda x: np.dsplit(x, 2), [arr((2, 1, 4))], None),
    ("unstack", lambda x: np.unstack(x, axis=1), [arr((2, 3))], None),
    ("copy", lambda x: np.copy(x) * x, [arr((2, 3))], None),
    ("ndarray.copy", lambda x: x.copy() * x, [arr((2, 3))], None),
    ("astype", lambda x: np.astype(x, np.complex128) * 1j, [arr((2, 3))], None),
    ("ndarray.astype", lambda x: x.astype(np.float64) * x, [arr((2, 3))], None),
    ("ndarray.view", lambda x: x.view() * x, [arr((2, 3))], None),
    ("asarray", lambda x, y: np.asarray([x, y]), [arr((3,)), arr((3,))], None),
    ("asanyarray", lambda x, y: np.asanyarray((x, y)) * 1.0, [arr(()), arr(())], None),
    ("ascontiguousarray", lambda x: np.ascontiguousarray(x.T), [arr((2, 3))], None),
    ("asfortranarray", lambda x: np.asfortranarray(x) * 2, [arr((2, 3))], None),
    ("require", lambda x: np.require(x, requirements="F") * 2, [arr((2, 3))], None),
    ("array", lambda x, y: np.array([[x, y], [y, x]]), [arr(()), arr(())], None),
    ("array", lambda x: np.array(x, ndmin=3), [arr((3,))], None),
    ("full", lambda v: np.full((2, 3), v), [arr((3,))], None),
    ("full_like", lambda x, v: np.full_like(x, v) * x, [arr((2, 3)), arr(())], None),
    ("linspace", lambda a, b: np.linspace(a, b, 5, axis=-1), [arr((2,)), arr((2,))], None),
    ("linspace", lambda a, b: np.linspace(a, b, 4, endpoint=False, retstep=True), [arr(()), arr(())],
     None),
    ("logspace", lambda a, b: np.logspace(a, b, 4, base=2.0), [arr(()), arr((2,))], None),
    ("geomspace", lambda a, b: np.geomspace(a, b, 4), [arr((2,), P), arr((2,), G1)], None),
    # ----------------------------------------------------------------- joining
    ("concatenate", lambda x, y: np.concatenate([x, y], axis=1), [arr((2, 3)), arr((2, 1))], None),
    ("concatenate", lambda x, y: np.concatenate([x, y], axis=None), [arr((2, 3)), arr((2,))], None),
    ("stack", lambda x, y: np.stack([x, y], axis=-1), [arr((2, 3)), arr((2, 3))], None),
    ("hstack", lambda x, y: np.hstack([x, y]), [arr((2, 3)), arr((2, 1))], None),
    ("vstack", lambda x, y: np.vstack([x, y]), [arr((2, 3)), arr((3,))], None),
    ("dstack", lambda x, y: np.dstack([x, y]), [arr((2, 3)), arr((2, 3))], None),
    ("column_stack", lambda x, y: np.column_stack([x, y]), [arr((3,)), arr((3, 2))], None),
    ("block", lambda x, y: np.block([[x, y], [y, x]]), [arr((2, 2)), arr((2, 2))], None),
    ("append", lambda x, y: np.append(x, y), [arr((2, 3)), arr((2,))], None),
    ("append", lambda x, y: np.append(x, y, axis=0), [arr((2, 3)), arr((1, 3))], None),
    ("insert", lambda x, v: np.insert(x, [0, 2, 2], v, axis=1), [arr((2, 3)), arr((2, 1))], None),
    ("insert", lambda x, v: np.insert(x, 1, v), [arr((2, 3)), arr(())], None),
    ("delete", lambda x: np.delete(x, [0, 2], axis=1), [arr((2, 3))], None),
    ("delete", lambda x: np.delete(x, slice(1, 4)), [arr((2, 3))], None),
    # ----------------------------------------------------------------- indexing
    ("getitem", lambda x: x[1:, ::-2], [arr((3, 4))], None),
    ("getitem", lambda x: x[[0, 2, 0], 1:], [arr((3, 4))], None),
    ("getitem", lambda x: x[None, ..., 1], [arr((2, 3))], None),
    ("take", lambda x: np.take(x, [0, 2, 2], axis=1), [arr((2, 3))], None),
    ("take", lambda x: np.take(x, [[5, 0], [7, 7]], mode="wrap"), [arr((2, 3))], None),
    ("take_along_axis", lambda x: np.take_along_axis(x, np.array([[1, 1], [0, 2]]), axis=1),
     [arr((2, 3))], None),
    ("take_along_axis", lambda x: np.take_along_axis(x, np.array([[1], [0]]), axis=1) * x,
     [arr((2, 3))], None),
    ("compress", lambda x: np.compress([True, False, True], x, axis=1), [arr((2, 3))], None),
    ("compress", lambda x: np.compress([False, True], x), [arr((2, 3))], None),
    # ----------------------------------------------------------------- linear algebra
    ("dot", lambda a, b: np.dot(a, b), [arr((2, 3)), arr((3, 2))], None),
    ("dot", lambda a, b: np.dot(a, b), [arr((2, 3, 4)), arr((2, 4, 2))], None),
    ("dot", lambda a, b: np.dot(a, b), [arr(()), arr((2, 3))], None),
    ("vdot", lambda a, b: np.vdot(a, b), [arr((2, 3), dtype=np.complex128),
                                          arr((2, 3), dtype=np.complex128, seed=1)], None),
    ("inner", lambda a, b: np.inner(a, b), [arr((2, 3)), arr((4, 3))], None),
    ("outer", lambda a, b: np.outer(a, b), [arr((2, 2)), arr((3,))], None),
    ("einsum", lambda a, b: np.einsum("ij,jk->ik", a, b), [arr((2, 3)), arr((3, 2))], None),
    ("einsum", lambda a: np.einsum("ii->i", a), [arr((3, 3))], None),
    ("einsum", lambda a: np.einsum("iji->j", a), [arr((2, 3, 2))], None),
    ("einsum", lambda a, b: np.einsum("...j,j", a, b), [arr((2, 3)), arr((3,))], None),
    ("einsum", lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2]), [arr((2, 3)), arr((3, 2))],
     None),
    ("einsum", lambda a, b: np.einsum("ij,ij->", a, b), [arr((2, 3), dtype=np.complex128),
                                                        arr((2, 3), dtype=np.complex128)], None),
    ("tensordot", lambda a, b: np.tensordot(a, b, axes=([0, 2], [2, 0])), [arr((2, 3, 2)),
                                                                           arr((2, 4, 2))], None),
    ("tensordot", lambda a, b: np.tensordot(a, b, axes=0), [arr((2,)), arr((3,))], None),
    ("linalg.tensordot", lambda a, b: np.linalg.tensordot(a, b, axes=1), [arr((2, 3)), arr((3, 2))],
     None),
    ("kron", lambda a, b: np.kron(a, b), [arr((2, 3)), arr((2,))], None),
    ("cross", lambda a, b: np.cross(a, b), [arr((2, 3)), arr((3,))], None),
    ("cross", lambda a, b: np.cross(a, b, axisa=0, axisb=0), [arr((3, 2)), arr((3, 2))], None),
    ("linalg.cross", lambda a, b: np.linalg.cross(a, b), [arr((2, 3)), arr((2, 3))], None),
    ("linalg.outer", lambda a, b: np.linalg.outer(a, b), [arr((2,)), arr((3,))], None),
    ("linalg.matmul", lambda a, b: np.linalg.matmul(a, b), [arr((2, 3)), arr((3, 2))], None),
    ("linalg.vecdot", lambda a, b: np.linalg.vecdot(a, b, axis=0), [arr((3, 2)), arr((3, 1))], None),
    ("linalg.multi_dot", lambda a, b, c: np.linalg.multi_dot([a, b, c]),
     [arr((3,)), arr((3, 4)), arr((4, 2))], None),
    ("linalg.norm", lambda x: np.linalg.norm(x), [arr((2, 3))], None),
    ("linalg.norm", lambda x: np.linalg.norm(x, 3, axis=1, keepdims=True), [arr((2, 3), NZ)], None),
    ("linalg.norm", lambda x: np.linalg.norm(x, np.inf), [arr((3,))], None),
    ("linalg.norm", lambda x: np.linalg.norm(x, 1), [arr((2, 3))], None),
    ("linalg.norm", lambda x: np.linalg.norm(x, -np.inf, axis=(1, 0)), [arr((2, 3))], None),
    ("linalg.norm", lambda x: np.linalg.norm(x, "nuc"), [arr((3, 2))], None),
    ("linalg.norm", lambda x: np.linalg.norm(x, 2), [arr((2, 3))], None),
    ("linalg.norm", lambda x: np.linalg.norm(x), [arr((2, 3), dtype=np.complex128)], None),
    ("linalg.vector_norm", lambda x: np.linalg.vector_norm(x, ord=1, axis=0), [arr((2, 3), NZ)], None),
    ("linalg.matrix_norm", lambda x: np.linalg.matrix_norm(x, ord=1, keepdims=True), [arr((2, 2, 3))],
     None),
    ("linalg.matrix_norm", lambda x: np.linalg.matrix_norm(x), [arr((2, 2, 3))], None),
    ("linalg.solve", lambda a, b: np.linalg.solve(a, b), [wellcond((3, 3)), arr((3,))], None),
    ("linalg.solve", lambda a, b: np.linalg.solve(a, b), [wellcond((2, 3, 3)), arr((2, 3, 2))], None),
    ("linalg.solve", lambda a, b: np.linalg.solve(a, b), [wellcond((2, 3, 3)), arr((3,))], None),
    ("linalg.solve", lambda a, b: np.linalg.solve(a, b), [spd(3, dtype=np.complex128),
                                                          arr((3, 2), dtype=np.complex128)], None),
    ("linalg.inv", lambda a: np.linalg.inv(a), [wellcond((3, 3))], None),
    ("linalg.det", lambda a: np.linalg.det(a), [wellcond((2, 3, 3))], None),
    ("linalg.det", lambda a: np.linalg.det(a), [spd(3, dtype=np.complex128)], None),
    ("linalg.slogdet", lambda a: np.linalg.slogdet(a)[1], [wellcond((3, 3))], None),
    ("linalg.slogdet", lambda a: np.linalg.slogdet(a), [spd(3, dtype=np.complex128) + 1j], None),
    ("linalg.matrix_power", lambda a: np.linalg.matrix_power(a, 3), [arr((3, 3))], None),
    ("linalg.matrix_power", lambda a: np.linalg.matrix_power(a, -2), [wellcond((3, 3))], None),
    ("linalg.tensorsolve", lambda a, b: np.linalg.tensorsolve(a.reshape(2, 3, 6), b),
     [wellcond((6, 6)), arr((2, 3))], None),
    ("linalg.tensorinv", lambda a: np.linalg.tensorinv(a.reshape(2, 3, 6), ind=2),
     [wellcond((6, 6))], None),
    ("linalg.cholesky", lambda a: np.linalg.cholesky(a), [spd(3)], None),
    ("linalg.cholesky", lambda a: np.linalg.cholesky(a, upper=True), [spd(3, (2,))], None),
    ("linalg.cholesky", lambda a: np.linalg.cholesky(a), [spd(3, dtype=np.complex128)], None),
    ("linalg.eigh", lambda a: np.linalg.eigh(a), [spd(3)], None),
    ("linalg.eigh", lambda a: np.linalg.eigh(a, UPLO="U"), [spd(3, (2,))], None),
    ("linalg.eigh", lambda a: (lambda w, v: (w, v @ np.diag(w) @ v.conj().T))(*np.linalg.eigh(a)),
     [spd(3, dtype=np.complex128)], None),
    ("linalg.eigvalsh", lambda a: np.linalg.eigvalsh(a, "U"), [spd(3)], None),
    ("linalg.svd", lambda a: np.linalg.svd(a, full_matrices=False), [arr((4, 3))], None),
    ("linalg.svd", lambda a: np.linalg.svd(a, full_matrices=False), [arr((2, 3, 4))], None),
    ("linalg.svd", lambda a: np.linalg.svd(a), [arr((3, 3))], None),
    ("linalg.svd", lambda a: np.linalg.svd(a, compute_uv=False), [arr((4, 3))], None),
    ("linalg.svd", lambda a: np.linalg.svd(a)[1], [arr((2, 4))], None),
    ("linalg.svd", lambda a: np.linalg.svd(a, hermitian=True), [spd(3)], None),
    ("linalg.svd", lambda a: (lambda u, s, vh: (s, u @ vh))(*np.linalg.svd(a, full_matrices=False)),
     [arr((3, 2), dtype=np.complex128)], None),
    ("linalg.svdvals", lambda a: np.linalg.svdvals(a), [arr((2, 3, 4))], None),
    ("linalg.qr", lambda a: np.linalg.qr(a), [arr((4, 3))], None),
    ("linalg.qr", lambda a: np.linalg.qr(a), [arr((2, 3, 5))], None),
    ("linalg.qr", lambda a: np.linalg.qr(a, mode="r"), [arr((4, 3))], None),
    ("linalg.qr", lambda a: np.linalg.qr(a, mode="complete"), [arr((3, 3))], None),
    ("linalg.qr", lambda a: np.linalg.qr(a), [arr((3, 2), dtype=np.complex128)], None),
    ("linalg.pinv", lambda a: np.linalg.pinv(a), [arr((4, 3))], None),
    ("linalg.pinv", lambda a: np.linalg.pinv(a, hermitian=True), [spd(3)], None),
    ("linalg.cond", lambda a: np.linalg.cond(a), [wellcond((3, 3))], None),
    ("linalg.cond", lambda a: np.linalg.cond(a, "fro"), [wellcond((2, 3, 3))], None),
    ("linalg.cond", lambda a: np.linalg.cond(a, -np.inf), [wellcond((3, 3))], None),
    # ----------------------------------------------------------------- statistics, polynomials
    ("cov", lambda x: np.cov(x), [arr((2, 4))], None),
    ("cov", lambda x, y: np.cov(x, y, rowvar=False, ddof=0), [arr((4, 2)), arr((4,))], None),
    ("cov", lambda x, w: np.cov(x, fweights=np.array([1, 2, 1, 3]), aweights=w),
     [arr((2, 4)), arr((4,), P)], None),
    ("corrcoef", lambda x: np.corrcoef(x), [arr((3, 4))], None),
    ("convolve", lambda a, v: np.convolve(a, v), [arr((5,)), arr((3,))], None),
    ("convolve", lambda a, v: np.convolve(a, v, "same"), [arr((3,)), arr((4,))], None),
    ("convolve", lambda a, v: np.convolve(a, v, "valid"), [arr((5,)), arr((2,))], None),
    ("correlate", lambda a, v: np.correlate(a, v, "full"), [arr((4,)), arr((3,))], None),
    ("correlate", lambda a, v: np.correlate(a, v, "same"), [arr((3,)), arr((4,))], None),
    ("correlate", lambda a, v: np.correlate(a, v), [arr((5,), dtype=np.complex128),
                                                    arr((2,), dtype=np.complex128)], None),
    ("polyval", lambda p, x: np.polyval(p, x), [arr((4,)), arr((2, 3))], None),
    ("polyder", lambda p: np.polyder(p, 2), [arr((5,))], None),
    ("polyint", lambda p: np.polyint(p, m=2, k=[1.0, 2.0]), [arr((4,))], None),
    ("polyfit", lambda x, y: np.polyfit(x, y, 2), [np.array([0.0, 0.3, 1.0, 1.7, 2.0, 3.1]),
                                                   arr((6,))], None),
    ("polyfit", lambda x, y, w: np.polyfit(x, y, 1, w=w), [np.array([0.0, 0.5, 1.0, 2.0]),
                                                           arr((4, 2)), arr((4,), P)], None),
    ("vander", lambda x: np.vander(x, 4), [arr((3,))], None),
    ("vander", lambda x: np.vander(x, increasing=True), [arr((3,))], None),
    # ----------------------------------------------------------------- functional
    ("apply_along_axis", lambda x: np.apply_along_axis(lambda r: r[::-1] * r[0], 1, x),
     [arr((2, 3))], None),
    ("apply_along_axis", lambda x: np.apply_along_axis(np.sum, 0, x), [arr((2, 3))], None),
    ("apply_over_axes", lambda x: np.apply_over_axes(np.sum, x, [0, 2]), [arr((2, 3, 2))], None),
    # ----------------------------------------------------------------- FFT
    ("fft.fft", lambda x: np.fft.fft(x), [arr((2, 4))], None),
    ("fft.fft", lambda x: np.fft.fft(x, n=6, axis=0, norm="ortho"), [arr((4, 3))], None),
    ("fft.fft", lambda x: np.fft.fft(x, n=2, norm="forward"), [arr((3, 4), dtype=np.complex128)],
     None),
    ("fft.ifft", lambda x: np.fft.ifft(x, n=5), [arr((2, 4), dtype=np.complex128)], None),
    ("fft.fft2", lambda x: np.fft.fft2(x, s=(3, 5)), [arr((2, 4))], None),
    ("fft.ifft2", lambda x: np.fft.ifft2(x, norm="ortho"), [arr((3, 4), dtype=np.complex128)], None),
    ("fft.fftn", lambda x: np.fft.fftn(x, s=(4, 2), axes=(0, 2)), [arr((2, 3, 4))], None),
    ("fft.ifftn", lambda x: np.fft.ifftn(x), [arr((2, 3), dtype=np.complex128)], None),
    ("fft.rfft", lambda x: np.fft.rfft(x), [arr((2, 5))], None),
    ("fft.rfft", lambda x: np.fft.rfft(x, n=6, axis=0, norm="ortho"), [arr((4, 3))], None),
    ("fft.irfft", lambda x: np.fft.irfft(x), [arr((2, 4), dtype=np.complex128)], None),
    ("fft.irfft", lambda x: np.fft.irfft(x, n=5, norm="forward"), [arr((3,), dtype=np.complex128)],
     None),
    ("fft.irfft", lambda x: np.fft.irfft(x, n=8, axis=0, norm="ortho"),
     [arr((3, 2), dtype=np.complex128)], None),
    ("fft.hfft", lambda x: np.fft.hfft(x), [arr((2, 4), dtype=np.complex128)], None),
    ("fft.ihfft", lambda x: np.fft.ihfft(x, n=6), [arr((2, 5))], None),
    ("fft.rfft2", lambda x: np.fft.rfft2(x), [arr((3, 4))], None),
    ("fft.irfft2", lambda x: np.fft.irfft2(x), [arr((3, 3), dtype=np.complex128)], None),
    ("fft.rfftn", lambda x: np.fft.rfftn(x, s=(4, 4), axes=(0, 2)), [arr((2, 3, 4))], None),
    ("fft.irfftn", lambda x: np.fft.irfftn(x, s=(3, 4), axes=(0, 1)), [arr((2, 3), dtype=np.complex128)], None),
    ("fft.fftshift", lambda x: np.fft.fftshift(x), [arr((2, 3))], None),
    ("fft.ifftshift", lambda x: np.fft.ifftshift(x, axes=1), [arr((2, 5))], None),
    # ----------------------------------------------------------------- in-place writes
    ("setitem", _setitem_inside, [arr((2, 3))], None),
    ("setitem", _setitem_fancy, [arr((3, 2)), arr((3, 2), seed=1)], None),
    ("setitem", lambda x: (lambda y: (y.__setitem__((slice(None), 1), x[:, 0]), y)[1])(x * 1.0),
     [arr((2, 3))], None),
    ("add.at", _add_at, [arr((4,)), arr((3,))], None),
    ("subtract.at", _add_at, [arr((4,)), arr((3,))], None),
    ("ceil.at", _floor_at, [arr((3,))], None),
    ("floor.at", _floor_at, [arr((3,))], None),
    ("copyto", _copyto, [arr((2, 3)), arr((3,))], None),
    ("copyto", lambda x, v: (lambda y: (np.copyto(y[:, 1:], v), y * x)[1])(x * 1.0),
     [arr((2, 3)), arr((2,))[:, None] * np.ones(2)], None),
    ("setitem", lambda x, v: (lambda y: (y.__setitem__(np.array([[True, False, True], [False, True,
                                                                  False]]), v), y)[1])(x * 1.0),
     [arr((2, 3)), arr(())], None),
    ("put", lambda x, v: (lambda y: (np.put(y, [0, 3, 3, 7], v, mode="wrap"), y)[1])(x * 1.0),
     [arr((2, 3)), arr((2,))], None),
    ("ndarray.put", _nd_put, [arr((2, 3)), arr((3,))], None),
    ("putmask", lambda x, v: (lambda y: (np.putmask(y, y > 0, v), y)[1])(x * 1.0),
     [arr((2, 3)), arr((4,))], None),
    ("place", lambda x, v: (lambda y: (np.place(y, x < 0, v), y)[1])(x * 1.0),
     [arr((2, 3)), arr((2,))], None),
    ("fill_diagonal", lambda x, v: (lambda y: (np.fill_diagonal(y, v), y)[1])(x * 1.0),
     [arr((3, 3)), arr((3,))], None),
    ("put_along_axis", lambda x, v: (lambda y: (np.put_along_axis(y, np.array([[2], [0]]), v, 1),
                                                y)[1])(x * 1.0), [arr((2, 3)), arr((2, 1))], None),
    ("ndarray.fill", _fill, [arr((2, 3))], None),
    ("ndarray.sort", _sort_inplace, [arr((3, 2))], None),
    ("ndarray.partition", _partition_inplace, [arr((2, 4))], None),
    ("iadd", _iadd, [arr((2, 3)), arr((3,))], None),
    ("ufunc-out", _ufunc_out, [arr((2, 3)), arr((3,))], None),
    ("function-out", _out_kw, [arr((2, 3))], None),
    ("divmod", _divmod_out, [arr((2, 3), MOD[0]), arr((3,), MOD[1])], None),
    # ----------------------------------------------------------------- ufunc methods
    ("ufunc.reduce", lambda x: np.subtract.reduce(x, axis=1), [arr((2, 3))], None),
    ("ufunc.reduce", lambda x: np.hypot.reduce(x, axis=(0, 1), keepdims=True), [arr((2, 3), NZ)],
     None),
    ("ufunc.reduce", lambda x: np.subtract.reduce(x, axis=0, initial=1.5), [arr((3, 2))], None),
    ("ufunc.accumulate", lambda x: np.divide.accumulate(x, axis=0), [arr((3, 2), NZ)], None),
    ("ufunc.accumulate", lambda x: np.minimum.accumulate(x, axis=1), [arr((2, 3))], None),
    ("ufunc.outer", lambda x, y: np.multiply.outer(x, y), [arr((2,)), arr((2, 3))], None),
    ("ufunc.outer", lambda x, y: np.arctan2.outer(x, y), [arr((2,), NZ), arr((3,), NZ)], None),
    ("ufunc.reduceat", lambda x: np.add.reduceat(x, [0, 2, 1], axis=1), [arr((2, 4))], None),
    ("ufunc.reduceat", lambda x: np.maximum.reduceat(x, [0, 2]), [arr((4,))], None),
]

_IDS: dict[str, int] = {}


def _call_id(name):
    n = _IDS.get(name, 0)
    _IDS[name] = n + 1
    return name if n == 0 else f"{name}#{n}"


CALL_PARAMS = [pytest.param(f, args, argnums, id=_call_id(name))
               for name, f, args, argnums in CALLS]


@pytest.mark.parametrize("f, args, argnums", CALL_PARAMS)
def test_rule(f, args, argnums):
    _check(f, args, argnums=argnums)


_METHOD_GENERIC = {"reduce", "accumulate", "outer", "reduceat"}


def test_every_rule_has_a_call():
    """Each name of FUNC (that this NumPy has), MUTATE, SELECTIONS is exercised above."""
    covered = {name for name, *_ in CALLS}
    names = {n for n in rules.FUNC if n in REGISTRY or n.startswith("ndarray.")}
    names |= set(rules.SELECTIONS) | set(rules.MUTATE)
    names -= {"ufunc.at"}
    zero_at = {n for n in rules.MUTATE if n.endswith(".at") and n[:-3] in rules.ZERO}
    missing = sorted(names - covered - (zero_at - {"floor.at", "ceil.at"}))
    assert not missing, f"rules without a check_grads call in CALLS: {missing}"
    missing_u = sorted(set(rules.UFUNC) - set(UFUNC_DOMAINS) - UFUNC_ELSEWHERE
                       - {n for n in rules.UFUNC if n.startswith("py.")})
    assert not missing_u, f"ufunc rules without a domain in UFUNC_DOMAINS: {missing_u}"


# ============================================================================ where, ties

def test_where_leaks_no_nan():
    def f(x):
        return np.sum(np.where(x > 0, np.sqrt(x), 0.0))
    x = np.array([0.0, 1.0, 4.0, -1.0])
    g = tracenp.grad(f)(x)
    np.testing.assert_allclose(g, [0.0, 0.5, 0.25, 0.0])
    h = tracenp.hessian(f)(x)
    assert np.all(np.isfinite(h))
    np.testing.assert_allclose(np.diag(h), [0.0, -0.25, -1 / 32, 0.0])


def test_max_min_ties_split_equally():
    x = _ties()
    np.testing.assert_allclose(tracenp.grad(lambda x: np.max(x))(x),
                               [[0, 0.5, 0.5], [0, 0, 0]])
    np.testing.assert_allclose(tracenp.grad(lambda x: np.sum(np.max(x, axis=1)))(x),
                               [[0, 0.5, 0.5], [0.5, 0.5, 0]])
    np.testing.assert_allclose(tracenp.grad(lambda x: np.sum(np.min(x, axis=0)))(x),
                               [[1, 0, 0], [0, 1, 1]])
    gx, gy = tracenp.grad(lambda x, y: np.sum(np.maximum(x, y)), argnums=(0, 1))(
        np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0]))
    np.testing.assert_allclose(gx, [0.5, 0, 1])
    np.testing.assert_allclose(gy, [0.5, 1, 0])


# ============================================================================ Via code == NumPy

def test_via_implementations_match_numpy():
    """The equivalent code some rules differentiate computes NumPy's own results."""
    x = arr((4, 5))
    for mode, kw in [("mean", {}), ("maximum", {}), ("minimum", {}), ("median", {}),
                     ("linear_ramp", {"end_values": (1.0, -2.0)})]:
        np.testing.assert_allclose(rules._pad_impl(x, ((1, 2), (3, 0)), mode, **kw),
                                   np.pad(x, ((1, 2), (3, 0)), mode=mode, **kw))
    a, v = arr((6,)), arr((3,), seed=3)
    for mode in ("full", "same", "valid"):
        np.testing.assert_allclose(rules._correlate(None, None, a, v, mode).fn(a, v),
                                   np.correlate(a, v, mode))
        np.testing.assert_allclose(rules._correlate(None, None, v, a, mode).fn(v, a),
                                   np.correlate(v, a, mode))
        np.testing.assert_allclose(rules._convolve(None, None, a, v, mode).fn(a, v),
                                   np.convolve(a, v, mode))
        np.testing.assert_allclose(rules._convolve(None, None, v, a, mode).fn(v, a),
                                   np.convolve(v, a, mode))
    for method in rules._QUANTILE_METHODS:
        for q, axis, kd in [(0.3, None, False), ([0.1, 0.5, 0.9], 1, True), (0.75, (0, 1), False)]:
            np.testing.assert_allclose(rules._quantile_impl(x, q, axis, kd, method),
                                       np.quantile(x, q, axis=axis, keepdims=kd, method=method))
            xn = x.copy()
            xn[1, 2] = xn[3, 0] = np.nan
            np.testing.assert_allclose(rules._quantile_impl(xn, q, axis, kd, method, nan=True),
                                       np.nanquantile(xn, q, axis=axis, keepdims=kd,
                                                      method=method))
    c = np.array([0.0, 0.5, 1.5, 2.0, 3.5])
    for eo in (1, 2):
        np.testing.assert_allclose(rules._grad_axis(arr((2, 5)), 1, c, eo),
                                   np.gradient(arr((2, 5)), c, axis=1, edge_order=eo))
        np.testing.assert_allclose(rules._grad_axis(arr((5, 2)), 0, 0.5, eo),
                                   np.gradient(arr((5, 2)), 0.5, axis=0, edge_order=eo))
    np.testing.assert_allclose(rules._tensordot_impl(arr((2, 3, 4)), arr((4, 3, 2)), ([1, 2], [1, 0])),
                               np.tensordot(arr((2, 3, 4)), arr((4, 3, 2)), ([1, 2], [1, 0])))
    np.testing.assert_allclose(rules._cross_impl(arr((2, 3)), arr((2,))),
                               np.cross(arr((2, 3)), np.append(arr((2,)), 0.0)))


# ============================================================================ decompose

def _decompose_cases():
    from tests import function_cases as fc
    out = []
    for c in fc.CASES:
        op = REGISTRY.get(c.name)
        if op is None or rules.rule_kind(c.name, op) != "decompose":
            continue
        if np.dtype(np.float64) not in c.dtypes:
            continue
        for i, argset in enumerate(c.argsets):
            out.append(pytest.param(c, i, id=f"{c.id}-{i}"))
    return out


def _sample_args(argset, seed=1):
    from tests import function_cases as fc
    args, diff = [], []
    for k, spec in enumerate(argset):
        if isinstance(spec, fc.Weak):
            args.append(spec.a)
            diff.append(k)
            continue
        v = fc._values(spec, np.dtype(np.float64), np.random.default_rng([seed, k]))
        args.append(v)
        if isinstance(spec, fc.A) and v.dtype.kind in "fc" and spec.kind != "nan":
            diff.append(k)
    return args, diff


@pytest.mark.parametrize("c, i", _decompose_cases())
def test_decomposition_traces(c, i):
    """Ops differentiated through NumPy's own implementation: the sample calls of
    tests/function_cases.py differentiate (their implementation traces) and agree with
    finite differences.  A failure here means the op needs a real rule."""
    args, diff = _sample_args(c.argsets[i])
    if not diff:
        pytest.skip("no float argument")
    _check(lambda *a: c.fn(np, *a), args, argnums=diff)


# ============================================================================ coverage walk

def _all_ops() -> dict:
    """The registry, with the ops made on first use created: every ufunc method, the
    multi-output out= forms, the ndarray methods, and the in-place form of each op that
    can write (mutation ops, ufuncs and functions taking out=)."""
    import inspect
    for u, _ in coverage.ufuncs():
        for m in coverage.ufunc_methods(u):
            ufunc_op(u, m)
        if u.nout > 1:
            for k in range(u.nout):
                ufunc_op(u, "__call__")
                ufunc_out_op(u, "__call__", k)
    for name in ("flatten", "view", "astype", "copy", "fill", "sort", "partition", "put"):
        tracer._method_op(name)
    ops = dict(REGISTRY)
    for name, op in list(ops.items()):
        if isinstance(op, MutateOp):
            continue
        writes = op.category == "mutation" or getattr(op, "ufunc", None) is not None
        if not writes:
            try:
                writes = "out" in inspect.signature(op.fn).parameters
            except (TypeError, ValueError):
                writes = False
        if writes:
            m = tracer._mutate_op(op)
            ops[m.name] = m
    return ops


def classify() -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {}
    for name, op in sorted(_all_ops().items()):
        kinds.setdefault(str(rules.rule_kind(name, op)), []).append(name)
    return kinds


def test_every_op_has_a_rule_or_a_declaration():
    kinds = classify()
    missing = kinds.get("None", [])
    assert not missing, (f"{len(missing)} ops have neither a gradient rule nor a declaration "
                         f"(ZERO, NONDIFF, NO_RULE_YET in tracenp/autodiff/rules/): {missing}")
    assert set(kinds) <= {"rule", "zero", "nondiff", "decompose", "no_rule"}
    for name in rules.NO_RULE_YET:
        assert rules.NO_RULE_YET[name], name


def test_nondiff_ops_have_no_float_result():
    """What NONDIFF declares (besides random draws and histograms) returns no floats."""
    for name in ("argmax", "argsort", "searchsorted", "digitize", "count_nonzero", "isclose",
                 "lexsort", "ravel_multi_index", "all"):
        assert rules.rule_kind(name, REGISTRY[name]) == "nondiff"
    for name in ("equal", "isnan", "bitwise_and", "signbit", "gcd", "logical_or"):
        assert rules.rule_kind(name, REGISTRY[name]) == "nondiff"
        assert not rules._ufunc_has_float_output(getattr(np, name))


def test_ops_without_rule_raise_naming_the_line():
    def f(x):
        y = x * 1.0
        np.multiply.at(y, [0, 1], 2.0)
        return np.sum(y)
    with pytest.raises(tracenp.DifferentiationError, match="multiply.at") as info:
        tracenp.grad(f)(arr((3,)))
    assert "test_autodiff_rules.py" in str(info.value)
    assert "np.multiply.at(y, [0, 1], 2.0)" in str(info.value)

    def g(x):
        return np.sum(np.random.normal(x, 1.0))
    with pytest.raises(tracenp.DifferentiationError, match="random"):
        tracenp.grad(g)(arr((3,)))

    def h(x):
        counts, edges = np.histogram(x, bins=3)
        return np.sum(edges)
    with pytest.raises(tracenp.DifferentiationError, match="histogram"):
        tracenp.grad(h)(arr((5,)))


def test_rules_raise_for_unsupported_arguments():
    cases = [
        (lambda x: np.sum(np.quantile(x, 0.5, method="weibull")), "method"),
        (lambda x: np.sum(np.pad(x, 1, mode="reflect", reflect_type="odd")), "pad"),
        (lambda x: np.sum(np.linalg.svd(x)[0]), "full_matrices"),
        (lambda x: np.sum(np.linalg.qr(x, mode="complete")[0]), "complete"),
        (lambda x: np.sum(np.ravel(x.T, order="K")), "order"),
        (lambda x: np.sum(np.abs(x[:, :2].view(np.complex128))), "view"),
        # NumPy's power.reduce of 3+ elements is not the documented left fold: refused
        (lambda x: np.power.reduce(np.abs(x[:, 0])), "not available"),
    ]
    for f, word in cases:
        with pytest.raises(tracenp.DifferentiationError, match=word):
            tracenp.grad(f)(arr((4, 3)))


def test_coverage_counts_are_reported(capsys):
    kinds = classify()
    print({k: len(v) for k, v in kinds.items()})


# ============================================================================ the big sweep

def _sweep_cases():
    from tests import function_cases as fc
    out = []
    for c in fc.CASES:
        op = REGISTRY.get(c.name)
        if op is None or rules.rule_kind(c.name, op) in ("nondiff", "zero", "no_rule", None):
            continue
        if np.dtype(np.float64) not in c.dtypes or c.xfail:
            continue
        for i in range(len(c.argsets)):
            out.append(pytest.param(c, i, id=f"{c.id}-{i}"))
    return out


# Sample calls whose float64 inputs sit where the function is not differentiable, or that
# use arguments the rules refuse with a DifferentiationError (checked above).
_SWEEP_SKIP = {"quantile#2", "interp#2", "ravel#2", "polyfit#1", "linalg.qr#2",
               "linalg.svd", "dot#5",
               # the forward trace: nan_to_num of a constant array with a traced nan= writes
               # into an untraced copy (UnsupportedMutationError), a tracer limitation
               "nan_to_num#1"}
# float32 results (dtype=np.float32): finite differences in float64 are too coarse
_SWEEP_F32 = {"mean#6", "trace#2", "astype", "astype#2", "ascontiguousarray#1", "hstack#1"}


@pytest.mark.slow
@pytest.mark.parametrize("c, i", _sweep_cases())
def test_every_sample_call(c, i):
    if c.id in _SWEEP_SKIP:
        pytest.skip("refused with a DifferentiationError (see test_rules_raise_...)")
    args, diff = _sample_args(c.argsets[i])
    if not diff:
        pytest.skip("no float argument")
    rtol = 2e-2 if c.id in _SWEEP_F32 else None
    try:
        _check(lambda *a: c.fn(np, *a), args, argnums=diff, rtol=rtol)
    except GradientMismatch as e:
        if "nan by finite differences" in str(e):
            pytest.skip("the sample inputs are outside the function's domain")
        raise
