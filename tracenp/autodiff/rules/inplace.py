"""Rules of in-place writes (a :class:`~tracenp.graph.ops.MutateOp` wraps each): an
overwrite (``x[i] = v``, ``np.put``, ``np.copyto``, ...), ``np.add.at``/``np.subtract.at``,
the in-place sorts, a call with ``out=`` (differentiated as the same call without it), and
the ``.at`` of piecewise-constant ufuncs.  ``MUTATE`` maps the inner op's name to its rule;
``_mutate_rule`` in :mod:`tracenp.autodiff.rules` dispatches.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...graph.ir import Literal, Node
from ...graph.ops import TARGET
from ...graph.pytree import flatten, unflatten
from ..backward import Cotangent, Sweep, backward, pairs
from ._common import _has_int_index, _where_given


def _copy_with_region(sweep: Sweep, node: Node, g: Any, value: Any, index: Any = None) -> Any:
    """A copy of ``g`` whose written region (``index`` within the chain) holds ``value``."""
    out = np.copy(g)
    region = out
    for step in node.params.chain:
        region = step.apply(region)
    if index is None:
        region[...] = value
    else:
        region[index] = value
    return out


def _region(node: Node, x: Any) -> Any:
    for step in node.params.chain:
        x = step.apply(x)
    return x


def _replace_target(tree: Any, value: Any) -> Any:
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [value if x is TARGET else x for x in leaves])


# inner op name -> (position, keyword) of the value it writes
_WRITES = {"setitem": (2, None), "copyto": (1, "src"), "put": (2, "v"), "ndarray.put": (2, None),
           "putmask": (2, "values"), "place": (2, "vals"), "fill_diagonal": (1, "val"),
           "put_along_axis": (2, "values"), "ndarray.fill": (1, None)}


def _write_rule(sweep: Sweep, node: Node, g: Any, args: tuple, kwargs: dict) -> list:
    """An overwrite (``x[i] = v``, ``np.put``, ``np.copyto``, ...): positions written keep
    none of the old cotangent; each value element gets the cotangent of the positions it
    landed in.  Both maps come from the write itself, replayed in the graph on a mask and
    on float labels, so traced indices, broadcasting, cycling values and repeated indices
    (the last write wins) follow NumPy exactly."""
    from ...tracer import Tracer
    inner = node.op.inner
    pos, kw = _WRITES[inner.name]
    region_g = _region(node, g)
    shape = tuple(np.shape(region_g))
    args, kwargs = list(args), dict(kwargs)
    if kw is not None and kw in kwargs:
        value = kwargs[kw]
    else:
        value = args[pos]
    base_var = node.inputs[0]
    # Common writes first: each position written once, straight from the value.
    if inner.name == "setitem" and not _has_int_index(args[1]):
        return [(base_var, _copy_with_region(sweep, node, g, 0, args[1]))] + \
            pairs(value, region_g[args[1]])
    where = kwargs.get("where", args[3] if len(args) > 3 else True)
    if inner.name == "ndarray.fill" or (inner.name == "copyto" and not _where_given(where)):
        return [(base_var, _copy_with_region(sweep, node, g, 0))] + \
            pairs(value, region_g if inner.name == "copyto" else np.sum(region_g))

    def write(target: Any, v: Any) -> Any:
        a, k = list(args), dict(kwargs)
        if kw is not None and kw in k:
            k[kw] = v
        else:
            a[pos] = v
        a, k = _replace_target((a, k), target)
        inner.fn(*a, **k)
        return target

    vleaves, vtree = flatten(value)
    zeros = unflatten(vtree, [np.zeros(np.shape(x)) if isinstance(x, Tracer) else 0.0 * np.ones(np.shape(x))
                              for x in vleaves])
    keep = write(np.ones(shape), zeros)
    out = [(base_var, _copy_with_region(sweep, node, g, region_g * keep))]
    diff = [i for i, x in enumerate(vleaves) if isinstance(x, Tracer) and
            np.result_type(x).kind in "fc"]
    if not diff:
        return out
    labels, starts, off = [], {}, 1
    for i, x in enumerate(vleaves):
        n = int(np.size(x)) if isinstance(x, Tracer) else 0
        if i in diff:
            starts[i] = off
            labels.append(np.arange(off, off + n, dtype=np.float64).reshape(np.shape(x)))
            off += n
        else:
            labels.append(np.zeros(np.shape(x)))
    lab = write(np.zeros(shape), unflatten(vtree, labels))
    idx = np.ravel(lab).astype(np.intp)
    acc = np.zeros(off, dtype=np.result_type(region_g))
    np.add.at(acc, idx, np.ravel(region_g))
    for i in diff:
        x = vleaves[i]
        n = int(np.size(x))
        out.append((x.graph_var, np.reshape(acc[starts[i]:starts[i] + n], np.shape(x))))
    return out


def _at_rule(sweep: Sweep, node: Node, g: Any, args: tuple, kwargs: dict) -> list:
    """``np.add.at(x, i, b)`` / ``np.subtract.at``: x's cotangent passes through, each b
    element gets the cotangent of the position it was added to (repeats included)."""
    inner = node.op.inner
    indices = args[1]
    b = args[2] if len(args) > 2 else None
    out = [(node.inputs[0], g)]
    if b is not None:
        sub = _region(node, g)[indices]
        out += pairs(b, sub if inner.ufunc is np.add else -sub)
    return out


def _sort_inplace_rule(sweep: Sweep, node: Node, g: Any, args: tuple, kwargs: dict) -> list:
    old = _region(node, sweep.proxy(node.inputs[0]))
    new = _region(node, sweep.proxy(node.outputs[0]))
    region_g = _region(node, g)
    axis = kwargs.get("axis", args[1] if len(args) > 1 and node.op.inner.name == "ndarray.sort"
                      else args[2] if len(args) > 2 else -1)
    if axis is None:
        axis = -1
    ct = _match_sorted(old, new, region_g, axis)
    return [(node.inputs[0], _copy_with_region(sweep, node, g, ct))]


def _match_sorted(a: Any, r: Any, g: Any, axis: int) -> Any:
    """The cotangent of ``a`` for a result ``r`` holding a's elements reordered along
    ``axis`` (sort, partition): elements matched through stable sorts of both."""
    ax = axis % np.ndim(a)
    perm_a = np.argsort(a, axis=ax, kind="stable")
    perm_r = np.argsort(r, axis=ax, kind="stable")
    g_sorted = np.take_along_axis(g, perm_r, axis=ax)
    return np.take_along_axis(g_sorted, np.argsort(perm_a, axis=ax, kind="stable"), axis=ax)


def _ufunc_out_rule(sweep: Sweep, node: Node, g: Any, args: tuple, kwargs: dict) -> list:
    """A call with ``out=`` (``np.add(a, b, out=c)``, ``np.sum(x, out=o)``, ``x += y``):
    the written value is computed again functionally (new nodes) and swept."""
    inner = node.op.inner
    kw = dict(kwargs)
    kw.pop("out", None)
    ufunc = getattr(inner, "ufunc", None)
    method = getattr(inner, "method", None)
    where = True
    if ufunc is not None:
        kw.pop("casting", None)
        if method == "__call__":
            where = kw.pop("where", True)
        fn = getattr(ufunc, method)
    else:
        fn = inner.fn
    region_g = _region(node, g)
    start = len(sweep.ctx.nodes)
    res = fn(*args, **kw)
    k = int(inner.name.rpartition("[out=")[2].rstrip("]")) if "[out=" in inner.name else 0
    value = res[k] if isinstance(res, (tuple, list)) else res
    new_nodes = sweep.ctx.nodes[start:]
    ct_v = region_g if not _where_given(where) else np.where(where, region_g, 0)
    keep = 0 if not _where_given(where) else np.where(where, 0, region_g)
    out: list = [(node.inputs[0], _copy_with_region(sweep, node, g, keep))]
    vvar = getattr(value, "graph_var", None)
    if vvar is not None and new_nodes:
        wrt = [v for v in node.inputs[1:] if not isinstance(v, Literal)]
        cts = backward(sweep.ctx, new_nodes, {vvar.id: Cotangent(ct_v)}, wrt, sweep)
        out += [(v, c) for v, c in zip(wrt, cts) if c is not None]
    return out


def _zero_at_rule(sweep: Sweep, node: Node, g: Any, args: tuple, kwargs: dict) -> list:
    """``np.floor.at(x, i)`` and other piecewise-constant ufuncs: the positions written get
    no cotangent, the others keep theirs."""
    region_g = _region(node, g)
    mask = np.ones(np.shape(region_g))
    mask[args[1]] = 0.0
    return [(node.inputs[0], _copy_with_region(sweep, node, g, region_g * mask))]


MUTATE: dict[str, Callable] = {name: _write_rule for name in _WRITES}
MUTATE.update({"add.at": _at_rule, "subtract.at": _at_rule, "ndarray.sort": _sort_inplace_rule,
               "ndarray.partition": _sort_inplace_rule})
