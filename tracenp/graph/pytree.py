"""Flatten and rebuild nested Python containers (tuples, lists, dicts, namedtuples).

A *treedef* is a hashable description of a container's structure; *leaves* are the
non-container values in depth-first order.  Walks are iterative.
"""
from __future__ import annotations

from typing import Any

__all__ = ["flatten", "unflatten", "LEAF"]

LEAF = "*"


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def flatten(tree: Any) -> tuple[list, Any]:
    """Return ``(leaves, treedef)`` for ``tree``."""
    leaves: list = []
    out_stack: list[list] = [[]]      # children collected per open container
    stack: list = [("node", tree)]
    while stack:
        tag, item = stack.pop()
        if tag == "close":
            kind, meta, n = item
            children = out_stack.pop()
            out_stack[-1].append((kind, meta, tuple(children)))
            continue
        t = type(item)
        if t is tuple or t is list or _is_namedtuple(item):
            kind = "tuple" if t is tuple else ("list" if t is list else "namedtuple")
            meta = t if kind == "namedtuple" else None
            stack.append(("close", (kind, meta, len(item))))
            out_stack.append([])
            for child in reversed(item):
                stack.append(("node", child))
        elif t is dict:
            keys = tuple(item.keys())
            stack.append(("close", ("dict", keys, len(keys))))
            out_stack.append([])
            for k in reversed(keys):
                stack.append(("node", item[k]))
        else:
            leaves.append(item)
            out_stack[-1].append(LEAF)
    return leaves, out_stack[0][0]


def unflatten(treedef: Any, leaves: list) -> Any:
    """Inverse of :func:`flatten`."""
    it = iter(leaves)
    # Iterative rebuild: post-order over the treedef.
    stack: list = [(treedef, False)]
    values: list = []
    while stack:
        node, expanded = stack.pop()
        if node == LEAF:
            values.append(next(it))
            continue
        kind, meta, children = node
        if not expanded:
            stack.append((node, True))
            for child in reversed(children):
                stack.append((child, False))
            continue
        n = len(children)
        items = values[len(values) - n:] if n else []
        if n:
            del values[len(values) - n:]
        if kind == "tuple":
            values.append(tuple(items))
        elif kind == "list":
            values.append(list(items))
        elif kind == "namedtuple":
            values.append(meta(*items))
        else:
            values.append(dict(zip(meta, items)))
    return values[0]
