"""Fused regions as CUDA kernels for CuPy: one ``cupy.ElementwiseKernel`` per region, or a
``cupy.ReductionKernel`` when a full reduction closes it.

:func:`cuda_kernel` lowers a :class:`~tracenp.optimize.fusion.Region` to exactly what
``cupy.ElementwiseKernel(in_params, out_params, operation, name, preamble=...,
options=...)`` takes.  Parameters have concrete types (``float64 x0, float32 x1``: CuPy's
type names), so CuPy never chooses a type; every statement casts its operands to the
dtypes of the loop NumPy picks for the node (``ufunc.resolve_dtypes``, NEP 50 weak
scalars included) and its result to the node's dtype, which the graph recorded.  The ops
and their C spellings are one table, :mod:`tracenp.exec.cuda_table`.  A region that holds
anything the table lacks is not lowered (``CudaKernel.refused`` says why); the backend
then runs it op by op through CuPy's NumPy-compatible functions.

No device is needed to lower a region, nor to write the CUDA source CuPy compiles for it:
:func:`translation_unit` asks CuPy's own code generator (the functions behind
``ElementwiseKernel.__call__`` and ``ReductionKernel.__call__``, which take only
descriptions of the arguments) and prepends the headers CuPy's ``compile_with_cache``
prepends.  The tests compile every generated unit with ``nvcc`` (tracenp.exec.nvcc).

Kernels are cached by their text (name, parameter types, body): a new array size reuses
the kernel, and CuPy reuses its compiled binary (in memory per argument layout, and on
disk under ``~/.cupy/kernel_cache``).
"""
from __future__ import annotations

import hashlib
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..graph.ir import Var
from ..graph.types import ARRAY, NPSCALAR, PYSCALAR
from ..optimize.fusion import Region, operands_of_call
from ..optimize.pattern import Const, operands
from .cuda_table import CTYPE, CUPY_NAME, PREAMBLE, REDUCE, kind_of, template
from .constants import as_loop_dtype, operand_descr

__all__ = ["CudaKernel", "cuda_kernel", "kernel_name", "translation_unit",
           "generated_kernels", "OPTIONS"]

OPTIONS = ("--fmad=false",)      # no contraction into fused multiply-adds: NumPy's rounding
_NONE = object()
_lock = threading.Lock()
_KERNELS: dict[str, "CudaKernel"] = {}     # structure key -> kernel (every one made here)


@dataclass(eq=False)
class CudaKernel:
    """A region's CUDA kernel: the arguments of ``cupy.ElementwiseKernel`` (or of
    ``cupy.ReductionKernel`` when ``reduce`` is set), and how to call it.

    ``used`` lists the region inputs passed to the kernel, in parameter order (constants
    the body spells inline are not passed).  ``refused`` is None; a region that could not
    be lowered has a ``CudaKernel`` with only ``refused`` set (the reason).
    """

    name: str = ""
    in_params: str = ""
    out_params: str = ""
    operation: str = ""
    preamble: str = ""
    used: list[int] = field(default_factory=list)
    in_dtypes: list[np.dtype] = field(default_factory=list)
    in_scalar: list[bool] = field(default_factory=list)   # a host scalar (else a device array)
    out_dtypes: list[np.dtype] = field(default_factory=list)
    reduce: str | None = None          # sum, mean, max, min (a ReductionKernel)
    map_expr: str = ""
    reduce_expr: str = ""
    post_map_expr: str = ""
    identity: str = ""
    reduce_type: str = ""
    exact: bool = True                 # every op correctly rounded (bit for bit NumPy's)
    refused: str | None = None
    key: str = ""
    options: tuple = OPTIONS

    @property
    def kind(self) -> str:
        return "ReductionKernel" if self.reduce else "ElementwiseKernel"

    def source(self) -> str:
        """What tracenp hands to CuPy, as a person reads it (``tracenp.explain``)."""
        if self.refused:
            return f"(not a kernel: {self.refused})"
        if self.reduce:
            body = self.preamble.split(PREAMBLE, 1)[-1].strip()
            return (f"cupy.ReductionKernel({self.in_params!r}, {self.out_params!r},\n"
                    f"    map_expr={self.map_expr!r}, reduce_expr={self.reduce_expr!r},\n"
                    f"    post_map_expr={self.post_map_expr!r}, identity={self.identity!r},\n"
                    f"    reduce_type={self.reduce_type!r}, name={self.name!r},\n"
                    f"    preamble=PREAMBLE + '''\n{body}''')")
        return (f"cupy.ElementwiseKernel({self.in_params!r}, {self.out_params!r}, '''\n"
                f"{self.operation}''', name={self.name!r}, preamble=PREAMBLE)")

    def cupy_object(self) -> Any:
        """The ``cupy.ElementwiseKernel`` / ``cupy.ReductionKernel`` (made once per kernel;
        CuPy compiles it at its first launch for each argument layout)."""
        obj = _OBJECTS.get(self.key)
        if obj is None:
            import cupy
            if self.reduce:
                obj = cupy.ReductionKernel(
                    self.in_params, self.out_params, self.map_expr, self.reduce_expr,
                    self.post_map_expr, self.identity, name=self.name,
                    reduce_type=self.reduce_type, preamble=self.preamble,
                    options=self.options)
            else:
                obj = cupy.ElementwiseKernel(self.in_params, self.out_params, self.operation,
                                             name=self.name, preamble=self.preamble,
                                             options=self.options)
            with _lock:
                obj = _OBJECTS.setdefault(self.key, obj)
        return obj


