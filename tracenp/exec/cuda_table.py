"""The CUDA layer's table: how each op is spelled in a fused region's CUDA kernel.

``CUDA[op][kinds]`` is a C++ expression template for the op's NumPy loop of those dtype
kinds: ``b`` bool, ``i`` signed and ``u`` unsigned integers, ``f`` float32/float64 (and
float16, computed in float32 and rounded back as NumPy's float16 loops do, unless an ``e``
entry says otherwise), ``c`` complex64/complex128.  ``{0}``, ``{1}``, ``{2}`` are the
operands, already cast to the loop's dtype (``ufunc.resolve_dtypes``, NEP 50 weak scalars
included); ``{T}`` is the loop's C type.  ``tracenp.exec.cuda_kernel`` casts every result
to the node's dtype: ``cupy.ElementwiseKernel`` never promotes (design-notes §4), so the
kernel does it the way NumPy 2 does.

Where C and NumPy differ, the spelling calls a helper of :data:`PREAMBLE` (compiled into
every kernel) that does what NumPy's loops do:

* signed integer ``+ - * negative abs`` wrap around (C's signed overflow is undefined):
  computed in an unsigned type and converted back;
* ``//``, ``%`` and ``fmod`` on integers: Python's floor semantics, ``x // 0 == 0``,
  ``x % 0 == 0``, ``MIN // -1 == MIN`` (NumPy's results; NumPy also warns, a kernel cannot);
  on floats NumPy's ``npy_divmod`` (``fmod``, then the quotient snapped to an integer),
  not ``floor(x / y)`` as CuPy's own ``_floor_divide`` helper does;
* shifts by a negative count or by the width or more give NumPy's 0 (or -1);
* ``maximum``/``minimum`` propagate NaN, ``fmax``/``fmin`` ignore it; on ties (``0.0`` and
  ``-0.0``) float32/float64 return the second operand and float16 the first, as NumPy's
  loops do;
* complex ``* / square`` use NumPy's formulas, not thrust's: Smith's division, and the
  multiply of NumPy's SIMD loops (one fused multiply-add per part, as NumPy computes it on
  every CPU with FMA; NumPy built for a CPU without FMA rounds once more);
* ``sign(-0.0)`` is ``0.0``; ``sign(nan)`` is nan.

Kernels are compiled with ``--fmad=false``: a multiply and an add are never contracted into
one fused multiply-add, so IEEE arithmetic (``+ - * /``, ``sqrt``, rounding, comparisons) is
bit for bit NumPy's.  Transcendentals call CUDA's math library (within its documented ULP
bounds of the correctly rounded result; NumPy's SIMD loops are within theirs): compare
them with a tolerance.

This module does not import CuPy: ``python -m tracenp.coverage`` lists the layer anyway.
"""
from __future__ import annotations

import numpy as np

__all__ = ["CUDA", "LACKS", "EXACT_FLOAT", "REDUCE", "CTYPE", "CUPY_NAME", "PREAMBLE", "kind_of", "template"]

# NumPy dtype -> the C type CuPy's kernels use for it (cupy._core._scalar.get_typename)
CTYPE: dict[np.dtype, str] = {
    np.dtype(np.bool_): "bool",
    np.dtype(np.int8): "signed char", np.dtype(np.int16): "short",
    np.dtype(np.int32): "int", np.dtype(np.int64): "long long",
    np.dtype(np.uint8): "unsigned char", np.dtype(np.uint16): "unsigned short",
    np.dtype(np.uint32): "unsigned int", np.dtype(np.uint64): "unsigned long long",
    np.dtype(np.float16): "float16", np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
    np.dtype(np.complex64): "thrust::complex<float>",
    np.dtype(np.complex128): "thrust::complex<double>",
}

# NumPy dtype -> the type name a kernel's parameter list uses (CuPy takes NumPy's names)
CUPY_NAME: dict[np.dtype, str] = {dt: dt.name for dt in CTYPE}


def kind_of(dt: np.dtype) -> str:
    """The table's kind letter of a dtype (``e`` for float16)."""
    if dt == np.float16:
        return "e"
    return dt.kind


_CMP = {"less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">=",
        "equal": "==", "not_equal": "!="}
_UNARY_F = """sqrt cbrt exp exp2 expm1 log log2 log10 log1p sin cos tan arcsin arccos arctan
    sinh cosh tanh arcsinh arccosh arctanh floor ceil trunc rint fabs""".split()
