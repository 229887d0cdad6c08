"""tracenp: compile plain NumPy code into typed graphs, then replay them.

    @tracenp.compile
    def logistic(x):
        return 1 / (1 + np.exp(-x))
"""
from .compiler import CompiledFunction, compile, make_graph, trace
from .autodiff import grad, hessian, jacobian, value_and_grad, vjp
from .config import config
from .errors import (ConcretizationError, DataDependentShapeError, DeviceError,
                     DifferentiationError, FallbackWarning, GradientMismatch,
                     MissingDependencyError, RecompileWarning, ReplayError,
                     StaticArgumentError, TraceError, TracenpError, UnsupportedFunctionError,
                     UnsupportedMutationError, UntracedRandomError, VerificationError)
from .explain import Explanation, explain
from .graph import Graph

__version__ = "0.1.0"

__all__ = [
    "compile", "make_graph", "trace", "config", "explain", "Explanation", "CompiledFunction",
    "Graph", "grad", "value_and_grad", "vjp", "jacobian", "hessian", "__version__",
    "TracenpError", "TraceError", "ConcretizationError", "DataDependentShapeError",
    "UnsupportedFunctionError", "UnsupportedMutationError", "UntracedRandomError",
    "DifferentiationError", "StaticArgumentError", "ReplayError", "VerificationError",
    "MissingDependencyError", "DeviceError", "GradientMismatch", "FallbackWarning",
    "RecompileWarning",
]