_OBJECTS: dict[str, Any] = {}


def generated_kernels() -> list[CudaKernel]:
    """Every kernel lowered in this process (the tests compile each one with nvcc)."""
    with _lock:
        return list(_KERNELS.values())


# ------------------------------------------------------------------ names
def kernel_name(function: str, region: Region, index: int) -> str:
    """``tracenp_<function>_<line>_fused<k>``: a name a person finds in a profiler."""
    src = region.nodes[-1].source if region.nodes else None
    line = src.lineno if src is not None else 0
    base = re.sub(r"\W", "_", function or "f").strip("_") or "f"
    if base[0].isdigit():
        base = "f" + base
    return f"tracenp_{base[:40]}_{line}_fused{index}"


# ------------------------------------------------------------------ C spellings
def _ctype(dt: np.dtype) -> str:
    return CTYPE[dt]


def _hexfloat(value: float, single: bool) -> str:
    return value.hex() + ("f" if single else "")


def literal(value: Any, dt: np.dtype) -> str | None:
    """A constant converted to ``dt`` as NumPy converts it (None where NumPy would warn
    or raise: an overflow), spelled exactly in C++."""
    v = as_loop_dtype(value, dt)
    if v is None:
        return None
    if dt.kind == "b":
        return "true" if v else "false"
    if dt.kind in "iu":
        i = int(v)
        ct = _ctype(dt)
        if dt == np.int64 and i == -(1 << 63):
            return "(-9223372036854775807LL - 1)"
        suffix = "ULL" if dt.kind == "u" else "LL"
        return f"(({ct}){i}{suffix})"
    if dt.kind == "f":
        return _float_literal(v, dt)
    if dt.kind == "c":
        part = np.dtype(np.float32 if dt == np.complex64 else np.float64)
        return f"{_ctype(dt)}({_float_literal(v.real, part)}, {_float_literal(v.imag, part)})"
    return None


def _float_literal(v: Any, dt: np.dtype) -> str:
    f = float(v)
    if dt == np.float16:
        if math.isfinite(f):
            return f"float16({_hexfloat(f, True)})"
        bits = int(np.float32(v).view(np.uint32))
        return f"float16(_tnp_f32_bits({bits:#x}U))"
    if math.isfinite(f):
        return _hexfloat(f, dt == np.float32)
    if dt == np.float32:
        return f"_tnp_f32_bits({int(np.float32(v).view(np.uint32)):#x}U)"
    return f"_tnp_f64_bits({int(np.float64(v).view(np.uint64)):#x}ULL)"


