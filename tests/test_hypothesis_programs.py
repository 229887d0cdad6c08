"""Random small NumPy programs, compiled vs eager (hypothesis).

A program is 1-10 steps over a pool of values: ufunc calls and operators (with Python
scalars on either side, and a weak Python float argument), reductions and scans with
random axes and ``keepdims``, views (transposes, reversed and strided slices, reshapes),
casts, ``np.where``, in-place updates of locals and of the arguments, ``out=``.  Inputs
have random dtypes (bool to complex128), broadcastable shapes (0-d and empty included),
random layouts (Fortran order, negative strides, strided views of a bigger array) and
edge values (NaN, inf, signed zeros, subnormals, integer extremes).

The program is built step by step on the first call's inputs, so every step is valid
NumPy there; the compiled function must then match eager NumPy exactly (type, dtype,
shape, values, NaN positions, zero signs, the arguments it mutates, the error it raises)
on those inputs and, without retracing, on a second set of the same signature.

The default run is a fixed (derandomized) sample; ``-m slow`` runs many more.
"""
from __future__ import annotations

import operator
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracenp
from tests.differential import check
from tracenp.optimize.framework import RULES

# Rules that *intend* to change results (accuracy rewrites): off here, exactness is the point.
ACCURACY_RULES = sorted(n for n, r in RULES.items() if r.phase == "stabilize") + \
    ["exp_of_log", "cube_to_multiply"]

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much])
DEFAULT = settings(max_examples=150, derandomize=True, **_COMMON)
SLOW = settings(max_examples=3000, **_COMMON)

DTYPES = [np.dtype(c) for c in "?bhilBHILefdFD"]

UNARY = [np.negative, np.positive, np.absolute, np.sqrt, np.exp, np.log, np.log1p, np.expm1,
         np.sin, np.cos, np.tanh, np.arctan, np.square, np.reciprocal, np.floor, np.ceil,
         np.rint, np.trunc, np.sign, np.isnan, np.isfinite, np.logical_not, np.invert, np.cbrt,
         np.conjugate, np.signbit, np.exp2, np.log2, np.spacing, np.fabs, np.deg2rad,
         operator.neg, operator.pos, abs, operator.invert]
BINARY = [np.add, np.subtract, np.multiply, np.divide, np.floor_divide, np.remainder,
          np.power, np.maximum, np.minimum, np.fmax, np.fmin, np.arctan2, np.hypot,
          np.copysign, np.logaddexp, np.equal, np.less, np.greater_equal, np.not_equal,
          np.logical_and, np.logical_xor, np.bitwise_and, np.bitwise_or, np.bitwise_xor,
          np.left_shift, np.right_shift, np.heaviside, np.nextafter, np.float_power, np.fmod,
          np.gcd, np.lcm, operator.add, operator.sub, operator.mul, operator.truediv,
          operator.floordiv, operator.mod, operator.pow, operator.and_, operator.or_,
          operator.xor, operator.lshift, operator.rshift, operator.lt, operator.le,
          operator.eq, operator.ne, operator.gt, operator.ge]
INPLACE = [operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ifloordiv,
           operator.imod, operator.ipow, operator.iand, operator.ior, operator.ixor,
           operator.ilshift, operator.irshift]
SCALARS = [0, 1, -1, 2, 3, 7, 100, 255, -128, 300, 0.0, -0.0, 0.5, 2.5, -1.5, float("inf"),
           float("nan"), 1e10, 1j, 1 - 1j, True, False]
REDUCTIONS = ["sum", "prod", "max", "min", "mean", "any", "all", "argmax", "cumsum", "std",
              "var", "add.reduce", "maximum.reduce", "multiply.accumulate", "nansum"]
