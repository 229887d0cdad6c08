"""The one table of NumPy functions tracenp traces, and of those it deliberately refuses.

Each entry is declared once here.  Other layers (gradients, numexpr, CUDA, docs) key
their own tables by the op name registered here.  ``tracenp.coverage`` lists what each
layer lacks.
"""
from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..errors import DataDependentShapeError
from .ops import CallOp, register, ufunc_op

__all__ = ["FUNCTIONS", "EXCLUDED", "EXCLUDED_MODULES", "CREATION", "RANDOM", "PY_OPERATORS",
           "lookup_name", "qualified_name", "excluded_reason"]

# category -> space-separated names (attributes of numpy; dotted for submodules)
FUNCTIONS: dict[str, str] = {
    "reduction": """sum prod mean std var min max amin amax all any argmin argmax ptp
        nansum nanprod nanmean nanstd nanvar nanmin nanmax nanargmin nanargmax
        median nanmedian percentile nanpercentile quantile nanquantile average
        count_nonzero trace linalg.trace trapezoid""",
    "scan": """cumsum cumprod nancumsum nancumprod cumulative_sum cumulative_prod diff
        ediff1d gradient unwrap""",
    "elementwise": """clip where around round fix angle real imag nan_to_num i0 sinc
        isclose iscomplex isreal isneginf isposinf isin select piecewise interp
        digitize searchsorted choose""",
    "shape": """reshape ravel transpose swapaxes moveaxis rollaxis squeeze expand_dims
        atleast_1d atleast_2d atleast_3d broadcast_to broadcast_arrays flip fliplr flipud
        rot90 roll diagonal diag diagflat tril triu matrix_transpose linalg.matrix_transpose
        linalg.diagonal lib.stride_tricks.sliding_window_view resize pad tile repeat
        copy astype asarray asanyarray ascontiguousarray asfortranarray require
        array_split split hsplit vsplit dsplit unstack""",
    "joining": """concatenate stack hstack vstack dstack column_stack block append insert
        delete""",
    "indexing": """take take_along_axis compress ravel_multi_index unravel_index ix_
        diag_indices_from tril_indices_from triu_indices_from meshgrid""",
    "sorting": """sort argsort partition argpartition lexsort sort_complex""",
    "linalg": """dot vdot inner outer matmul tensordot einsum kron cross linalg.norm
        linalg.vector_norm linalg.matrix_norm linalg.solve linalg.inv linalg.det
        linalg.slogdet linalg.cholesky linalg.qr linalg.svd linalg.svdvals linalg.eigh
        linalg.eigvalsh linalg.pinv linalg.matrix_power linalg.matrix_rank linalg.cond
        linalg.multi_dot linalg.tensorsolve linalg.tensorinv linalg.matmul
        linalg.tensordot linalg.vecdot linalg.outer linalg.cross vecdot""",
    "statistics": """cov corrcoef histogram histogram2d histogramdd histogram_bin_edges
        convolve correlate""",
    "polynomial": """polyval polyadd polysub polyder polyint polyfit vander
        polynomial.polynomial.polyval2d polynomial.polynomial.polygrid2d""",
    "creation": """zeros_like ones_like empty_like full_like""",
    "bits": """packbits unpackbits""",
    "mutation": """copyto put putmask place fill_diagonal put_along_axis""",
    "functional": """apply_along_axis apply_over_axes""",
    "fft": """fft.fft fft.ifft fft.fft2 fft.ifft2 fft.fftn fft.ifftn fft.rfft fft.irfft fft.rfft2
        fft.irfft2 fft.rfftn fft.irfftn fft.hfft fft.ihfft fft.fftshift fft.ifftshift""",
}

