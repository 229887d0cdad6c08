"""Reverse-mode differentiation of plain NumPy code: gradients are graphs.

``tracenp.grad(f)`` traces ``f``, then records the vector-Jacobian rules of
:mod:`tracenp.autodiff.rules` backwards through the same trace; the result is simplified,
fused and compiled like any other graph.  See ``docs/autodiff.md``.
"""
from .api import grad, hessian, jacobian, value_and_grad, vjp

__all__ = ["grad", "value_and_grad", "vjp", "jacobian", "hessian"]
