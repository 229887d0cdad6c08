"""NumPy functions that do not dispatch to proxies, intercepted while tracing.

``np.asarray``/``np.array`` and the creation functions (``np.zeros``, ``np.arange``, ...)
ignore ``__array_function__`` unless ``like=`` is given, and ``np.random.*`` draws from
hidden global state.  While at least one thread is tracing, these module attributes are
replaced by wrappers; a wrapper acts only when *its own thread* is tracing (and not inside
NumPy's own evaluation of a recorded op), so every other thread sees plain NumPy.
The originals are restored when the last trace ends, errors included.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import itertools
import linecache
import sys
import threading
import types
from typing import Any, Callable, Iterator

import numpy as np
from tracenp._ndarray import NDARRAY

from .errors import DataDependentShapeError, UntracedRandomError
from .graph import catalog
from .graph.ops import TARGET, CallOp, op_for_function, register
from .graph.pytree import flatten
from .graph.source import user_frame
from .tracer import ArrayProxy, Tracer, TraceContext, current_trace

__all__ = ["patched_numpy", "legacy_rng_token", "ORIGINALS"]

_lock = threading.Lock()
_active = 0
ORIGINALS: dict[tuple[Any, str], Callable] = {}

# (np.require dispatches only on like=, and converts its argument with NumPy's own
# asanyarray, so it is patched like the asarray family)
_ASARRAY = ("asarray", "asanyarray", "ascontiguousarray", "asfortranarray", "require")
_SHAPE_ARGS = {  # creation function -> positions/names that fix the result's shape
    "zeros": (0, "shape"), "ones": (0, "shape"), "empty": (0, "shape"), "full": (0, "shape"),
    "linspace": (2, "num"), "logspace": (2, "num"), "geomspace": (2, "num"),
    "eye": (0, "N", 1, "M", 2, "k"), "identity": (0, "n"), "tri": (0, "N", 1, "M", 2, "k"),
    "fromfunction": (1, "shape"),
}


def _has_tracer(args: tuple, kwargs: dict) -> bool:
    leaves, _ = flatten((args, kwargs))
    return any(isinstance(x, Tracer) for x in leaves)


def _creation_op(name: str, original: Callable) -> CallOp:
    op = op_for_function(original)
    if op is None:
        op = register(CallOp(name, original, "creation"), original)
    else:
        op.category = "creation"
    return op


def _check_shape_args(name: str, args: tuple, kwargs: dict) -> None:
    if name == "arange":
        spots = list(args) + list(kwargs.values())
    else:
        spec = _SHAPE_ARGS.get(name, ())
        spots = [args[p] if p < len(args) else kwargs.get(n) for p, n in zip(spec[::2], spec[1::2])]
    leaves, _ = flatten(spots)
    if any(isinstance(x, Tracer) for x in leaves):
        raise DataDependentShapeError(
            f"np.{name}: a traced value decides the result's shape", source=user_frame(4))


def _handle_create(trace: TraceContext, name: str, original: Callable, args, kwargs):
    _check_shape_args(name, args, kwargs)
    return trace.call(_creation_op(name, original), args, kwargs)


def _handle_asarray(trace: TraceContext, name: str, original: Callable, args, kwargs):
    if not _has_tracer(args, kwargs):
        return original(*args, **kwargs)
    a = args[0] if args else kwargs.get("a")
    dtype = args[1] if len(args) > 1 else kwargs.get("dtype")
    if (name in ("asarray", "asanyarray") and isinstance(a, ArrayProxy) and a.ndim > 0
            and len(args) <= 2 and set(kwargs) <= {"a", "dtype"}):
        # (np.ascontiguousarray/np.asfortranarray change the layout: always a node)
        if dtype is None or np.dtype(dtype) == a.dtype:
            return a
        return a.astype(dtype)
    return trace.call(_creation_op(name, original), args, kwargs)


def _handle_array(trace: TraceContext, name: str, original: Callable, args, kwargs):
    if not _has_tracer(args, kwargs):
        return original(*args, **kwargs)
    return trace.call(_creation_op(name, original), args, kwargs)


def legacy_rng_token() -> tuple:
    """A comparable snapshot of NumPy's global (legacy) random state."""
    trace = current_trace()
    if trace is not None:
        trace.evaluating += 1     # NumPy's own code below must not be traced
    try:
        name, key, pos, has_gauss, gauss = ORIGINALS.get((np.random, "get_state"),
                                                         np.random.get_state)(legacy=True)
    finally:
        if trace is not None:
            trace.evaluating -= 1
    return (key.tobytes(), pos, has_gauss, gauss)