# Functions whose result may share memory with their first argument.
VIEWS = set("""reshape ravel transpose swapaxes moveaxis rollaxis squeeze expand_dims
    atleast_1d atleast_2d atleast_3d broadcast_to broadcast_arrays flip fliplr flipud rot90
    diagonal diag real imag matrix_transpose linalg.matrix_transpose linalg.diagonal
    lib.stride_tricks.sliding_window_view asarray asanyarray ascontiguousarray
    asfortranarray require astype array_split split hsplit vsplit dsplit unstack
    meshgrid""".split())

# Argument names that fix the result's shape: a traced value there is data-dependent.
STATIC_PARAMS: dict[str, tuple[str, ...]] = {
    "repeat": ("repeats",), "delete": ("obj",), "compress": ("condition",),
    "resize": ("new_shape",), "reshape": ("shape", "newshape"), "tile": ("reps",),
    "broadcast_to": ("shape",), "full_like": ("shape",), "zeros_like": ("shape",),
    "ones_like": ("shape",), "empty_like": ("shape",), "pad": ("pad_width",),
    "roll": ("shift",), "histogram": ("bins", "range"), "histogram_bin_edges": ("bins", "range"),
    "linalg.matrix_power": ("n",), "insert": ("obj",),
}

# Functions that write into an argument (by parameter name).
MUTATES: dict[str, str] = {
    "copyto": "dst", "put": "a", "putmask": "a", "place": "arr", "fill_diagonal": "a",
    "put_along_axis": "arr",
}

# Deliberately not traced, with the reason shown to the user.
_DATA_SHAPE = "its result's shape depends on the values of its input"
_DATA_DTYPE = "its result's dtype depends on the values of its input"
_PYVALUE = "it returns a Python value computed from the data"
_IO = "it reads or writes files or strings"
EXCLUDED: dict[str, str] = {
    **{n: _DATA_SHAPE for n in """nonzero argwhere flatnonzero extract unique unique_all
        unique_counts unique_inverse unique_values intersect1d setdiff1d setxor1d union1d
        trim_zeros bincount roots polydiv linalg.lstsq""".split()},
    # np.polymul strips the leading zeros of its inputs (through np.poly1d)
    "polymul": _DATA_SHAPE + " (it strips leading zero coefficients)",
    **{n: _DATA_DTYPE for n in """real_if_close poly linalg.eig linalg.eigvals lib.scimath.sqrt
        lib.scimath.log lib.scimath.log2 lib.scimath.log10 lib.scimath.logn lib.scimath.power
        lib.scimath.arccos lib.scimath.arcsin lib.scimath.arctanh min_scalar_type""".split()},
    **{n: _PYVALUE for n in """allclose array_equal array_equiv array2string array_repr
        array_str may_share_memory shares_memory""".split()},
    **{n: _IO for n in """save savez savez_compressed savetxt loadtxt genfromtxt fromfile
        fromstring frombuffer fromiter""".split()},
    **{n: "datetime and business-day arithmetic is not supported" for n in
       "busday_count busday_offset is_busday datetime_as_string".split()},
}

# Whole modules not traced (keys are catalog-style module names, see ``qualified_name``).
EXCLUDED_MODULES: dict[str, str] = {
    "strings": "string arrays are not traced (tracenp traces numeric arrays)",
    "char": "string arrays are not traced (tracenp traces numeric arrays)",
    "lib.recfunctions": "structured (record) arrays are not traced",
}


def qualified_name(func: Any) -> str:
    """The catalog spelling of a NumPy function: ``"sum"``, ``"linalg.norm"``, ``"fft.fft"``.

    Private implementation modules (``numpy.linalg._linalg``) are dropped, so the name is
    the public path that :func:`lookup_name` resolves.
    """
    module = getattr(func, "__module__", None) or "numpy"
    parts = []
    for part in module.split(".")[1:]:
        if part.startswith("_"):
            break
        parts.append(part)
    return ".".join(parts + [getattr(func, "__name__", repr(func))])