VIEWS = {
    "T": lambda x: x.T, "rev": lambda x: x[::-1], "step2": lambda x: x[..., ::2],
    "ravel": lambda x: x.reshape(-1), "newaxis": lambda x: x[None],
    "expand": lambda x: np.expand_dims(x, -1), "swap": lambda x: np.swapaxes(x, 0, -1),
    "tail": lambda x: x[1:], "first": lambda x: x[..., 0], "squeeze": np.squeeze,
    "diag": lambda x: np.diagonal(x), "bcast": lambda x: np.broadcast_to(x, (2,) + x.shape),
}
LAYOUTS = ["C", "F", "reversed", "strided", "transposed"]


def _name(f: Any) -> str:
    return getattr(f, "__name__", repr(f))


# ------------------------------------------------------------------ programs

@dataclass
class Step:
    """``pool.append(fn(*(pool[i] for i in operands)))``; ``fn`` may write into operands."""

    fn: Callable
    operands: tuple[int, ...]
    text: str

    def __repr__(self) -> str:
        return self.text


@dataclass
class Program:
    inputs: list            # (dtype, shape, layout, data_call0, data_call1)
    weak: tuple | None      # the Python float argument's two values, or None
    steps: list[Step] = field(default_factory=list)
    outputs: tuple = ()
    retraces: bool = False  # specialized on the weak float (float16/complex ** weak)

    def __call__(self, *args):
        pool = list(args)
        for s in self.steps:
            pool.append(s.fn(*(pool[i] for i in s.operands)))
        return tuple(pool[i] for i in self.outputs)

    def make_args(self, call: int) -> tuple:
        args = [_layout(data[call], layout) for _, _, layout, *data in self.inputs]
        if self.weak is not None:
            args.append(self.weak[call] if not self.retraces else self.weak[0])
        return tuple(args)

    def __repr__(self) -> str:
        ins = [f"a{i}: {d}{list(s)} {lay}" for i, (d, s, lay, *_) in enumerate(self.inputs)]
        if self.weak is not None:
            ins.append(f"w: float {self.weak}")
        lines = [f"  v{len(ins) + k} = {s!r}" for k, s in enumerate(self.steps)]
        return "program(" + ", ".join(ins) + "):\n" + "\n".join(lines) + \
            f"\n  return {['v%d' % i for i in self.outputs]}"


def _layout(data: np.ndarray, layout: str) -> np.ndarray:
    """A fresh array equal to ``data`` with the given memory layout."""
    data = data.copy()     # (np.asfortranarray & co. return their argument when they can)
    if data.ndim == 0 or layout == "C":
        return data
    if layout == "F":
        return np.asfortranarray(data)
    if layout == "reversed":
        return np.ascontiguousarray(data[..., ::-1])[..., ::-1]
    if layout == "transposed":
        return np.ascontiguousarray(data.T).T
    big = np.zeros((2 * data.shape[0],) + data.shape[1:], dtype=data.dtype)
    big[::2] = data
    return big[::2]


def _elements(d: np.dtype):
    if d.kind == "b":
        return st.booleans()
    if d.kind in "iu":
        info = np.iinfo(d)
        return st.one_of(st.integers(-3 if d.kind == "i" else 0, 9),
                         st.sampled_from([info.min, info.max, info.max - 1]))
    fin = np.finfo(d)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, float(fin.smallest_subnormal),
                float(fin.max), -float(fin.tiny), 0.5, -2.5]
    width = {2: 16, 4: 32, 8: 64}[fin.dtype.itemsize]
    real = st.one_of(st.sampled_from(specials), st.floats(-20, 20, width=width))
    if d.kind == "c":
        return st.builds(complex, real, real)
    return real


def _is_weak(x: Any) -> bool:
    return type(x) is float



def _apply_step(step, pool: list) -> list | None:
    """The pool with the step's value appended (run on copies: a step may write into its
    operands), or None where NumPy rejects the step or its value is not a scalar or an
    array of at most 4096 elements."""
    trial = [x.copy() if isinstance(x, np.ndarray) else x for x in pool]
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = step.fn(*(trial[i] for i in step.operands))
    except Exception:
        return None
    if not isinstance(value, (np.ndarray, np.generic, float, complex, int, bool)) or \
            (isinstance(value, np.ndarray) and value.size > 4096):
        return None
    trial.append(value)
    return trial