def _random_op(name: str, original: Callable) -> CallOp:
    key = f"random.{name}"
    op = op_for_function(original)
    if op is None:
        op = register(CallOp(key, original, "random", effectful=True), original)
    return op


def _handle_random(trace: TraceContext, name: str, original: Callable, args, kwargs):
    if trace.rng_expected is not None and legacy_rng_token() != trace.rng_expected:
        raise UntracedRandomError("NumPy's global random state was advanced by a draw tracenp "
                                  "did not see (a function imported with `from numpy.random "
                                  "import ...`?)", source=user_frame(3))
    if name == "shuffle":
        trace.mutate(args[0], _random_op(name, original), (TARGET,), {})
        result = None
    else:
        result = trace.call(_random_op(name, original), args, kwargs)
    trace.rng_expected = legacy_rng_token()
    return result


def _handle_default_rng(trace: TraceContext, name: str, original: Callable, args, kwargs):
    """A generator made inside the function is made again on every call (a graph node)."""
    return trace.call(_random_op(name, original), args, kwargs)


def _wrap(module: Any, name: str, handler: Callable) -> None:
    original = getattr(module, name, None)
    if original is None or (module, name) in ORIGINALS:
        return
    ORIGINALS[(module, name)] = original

    check_caller = handler is not _handle_random and handler is not _handle_default_rng

    def wrapper(*args, **kwargs):
        trace = current_trace()
        if trace is None or trace.evaluating or (check_caller and _called_from_c(wrapper)):
            return original(*args, **kwargs)
        return handler(trace, name, original, args, kwargs)

    try:
        functools.update_wrapper(wrapper, original)
    except (AttributeError, TypeError):
        pass
    wrapper.__tracenp_original__ = original
    _WRAPPERS[(module, name)] = wrapper


_WRAPPERS: dict[tuple[Any, str], Callable] = {}


def _called_from_c(wrapper: Callable) -> bool:
    """True if ``wrapper`` was reached through compiled code the user's code called.

    Compiled code (NumPy's random generators, Cython extensions) calls ``np.empty`` and
    friends as module attributes and trusts the result to be an ``ndarray``: handing it
    a proxy crashes the interpreter.  Such a call has no Python frame of its own, so the
    innermost Python frame is still executing the call *of something else*
    (``rng.normal(size=3)``).  When the callee of that call expression cannot be worked
    out (no source, a computed callee), the call is taken to be the user's own.
    """
    frame = sys._getframe(2)
    path = _callee_path(frame.f_code, frame.f_lasti)
    if not path:
        return False
    code = frame.f_code
    head = path[0]
    try:
        if head in code.co_varnames or head in code.co_cellvars or head in code.co_freevars:
            obj = frame.f_locals[head]
        elif head in frame.f_globals:
            obj = frame.f_globals[head]
        else:
            obj = frame.f_builtins[head]
        for attr in path[1:]:
            if not isinstance(obj, (type, types.ModuleType)) and not hasattr(type(obj), attr) \
                    and attr not in getattr(obj, "__dict__", {}):
                return False
            obj = getattr(obj, attr)
    except Exception:   # noqa: BLE001 - unknown callee: treat the call as the user's
        return False
    return obj is not wrapper and getattr(obj, "__func__", None) is not wrapper


