"""Errors and warnings of tracenp.  Each class has an entry in ``docs/errors.md``."""
from __future__ import annotations

__all__ = [
    "TracenpError", "TraceError", "ConcretizationError", "DataDependentShapeError",
    "UnsupportedFunctionError", "UnsupportedMutationError", "UntracedRandomError",
    "StaticArgumentError", "ReplayError", "DifferentiationError", "MissingDependencyError",
    "FallbackWarning", "RecompileWarning",
]

DOCS = "docs/errors.md"


class TracenpError(Exception):
    """Base class of every tracenp error."""

    def __init__(self, message: str, *, source=None, hint: str | None = None):
        self.reason = message
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


class DifferentiationError(TraceError):
    """A gradient cannot be built: an op has no gradient rule, an input is not a float or
    complex array, or the function does not trace (a gradient never falls back to NumPy)."""

    default_hint = ("see docs/autodiff.md for what tracenp differentiates; differentiate "
                    "with respect to float or complex arguments only")


class MissingDependencyError(TracenpError):
    """An optional package or program that a feature needs is not installed (Graphviz for
    pictures of graphs)."""

    default_hint = "install what the message names"


class FallbackWarning(UserWarning):
    """A compiled function fell back to eager NumPy for a call signature."""


class RecompileWarning(UserWarning):
    """A compiled function keeps being retraced because its call signature changes."""