_BINARY_F = "arctan2 hypot copysign power float_power logaddexp logaddexp2 fmod".split()

CUDA: dict[str, dict[str, str]] = {
    "add": {"b": "({0} || {1})", "iu": "_tnp_add({0}, {1})", "f": "({0} + {1})",
            "c": "_tnp_cadd({0}, {1})"},
    "subtract": {"iu": "_tnp_sub({0}, {1})", "f": "({0} - {1})", "c": "_tnp_csub({0}, {1})"},
    "multiply": {"b": "({0} && {1})", "iu": "_tnp_mul({0}, {1})", "f": "({0} * {1})",
                 "c": "_tnp_cmul({0}, {1})"},
    "divide": {"f": "({0} / {1})", "c": "_tnp_cdiv({0}, {1})"},
    "floor_divide": {"iu": "_tnp_floordiv({0}, {1})", "f": "_tnp_floordivf({0}, {1})"},
    "remainder": {"iu": "_tnp_rem({0}, {1})", "f": "_tnp_remf({0}, {1})"},
    "negative": {"iu": "_tnp_neg({0})", "f": "(-{0})", "c": "_tnp_cneg({0})"},
    "positive": {"iufc": "{0}"},
    "conjugate": {"iuf": "{0}", "c": "_tnp_conj({0})"},
    "absolute": {"b": "{0}", "iu": "_tnp_abs({0})", "f": "_tnp_fabs({0})", "c": "_tnp_cabs({0})"},
    "square": {"iu": "_tnp_mul({0}, {0})", "f": "({0} * {0})", "c": "_tnp_csquare({0})"},
    "reciprocal": {"f": "(({T})1 / {0})"},
    "sign": {"iu": "_tnp_sign_int({0})", "f": "_tnp_sign({0})"},
    **{n: {"f": f"_tnp_{n}({{0}})"} for n in _UNARY_F},
    **{n: {"f": f"_tnp_{n}({{0}}, {{1}})"} for n in _BINARY_F},
    "fmod": {"iu": "_tnp_fmod_int({0}, {1})", "f": "_tnp_fmod({0}, {1})"},
    "floor": {"biu": "{0}", "f": "_tnp_floor({0})"},
    "ceil": {"biu": "{0}", "f": "_tnp_ceil({0})"},
    "trunc": {"biu": "{0}", "f": "_tnp_trunc({0})"},
    "rint": {"f": "_tnp_rint({0})"},
    "exp": {"f": "_tnp_exp({0})", "c": "_tnp_cexp({0})"},
    "log": {"f": "_tnp_log({0})", "c": "_tnp_clog({0})"},
    "sqrt": {"f": "_tnp_sqrt({0})", "c": "_tnp_csqrt({0})"},
    "maximum": {"b": "({0} || {1})", "iu": "({0} > {1} ? {0} : {1})",
                "f": "_tnp_maximum({0}, {1})", "e": "_tnp_maximum_first({0}, {1})"},
    "minimum": {"b": "({0} && {1})", "iu": "({0} < {1} ? {0} : {1})",
                "f": "_tnp_minimum({0}, {1})", "e": "_tnp_minimum_first({0}, {1})"},
    "fmax": {"b": "({0} || {1})", "iu": "({0} > {1} ? {0} : {1})",
             "f": "_tnp_fmax({0}, {1})", "e": "_tnp_fmax_first({0}, {1})"},
    "fmin": {"b": "({0} && {1})", "iu": "({0} < {1} ? {0} : {1})",
             "f": "_tnp_fmin({0}, {1})", "e": "_tnp_fmin_first({0}, {1})"},
    **{n: {"biuf": f"({{0}} {op} {{1}})"} for n, op in _CMP.items()},
    "equal": {"biuf": "({0} == {1})", "c": "_tnp_ceq({0}, {1})"},
    "not_equal": {"biuf": "({0} != {1})", "c": "(!_tnp_ceq({0}, {1}))"},
    "logical_and": {"b": "({0} && {1})", "iuf": "(({0} != 0) && ({1} != 0))"},
    "logical_or": {"b": "({0} || {1})", "iuf": "(({0} != 0) || ({1} != 0))"},
    "logical_xor": {"b": "({0} != {1})", "iuf": "(({0} != 0) != ({1} != 0))"},
    "logical_not": {"b": "(!{0})", "iuf": "({0} == 0)"},
    "bitwise_and": {"b": "({0} && {1})", "iu": "(({T})({0} & {1}))"},
    "bitwise_or": {"b": "({0} || {1})", "iu": "(({T})({0} | {1}))"},
    "bitwise_xor": {"b": "({0} != {1})", "iu": "(({T})({0} ^ {1}))"},
    "invert": {"b": "(!{0})", "iu": "(({T})(~{0}))"},
    "left_shift": {"iu": "_tnp_shl({0}, {1})"},
    "right_shift": {"iu": "_tnp_shr({0}, {1})"},
    "isnan": {"biu": "false", "f": "_tnp_isnan({0})", "c": "_tnp_cisnan({0})"},
    "isinf": {"biu": "false", "f": "_tnp_isinf({0})", "c": "_tnp_cisinf({0})"},
    "isfinite": {"biu": "true", "f": "_tnp_isfinite({0})", "c": "_tnp_cisfinite({0})"},
    "signbit": {"f": "_tnp_signbit({0})"},
    "where": {"biufc": "({0} ? {1} : {2})"},
}