def cast(expr: str, src: np.dtype, dst: np.dtype) -> str | None:
    """``expr`` (of dtype ``src``) converted to ``dst`` as NumPy converts it; None for
    conversions a kernel does not do exactly as NumPy (float to integer; a float64 or
    float32 value to float16)."""
    if src == dst:
        return expr
    ct = _ctype(dst)
    if dst.kind == "b":
        if src.kind == "c":
            return f"(({expr}).real() != 0 || ({expr}).imag() != 0)"
        if src == np.float16:
            return f"((float)({expr}) != 0.0f)"
        return f"(({expr}) != 0)"
    if dst.kind == "c":
        part = "float" if dst == np.complex64 else "double"
        if src.kind == "c":
            return f"{ct}(({part})({expr}).real(), ({part})({expr}).imag())"
        inner = f"(float)({expr})" if src == np.float16 else f"({expr})"
        return f"{ct}(({part}){inner})"
    if src.kind == "c":
        return None                     # complex to real: NumPy warns (ComplexWarning)
    if dst == np.float16:
        if src.kind in "biu" and src.itemsize <= 1:
            return f"float16((float)({expr}))"
        return None                     # double rounding through float: not NumPy's
    if dst.kind == "f":
        inner = f"(float)({expr})" if src == np.float16 else f"({expr})"
        return f"(({ct}){inner})"
    if src.kind == "f" or src == np.float16:
        return None                     # float to int: out-of-range results differ
    return f"(({ct})({expr}))"


class _Refuse(Exception):
    pass


def _loop(node: Any, name: str, descr: list, out: np.dtype) -> tuple:
    """The dtypes of NumPy's loop for this call: inputs, and the output."""
    if name == "where":
        return (np.dtype(np.bool_), out, out), out
    try:
        loop = node.op.ufunc.resolve_dtypes(tuple(descr) + (None,))
    except Exception as e:
        raise _Refuse(f"{name}: NumPy has no loop for {descr} ({e})") from None
    return tuple(loop[:-1]), loop[-1]


def _apply(name: str, T: np.dtype, out: np.dtype, args: list[str]) -> str:
    """The expression computing op ``name`` on ``args`` (of the loop dtype ``T``), of the
    node's dtype ``out``."""
    k = kind_of(T)
    text = template(name, k)
    if text is not None:
        if k == "e":                    # an explicit float16 spelling: computed in float
            args = [f"(float)({a})" for a in args]
            expr = text.format(*args, T="float")
            return f"float16({expr})" if out == np.float16 else expr
        expr = text.format(*args, T=_ctype(T))
        return _result(expr, out, T)
    if k == "e":                        # float16: in float32, rounded back (NumPy's loops)
        text = template(name, "f")
        if text is None:
            raise _Refuse(f"{name} has no CUDA spelling for float16")
        expr = text.format(*[f"(float)({a})" for a in args], T="float")
        if out == np.float16:
            return f"float16({expr})"
        return _result(expr, out, np.dtype(np.float32))
    raise _Refuse(f"{name} has no CUDA spelling for {T}")


def _result(expr: str, out: np.dtype, T: np.dtype) -> str:
    if out.kind == "c" or out == T and T.kind in "fc":
        return expr
    if out == np.float16:
        return f"float16({expr})"
    return f"(({_ctype(out)})({expr}))"


def cuda_kernel(region: Region, name: str) -> CudaKernel:
    """The region's kernel (cached on the region; ``refused`` set if it cannot be one)."""
    cached = getattr(region, "_cuda", _NONE)
    if cached is not _NONE and cached.name == name:
        return cached
    try:
        k = _build(region, name)
    except _Refuse as e:
        k = CudaKernel(name=name, refused=str(e))
    if k.refused is None:
        with _lock:
            k = _KERNELS.setdefault(k.key, k)
    region._cuda = k
    return k


