"""The typed graph IR: values, nodes, ops and their registry."""
from .ir import Graph, GraphInput, Literal, Node, Var
from .types import AbstractValue

__all__ = ["Graph", "GraphInput", "Literal", "Node", "Var", "AbstractValue"]