@functools.lru_cache(maxsize=4096)
def _callee_path(code: types.CodeType, lasti: int) -> tuple[str, ...] | None:
    """The dotted name (``("rng", "normal")``) a call instruction calls, or None."""
    try:
        pos = next(itertools.islice(code.co_positions(), lasti // 2, None))
        line, end_line, col, end_col = pos
        if None in pos:
            return None
        lines = [linecache.getline(code.co_filename, n).encode() for n in range(line, end_line + 1)]
        if not all(lines):
            return None
        lines[-1] = lines[-1][:end_col]
        lines[0] = lines[0][col:]
        node = ast.parse("(" + b"".join(lines).decode() + ")", mode="eval").body
    except (SyntaxError, ValueError, StopIteration, UnicodeDecodeError):
        return None
    if not isinstance(node, ast.Call):
        return None
    func, path = node.func, []
    while isinstance(func, ast.Attribute):
        path.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return None
    path.append(func.id)
    return tuple(reversed(path))


def _build() -> None:
    for name in catalog.CREATION:
        if name == "array":
            _wrap(np, name, _handle_array)
        else:
            _wrap(np, name, _handle_create)
    for name in _ASARRAY:
        _wrap(np, name, _handle_asarray)
    for name in catalog.RANDOM + ["seed", "shuffle"]:
        _wrap(np.random, name, _handle_random)
    _wrap(np.random, "default_rng", _handle_default_rng)
    # Register the ops now, not on first use, so the registry (and docs/supported.md)
    # does not depend on which functions happened to be traced first.
    for name in catalog.CREATION + list(_ASARRAY):
        if (np, name) in ORIGINALS:
            _creation_op(name, ORIGINALS[(np, name)])
    for name in catalog.RANDOM + ["seed", "shuffle", "default_rng"]:
        if (np.random, name) in ORIGINALS:
            _random_op(name, ORIGINALS[(np.random, name)])


class _NdarrayMeta(type):
    """``np.ndarray`` while tracing: the real class for every check and attribute, but a
    call ``np.ndarray(shape, dtype)`` (NumPy's uninitialized array, like ``np.empty``) from
    the traced function creates a traced array.  Calls with a buffer, offset or strides,
    and calls from compiled code or another thread, get the real ndarray."""

    def __instancecheck__(cls, obj: Any) -> bool:
        if isinstance(obj, ArrayProxy):        # a traced array is an ndarray to the user
            return obj._var.aval.kind == "array"
        return isinstance(obj, _REAL_NDARRAY)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, _REAL_NDARRAY)

    def __getattr__(cls, name: str) -> Any:
        return getattr(_REAL_NDARRAY, name)

    def __getitem__(cls, item: Any) -> Any:
        return _REAL_NDARRAY[item]

    def __repr__(cls) -> str:
        return repr(_REAL_NDARRAY)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is not _NdarrayWhileTracing:          # a subclass made meanwhile: as usual
            return type.__call__(cls, *args, **kwargs)
        trace = current_trace()
        simple = len(args) <= 3 and set(kwargs) <= {"shape", "dtype", "order"} and \
            len(args) + len(kwargs) >= 1
        if trace is None or trace.evaluating or not simple or _called_from_c(cls):
            return _REAL_NDARRAY(*args, **kwargs)
        names = ("shape", "dtype", "order")
        bound = dict(zip(names, args))
        bound.update(kwargs)
        empty = ORIGINALS[(np, "empty")]
        order = bound.get("order") or "C"
        return _handle_create(trace, "empty", empty, (bound["shape"],),
                              {"dtype": bound.get("dtype", float), "order": order})


_REAL_NDARRAY = NDARRAY


class _NdarrayWhileTracing(_REAL_NDARRAY, metaclass=_NdarrayMeta):
    """``np.ndarray`` while tracing (a subclass, so ``np.ndarray.__new__`` and subclassing
    keep working in other threads)."""


def _install_ndarray() -> None:
    ORIGINALS[(np, "ndarray")] = _REAL_NDARRAY
    _WRAPPERS[(np, "ndarray")] = _NdarrayWhileTracing


_build()
_install_ndarray()


@contextlib.contextmanager
def patched_numpy() -> Iterator[None]:
    """Install the wrappers for the duration of a trace (reference counted, thread-safe)."""
    global _active
    with _lock:
        if _active == 0:
            for (module, name), wrapper in _WRAPPERS.items():
                setattr(module, name, wrapper)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                for (module, name), original in ORIGINALS.items():
                    setattr(module, name, original)