_DTYPES = set(CTYPE)
_FLOAT16 = "#include <cupy/float16.cuh>\n"
_INEXACT_COMPLEX = frozenset("divide absolute exp log sqrt".split())


def _build(region: Region, name: str) -> CudaKernel:
    if not region.shape:
        raise _Refuse("a 0-d region")
    pos = {v.id: k for k, v in enumerate(region.inputs)}
    local: dict[int, tuple[str, np.dtype]] = {}
    used: list[int] = []
    body: list[str] = []
    exact = True
    from .cuda_table import EXACT_FLOAT
    for j, node in enumerate(region.nodes):
        name_ = node.op.name
        out = node.outputs[0].aval.dtype
        if out not in _DTYPES:
            raise _Refuse(f"{name_} gives {out}, which a kernel does not hold")
        if name_ != "where" and getattr(node.op, "ufunc", None) is not getattr(np, name_, _NONE):
            raise _Refuse(f"{name_} is not a NumPy ufunc (no CUDA spelling)")
        ops = operands(node) if name_ != "where" else operands_of_call(node, 3)
        if ops is None:
            raise _Refuse(f"{name_}: keyword arguments")
        descr, exprs = [], []
        for o in ops:
            if isinstance(o, Var):      # (a Literal still here is an array: passed in)
                av = o.aval
                if av.kind not in (ARRAY, NPSCALAR, PYSCALAR):
                    raise _Refuse(f"{name_}: an operand of kind {av.kind}")
                if av.kind == PYSCALAR and av.dtype.kind not in "fcb":
                    raise _Refuse(f"{name_}: a weak Python int operand (NumPy checks its "
                                  f"range at each call)")
                if o.id in local:
                    e, dt = local[o.id]
                    descr.append(dt)
                else:
                    k = pos.get(o.id)
                    if k is None:
                        raise _Refuse(f"{name_}: an operand from outside the region")
                    if k not in used:
                        used.append(k)
                    e = f"x{used.index(k)}"
                    d, dt = operand_descr(o)
                    if dt not in _DTYPES:
                        raise _Refuse(f"{name_}: an operand of dtype {dt}")
                    descr.append(d)
                exprs.append((e, dt, None))
            else:
                c = o if isinstance(o, Const) else Const(o.value)
                d, dt = operand_descr(c)
                descr.append(d)
                exprs.append((None, dt, c.value))
        loop, loop_out = _loop(node, name_, descr, out)
        if loop_out != out:
            raise _Refuse(f"{name_}: NumPy's loop gives {loop_out}, the graph says {out}")
        if any(dt not in _DTYPES for dt in loop):
            raise _Refuse(f"{name_}: a loop over {loop}")
        if name_ != "where" and len(set(loop)) != 1:
            raise _Refuse(f"{name_}: a mixed loop {tuple(str(d) for d in loop)}")
        T = loop[-1]
        args = []
        for (e, dt, value), want in zip(exprs, loop):
            if e is None:
                lit = literal(value, want)
                if lit is None:
                    raise _Refuse(f"{name_}: the constant {value!r} does not convert to "
                                  f"{want} exactly as NumPy converts it")
                args.append(lit)
            else:
                c = cast(e, dt, want)
                if c is None:
                    raise _Refuse(f"{name_}: a kernel does not convert {dt} to {want} "
                                  f"as NumPy does")
                args.append(c)
        if name_ == "where":
            expr = template("where", kind_of(T) if kind_of(T) != "e" else "f")
            expr = expr.format(*args)
        else:
            expr = _apply(name_, T, out, args)
            if kind_of(T) in "efc" and (name_ not in EXACT_FLOAT or kind_of(T) == "c"
                                        and name_ in _INEXACT_COMPLEX):
                exact = False
        res = f"t{j}"
        body.append(f"const {_ctype(out)} {res} = {expr};")
        local[node.outputs[0].id] = (res, out)
    in_dtypes = [region.inputs[k].aval.dtype for k in used]
    in_scalar = [region.inputs[k].aval.kind in (PYSCALAR, NPSCALAR) for k in used]
    in_params = ", ".join(f"{CUPY_NAME[d]} x{i}" for i, d in enumerate(in_dtypes))
    kern = CudaKernel(name=name, used=used, in_dtypes=in_dtypes, in_scalar=in_scalar,
                      exact=exact)
    if region.reduce is not None:
        _reduction(kern, region, body, local)
    else:
        outs = []
        for m, v in enumerate(region.outputs):
            if v.id not in local:
                raise _Refuse("an output that is not computed in the region")
            body.append(f"y{m} = {local[v.id][0]};")
            outs.append(v.aval.dtype)
        kern.out_dtypes = outs
        kern.out_params = ", ".join(f"{CUPY_NAME[d]} y{m}" for m, d in enumerate(outs))
        kern.operation = "\n".join(body)
        kern.preamble = PREAMBLE
    if "float16" in kern.operation + kern.preamble[len(PREAMBLE):]:
        # (CuPy includes float16.cuh only for float16 parameters: a kernel that makes its
        # float16 values inside, from bool or 8-bit integers, includes it itself)
        kern.preamble = _FLOAT16 + kern.preamble
    if not used:
        raise _Refuse("no array operand (the loop size is undecided)")
    kern.in_params = in_params
    kern.key = hashlib.sha256(repr((kern.name, kern.in_params, kern.out_params,
                                    kern.operation, kern.preamble, kern.reduce, kern.map_expr,
                                    kern.reduce_expr, kern.post_map_expr, kern.identity,
                                    kern.reduce_type, kern.options)).encode()).hexdigest()[:24]
    return kern