@st.composite
def programs(draw) -> Program:
    n_in = draw(st.integers(1, 3))
    base = draw(st.lists(st.integers(2, 5), min_size=0, max_size=3))
    if base and draw(st.integers(0, 9)) == 0:
        base[draw(st.integers(0, len(base) - 1))] = 0          # an empty array
    shapes = []
    for _ in range(n_in):     # broadcastable: drop leading dims, or make some dims 1
        drop = draw(st.integers(0, len(base)))
        shapes.append(tuple(1 if draw(st.integers(0, 3)) == 0 else n for n in base[drop:]))
    inputs = []
    for shape in shapes:
        d = draw(st.sampled_from(DTYPES))
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
    n_steps = draw(st.integers(1, 10))
    attempts = 0
    while len(prog.steps) < n_steps and attempts < 40:
        attempts += 1
        step, weak_out = _draw_step(draw, pool, weak_flags, n_in, prog)
        if step is None:
            continue
        trial = _apply_step(step, pool)
        if trial is None:
            continue          # not valid NumPy here, or too big: draw another step
        pool = trial
        weak_flags.append(weak_out)
        prog.steps.append(step)
    n = len(pool)
    last = n - 1
    extra = draw(st.integers(0, n - 1))
    prog.outputs = (last,) if extra == last else (last, extra)
    return prog


def _pick(draw, pool, pred=lambda x: True) -> int | None:
    idx = [i for i, x in enumerate(pool) if pred(x)]
    if not idx:
        return None
    # favour recent values, so the steps chain
    return draw(st.sampled_from(idx[-4:] if draw(st.booleans()) else idx))


def _is_array(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic))


