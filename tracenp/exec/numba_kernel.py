"""Fused regions compiled by numba: one generated loop per region (``pip install
tracenp[numba]``; without numba the kind is unavailable and regions run blocked).

A region qualifies when every op is in ``numba_table.NUMBA`` for the kind of its NumPy
loop and every value is bool, an integer, float32 or float64.  Its body is written out as
Python source of an explicit loop, one statement per node, each operand cast to the dtypes
of the loop NumPy picks (``ufunc.resolve_dtypes``, NEP 50 weak scalars included) and each
result to the node's dtype, so the arithmetic is NumPy's, in NumPy's types.  Two loops per
region: ``flat`` (every array operand C-contiguous with the region's shape: one index)
and ``nd`` (broadcasting or strided operands: one index per dimension).  The loops are
serial ``@numba.njit(nogil=True)`` functions over a range of the leading index; tracenp's
own thread pool runs the ranges (``config.threads``), as it does for the blocked kernel.

Exactness: only ops whose scalar lowering is bit for bit NumPy's are in the table (see
there).  A folded float sum is NumPy's pairwise summation, streamed (each leaf of at most
128 values computed into a small buffer), over the blocks of the kernel the region falls
back to: the blocked kernel's blocks, or the whole value when that kernel is op by op; so
switching from that kernel to numba does not change a result.

Segments: a region that does not qualify (a transcendental in it) runs blocked, and each
run of at least two consecutive lowerable ops in it becomes one numba loop over a block
(``segments``): one pass over the block instead of one ufunc call per op, the other ops
still NumPy's own loops.
Floating-point errors: each range clears the C library's status flags first and reads them
last (integer division by zero and ``MIN // -1`` set them explicitly, as NumPy does); if a
flag is raised whose ``np.errstate`` category is not "ignore", the call is run again by the
blocked kernel, which warns or raises exactly as NumPy does.

Compile cost: a kernel takes about 0.2 s to compile (plus about 0.5 s to import numba the
first time); numba's on-disk cache (the generated source is a file under
``$TRACENP_CACHE_DIR``, default ``~/.cache/tracenp/numba``) brings a later process's load
down to about 10 ms.  With
``config.kernel = "auto"`` the cost model rents before it buys: a region runs its other
kernel (blocked, numexpr or op by op) and counts the seconds spent there; once they reach
the estimated compile time, the kernel is compiled in a background thread and used from
the call after it is ready (segments likewise).  ``config.kernel = "numba"`` compiles at
the first call.
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import platform
import sys
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from tracenp._ndarray import NDARRAY

from ..config import config
from ..graph.ir import Var
from ..graph.types import ARRAY, NPSCALAR, PYSCALAR
from ..optimize.fusion import Region, operands_of_call
from ..optimize.pattern import Const, operands
from .numba_table import NUMBA, REDUCE
from .constants import as_loop_dtype, operand_descr

__all__ = ["available", "numba_program", "numba_source", "run_numba", "pay_rent",
           "wait_compiles", "settled", "segments", "segment_steps", "pay_segment_rent",
           "NumbaProgram"]

# fenv.h flag bits: (invalid, divide-by-zero, overflow, underflow)
_FE_BITS = {"x86_64": (1, 4, 8, 16), "amd64": (1, 4, 8, 16),
            "aarch64": (1, 2, 4, 8), "arm64": (1, 2, 4, 8)}
_FE = _FE_BITS.get(platform.machine().lower())
_ERR_KEYS = ("invalid", "divide", "over", "under")
_FE_MASK = sum(_FE) if _FE else 0
_DTYPES = {np.dtype(t) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                 np.uint16, np.uint32, np.uint64, np.float32, np.float64)}
_NONE = object()
_MAX_RERUNS = 3      # calls whose flags sent them to the blocked kernel before it keeps them
_state: dict[str, Any] = {}
_lock = threading.Lock()
_compiler: ThreadPoolExecutor | None = None
_COMPILED: dict[tuple[str, str], Any] = {}   # (source key, mode) -> compiled loop, in-process
_pending: set = set()
_renting: "weakref.WeakSet[NumbaProgram]" = weakref.WeakSet()   # last call ran the fallback


# ------------------------------------------------------------------ availability
def available() -> bool:
    """numba is installed and this platform's floating-point flags are known (cheap: numba
    is imported only when a kernel is compiled)."""
    ok = _state.get("available")
    if ok is None:
        try:
            ok = (_FE is not None and sys.platform != "win32"
                  and importlib.util.find_spec("numba") is not None)
        except (ImportError, ValueError):
            ok = False
        _state["available"] = ok
    return ok and not _state.get("broken")


def _support():
    """Imports numba and the helpers, and checks once that the flags are read."""
    mod = _state.get("support")
    if mod is None:
        from . import _numba_support as mod
        x = np.array([0.0, 0.0])
        flags = mod.probe(x)
        if not flags & _FE[1]:
            _state["broken"] = "the C library's floating-point flags are not visible to numba"
            raise RuntimeError(_state["broken"])
        _state["support"] = mod
    return mod


# ------------------------------------------------------------------ lowering
def _np(dt: np.dtype) -> str:
    return "np.bool_" if dt.kind == "b" else f"np.{dt.name}"


def _literal(value: Any, dt: np.dtype) -> str | None:
    """``value`` (a constant operand) converted to the loop dtype ``dt`` as NumPy does, as
    source text; None if the conversion changes it in a way that warns (overflow)."""
    v = as_loop_dtype(value, dt)
    if v is None:
        return None
    if dt.kind == "b":
        return "True" if v else "False"
    if dt.kind == "f":
        f = float(v)
        if math.isnan(f):
            return f"{_np(dt)}(np.nan)"
        if math.isinf(f):
            if not (isinstance(value, (float, np.floating)) and math.isinf(float(value))):
                return None
            return f"{_np(dt)}({'-' if f < 0 else ''}np.inf)"
        return f"{_np(dt)}({f!r})"
    return f"{_np(dt)}({int(v)})"


def _cast(expr: str, src: np.dtype, dst: np.dtype) -> str | None:
    if src == dst:
        return expr
    if dst.kind == "b":
        return f"({expr} != 0)"
    if src.kind == "f" and dst.kind != "f":
        return None                 # float -> int: NumPy's C cast is not LLVM's (out of range)
    if src.kind in "iu" and dst.kind in "iu" and not np.can_cast(src, dst):
        return None
    return f"{_np(dst)}({expr})"


class _Unsupported(Exception):
    pass


def _lower(name: str, kind: str, T: np.dtype, out: np.dtype, a: list[str], res: str,
           fe: tuple) -> list[str]:
    """Statements computing ``res`` (of dtype ``out``) from operands ``a`` (of the loop's
    dtype ``T``, kind ``kind``)."""
    t = _np(T)
    bits = T.itemsize * 8
    x = a[0]
    y = a[1] if len(a) > 1 else None
    if name == "add":
        e = f"({x} | {y})" if kind == "b" else f"{t}({x} + {y})"
    elif name == "subtract":
        e = f"{t}({x} - {y})"
    elif name == "multiply":
        e = f"({x} & {y})" if kind == "b" else f"{t}({x} * {y})"
    elif name == "divide":
        e = f"{t}({x} / {y})"
    elif name == "negative":
        e = f"{t}({t}(0) - {x})" if kind == "u" else (f"{t}(-{x})")
    elif name == "positive":
        e = x
    elif name in ("absolute", "fabs"):
        e = x if kind == "u" else f"{t}(abs({x}))"
    elif name == "square":
        e = f"{t}({x} * {x})"
    elif name == "reciprocal":
        e = f"{t}({t}(1.0) / {x})"
    elif name == "sqrt":
        e = f"{t}(math.sqrt({x}))"
    elif name in ("floor", "ceil", "trunc", "rint"):
        e = f"{t}(np.{name}({x}))"
    elif name == "copysign":
        e = f"{t}(math.copysign({x}, {y}))"
    elif name in ("maximum", "minimum", "fmax", "fmin"):
        op = ">" if name in ("maximum", "fmax") else "<"
        if kind == "f":
            nan = x if name in ("maximum", "minimum") else y
            e = f"({x} if ({x} {op} {y} or {nan} != {nan}) else {y})"
        else:
            e = f"({x} if {x} {op} {y} else {y})"
    elif name in _CMP:
        e = f"({x} {_CMP[name]} {y})"
    elif name in ("logical_and", "logical_or", "logical_xor"):
        bx, by = (x, y) if kind == "b" else (f"({x} != 0)", f"({y} != 0)")
        e = f"({bx} {dict(logical_and='&', logical_or='|', logical_xor='!=')[name]} {by})"
    elif name == "logical_not":
        e = f"(not {x})" if kind == "b" else f"({x} == 0)"
    elif name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        op = dict(bitwise_and="&", bitwise_or="|", bitwise_xor="^")[name]
        e = f"({x} {op} {y})" if kind == "b" else f"{t}({x} {op} {y})"
    elif name == "invert":
        e = f"(not {x})" if kind == "b" else f"{t}(~{x})"
    elif name == "left_shift":
        ok = f"{y} < {bits}" if kind == "u" else f"{y} >= 0 and {y} < {bits}"
        e = f"({t}({x} << {y}) if ({ok}) else {t}(0))"
    elif name == "right_shift":
        if kind == "u":
            e = f"({t}({x} >> {y}) if {y} < {bits} else {t}(0))"
        else:
            e = f"({t}({x} >> {y}) if ({y} >= 0 and {y} < {bits}) else ({t}(-1) if {x} < 0 else {t}(0)))"
    elif name in ("floor_divide", "remainder"):
        lines = [f"if {y} == 0:", f"    {res} = {t}(0)", f"    err |= {fe[1]}"]
        if kind == "i":
            if name == "floor_divide":
                lines += [f"elif {y} == -1:", f"    {res} = {t}(-{x})",
                          f"    if {x} == {np.iinfo(T).min}:", f"        err |= {fe[2]}"]
            else:
                lines += [f"elif {y} == -1:", f"    {res} = {t}(0)"]
        op = "//" if name == "floor_divide" else "%"
        lines += ["else:", f"    {res} = {t}({x} {op} {y})"]
        return lines
    elif name in ("isnan", "isinf", "isfinite"):
        e = f"math.{name}({x})"
    elif name == "signbit":
        e = f"(math.copysign(1.0, {x}) < 0.0)"
    else:
        raise _Unsupported(name)
    if out != T and out.kind != "b":
        raise _Unsupported(f"{name}: loop {T} -> {out}")
    return [f"{res} = {e}"]


_CMP = {"less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">=",
        "equal": "==", "not_equal": "!="}


_PAIRWISE = '''
@numba.njit(nogil=True, error_model="numpy", boundscheck=False, cache={cache})
def _leaf{bits}(a, lo, n):
    if n < 8:
        res = np.float{bits}(-0.0)
        for i in range(lo, lo + n):
            res += a[i]
        return res
    w = a[lo:lo + n]              # from 0, and by slices: no negative-index checks
    r0 = w[0]
    r1 = w[1]
    r2 = w[2]
    r3 = w[3]
    r4 = w[4]
    r5 = w[5]
    r6 = w[6]
    r7 = w[7]
    m = n - n % 8
    for k in range(1, m // 8):
        v = w[8 * k:8 * k + 8]
        r0 += v[0]
        r1 += v[1]
        r2 += v[2]
        r3 += v[3]
        r4 += v[4]
        r5 += v[5]
        r6 += v[6]
        r7 += v[7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(lo + m, lo + n):
        res += a[i]
    return res

'''


class NumbaProgram:
    """A region's generated source, and its compiled loops (per mode) once ready."""

    def __init__(self, region: Region, body: list[str], used: list[int], specs: list[tuple],
                 out_dtypes: list[np.dtype], value_dtype: np.dtype | None, reduce: str | None,
                 acc_dtype: np.dtype | None, columns: frozenset = frozenset()):
        self.region = region
        self.columns = columns          # used inputs that are columns: one value per row
        self.body = body
        self.used = used                # indices of region inputs the body reads
        self.specs = specs              # per used input: ("array" | "scalar", dtype)
        self.out_dtypes = out_dtypes
        self.value_dtype = value_dtype  # the reduced value's dtype (reduce only)
        self.reduce = reduce
        self.acc_dtype = acc_dtype      # the partials' dtype (reduce only)
        self.ndim = len(region.shape)
        self.work = 0
        self.source = self._source(cache=True)
        self.key = hashlib.sha1((self.source + _SUPPORT_STAMP).encode()).hexdigest()[:20]
        self.kernels: dict[str, Any] = {}
        self.failed: str | None = None
        self.futures: dict[str, Future] = {}
        self.rent = 0.0
        self.reruns = 0
        self.calls = 0                  # calls numba answered
        self.whole: tuple | None = None
        self.want = "flat"
        self.lock = threading.Lock()

    # ---------------------------------------------------------------- source
    def _source(self, cache: bool) -> str:
        nd = self.ndim
        types = ", ".join(f"{kind} {dt}" for kind, dt in self.specs)
        lines = ["# generated by tracenp: one fused region (see tracenp/exec/numba_kernel.py)",
                 f"# inputs: {types}; outputs: {', '.join(map(str, self.out_dtypes))}; "
                 f"reduce: {self.reduce} {self.acc_dtype}; ndim {self.ndim}",
                 "import math", "import numpy as np", "import numba",
                 "from tracenp.exec._numba_support import fe_clear, fe_test", ""]
        if self.pairwise:
            lines.append(_PAIRWISE.format(cache=cache, bits=self.value_dtype.itemsize * 8))
        for mode in ("flat", "nd") + (("stream",) if self.pairwise else ()):
            lines += self._kernel(mode, nd, cache) + [""]
        if self._has_rows():
            lines += self._rows_kernel(cache) + [""]
        return "\n".join(lines)

    def _has_rows(self) -> bool:
        """2-d regions without a folded reduction also get a ``rows`` loop."""
        return self.ndim == 2 and self.reduce is None

    def _rows_kernel(self, cache: bool) -> list[str]:
        """The ``rows`` loop: 2-d operands whose rows are contiguous (slices of C-ordered
        arrays, as in stencils), each passed as a flat span and a row stride, so the inner
        loop is the flat loop over one row (vectorized) instead of 2-d strided indexing.
        A column operand (``columns``: one value per row, as a row reduction's result with
        ``keepdims``) is read once per row, outside the inner loop."""
        arrays = [k for k, (kind, _) in zip(self.used, self.specs) if kind == "array"]
        ins = [f"a{k}" if kind == "array" else f"s{k}" for k, (kind, _) in zip(self.used, self.specs)]
        outs = [f"o{m}" for m in range(len(self.out_dtypes))]
        params = (["lo", "hi", "n1"] + ins + [f"rs{k}" for k in arrays] + outs
                  + [f"ro{m}" for m in range(len(outs))])
        cols = self.columns
        load = [f"x{k} = b{k}[j1]" if kind == "array" else f"x{k} = s{k}"
                for k, (kind, _) in zip(self.used, self.specs) if k not in cols]
        ind = " " * 8
        return (["@numba.njit(nogil=True, error_model=\"numpy\", boundscheck=False, "
                 f"cache={cache})", f"def rows({', '.join(params)}):",
                 "    fe_clear()", "    err = 0", "    for j0 in range(lo, hi):"]
                + [f"{ind}b{k} = a{k}[j0 * rs{k}:j0 * rs{k} + n1]" for k in arrays if k not in cols]
                + [f"{ind}x{k} = a{k}[j0 * rs{k}]" for k in arrays if k in cols]
                + [f"{ind}q{m} = o{m}[j0 * ro{m}:j0 * ro{m} + n1]" for m in range(len(outs))]
                + [f"{ind}for j1 in range(n1):"]
                + [ind + "    " + line for line in load + self.body]
                + [f"{ind}    q{m}[j1] = r{m}" for m in range(len(outs))]
                + ["    return err | fe_test()"])

    @property
    def pairwise(self) -> bool:
        """A folded float sum or mean: NumPy's pairwise summation (with a ``stream`` loop
        besides ``flat``: see ``_stream_leaf``)."""
        return self.reduce in ("sum", "mean") and self.value_dtype.kind == "f"

    def loop_source(self, mode: str = "flat") -> str:
        """The source of one loop (what ``tracenp.explain`` shows)."""
        return "\n".join(self._kernel(mode, self.ndim, True))

    def _kernel(self, mode: str, nd: int, cache: bool) -> list[str]:
        reduce = self.reduce
        ins = [f"a{k}" if kind == "array" else f"s{k}" for k, (kind, _) in zip(self.used, self.specs)]
        dims = [f"n{d}" for d in range(1, nd)] if mode == "nd" else []
        outs = [f"o{m}" for m in range(len(self.out_dtypes))] if reduce is None else ["partials"]
        pairwise = self.pairwise
        head = ["lo", "hi"] if reduce is None else ["c0", "c1", "units", "total"]
        params = head + dims + ins + outs
        out = ["@numba.njit(nogil=True, error_model=\"numpy\", boundscheck=False, "
               f"cache={cache})", f"def {mode}({', '.join(params)}):",
               "    fe_clear()", "    err = 0"]
        idx = [f"j{d}" for d in range(nd)] if mode == "nd" else ["j0"]
        at = ", ".join(idx)
        load = [f"x{k} = b{k}[{at}]" if kind == "array" else f"x{k} = s{k}"
                for k, (kind, _) in zip(self.used, self.specs)]
        slices = [f"b{k} = a{k}[lo:hi]" for k, (kind, _) in zip(self.used, self.specs)
                  if kind == "array"]
        if pairwise:
            return out + self._pairwise_body(mode, nd, slices, load, idx) + \
                ["    return err | fe_test()"]
        ind = "    "
        if reduce is not None:
            out += [f"{ind}for c in range(c0, c1):", f"{ind}    lo = c * units",
                    f"{ind}    hi = min(lo + units, total)"]
            ind += "    "
            out.append(f"{ind}acc = {self._acc_init()}")
        out += [ind + line for line in slices]
        if reduce is None:
            out += [f"{ind}q{m} = o{m}[lo:hi]" for m in range(len(self.out_dtypes))]
        out.append(f"{ind}for j0 in range(hi - lo):")
        ind += "    "
        if mode == "nd":
            for d in range(1, nd):
                out.append(f"{ind}for j{d} in range(n{d}):")
                ind += "    "
        out += [ind + line for line in load + self.body]
        if reduce is None:
            out += [f"{ind}q{m}[{at}] = r{m}" for m in range(len(self.out_dtypes))]
        elif reduce == "sum":
            out.append(f"{ind}acc += {_np(self.acc_dtype)}(r0)")
        else:
            op = ">" if reduce in ("max", "amax") else "<"
            out += [f"{ind}if r0 {op} acc:", f"{ind}    acc = r0"]
        if reduce is not None:
            out.append("        partials[c] = acc")
        out.append("    return err | fe_test()")
        return out

    def _pairwise_body(self, mode: str, nd: int, slices: list, load: list, idx: list) -> list:
        """A folded float sum: NumPy's pairwise summation of each chunk (the recursion,
        halves split at multiples of 8 down to leaves of at most 128, on an explicit stack),
        each leaf's values computed by the body into a 128-slot buffer as the leaves are
        visited, left to right, so a cursor walks the chunk in C order: no temporaries."""
        bits = self.value_dtype.itemsize * 8
        t = _np(self.value_dtype)
        ind = " " * 20
        advance = []
        if mode == "nd" and nd > 1:
            for d in range(nd - 1, 0, -1):
                pad = " " * 4 * (nd - 1 - d)
                advance += [f"{pad}j{d} += 1", f"{pad}if j{d} == n{d}:", f"{pad}    j{d} = 0"]
            advance.append(" " * 4 * (nd - 1) + "j0 += 1")
        else:
            advance = ["j0 += 1"]
        size = " * ".join(["(hi - lo)"] + [f"n{d}" for d in range(1, nd)]) if mode == "nd" else "hi - lo"
        lines = [
            f"    acc8 = np.empty(8, {t})" if mode == "stream" else f"    buf = np.empty(128, {t})",
            "    fn = np.empty(64, np.int64)",
            "    fst = np.empty(64, np.int64)",
            f"    vals = np.empty(64, {t})",
            "    for c in range(c0, c1):",
            "        lo = c * units",
            "        hi = min(lo + units, total)",
        ]
        lines += ["        " + line for line in slices]
        lines += ["        " + f"{j} = 0" for j in idx]
        flat = mode != "nd" or nd == 1
        if flat:       # leaves index slices from 0: no negative-index checks, vectorized
            load = [line.replace(f"= b{k}[j0]", f"= w{k}[k]") for line, k in
                    zip(load, self.used)]
            advance = []
            leaf_slices = [f"w{k} = b{k}[j0:j0 + m]" for k, (kind, _) in
                           zip(self.used, self.specs) if kind == "array"]
        else:
            leaf_slices = []
        lines += [
            f"        fn[0] = {size}",
            "        fst[0] = 0",
            "        top = 1",
            "        nv = 0",
            "        while top > 0:",
            "            f = top - 1",
            "            m = fn[f]",
            "            if m <= 128:",
        ]
        lines += ["                " + line for line in leaf_slices]
        if mode == "stream":
            lines += ["                " + line for line in self._stream_leaf(t, load)]
        else:
            lines += ["                for k in range(m):"]
            lines += [ind + line for line in load + self.body]
            lines.append(ind + "buf[k] = r0")
            lines += [ind + line for line in advance]
            lines.append(f"                vals[nv] = _leaf{bits}(buf, 0, m)")
        if flat:
            lines.append("                j0 += m")
        lines += [
            "                nv += 1",
            "                top -= 1",
            "                continue",
            "            n2 = m // 2",
            "            n2 -= n2 % 8",
            "            if fst[f] == 0:",
            "                fst[f] = 1",
            "                fn[top] = n2",
            "                fst[top] = 0",
            "                top += 1",
            "            elif fst[f] == 1:",
            "                fst[f] = 2",
            "                fn[top] = m - n2",
            "                fst[top] = 0",
            "                top += 1",
            "            else:",
            "                vals[nv - 2] = vals[nv - 2] + vals[nv - 1]",
            "                nv -= 1",
            "                top -= 1",
            f"        partials[c] = {t}(0.0) + vals[0]",
        ]
        return lines

    def _stream_leaf(self, t: str, load: list) -> list:
        """The ``stream`` loop's leaf: NumPy's ``pairwise_sum`` of at most 128 values
        (eight accumulators started by the first eight, every eighth value added to each,
        combined as a tree, the rest added in order; fewer than eight: added in order to
        -0.0) as the values are computed, with no buffer between: the same bits as the
        ``flat`` loop's leaf.  Its loads keep streaming, which pays where threads read from
        memory, and its values are not computed as one vector loop, which costs in cache
        and for longer bodies (``_stream`` decides; measured, float64, a range per thread
        on 2 threads: ``(x - y)**2`` at 10^7 2.96 against 3.40 ms, at 3*10^6 0.66 against
        0.71, at 10^6 0.186 against 0.179; the Rosenbrock term, 7 ops, at 10^7 3.34
        against 4.08 standalone but 3.4 against 1.7-2.3 ms in its benchmark)."""
        body = ["    " + line for line in load + self.body]
        return (["res = " + t + "(-0.0)",
                 "if m < 8:",
                 "    for k in range(m):"] + ["    " + line for line in body]
                + ["        res += r0",
                   "else:",
                   "    for k in range(8):"] + ["    " + line for line in body]
                + ["        acc8[k] = r0",
                   "    mm = m - m % 8",
                   "    for k8 in range(8, mm, 8):",
                   "        for q in range(8):",
                   "            k = k8 + q"] + ["        " + line for line in body]
                + ["            acc8[q] += r0",
                   "    res = ((acc8[0] + acc8[1]) + (acc8[2] + acc8[3])) + "
                   "((acc8[4] + acc8[5]) + (acc8[6] + acc8[7]))",
                   "    for k in range(mm, m):"] + ["    " + line for line in body]
                + ["        res += r0",
                   "vals[nv] = res"])

    def _acc_init(self) -> str:
        dt = self.acc_dtype
        if self.reduce == "sum":
            return f"{_np(dt)}(0)"
        first = self.reduce in ("max", "amax")       # the identity of max is the least value
        if dt.kind == "b":
            return "False" if first else "True"
        return f"{_np(dt)}({np.iinfo(dt).min if first else np.iinfo(dt).max})"

    # ---------------------------------------------------------------- compile
    def signature(self, mode: str) -> tuple:
        from numba import types as ty
        from numba.np.numpy_support import from_dtype
        nd = self.ndim if mode == "nd" else 1
        layout = "A" if mode == "nd" else "C"
        head = [ty.int64] * (2 if self.reduce is None else 4) + [ty.int64] * (nd - 1)
        ins = [ty.Array(from_dtype(dt), nd, layout, readonly=True) if kind == "array"
               else from_dtype(dt) for kind, dt in self.specs]
        if mode == "rows":        # n1, and a row stride per array operand and output
            head.append(ty.int64)
            ins += [ty.int64 for kind, _ in self.specs if kind == "array"]
            return tuple(head + ins + [ty.Array(from_dtype(dt), 1, "C") for dt in self.out_dtypes]
                         + [ty.int64] * len(self.out_dtypes))
        if self.reduce is None:
            outs = [ty.Array(from_dtype(dt), nd, "C") for dt in self.out_dtypes]
        else:
            outs = [ty.Array(from_dtype(self.acc_dtype), 1, "C")]
        return tuple(head + ins + outs)

    def compile(self, mode: str) -> Any:
        """Compiles (or loads from numba's on-disk cache) the ``mode`` loop; None on failure."""
        with self.lock:
            fn = self.kernels.get(mode)
            if fn is not None or self.failed:
                return fn
            with _lock:
                fn = _COMPILED.get((self.key, mode))
            if fn is None:
                fn = self._compile(mode, on_disk=True)
                if fn is None:            # a stale or unreadable cache entry: in memory
                    fn = self._compile(mode, on_disk=False)
                if fn is None:
                    return None
                with _lock:
                    fn = _COMPILED.setdefault((self.key, mode), fn)
            self.kernels[mode] = fn
            return fn

    def _compile(self, mode: str, on_disk: bool) -> Any:
        try:
            _support()
            module = _load_module(self, on_disk)
            fn = getattr(module, mode)
            fn.compile(self.signature(mode))
            fn.disable_compile()
            self.failed = None
            return fn
        except Exception as e:      # a kernel numba cannot compile: the region runs blocked
            self.failed = f"{type(e).__name__}: {e}"[:300]
            return None

    def cached_on_disk(self) -> bool:
        d = _cache_dir()
        if d is None:
            return False
        pyc = os.path.join(d, "__pycache__")
        try:
            return any(f.startswith(f"k{self.key}.") and f.endswith(".nbi") for f in os.listdir(pyc))
        except OSError:
            return False