# Ufuncs a fused region may hold (the ``fused`` layer) that this table does not spell, and
# why: a region with one of them runs op by op through CuPy's functions.
LACKS: dict[str, str] = {
    "bitwise_count": "not yet spelled (popcount)",
    "deg2rad": "NumPy multiplies by a rounded pi/180 constant per dtype: not yet matched",
    "radians": "as deg2rad", "rad2deg": "as deg2rad", "degrees": "as deg2rad",
    "gcd": "not yet spelled", "lcm": "not yet spelled",
    "heaviside": "not yet spelled",
    "isnat": "datetime values do not enter kernels",
    "ldexp": "a mixed (float, int) loop",
    "nextafter": "not yet spelled", "spacing": "not yet spelled",
}

# Ops whose result is correctly rounded (bit for bit NumPy's); the rest of the float
# ops are CUDA's math library, within its ULP bounds.
EXACT_FLOAT = frozenset("""add subtract multiply divide floor_divide remainder fmod negative
    positive conjugate absolute fabs square reciprocal sign sqrt floor ceil trunc rint copysign
    maximum minimum fmax fmin less less_equal greater greater_equal equal not_equal
    logical_and logical_or logical_xor logical_not isnan isinf isfinite signbit where""".split())

# Folded closing reductions (cupy.ReductionKernel), by the kind of the reduced value.
# ``max``/``min`` propagate NaN (NumPy's ``np.max``); float sums are a tree of partial sums
# (NumPy's are pairwise: equal within summation error, not bit for bit).
REDUCE: dict[str, str] = {"sum": "biufc", "mean": "f", "max": "biuf", "amax": "biuf",
                          "min": "biuf", "amin": "biuf"}


def template(name: str, kind: str) -> str | None:
    """The expression template of op ``name`` for a loop of kind ``kind`` (or None)."""
    entry = CUDA.get(name)
    if entry is None:
        return None
    for kinds, text in entry.items():
        if kind in kinds:
            return text
    return None


_FLOAT_FNS = {   # tracenp name: (double function, float function)
    "sqrt": ("sqrt", "sqrtf"), "cbrt": ("cbrt", "cbrtf"), "exp": ("exp", "expf"),
    "exp2": ("exp2", "exp2f"), "expm1": ("expm1", "expm1f"), "log": ("log", "logf"),
    "log2": ("log2", "log2f"), "log10": ("log10", "log10f"), "log1p": ("log1p", "log1pf"),
    "sin": ("sin", "sinf"), "cos": ("cos", "cosf"), "tan": ("tan", "tanf"),
    "arcsin": ("asin", "asinf"), "arccos": ("acos", "acosf"), "arctan": ("atan", "atanf"),
    "sinh": ("sinh", "sinhf"), "cosh": ("cosh", "coshf"), "tanh": ("tanh", "tanhf"),
    "arcsinh": ("asinh", "asinhf"), "arccosh": ("acosh", "acoshf"),
    "arctanh": ("atanh", "atanhf"), "floor": ("floor", "floorf"), "ceil": ("ceil", "ceilf"),
    "trunc": ("trunc", "truncf"), "rint": ("rint", "rintf"), "fabs": ("fabs", "fabsf"),
}
_FLOAT_FNS2 = {"arctan2": ("atan2", "atan2f"), "hypot": ("hypot", "hypotf"),
               "copysign": ("copysign", "copysignf"), "power": ("pow", "powf"),
               "float_power": ("pow", "powf"), "fmod": ("fmod", "fmodf")}


