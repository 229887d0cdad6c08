"""Reverse-mode differentiation of graphs (see the Autodiff issue; not implemented yet)."""
