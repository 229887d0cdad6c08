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


_MAX_FAST_DEPTH = 64


class _TooDeep(Exception):
    pass


def _flat(x: Any, leaves: list, depth: int) -> Any:
    t = type(x)
    if t is tuple or t is list:
        if depth > _MAX_FAST_DEPTH:
            raise _TooDeep
        return ("tuple" if t is tuple else "list", None, tuple([_flat(c, leaves, depth + 1) for c in x]))
    if t is dict:
        if depth > _MAX_FAST_DEPTH:
            raise _TooDeep
        return ("dict", tuple(x), tuple([_flat(c, leaves, depth + 1) for c in x.values()]))
    if isinstance(x, tuple) and hasattr(t, "_fields"):
        return ("namedtuple", t, tuple([_flat(c, leaves, depth + 1) for c in x]))
    leaves.append(x)
    return LEAF


def _unflat(node: Any, it: Any, depth: int) -> Any:
    if node == LEAF:
        return next(it)
    if depth > _MAX_FAST_DEPTH:
        raise _TooDeep
    kind, meta, children = node
    items = [_unflat(c, it, depth + 1) for c in children]
    if kind == "tuple":
        return tuple(items)
    if kind == "list":
        return items
    if kind == "dict":
        return dict(zip(meta, items))
    return meta(*items)


def flatten(tree: Any) -> tuple[list, Any]:
    """Return ``(leaves, treedef)`` for ``tree``."""
    leaves: list = []
    try:
        return leaves, _flat(tree, leaves, 0)
    except _TooDeep:
        return _flatten_deep(tree)


def _flatten_deep(tree: Any) -> tuple[list, Any]:
    """Iterative version of :func:`flatten`, for arbitrarily deep nesting."""
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
    try:
        return _unflat(treedef, iter(leaves), 0)
    except _TooDeep:
        return _unflatten_deep(treedef, leaves)


def _unflatten_deep(treedef: Any, leaves: list) -> Any:
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