def _float_functions() -> str:
    out = ["__device__ __forceinline__ double _tnp_fma(double x, double y, double z) "
           "{ return fma(x, y, z); }",
           "__device__ __forceinline__ float _tnp_fma(float x, float y, float z) "
           "{ return fmaf(x, y, z); }"]
    for name, (d, f) in _FLOAT_FNS.items():
        out.append(f"__device__ __forceinline__ double _tnp_{name}(double x) {{ return {d}(x); }}")
        out.append(f"__device__ __forceinline__ float _tnp_{name}(float x) {{ return {f}(x); }}")
    for name, (d, f) in _FLOAT_FNS2.items():
        out.append(f"__device__ __forceinline__ double _tnp_{name}(double x, double y) "
                   f"{{ return {d}(x, y); }}")
        out.append(f"__device__ __forceinline__ float _tnp_{name}(float x, float y) "
                   f"{{ return {f}(x, y); }}")
    return "\n".join(out)


# Every kernel's preamble.  Guarded, so that translation units can be concatenated (the
# tests compile many kernels per nvcc call); only __device__ code and plain C arithmetic,
# so that tests can also compile it for the host (with __device__ defined away) and run
# it against NumPy on a machine without a GPU.
PREAMBLE = r"""#ifndef TRACENP_CUDA_HELPERS
#define TRACENP_CUDA_HELPERS
// tracenp's helpers: NumPy's semantics where C's differ (tracenp/exec/cuda_table.py)
template <typename T> struct _tnp_w { typedef unsigned int W; enum { is_signed = 0 }; };
template <> struct _tnp_w<signed char> { typedef unsigned int W; enum { is_signed = 1 }; };
template <> struct _tnp_w<short> { typedef unsigned int W; enum { is_signed = 1 }; };
template <> struct _tnp_w<int> { typedef unsigned int W; enum { is_signed = 1 }; };
template <> struct _tnp_w<long long> { typedef unsigned long long W; enum { is_signed = 1 }; };
template <> struct _tnp_w<unsigned long long> { typedef unsigned long long W; enum { is_signed = 0 }; };
// wrap-around integer arithmetic (in an unsigned type: C's signed overflow is undefined)
template <typename T> __device__ __forceinline__ T _tnp_add(T a, T b) {
  typedef typename _tnp_w<T>::W W; return (T)((W)a + (W)b); }
template <typename T> __device__ __forceinline__ T _tnp_sub(T a, T b) {
  typedef typename _tnp_w<T>::W W; return (T)((W)a - (W)b); }
template <typename T> __device__ __forceinline__ T _tnp_mul(T a, T b) {
  typedef typename _tnp_w<T>::W W; return (T)((W)a * (W)b); }
template <typename T> __device__ __forceinline__ T _tnp_neg(T a) {
  typedef typename _tnp_w<T>::W W; return (T)((W)0 - (W)a); }
template <typename T> __device__ __forceinline__ T _tnp_abs(T a) {
  return (_tnp_w<T>::is_signed && a < (T)0) ? _tnp_neg(a) : a; }
template <typename T> __device__ __forceinline__ T _tnp_sign_int(T a) {
  return a > (T)0 ? (T)1 : (a < (T)0 ? _tnp_neg((T)1) : (T)0); }
// Python's floor division and modulo; x // 0 == x % 0 == 0, MIN // -1 == MIN (NumPy's)
template <typename T> __device__ __forceinline__ T _tnp_floordiv(T a, T b) {
  if (b == (T)0) return (T)0;
  if (_tnp_w<T>::is_signed) {
    if (b == _tnp_neg((T)1)) return _tnp_neg(a);
    T q = (T)(a / b);
    if ((T)(a % b) != (T)0 && ((a < (T)0) != (b < (T)0))) q = (T)(q - 1);
    return q;
  }
  return (T)(a / b);
}
template <typename T> __device__ __forceinline__ T _tnp_rem(T a, T b) {
  if (b == (T)0) return (T)0;
  if (_tnp_w<T>::is_signed) {
    if (b == _tnp_neg((T)1)) return (T)0;
    T r = (T)(a % b);
    if (r != (T)0 && ((r < (T)0) != (b < (T)0))) r = (T)(r + b);
    return r;
  }
  return (T)(a % b);
}
template <typename T> __device__ __forceinline__ T _tnp_fmod_int(T a, T b) {
  if (b == (T)0) return (T)0;
  if (_tnp_w<T>::is_signed && b == _tnp_neg((T)1)) return (T)0;
  return (T)(a % b);
}
// shifts: counts below 0 or at least the width give 0 (or -1: a negative >> a big count)
template <typename T> __device__ __forceinline__ T _tnp_shl(T a, T b) {
  typedef typename _tnp_w<T>::W W;
  if (b < (T)0 || (unsigned long long)b >= sizeof(T) * 8) return (T)0;
  return (T)((W)a << (W)b);
}
template <typename T> __device__ __forceinline__ T _tnp_shr(T a, T b) {
  if (b < (T)0 || (unsigned long long)b >= sizeof(T) * 8) return (a < (T)0) ? _tnp_neg((T)1) : (T)0;
  return (T)(a >> b);
}
""" + _float_functions() + r"""
template <typename T> __device__ __forceinline__ bool _tnp_isnan(T x) { return x != x; }
template <typename T> __device__ __forceinline__ bool _tnp_isinf(T x) {
  return x == x && (x - x) != (x - x); }
template <typename T> __device__ __forceinline__ bool _tnp_isfinite(T x) { return (x - x) == (x - x); }
__device__ __forceinline__ bool _tnp_signbit(double x) { return _tnp_copysign(1.0, x) < 0.0; }
__device__ __forceinline__ bool _tnp_signbit(float x) { return _tnp_copysign(1.0f, x) < 0.0f; }
// NaN-propagating maximum/minimum; on ties the second operand (float32/64 loops) ...
template <typename T> __device__ __forceinline__ T _tnp_maximum(T a, T b) {
  return (a > b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T _tnp_minimum(T a, T b) {
  return (a < b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T _tnp_fmax(T a, T b) {
  return (a > b || b != b) ? a : b; }
template <typename T> __device__ __forceinline__ T _tnp_fmin(T a, T b) {
  return (a < b || b != b) ? a : b; }
// ... and the first (float16 loops)
template <typename T> __device__ __forceinline__ T _tnp_maximum_first(T a, T b) {
  return (a >= b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T _tnp_minimum_first(T a, T b) {
  return (a <= b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T _tnp_fmax_first(T a, T b) {
  return (a >= b || b != b) ? a : b; }
template <typename T> __device__ __forceinline__ T _tnp_fmin_first(T a, T b) {
  return (a <= b || b != b) ? a : b; }
template <typename T> __device__ __forceinline__ T _tnp_sign(T x) {
  return x > (T)0 ? (T)1 : (x < (T)0 ? (T)-1 : (x == (T)0 ? (T)0 : x)); }
// NumPy's npy_divmod: fmod, then the quotient snapped to an integer
template <typename T> __device__ __forceinline__ T _tnp_divmod(T a, T b, T *modulus) {
  T mod = _tnp_fmod(a, b);
  if (b == (T)0) { *modulus = mod; return a / b; }
  T div = (a - mod) / b;
  if (mod != (T)0) {
    if ((b < (T)0) != (mod < (T)0)) { mod += b; div -= (T)1; }
  } else {
    mod = _tnp_copysign((T)0, b);
  }
  T floordiv;
  if (div != (T)0) {
    floordiv = _tnp_floor(div);
    if (div - floordiv > (T)0.5) floordiv += (T)1;
  } else {
    floordiv = _tnp_copysign((T)0, a / b);
  }
  *modulus = mod;
  return floordiv;
}
template <typename T> __device__ __forceinline__ T _tnp_floordivf(T a, T b) {
  if (b == (T)0) return a / b;
  T mod; return _tnp_divmod(a, b, &mod); }
template <typename T> __device__ __forceinline__ T _tnp_remf(T a, T b) {
  if (b == (T)0) return _tnp_fmod(a, b);
  T mod; _tnp_divmod(a, b, &mod); return mod; }
// NumPy's logaddexp: x + log1p(exp(y - x)) with the larger first
template <typename T> __device__ __forceinline__ T _tnp_logaddexp(T x, T y) {
  if (x == y) return x + (T)0.693147180559945309417232121458176568;
  T t = x - y;
  if (t > (T)0) return x + _tnp_log1p(_tnp_exp(-t));
  if (t <= (T)0) return y + _tnp_log1p(_tnp_exp(t));
  return t;
}
template <typename T> __device__ __forceinline__ T _tnp_logaddexp2(T x, T y) {
  const T log2e = (T)1.442695040888963407359924681001892137;
  if (x == y) return x + (T)1;
  T t = x - y;
  if (t > (T)0) return x + log2e * _tnp_log1p(_tnp_exp2(-t));
  if (t <= (T)0) return y + log2e * _tnp_log1p(_tnp_exp2(t));
  return t;
}
// bit patterns of non-finite constants
__device__ __forceinline__ double _tnp_f64_bits(unsigned long long b) {
  union { unsigned long long u; double d; } v; v.u = b; return v.d; }
__device__ __forceinline__ float _tnp_f32_bits(unsigned int b) {
  union { unsigned int u; float f; } v; v.u = b; return v.f; }
// complex: NumPy's formulas (thrust::complex only holds the values)
template <typename C> __device__ __forceinline__ C _tnp_cadd(C a, C b) {
  return C(a.real() + b.real(), a.imag() + b.imag()); }
template <typename C> __device__ __forceinline__ C _tnp_csub(C a, C b) {
  return C(a.real() - b.real(), a.imag() - b.imag()); }
// (NumPy's SIMD loops on CPUs with FMA, which is every x86-64 since 2013 and arm64:
// re = fma(ar, br, -(ai * bi)), im = fma(ar, bi, ai * br))
template <typename C> __device__ __forceinline__ C _tnp_cmul(C a, C b) {
  return C(_tnp_fma(a.real(), b.real(), -(a.imag() * b.imag())),
           _tnp_fma(a.real(), b.imag(), a.imag() * b.real())); }
template <typename C> __device__ __forceinline__ C _tnp_csquare(C a) { return _tnp_cmul(a, a); }
template <typename C> __device__ __forceinline__ C _tnp_cneg(C a) { return C(-a.real(), -a.imag()); }
template <typename C> __device__ __forceinline__ C _tnp_conj(C a) { return C(a.real(), -a.imag()); }
template <typename C> __device__ __forceinline__ bool _tnp_ceq(C a, C b) {
  return a.real() == b.real() && a.imag() == b.imag(); }
template <typename C> __device__ __forceinline__ bool _tnp_cisnan(C a) {
  return _tnp_isnan(a.real()) || _tnp_isnan(a.imag()); }
template <typename C> __device__ __forceinline__ bool _tnp_cisinf(C a) {
  return _tnp_isinf(a.real()) || _tnp_isinf(a.imag()); }
template <typename C> __device__ __forceinline__ bool _tnp_cisfinite(C a) {
  return _tnp_isfinite(a.real()) && _tnp_isfinite(a.imag()); }
template <typename C> __device__ __forceinline__ C _tnp_cdiv(C a, C b) {   // Smith's method
  typedef typename C::value_type T;
  const T ar = a.real(), ai = a.imag(), br = b.real(), bi = b.imag();
  const T abs_br = _tnp_fabs(br), abs_bi = _tnp_fabs(bi);
  if (abs_br >= abs_bi) {
    if (abs_br == (T)0 && abs_bi == (T)0) return C(ar / abs_br, ai / abs_br);
    const T rat = bi / br, scl = (T)1 / (br + bi * rat);
    return C((ar + ai * rat) * scl, (ai - ar * rat) * scl);
  }
  const T rat = br / bi, scl = (T)1 / (bi + br * rat);
  return C((ar * rat + ai) * scl, (ai * rat - ar) * scl);
}
template <typename C> __device__ __forceinline__ typename C::value_type _tnp_cabs(C a) {
  return _tnp_hypot(a.real(), a.imag()); }
#ifndef TRACENP_HOST_CHECK
template <typename C> __device__ __forceinline__ C _tnp_cexp(C a) { return thrust::exp(a); }
template <typename C> __device__ __forceinline__ C _tnp_clog(C a) { return thrust::log(a); }
template <typename C> __device__ __forceinline__ C _tnp_csqrt(C a) { return thrust::sqrt(a); }
#endif
#endif  // TRACENP_CUDA_HELPERS
"""