_SUPPORT_STAMP = ""


def _support_stamp() -> str:
    """The helper module's source, hashed into every kernel's key (numba's on-disk cache
    does not see changes in the functions a kernel calls)."""
    path = os.path.join(os.path.dirname(__file__), "_numba_support.py")
    try:
        with open(path, "rb") as f:
            return hashlib.sha1(f.read()).hexdigest()
    except OSError:
        return "?"


_SUPPORT_STAMP = _support_stamp()


def _cache_dir() -> str | None:
    d = _state.get("cache_dir", _NONE)
    if d is not _NONE and _state.get("cache_env") == os.environ.get("TRACENP_CACHE_DIR"):
        return d
    from ..config import cache_subdir
    d = cache_subdir("numba")
    _state["cache_dir"], _state["cache_env"] = d, os.environ.get("TRACENP_CACHE_DIR")
    return d


def _load_module(prog: NumbaProgram, on_disk: bool = True):
    """The generated module: from a file under the cache folder (numba's ``cache=True``
    keeps the machine code beside it), or from memory when no folder is writable."""
    name = f"k{prog.key}"
    d = _cache_dir() if on_disk else None
    if d is not None:
        path = os.path.join(d, name + ".py")
        try:
            if not os.path.exists(path):
                tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(prog.source)
                os.replace(tmp, path)
            modname = f"tracenp_numba_{name}"
            module = sys.modules.get(modname)
            if module is None:
                spec = importlib.util.spec_from_file_location(modname, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[modname] = module      # numba's cache finds its module by name
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[modname]
                    raise
            return module
        except OSError:
            pass
    import types as _types
    module = _types.ModuleType(f"tracenp_numba_{name}")
    exec(compile(prog._source(cache=False), f"<tracenp numba {name}>", "exec"), module.__dict__)
    return module


# ------------------------------------------------------------------ building a program
def numba_program(region: Region) -> NumbaProgram | None:
    """The region's numba program (source only: nothing is compiled), or None if it does
    not qualify."""
    cached = getattr(region, "_numba", _NONE)
    if cached is not _NONE:
        return cached
    try:
        prog = _build(region)
    except _Unsupported:
        prog = None
    region._numba = prog
    return prog


def numba_source(region: Region) -> str | None:
    prog = numba_program(region)
    return None if prog is None else prog.source


def _build(region: Region, columns: frozenset = frozenset()) -> NumbaProgram | None:
    """The region's numba program; ``columns`` (region input indices) are read once per row
    by its rows loop (tracenp.exec.rowwise's segments)."""
    if _FE is None or not region.shape or len(region.shape) > 8:
        return None
    for v in region.outputs if region.reduce is None else [region.reduce.inputs[0]]:
        if v.aval.dtype not in _DTYPES:
            return None
    fe = _FE
    pos = {v.id: k for k, v in enumerate(region.inputs)}
    local: dict[int, tuple[str, np.dtype]] = {}
    used: list[int] = []
    body: list[str] = []
    work = 0
    from .kernels import _is_const_literal
    for j, node in enumerate(region.nodes):
        name = node.op.name
        out = node.outputs[0].aval.dtype
        if name not in NUMBA or out not in _DTYPES:
            return None
        if name != "where" and getattr(node.op, "ufunc", None) is not getattr(np, name, _NONE):
            return None               # another library's ufunc of the same name
        ops = operands(node) if name != "where" else operands_of_call(node, 3)
        if ops is None:
            return None
        descr, exprs = [], []
        for o in ops:
            if isinstance(o, Var) and not _is_const_literal(o):
                if o.aval.kind not in (ARRAY, NPSCALAR, PYSCALAR):
                    return None
                if o.aval.kind == PYSCALAR and o.aval.dtype.kind not in "fb":
                    return None       # a weak int NumPy range-checks at each call
                if o.id in local:
                    e, dt = local[o.id]
                    descr.append(dt)
                else:
                    k = pos.get(o.id)
                    if k is None:
                        return None
                    if k not in used:
                        used.append(k)
                    e = f"x{k}"
                    d, dt = operand_descr(o)
                    if dt not in _DTYPES:
                        return None
                    descr.append(d)
                exprs.append((e, dt, None))
            else:
                c = o if isinstance(o, Const) else Const(o.value)
                if isinstance(c.value, NDARRAY) and c.value.ndim:
                    return None       # an array constant: the blocked kernel passes it
                d, dt = operand_descr(c)
                descr.append(d)
                exprs.append((None, dt, c.value))
        if name == "where":
            loop = (np.dtype(np.bool_), out, out)
        else:
            try:
                loop = node.op.ufunc.resolve_dtypes(tuple(descr) + (None,))
            except Exception:
                return None
            if loop[-1] != out:
                return None
            loop = loop[:-1]
        if any(dt not in _DTYPES for dt in loop):
            return None
        if name != "where" and len(set(loop)) != 1:
            return None               # mixed loops (int64 < uint64): NumPy's own
        T = loop[-1]
        if T.kind not in NUMBA[name]:
            return None
        args = []
        for i, ((e, dt, value), want) in enumerate(zip(exprs, loop)):
            if e is None:
                lit = _literal(value, want)
                if lit is None:
                    return None
                args.append(lit)
            else:
                c = _cast(e, dt, want)
                if c is None:
                    return None
                if c != e:
                    body.append(f"u{j}_{i} = {c}")
                    c = f"u{j}_{i}"
                args.append(c)
        res = f"t{j}"
        if name == "where":
            body.append(f"{res} = {args[1]} if {args[0]} else {args[2]}")
        else:
            body += _lower(name, T.kind, T, out, args, res, fe)
        local[node.outputs[0].id] = (res, out)
        work += _op_work(name)
    reduce = acc = value_dt = None
    if region.reduce is not None:
        reduce = region.reduce.op.name
        src = region.reduce.inputs[0]
        value_dt = src.aval.dtype
        if reduce not in REDUCE or value_dt.kind not in REDUCE[reduce] or src.id not in local:
            return None
        acc = region.reduce.outputs[0].aval.dtype if reduce != "mean" else value_dt
        if acc not in _DTYPES:
            return None
        body.append(f"r0 = {local[src.id][0]}")
        out_dtypes = [value_dt]
    else:
        out_dtypes = []
        for m, v in enumerate(region.outputs):
            if v.id not in local:
                return None
            body.append(f"r{m} = {local[v.id][0]}")
            out_dtypes.append(v.aval.dtype)
    specs = []
    for k in used:
        v = region.inputs[k]
        av = v.aval
        if av.kind == ARRAY and av.ndim > 0:
            specs.append(("array", av.dtype))
        else:
            specs.append(("scalar", av.dtype))
    cols = frozenset(k for k in used if k in columns)
    prog = NumbaProgram(region, body, used, specs, out_dtypes, value_dt, reduce, acc, cols)
    prog.work = work
    return prog


def _op_work(name: str) -> int:
    from ..optimize.fusion import _OP_COST
    return _OP_COST.get(name, 1)


# ------------------------------------------------------------------ running
def _enabled_flags() -> int:
    err = np.geterr()
    mask = 0
    for key, bit in zip(_ERR_KEYS, _FE):
        if err[key] != "ignore":
            mask |= bit
    return mask


def _arguments(prog: NumbaProgram, inputs: list, rows: bool = False) -> tuple[str, list]:
    """The loop's mode and arguments; ``rows`` asks for the rows loop where it applies."""
    shape = prog.region.shape
    vals = [inputs[k] for k in prog.used]
    flat = True
    for (kind, _), x in zip(prog.specs, vals):
        if kind == "array" and not (x.shape == shape and x.flags.c_contiguous):
            flat = False
            break
    args = []
    for (kind, _), x in zip(prog.specs, vals):
        if kind == "array":
            args.append(x.reshape(-1) if flat else np.broadcast_to(x, shape))
        elif isinstance(x, NDARRAY):
            args.append(x[()])
        else:
            args.append(x)
    if (rows or not flat) and prog._has_rows():
        spans = _row_spans([x.reshape(shape) if isinstance(x, NDARRAY) and x.ndim and flat
                            else x for x in args], shape)
        if spans is not None:
            return "rows", spans
    return ("flat" if flat else "nd"), args


def _out_spans(outs: list, shape: tuple) -> list:
    """The rows loop's outputs: writable flat spans, then their row strides."""
    spans = [np.lib.stride_tricks.as_strided(o, ((shape[0] - 1) * (o.strides[0] // o.itemsize)
                                                 + shape[1],), (o.itemsize,)) for o in outs]
    return spans + [o.strides[0] // o.itemsize for o in outs]


def _row_spans(args: list, shape: tuple) -> list | None:
    """The ``rows`` loop's arguments: each 2-d operand as the flat span from its first
    element to its last, then the row strides (in items); None unless every operand's rows
    are contiguous and its row stride is a non-negative multiple of the item size."""
    spans, strides = [], []
    for x in args:
        if not isinstance(x, NDARRAY) or x.ndim != 2:
            spans.append(x)
            continue
        item = x.itemsize
        s0, s1 = x.strides
        if (s1 != item and shape[1] > 1) or s0 < 0 or s0 % item:
            return None
        n = (shape[0] - 1) * (s0 // item) + shape[1] if shape[0] else 0
        spans.append(np.lib.stride_tricks.as_strided(x, (n,), (item,), writeable=False))
        strides.append(s0 // item)
    return spans + strides


def run_numba(region: Region, inputs: list, blocked: Any, dests: dict | None = None) -> tuple | None:
    """Runs the region's numba kernel; None when it is not compiled yet (the caller runs
    the region's other kernel and pays rent) or must not answer this call.  ``dests``
    (output position -> an array of the output's shape and dtype whose rows are
    contiguous) are written in place of fresh outputs, by the rows loop only."""
    prog = numba_program(region)
    if prog is None or prog.failed:
        return None
    mode, args = _arguments(prog, inputs, rows=bool(dests))
    if dests and (mode != "rows" or _row_spans(list(dests.values()), region.shape) is None):
        return None
    fn = prog.kernels.get(mode)
    if fn is None:
        with _lock:
            fn = _COMPILED.get((prog.key, mode))
        if fn is not None:              # the same region compiled for another plan
            prog.kernels[mode] = fn
    if fn is None:
        prog.want = mode
        if config.kernel != "numba" and (config.numba_background
                                          or prog.rent < _compile_estimate(prog)):
            _renting.add(prog)
            return None          # not bought yet (or compiling in the background)
        fn = prog.compile(mode)
        if fn is None:
            return None
    shape = region.shape
    total = 1
    for d in shape:
        total *= d
    if total == 0:
        return None
    dims = list(shape[1:]) if mode in ("nd", "rows") else []
    lead = shape[0] if mode in ("nd", "rows") else total
    per_unit = total // lead if lead else 1
    threads = max(1, config.threads)
    parallel = threads > 1 and total * max(prog.work, _k.PASS_COST) >= config.parallel_work
    if prog.reduce is None:
        dests = dests or {}
        outs = [dests[m] if m in dests else np.empty(shape, dt) for m, dt in enumerate(prog.out_dtypes)]
        outs_k = [o.reshape(-1) for o in outs] if mode == "flat" else outs
        if mode == "rows":
            outs_k = _out_spans(outs, shape)
        parts = min(threads, lead) if parallel else 1
        bounds = [(lead * p // parts, lead * (p + 1) // parts) for p in range(parts)]
        calls = [(lo, hi, *dims, *args, *outs_k) for lo, hi in bounds]
    else:
        # the partials of the kernel this region falls back to: the blocked kernel's
        # blocks, or one sum over the whole (NumPy op by op: np.sum of a C-ordered value)
        if mode != "flat" and _k.sums_in_memory_order(blocked, inputs):
            return None           # NumPy sums the value in its memory order (op by op)
        if _sums_whole(prog, region):
            if mode != "flat":
                return None       # NumPy would sum the value in its memory order
            if parallel:
                return _run_whole_sum(prog, fn, args, total, threads)
            units = lead
        else:
            units = max(1, config.chunk_bytes // (blocked.itemsize * max(per_unit, 1)))
        nchunks = -(-lead // units)
        partials = np.empty(nchunks, prog.acc_dtype)
        parts = min(threads, nchunks) if parallel else 1
        bounds = [(nchunks * p // parts, nchunks * (p + 1) // parts) for p in range(parts)]
        if mode == "flat" and _stream(prog, parts, units * (nchunks // parts)):
            fn = _stream_loop(prog) or fn
        calls = [(c0, c1, units, lead, *dims, *args, partials) for c0, c1 in bounds]
    if not _ran(prog, _run_ranges(fn, calls)):
        return None
    if prog.reduce is None:
        return tuple(outs)
    return (_k.combine(prog.reduce, partials, total),)


def _run_ranges(fn: Any, calls: list) -> int:
    """Runs the loop on each argument tuple, the first here and the others on the pool;
    the union of their floating-point flags, or -1 if numba declined an operand."""
    def run(call: tuple) -> int:
        try:
            return fn(*call)
        except TypeError:        # an operand numba's signature does not take (byte order,
            return -1            # alignment): the other kernel answers this call

    flags = 0
    for r in _k.run_shares(run, calls):
        flags = -1 if r < 0 or flags < 0 else flags | r
    return flags


def _ran(prog: NumbaProgram, flags: int) -> bool:
    """Whether the loops' results answer the call: not if an operand was declined, nor if
    a floating-point flag was raised that NumPy would warn or raise for (its loops rerun
    the call, exactly)."""
    if flags < 0:
        return False
    if flags & _FE_MASK and flags & _enabled_flags():
        prog.reruns += 1
        if prog.reruns >= _MAX_RERUNS and config.kernel != "numba":
            prog.failed = "floating-point errors on several calls: runs blocked"
        return False
    prog.calls += 1
    _renting.discard(prog)
    return True


# A folded float sum runs its ``stream`` loop (``NumbaProgram._stream_leaf``) where several
# threads each take a range of at least this many elements and its body does at most one
# op per array it reads: memory-bound, where streaming loads pay.
_STREAM_FROM = 1 << 20


def _stream(prog: NumbaProgram, ranges: int, size: int) -> bool:
    """Whether a folded float sum in ``ranges`` ranges of about ``size`` elements on the
    threads runs its ``stream`` loop.  (Measured at 10^7 on 2 threads: ``(x - y)**2``, 2
    ops over 2 arrays, 3.0-3.2 ms streamed against 3.6-4.6 buffered; the Rosenbrock sum,
    7 ops over 2 arrays, 3.4 against 1.7-2.3; the Gaussian log-likelihood, 7 ops over 1
    array, 5.4 against 1.8-2.6.)"""
    return ranges > 1 and size >= _STREAM_FROM and prog.pairwise and \
        prog.work <= sum(kind == "array" for kind, _ in prog.specs)


def _stream_loop(prog: NumbaProgram) -> Any:
    """The ``stream`` loop, or None while it compiles in the background (the ``flat``
    loop answers meanwhile: the same bits)."""
    fn = prog.kernels.get("stream")
    if fn is not None:
        return fn
    if config.kernel == "numba" or not config.numba_background:
        return prog.compile("stream")
    _compile_in_background(prog, "stream")
    return None


def _pairwise_split(lo: int, n: int, depth: int) -> Any:
    """NumPy's pairwise summation tree over ``[lo, lo + n)`` cut ``depth`` levels down:
    a leaf is a ``(lo, hi)`` range, a node a pair of subtrees (halves split at multiples
    of 8, as ``pairwise_sum`` splits them; ranges of at most 128 are not split)."""
    if depth == 0 or n <= 128:
        return (lo, lo + n)
    n2 = n // 2
    n2 -= n2 % 8
    return [_pairwise_split(lo, n2, depth - 1), _pairwise_split(lo + n2, n - n2, depth - 1)]


def _run_whole_sum(prog: NumbaProgram, fn: Any, args: list, total: int, threads: int) -> tuple | None:
    """A whole-value pairwise sum on ``threads`` threads, bit for bit the serial one: the
    top levels of NumPy's summation tree are cut into subtrees, each summed by the kernel
    on the pool, and their sums are added back in the tree's order.  (Each subtree's sum
    comes back as ``0.0 + s``, which differs from ``s`` only for a zero's sign; the
    whole sum's own ``0.0 +`` makes that difference vanish.)"""
    tree = _pairwise_split(0, total, max(1, (threads - 1).bit_length()))
    leaves, stack = [], [tree]
    while stack:
        t = stack.pop()
        if isinstance(t, tuple):
            leaves.append(t)
        else:
            stack += [t[1], t[0]]
    partials = np.empty(len(leaves), prog.acc_dtype)
    if _stream(prog, len(leaves), total // len(leaves)):
        fn = _stream_loop(prog) or fn
    arrays = [kind == "array" for kind, _ in prog.specs]
    calls = [(0, 1, hi - lo, hi - lo, *[a[lo:hi] if is_array else a
                                        for a, is_array in zip(args, arrays)], partials[i:i + 1])
             for i, (lo, hi) in enumerate(leaves)]

    if not _ran(prog, _run_ranges(fn, calls)):
        return None
    values = iter(partials)

    def add(t: Any) -> Any:          # depth <= log2(threads): recursion is bounded
        return next(values) if isinstance(t, tuple) else add(t[0]) + add(t[1])

    return (_k.combine(prog.reduce, [prog.acc_dtype.type(0) + add(tree)], total),)


def _sums_whole(prog: NumbaProgram, region: Region) -> bool:
    """Whether the region's other kernel runs it op by op (a cheap region fused for numba
    only): a folded float sum is then one pairwise sum of the whole value, as np.sum's."""
    if not prog.pairwise:
        return False
    cached = prog.whole
    if cached is None or cached[0] != config.kernel:
        from .kernels import fallback_kernel
        cached = prog.whole = (config.kernel, fallback_kernel(region) == "numpy")
    return cached[1]


class _Kernels:
    """tracenp.exec.kernels' helpers, imported on first use (it imports this module)."""

    def __getattr__(self, name: str) -> Any:
        from . import kernels
        value = {"PASS_COST": kernels._PASS_COST, "pool": kernels._get_pool,
                 "run_shares": kernels.run_shares, "combine": kernels._combine,
                 "sums_in_memory_order": kernels._sums_in_memory_order}[name]
        setattr(self, name, value)
        return value


_k = _Kernels()


# ------------------------------------------------------------------ the cost model
def _compile_estimate(prog: NumbaProgram) -> float:
    """Seconds a compile is expected to cost: loading from numba's on-disk cache, or
    compiling; plus importing numba the first time."""
    on_disk = getattr(prog, "_on_disk", None)
    if on_disk is None:             # looked up once per program (a directory listing)
        on_disk = prog._on_disk = prog.cached_on_disk()
    est = 0.02 if on_disk else config.numba_compile_seconds
    if "numba" not in sys.modules:
        est += 0.5
    return est


def pay_rent(region: Region, seconds: float) -> None:
    """The region ran another kernel for ``seconds``: once the total reaches the estimated
    compile cost, its numba kernel is compiled (in the background by default)."""
    prog = numba_program(region)
    if prog is None or prog.failed:
        return
    mode = prog.want
    if mode in prog.futures:
        return
    prog.rent += seconds
    if prog.rent < _compile_estimate(prog) or not config.numba_background:
        return
    if _compile_in_background(prog, mode):
        prog.rent = 0.0            # another mode, if one is needed later, pays its own


def _compile_in_background(prog: NumbaProgram, mode: str) -> bool:
    """Submits the ``mode`` loop's compile to the background compiler (once); whether
    this call submitted it."""
    global _compiler
    with _lock:
        if mode in prog.futures:
            return False
        if _compiler is None:
            _compiler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracenp-numba")
        prog.futures[mode] = fut = _compiler.submit(prog.compile, mode)
        _pending.add(fut)
        fut.add_done_callback(_pending.discard)
        return True


def settled(fn: Any = None) -> bool:
    """No region is waiting for its numba kernel (of ``fn``, a compiled function, or of any
    plan): every region whose last call ran another kernel has a failed compile, and no
    compile is running.  Benchmarks warm up until then."""
    if fn is not None:
        from ..optimize.fusion import FusedOp
        renting = []
        for plan in getattr(fn, "_cache", {}).values():
            for n in getattr(getattr(plan, "graph", None), "nodes", ()):
                if isinstance(n.op, FusedOp):
                    region = n.params
                elif n.op.name == "fused_into":
                    region = n.params.region
                elif n.op.name == "rowwise":
                    rows = getattr(n.params, "_program", None)
                    renting += [s.prog for s in getattr(rows, "_segments", None) or ()
                                if "rows" not in s.prog.kernels]
                    continue
                else:
                    continue
                prog = numba_program(region)
                if prog is not None and prog in _renting:
                    renting.append(prog)
                elif prog is not None and not prog.failed and prog.kernels:
                    continue          # the region runs its own loop: its segments never run
                blocked = getattr(region, "_program", None)
                renting += [s.prog for s in getattr(blocked, "_segments", None) or ()
                            if "flat" not in s.prog.kernels]
    else:
        renting = list(_renting)
    return not _pending and not any(not p.failed for p in renting)


def wait_compiles(timeout: float | None = None) -> bool:
    """Waits for the background compiles started so far; True if none is left."""
    from concurrent.futures import wait
    pending = list(_pending)
    if pending:
        wait(pending, timeout=timeout)
    return not _pending


# ------------------------------------------------------------------ segments of blocked regions
class _Segment:
    """A run of consecutive lowerable nodes of a blocked region, compiled as one loop over
    a block: the blocked kernel calls it instead of the run's ufunc steps (one pass over the
    block instead of one per op).  If it raises a floating-point flag that is not ignored,
    the run's own ufunc steps are run again on that block (NumPy's warnings, exactly)."""

    def __init__(self, prog: NumbaProgram, first: int, last: int, ins: list, outs: list):
        self.prog = prog
        self.first, self.last = first, last      # step indices, inclusive
        self.ins = ins                           # refs (blocked program) of prog.used inputs
        self.outs = outs                         # refs of the segment's outputs
        self.scalar = [kind == "scalar" for kind, _ in prog.specs]

    def runner(self, fn: Any, sub: list):
        ins, outs, scalar = self.ins, self.outs, self.scalar

        def run(spaces: dict, get: Any, run_steps: Any) -> None:
            args = [get(r) for r in ins]
            for i, s in enumerate(scalar):
                if s and isinstance(args[i], NDARRAY):
                    args[i] = args[i][()]
            dest = [spaces[d[0]][d[1]] for d in outs]
            n = dest[0].shape[0]
            flags = fn(0, n, *args, *dest)
            if flags & _FE_MASK and flags & _enabled_flags():
                run_steps(sub, spaces)
        return run


def segments(blocked: Any) -> list[_Segment]:
    """The numba segments of a blocked program's region (source only; cached)."""
    segs = getattr(blocked, "_segments", None)
    if segs is not None:
        return segs
    segs = blocked._segments = []
    region = blocked.region
    if not available():
        return segs
    nodes = region.nodes
    ref_of: dict[int, tuple] = {}
    for v, k in zip(region.inputs, range(len(region.inputs))):
        ref_of[v.id] = ("in", k)
    for node, (_, _, refs, dest) in zip(nodes, blocked.steps):
        ops = operands(node) if node.op.name != "where" else operands_of_call(node, 3)
        for o, r in zip(ops or (), refs):
            if isinstance(o, Var):
                ref_of.setdefault(o.id, r)
        ref_of[node.outputs[0].id] = dest
    guarded = getattr(blocked, "guarded", ())
    ok = [i not in guarded and _lowerable(region, node) for i, node in enumerate(nodes)]
    later: dict[int, int] = {}
    for i, node in enumerate(nodes):
        for v in node.inputs:
            later[v.id] = i
    final = {v.id for v in region.outputs}
    if region.reduce is not None:
        final.add(region.reduce.inputs[0].id)
    for i, j in _runs(ok):
        if j > i:
            seg = _segment(region, nodes, i, j, later, final, ref_of)
            if seg is not None:
                segs.append(seg)
    return segs


def _lowerable(region: Region, node: Any) -> bool:
    sub = Region([node], list(node.inputs), [node.outputs[0]], region.shape)
    try:
        return _build(sub) is not None
    except _Unsupported:
        return False


def _runs(ok: list[bool]) -> list[tuple[int, int]]:
    """The maximal runs ``(first, last)`` of consecutive True entries."""
    runs, i = [], 0
    while i < len(ok):
        if not ok[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(ok) and ok[j + 1]:
            j += 1
        runs.append((i, j))
        i = j + 1
    return runs


def _run_values(nodes: list, i: int, j: int, later: dict, final: set) -> tuple[list, list, list]:
    """``nodes[i..j]``, the values it reads from outside, and those used after it."""
    run = nodes[i:j + 1]
    inside = {n.outputs[0].id for n in run}
    inputs: list = []
    seen: set = set()
    for n in run:
        for v in n.inputs:
            if v.id not in inside and v.id not in seen:
                seen.add(v.id)
                inputs.append(v)
    outputs = [n.outputs[0] for n in run
               if n.outputs[0].id in final or later.get(n.outputs[0].id, -1) > j]
    return run, inputs, outputs


def _segment(region: Region, nodes: list, i: int, j: int, later: dict, final: set,
             ref_of: dict) -> _Segment | None:
    run, inputs, outputs = _run_values(nodes, i, j, later, final)
    if not outputs:
        return None
    built = _run_program(region, run, inputs, outputs, ref_of)
    return None if built is None else _Segment(built[0], i, j, built[1], built[2])


def _run_program(region: Any, run: list, inputs: list, outputs: list, ref_of: dict,
                 columns: frozenset = frozenset()) -> tuple | None:
    """A run's numba program and the references of its inputs and outputs, or None (not
    lowerable, or a value without a buffer)."""
    try:
        prog = _build(Region(run, inputs, outputs, region.shape), columns)
    except _Unsupported:
        prog = None
    if prog is None:
        return None
    ins = [ref_of.get(inputs[k].id) for k in prog.used]
    outs = [ref_of.get(v.id) for v in outputs]
    if any(r is None or r[0] == "const" for r in ins + outs):
        return None
    return prog, ins, outs


def segment_steps(blocked: Any) -> list | None:
    """The blocked program's steps with its compiled numba segments in place of their runs,
    or None while none is compiled."""
    cached = getattr(blocked, "_segment_steps", None)
    if cached is not None:
        return cached or None
    segs = segments(blocked)
    if not segs or any(not s.prog.kernels.get("flat") for s in segs if not s.prog.failed):
        return None
    steps = list(blocked.steps)
    for s in reversed(segs):
        fn = s.prog.kernels.get("flat")
        if fn is None:
            continue
        sub = steps[s.first:s.last + 1]
        steps[s.first:s.last + 1] = [("seg", s.runner(fn, sub), (s, fn), sub)]
    blocked._segment_steps = steps
    return steps


def pay_segment_rent(blocked: Any, seconds: float) -> None:
    """The blocked kernel ran a region with segments for ``seconds``: once the rent reaches
    the estimated compile time, its segments compile (in the background by default)."""
    _pay_segments(blocked, segments(blocked), "flat", seconds)


def _pay_segments(owner: Any, segs: list, mode: str, seconds: float) -> None:
    """``owner`` (a blocked or row program) ran with its segments' ``mode`` loops not yet
    compiled for ``seconds``: the rent, and the compiles once it covers them."""
    todo = [s.prog for s in segs if not s.prog.failed and mode not in s.prog.kernels]
    if not todo:
        return
    if config.kernel == "numba" or not config.numba_background:
        owner._seg_rent = getattr(owner, "_seg_rent", 0.0) + seconds
        if config.kernel == "numba" or owner._seg_rent >= sum(map(_compile_estimate, todo)):
            for p in todo:
                p.compile(mode)
        return
    if any(mode in p.futures for p in todo):
        return
    owner._seg_rent = getattr(owner, "_seg_rent", 0.0) + seconds
    if owner._seg_rent < sum(map(_compile_estimate, todo)):
        return
    global _compiler
    with _lock:
        if _compiler is None:
            _compiler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracenp-numba")
        for p in todo:
            if mode not in p.futures:
                p.futures[mode] = fut = _compiler.submit(p.compile, mode)
                _pending.add(fut)
                fut.add_done_callback(_pending.discard)


# ------------------------------------------------------------------ segments of row regions
class RowSegment:
    """A run of consecutive lowerable elementwise steps of a 2-d row region
    (tracenp.exec.rowwise) whose values have the region's full shape, compiled as one rows
    loop over a block.  Column operands (a row reduction's ``keepdims`` result, one value
    per row) are read once per row: NumPy broadcasts them through its outer loop, which
    costs 2.5 to 3x a contiguous pass (measured: ``x - m`` of (125, 1000) by (125, 1),
    40 us in NumPy against 18 in the loop; ``/`` 46 against 17).  If the loop raises a
    floating-point flag that is not ignored, or declines an operand, the run's own NumPy
    steps run the block again (their warnings, exactly)."""

    def __init__(self, prog: NumbaProgram, first: int, last: int, ins: list, outs: list):
        self.prog = prog
        self.first, self.last = first, last      # step indices, inclusive
        self.ins = ins                           # refs (row program) of prog.used inputs
        self.outs = outs                         # refs of the run's values used later
        self.column = [k in prog.columns for k in prog.used]
        self.scalar = [kind == "scalar" for kind, _ in prog.specs]
        self.calls = 0                           # blocks the loop answered

    def run(self, fn: Any, get: Any, k: int, n1: int) -> bool:
        """The loop on a block of ``k`` x ``n1``; False if the NumPy steps must run it."""
        if not k or not n1:
            return False
        args, strides = [], []
        for ref, col, sc in zip(self.ins, self.column, self.scalar):
            x = get(ref)
            if sc:
                args.append(x[()] if type(x) is NDARRAY else x)
                continue
            span = _block_span(x, k, n1, col)
            if span is None:
                return False
            args.append(span[0])
            strides.append(span[1])
        outs, ro = [], []
        for ref in self.outs:
            span = _block_span(get(ref), k, n1, False)
            if span is None or span[1] < n1:
                return False
            outs.append(span[0])
            ro.append(span[1])
        try:
            flags = fn(0, k, n1, *args, *strides, *outs, *ro)
        except TypeError:       # an operand the signature does not take (byte order)
            return False
        if flags & _FE_MASK and flags & _enabled_flags():
            return False
        self.calls += 1
        return True


def _block_span(x: Any, k: int, n1: int, column: bool) -> tuple | None:
    """A block operand as the rows loop takes it: ``(flat span, row stride in items)``; a
    column (k, 1) or a row broadcast over the block (stride 0); None if its rows are not
    contiguous."""
    if type(x) is not NDARRAY:
        return None
    item = x.itemsize
    if column:
        if x.shape != (k, 1):
            return None
        if x.flags.c_contiguous:
            return x.reshape(-1), 1
        s0 = x.strides[0]
        if s0 <= 0 or s0 % item:
            return None
        return np.lib.stride_tricks.as_strided(x, ((k - 1) * (s0 // item) + 1,), (item,)), s0 // item
    if x.ndim == 2 and x.shape[0] == 1 and x.shape[1] == n1 and k > 1:
        x = x[0]
    if x.ndim == 1:
        if x.shape[0] != n1 or (x.strides[0] != item and n1 > 1):
            return None
        return (x if x.flags.c_contiguous else x.reshape(-1)), 0
    if x.shape != (k, n1):
        return None
    if x.flags.c_contiguous:
        return x.reshape(-1), n1
    s0, s1 = x.strides
    if (s1 != item and n1 > 1) or s0 <= 0 or s0 % item:
        return None
    return np.lib.stride_tricks.as_strided(x, ((k - 1) * (s0 // item) + n1,), (item,)), s0 // item


def row_segments(rowprog: Any) -> list[RowSegment]:
    """The numba segments of a 2-d row program (tracenp.exec.rowwise): runs of lowerable
    elementwise steps of the full shape that read a column operand or hold at least two
    ops (source only; cached)."""
    segs = getattr(rowprog, "_segments", None)
    if segs is not None:
        return segs
    segs = rowprog._segments = []
    region = rowprog.region
    shape = region.shape
    if not available() or len(shape) != 2:
        return segs
    nodes = region.nodes
    ok = [step[0] in ("ufunc", "where") and node.outputs[0].aval.shape == shape
          and _lowerable(region, node) for node, step in zip(nodes, rowprog.steps)]
    later: dict[int, int] = {}
    for i, node in enumerate(nodes):
        for v in node.inputs:
            later[v.id] = i
    final = {v.id for v in region.outputs}
    column_shape = (shape[0], 1) if shape[1] != 1 else None
    for i, j in _runs(ok):
        seg = _row_segment(region, nodes, i, j, later, final, rowprog.ref_of, column_shape)
        if seg is not None:
            segs.append(seg)
    return segs


def _row_segment(region: Any, nodes: list, i: int, j: int, later: dict, final: set,
                 ref_of: dict, column_shape: tuple | None) -> RowSegment | None:
    run, inputs, outputs = _run_values(nodes, i, j, later, final)
    columns = frozenset(k for k, v in enumerate(inputs)
                        if v.aval.kind == ARRAY and v.aval.shape == column_shape)
    if not outputs or (len(run) < 2 and not columns):
        return None             # one op on full-shape operands: NumPy's loop is as fast
    built = _run_program(region, run, inputs, outputs, ref_of, columns)
    if built is None or set(built[1]) & set(built[2]):
        return None             # (an output in an input's buffer: a rerun would read it)
    return RowSegment(built[0], i, j, built[1], built[2])


def row_segment_steps(rowprog: Any) -> list | None:
    """The row program's steps with its compiled segments in place of their runs, as
    ``("seg", segment, loop, run's steps, None)``; None while one is still compiling."""
    cached = getattr(rowprog, "_segment_steps", None)
    if cached is not None:
        return cached or None
    segs = row_segments(rowprog)
    if not segs:
        rowprog._segment_steps = []
        return None
    if any(not s.prog.kernels.get("rows") for s in segs if not s.prog.failed):
        return None
    steps = list(rowprog.steps)
    for s in reversed(segs):
        fn = s.prog.kernels.get("rows")
        if fn is not None:
            steps[s.first:s.last + 1] = [("seg", s, fn, steps[s.first:s.last + 1], None)]
    rowprog._segment_steps = steps
    return steps


def pay_row_rent(rowprog: Any, seconds: float) -> None:
    """The row kernel ran without its segments for ``seconds`` (see ``_pay_segments``)."""
    _pay_segments(rowprog, row_segments(rowprog), "rows", seconds)