def excluded_reason(name: str) -> str | None:
    """Why ``name`` (a catalog spelling) is deliberately not traced, or None."""
    reason = EXCLUDED.get(name)
    module = name.rpartition(".")[0]
    while reason is None and module:
        reason = EXCLUDED_MODULES.get(module)
        module = module.rpartition(".")[0]
    return reason


# Functions answered from static types alone (no graph node).
QUERIES = "shape ndim size result_type iscomplexobj isrealobj can_cast common_type einsum_path".split()

# Creation functions: NumPy does not dispatch them, tracenp patches them while tracing.
CREATION = "zeros ones empty full arange linspace logspace geomspace eye identity tri array fromfunction".split()

# np.random functions intercepted while tracing (draw at call time, from NumPy's global state).
RANDOM = """random rand randn random_sample ranf sample normal uniform standard_normal randint
    random_integers choice permutation binomial poisson exponential gamma beta lognormal
    laplace logistic standard_exponential standard_gamma standard_t standard_cauchy
    multivariate_normal dirichlet chisquare geometric gumbel triangular vonmises wald
    weibull zipf pareto power rayleigh f hypergeometric logseries multinomial
    negative_binomial noncentral_chisquare noncentral_f""".split()

# Python operators on weak (Python) scalars: computed with Python's own arithmetic.
PY_OPERATORS = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
    "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow,
    "neg": operator.neg, "pos": operator.pos, "abs": operator.abs,
    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
    "eq": operator.eq, "ne": operator.ne, "divmod": divmod, "round": round,
    "and": operator.and_, "or": operator.or_, "xor": operator.xor, "lshift": operator.lshift,
    "rshift": operator.rshift, "invert": operator.invert,
    "real": operator.attrgetter("real"), "imag": operator.attrgetter("imag"),
    "conjugate": operator.methodcaller("conjugate"),
}


def lookup_name(name: str) -> Any:
    """``"linalg.norm"`` -> ``numpy.linalg.norm`` (None if this NumPy lacks it)."""
    obj: Any = np
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _check_where(args: tuple, kwargs: dict) -> None:
    if len(args) + len(kwargs) == 1:
        raise DataDependentShapeError("np.where(condition) with one argument is np.nonzero: "
                                      "its result's shape depends on the data")


def _traced_leaves(args: tuple, kwargs: dict) -> list:
    from ..tracer import Tracer
    from .pytree import flatten
    return [x for x in flatten((args, kwargs))[0] if isinstance(x, Tracer)]


def _check_ix(args: tuple, kwargs: dict) -> None:
    if any(x.dtype == np.bool_ for x in _traced_leaves(args, kwargs)):
        raise DataDependentShapeError("np.ix_ with a traced boolean array is np.nonzero: its "
                                      "result's shape depends on the data")


def _check_bins(args: tuple, kwargs: dict) -> None:
    bins = args[1] if len(args) > 1 else kwargs.get("bins")
    if isinstance(bins, str):
        raise DataDependentShapeError(f"bins={bins!r} chooses the number of bins from the data: "
                                      "its result's shape depends on the data")


_CHECKS = {"where": _check_where, "ix_": _check_ix, "histogram": _check_bins,
           "histogram_bin_edges": _check_bins}


def _declare() -> None:
    for category, names in FUNCTIONS.items():
        for name in names.split():
            fn = lookup_name(name)
            if fn is None or isinstance(fn, np.ufunc):
                continue   # ufuncs are declared below, one op per ufunc
            op = CallOp(name, fn, category, view=name in VIEWS,
                        static_params=STATIC_PARAMS.get(name, ()), check=_CHECKS.get(name),
                        mutates=MUTATES.get(name))
            register(op, fn)
    for name in dir(np):
        u = getattr(np, name)
        if isinstance(u, np.ufunc) and u.__name__ == name:
            ufunc_op(u, "__call__")
    for name, fn in PY_OPERATORS.items():
        register(CallOp(f"py.{name}", fn, "python"))


_declare()
