"""Executors: interpreters of the graph.  ``Interpreter`` is the NumPy reference."""
from .interpreter import Interpreter

__all__ = ["Interpreter"]