def _reduction(kern: CudaKernel, region: Region, body: list[str], local: dict) -> None:
    """A closing full reduction: the body becomes a device function that the
    ReductionKernel maps over the elements."""
    red = region.reduce
    what = red.op.name
    src = red.inputs[0]
    value_dt = src.aval.dtype
    out_dt = red.outputs[0].aval.dtype
    if what not in REDUCE or kind_of(value_dt) not in REDUCE[what] or src.id not in local:
        raise _Refuse(f"a folded {what} of {value_dt}")
    if out_dt not in _DTYPES:
        raise _Refuse(f"a folded {what} giving {out_dt}")
    acc = out_dt if what != "mean" else value_dt
    to_acc = cast(local[src.id][0], value_dt, acc)
    if to_acc is None:
        raise _Refuse(f"a folded {what}: {value_dt} to {acc}")
    ct = _ctype(acc)
    fn = f"{kern.name}_map"
    params = ", ".join(f"const {_ctype(d)} x{i}" for i, d in enumerate(kern.in_dtypes))
    lines = [f"__device__ __forceinline__ {ct} {fn}({params}) {{"]
    lines += ["  " + b for b in body]
    lines += [f"  return {to_acc};", "}"]
    kern.preamble = PREAMBLE + "\n".join(lines) + "\n"
    kern.map_expr = f"{fn}({', '.join(f'x{i}' for i in range(len(kern.in_dtypes)))})"
    k = kind_of(acc)
    if what in ("sum", "mean"):
        kern.reduce_expr = {"b": "(a || b)", "i": "_tnp_add(a, b)", "u": "_tnp_add(a, b)",
                            "f": "(a + b)", "c": "_tnp_cadd(a, b)"}[k]
        kern.identity = literal(0, acc)
        kern.exact = False                        # a tree of partial sums, not NumPy's pairwise
        if what == "mean":
            kern.post_map_expr = "y0 = a / (_type_reduce)(_in_ind.size() / _out_ind.size())"
        else:
            kern.post_map_expr = "y0 = a"
    else:
        biggest = what in ("max", "amax")
        if k == "f":
            kern.reduce_expr = "_tnp_maximum(a, b)" if biggest else "_tnp_minimum(a, b)"
            kern.identity = literal(-np.inf if biggest else np.inf, acc)
        elif k == "b":
            kern.reduce_expr = "(a || b)" if biggest else "(a && b)"
            kern.identity = "false" if biggest else "true"
        else:
            kern.reduce_expr = "(a > b ? a : b)" if biggest else "(a < b ? a : b)"
            info = np.iinfo(acc)
            kern.identity = literal(info.min if biggest else info.max, acc)
        kern.post_map_expr = "y0 = a"
    kern.reduce = what
    kern.reduce_type = ct
    kern.out_dtypes = [out_dt]
    kern.out_params = f"{CUPY_NAME[out_dt]} y0"