def _draw_step(draw, pool, weak_flags, n_in, prog) -> tuple[Step | None, bool]:
    kind = draw(st.sampled_from(["unary", "binary", "binary", "scalar", "scalar", "reduce",
                                 "view", "astype", "where", "inplace", "arg_inplace", "out",
                                 "weak_math", "setitem"]))
    a = _pick(draw, pool, _is_array)
    if a is None:
        return None, False
    if kind == "unary":
        f = draw(st.sampled_from(UNARY))
        return Step(lambda x: f(x), (a,), f"{_name(f)}(v{a})"), False
    if kind == "binary":
        f = draw(st.sampled_from(BINARY))
        b = _pick(draw, pool, _is_array)
        return Step(lambda x, y: f(x, y), (a, b), f"{_name(f)}(v{a}, v{b})"), False
    if kind == "scalar":
        f = draw(st.sampled_from(BINARY))
        w = [i for i, flag in enumerate(weak_flags) if flag]
        if w and draw(st.booleans()):
            c = draw(st.sampled_from(w))
            flip = draw(st.booleans())
            x = pool[a]
            if f is operator.pow and not flip and isinstance(x, np.ndarray) and \
                    (x.dtype.kind == "c" or x.dtype == np.float16):
                prog.retraces = True
            if flip:
                return Step(lambda x, s: f(s, x), (a, c), f"{_name(f)}(v{c}, v{a})"), False
            return Step(lambda x, s: f(x, s), (a, c), f"{_name(f)}(v{a}, v{c})"), False
        c = draw(st.sampled_from(SCALARS))
        if draw(st.booleans()):
            return Step(lambda x: f(c, x), (a,), f"{_name(f)}({c!r}, v{a})"), False
        return Step(lambda x: f(x, c), (a,), f"{_name(f)}(v{a}, {c!r})"), False
    if kind == "reduce":
        r = draw(st.sampled_from(REDUCTIONS))
        nd = np.ndim(pool[a])
        axis = draw(st.sampled_from([None] + list(range(-nd, nd)))) if nd else None
        keep = draw(st.booleans()) and r not in ("cumsum", "multiply.accumulate", "argmax")
        if "." in r:
            u, m = r.split(".")
            fn = getattr(getattr(np, u), m)
            if m == "accumulate":
                axis = 0 if axis is None else axis
                return Step(lambda x: fn(x, axis=axis), (a,), f"np.{r}(v{a}, axis={axis})"), False
        else:
            fn = getattr(np, r)
        kw = {"axis": axis}
        if keep:
            kw["keepdims"] = True
        return Step(lambda x: fn(x, **kw), (a,), f"np.{r}(v{a}, **{kw})"), False
    if kind == "view":
        name = draw(st.sampled_from(sorted(VIEWS)))
        v = VIEWS[name]
        return Step(lambda x: v(x), (a,), f"view_{name}(v{a})"), False
    if kind == "astype":
        d = draw(st.sampled_from(DTYPES))
        return Step(lambda x: x.astype(d), (a,), f"v{a}.astype({d})"), False
    if kind == "where":
        b, c = _pick(draw, pool, _is_array), _pick(draw, pool)
        return Step(lambda x, y, z: np.where(x != 0, y, z), (a, b, c),
                    f"np.where(v{a} != 0, v{b}, v{c})"), False
    if kind in ("inplace", "arg_inplace"):
        f = draw(st.sampled_from(INPLACE))
        b = _pick(draw, pool)
        if f is operator.ipow and weak_flags[b]:
            prog.retraces = True        # (float16/complex ** weak float specializes)
        if kind == "arg_inplace":
            a = draw(st.integers(0, n_in - 1))     # writes into the caller's array

            def body(x, y):
                f(x, y)                           # (a NumPy scalar result is rebound)
                return x
            return Step(body, (a, b), f"v{a} {_name(f)}= v{b}  (argument)"), False

        def local(x, y):
            z = x.copy()
            z = f(z, y)
            return z
        return Step(local, (a, b), f"copy(v{a}) {_name(f)}= v{b}"), False
    if kind == "out":
        f = draw(st.sampled_from([u for u in BINARY if isinstance(u, np.ufunc)]))
        b = _pick(draw, pool, _is_array)
        d = draw(st.sampled_from(DTYPES))
        try:
            shape = np.broadcast_shapes(np.shape(pool[a]), np.shape(pool[b]))
        except ValueError:
            return None, False

        def out_step(x, y):
            o = np.zeros(shape, dtype=d)
            f(x, y, out=o, casting="unsafe")
            return o
        return Step(out_step, (a, b), f"{_name(f)}(v{a}, v{b}, out=zeros({shape}, {d}))"), False
    if kind == "weak_math":
        w = [i for i, flag in enumerate(weak_flags) if flag]
        if not w:
            return None, False
        c = draw(st.sampled_from(w))
        f = draw(st.sampled_from([operator.mul, operator.add, operator.truediv, operator.sub]))
        k = draw(st.sampled_from([2, 0.5, -3.0]))
        return Step(lambda s: f(s, k), (c,), f"{_name(f)}(v{c}, {k!r})  (weak)"), True
    if kind == "setitem":
        b = _pick(draw, pool)
        x = pool[a]
        if not isinstance(x, np.ndarray) or x.ndim == 0 or x.shape[0] == 0:
            return None, False

        def setitem(x, y):
            z = x.copy()
            z[::2] = y
            return z
        return Step(setitem, (a, b), f"copy(v{a})[::2] = v{b}"), False
    return None, False


ALL_RULES = sorted(RULES) + ["cse", "constant_folding"]


def run_program(prog: Program, rules: bool = True) -> None:
    """Compile with the exact rules on (the accuracy rewrites off), or with every rule and
    structural pass off: both must equal eager NumPy (the optimizer's correctness net)."""
    f = tracenp.compile(prog, disable=ACCURACY_RULES if rules else ALL_RULES)
    f.__name__ = "program"
    check(prog, prog.make_args, compiled=f, where=repr(prog) + ("" if rules else " [no rules]"))


@DEFAULT
@given(programs())
def test_random_programs(prog):
    run_program(prog)


@DEFAULT
@given(programs())
def test_random_programs_without_rules(prog):
    run_program(prog, rules=False)


@pytest.mark.slow
@SLOW
@given(programs())
def test_random_programs_many(prog):
    run_program(prog)
