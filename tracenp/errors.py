"""Errors and warnings of tracenp.  Each class has an entry in ``docs/errors.md``."""
from __future__ import annotations

__all__ = [
    "TracenpError", "TraceError", "ConcretizationError", "DataDependentShapeError",
    "UnsupportedFunctionError", "UnsupportedMutationError", "UntracedRandomError",
    "StaticArgumentError", "ReplayError", "VerificationError", "DifferentiationError", "GradientMismatch",
    "MissingDependencyError", "DeviceError",
    "FallbackWarning", "RecompileWarning",
]

DOCS = "docs/errors.md"


class TracenpError(Exception):
    """Base class of every tracenp error."""

    def __init__(self, message: str, *, source=None, hint: str | None = None):
        self.reason = message
        if source is None:       # name the user's line: the innermost frame not ours
            from .graph.source import user_frame
            source = user_frame(2)
        self.source = source
        self.hint = hint if hint is not None else self.default_hint
        super().__init__(message)

    default_hint = ""

    @property
    def anchor(self) -> str:
        return type(self).__name__.lower()

    def __str__(self) -> str:
        lines = [self.reason]
        if self.source is not None:
            lines.append(f"  at {self.source}")
        if self.hint:
            lines.append(f"  What to do: {self.hint}")
        lines.append(f"  See {DOCS}#{self.anchor}")
        return "\n".join(lines)


class TraceError(TracenpError):
    """The function cannot be recorded as a graph (compile falls back to NumPy)."""

    default_hint = ("see the section of this error in docs/errors.md for its causes and "
                    "fixes; without strict=True the call runs with NumPy")


class ConcretizationError(TraceError, TypeError):
    """A traced array was asked for a concrete Python value (bool, int, float, ndarray)."""

    default_hint = ("pass the value as a static argument (static_argnums/static_argnames), "
                    "or express the branch with np.where")


class DataDependentShapeError(TraceError):
    """An operation's result shape depends on array values (x[x > 0], np.nonzero, ...)."""

    default_hint = ("keep the shape fixed: use np.where(mask, x, 0) or a masked reduction "
                    "(np.sum(x, where=mask)) instead of selecting elements")


class UnsupportedFunctionError(TraceError):
    """A function that tracenp does not trace was called on a traced array."""

    default_hint = ("see docs/supported.md for the functions tracenp traces; "
                    "the call runs eagerly through NumPy meanwhile")


class UnsupportedMutationError(TraceError):
    """An in-place write tracenp cannot express (into an untraced array, or a view it cannot follow)."""

    default_hint = ("write into arrays created inside the function with np.zeros/np.empty, "
                    "or into the function's array arguments")


class UntracedRandomError(TraceError):
    """Random numbers were drawn from a source tracenp cannot replay at call time."""

    default_hint = ("draw through np.random.* functions, or pass the np.random.Generator "
                    "as an argument to the compiled function")


class StaticArgumentError(TracenpError, ValueError):
    """A static argument is invalid (unhashable, or out of range)."""

    default_hint = "static arguments must be hashable (use a tuple instead of a list or array)"


class ReplayError(TracenpError):
    """Replaying a compiled plan produced a value whose type differs from the traced one."""

    default_hint = "please report this with the function; the call fell back to NumPy"


class VerificationError(TracenpError):
    """``compile(f, check=True)``: the compiled plan's result differs from the graph as
    traced, run op by op; the message names the rewrite rule or the fused kernel."""

    default_hint = "please report it with the function and its arguments"


class DifferentiationError(TraceError):
    """A gradient cannot be built: an op has no gradient rule, an input is not a float or
    complex array, or the function does not trace (a gradient never falls back to NumPy)."""

    default_hint = ("see docs/autodiff.md for what tracenp differentiates; differentiate "
                    "with respect to float or complex arguments only")


class MissingDependencyError(TracenpError):
    """An optional package or program that a feature needs is not installed (Graphviz for
    pictures of graphs)."""

    default_hint = "install what the message names"


class DeviceError(TracenpError):
    """``backend="cupy"`` was asked for where there is no usable CUDA device (CuPy not
    installed, no GPU, or no driver for it)."""

    default_hint = ("run on a machine with an NVIDIA GPU and CuPy installed "
                    "(pip install 'tracenp[gpu]'), or leave out backend='cupy' to run on "
                    "the CPU")


class GradientMismatch(TracenpError, AssertionError):
    """A derivative disagrees with central finite differences
    (:func:`tracenp.testing.check_grads`)."""

    default_hint = "a gradient rule is wrong, or the function is not smooth at this point"


class FallbackWarning(UserWarning):
    """A compiled function fell back to eager NumPy for a call signature."""


class RecompileWarning(UserWarning):
    """A compiled function keeps being retraced because its call signature changes."""