# ------------------------------------------------------------------ the CUDA source
def _cupy_generators() -> Any:
    from cupy._core import _carray, _kernel, _reduction, _scalar, core
    import cupy
    return cupy, _kernel, _reduction, _scalar, _carray, core


def cupy_headers() -> str:
    """The ``#include`` lines CuPy's ``compile_with_cache`` puts before every kernel."""
    _, _, _, _, _, core = _cupy_generators()
    return "".join(f"#include <{h}>\n" for h in core._cupy_header_list)


def translation_unit(kernel: CudaKernel, layout: str = "flat", ndim: int = 2) -> str:
    """The whole CUDA source CuPy compiles for ``kernel`` when it is launched with one
    argument ``layout``: ``"flat"`` (arrays C-contiguous of the region's shape, which CuPy
    reduces to 1-d with 32-bit indexing; Python and NumPy scalars passed as C scalars) or
    ``"nd"`` (every input an ``ndim``-d broadcasting or strided device array, scalars too,
    64-bit indexing).  Written by CuPy's own code generator: no device is needed."""
    cupy, K, R, S, C, _ = _cupy_generators()
    flat = layout == "flat"
    nd = 1 if flat else ndim
    idx32 = flat

    def arr(dt: np.dtype, n: int = nd) -> Any:
        return K._ArgInfo(1, cupy.ndarray, dt.type, n, flat, idx32)

    def scalar(dt: np.dtype) -> Any:
        return K._ArgInfo(3, S.CScalar, dt.type, 0, True, True)

    ins = [scalar(d) if flat and s else arr(d) for d, s in zip(kernel.in_dtypes, kernel.in_scalar)]
    in_types = tuple(None if flat and s else d.type
                     for d, s in zip(kernel.in_dtypes, kernel.in_scalar))
    in_p = K._get_param_info(kernel.in_params, True)
    out_p = K._get_param_info(kernel.out_params, False)
    if kernel.reduce:
        params = (in_p + out_p + K._get_param_info("CIndexer _in_ind, CIndexer _out_ind", False)
                  + K._get_param_info("int32 _block_stride", True))
        _, _, type_map = K._decide_params_type(in_p, out_p, in_types,
                                               tuple(d.type for d in kernel.out_dtypes))
        type_map = K._TypeMap(type_map._pairs + (("IndexT", "int32" if idx32 else "int64"),))
        # (a full reduction's output is 0-d: contiguous, small)
        infos = tuple(ins + [K._ArgInfo(1, cupy.ndarray, kernel.out_dtypes[0].type, 0, True, True),
                             K._ArgInfo(2, C.Indexer, None, nd, True, idx32),
                             K._ArgInfo(2, C.Indexer, None, 0, True, True),
                             scalar(np.dtype(np.int32))])
        code = R._ReductionKernel_get_cached_function_code(
            len(in_p), len(out_p), params, infos, type_map, kernel.name, 512,
            kernel.reduce_type, kernel.identity, kernel.map_expr, kernel.reduce_expr,
            kernel.post_map_expr, kernel.preamble, kernel.options)
    else:
        params = in_p + out_p + K._get_param_info("CIndexer _ind", False)
        _, _, type_map = K._decide_params_type(in_p, out_p, in_types, ())
        infos = tuple(ins + [arr(d) for d in kernel.out_dtypes]
                      + [K._ArgInfo(2, C.Indexer, None, nd, True, idx32)])
        code = K._get_elementwise_kernel_code(infos, type_map, params, kernel.operation,
                                              kernel.name, kernel.preamble)
    return cupy_headers() + code
