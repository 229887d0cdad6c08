"""The generic rule of calls that only move elements (``SELECTIONS``, and any rule
answering ``SELECT``): the NumPy function itself is run on integer labels in place of its
traced arguments, which tells where each result element came from; the cotangent is
gathered (or scatter-added) back with constant indices.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import DifferentiationError
from ...graph.ir import Node
from ...graph.pytree import LEAF, flatten, unflatten
from ..backward import Cotangent, Sweep


# Functions whose result only copies elements of their array arguments (or constants)
# into new positions, independently of the values: each has the selection rule.
SELECTIONS = set("""fliplr flipud rot90 diagflat lib.stride_tricks.sliding_window_view tile
    array_split split hsplit vsplit dsplit unstack column_stack hstack vstack dstack block
    append insert delete resize rollaxis meshgrid fft.fftshift fft.ifftshift ix_""".split())

_LABEL = 1 << 40


def _selection(sweep: Sweep, node: Node, outs: list, args: tuple, kwargs: dict) -> list:
    """The transpose of a selection: the op is run (plain NumPy, outside the graph) on
    integer labels in place of its traced arguments; each result element then names the
    argument element it copies (or none: a constant), and the cotangent is gathered back
    with constant indices.  Run twice, with two label offsets, to tell labels from
    constants the function wrote."""
    from ...tracer import Tracer, _evaluating
    leaves, treedef = flatten((args, kwargs))
    spots = [i for i, x in enumerate(leaves) if isinstance(x, Tracer)]
    for i in spots:
        if np.ndim(leaves[i]) == 0 and np.result_type(leaves[i]).kind not in "fc":
            # (an integer array is data, moved like the rest; a traced integer scalar may
            # be a parameter deciding the selection, which labels cannot follow)
            raise DifferentiationError(f"the gradient of {node.op.name} with a traced integer "
                                       f"scalar argument is not supported",
                                       hint="pass it as a Python int")
    shapes = [tuple(np.shape(leaves[i])) for i in spots]
    sizes = [int(np.prod(sh, dtype=np.int64)) for sh in shapes]
    starts = [int(v) for v in np.cumsum([0] + sizes)]
    fn = node.op.fn

    def run(offset: int) -> list:
        ls = list(leaves)
        for i, sh, s0, n in zip(spots, shapes, starts, sizes):
            ls[i] = (np.arange(n, dtype=np.int64) + (offset + s0)).reshape(sh)
        a, k = unflatten(treedef, ls)
        k = {key: v for key, v in k.items() if key not in ("dtype", "casting", "out")}
        res = fn(*a, **k)
        rl, _ = flatten(res)
        if len(rl) > 1 or node.params.out_tree != LEAF:
            rl = [rl[i] for i in node.params.out_arrays]
        return [np.asarray(r) for r in rl]

    plans = []          # per output: [(input k, positions, gather order or scatter idx)]
    with _evaluating(sweep.ctx):        # constants: plain NumPy
        r1, r2 = run(_LABEL), run(2 * _LABEL)
        for l1, l2 in zip(r1, r2):
            src = np.where(l2 - l1 == _LABEL, l1 - _LABEL, -1).ravel()
            plan = []
            for k, (s0, n) in enumerate(zip(starts, sizes)):
                pos = np.flatnonzero((src >= s0) & (src < s0 + n))
                if pos.size == 0:
                    continue
                idx = src[pos] - s0
                if idx.size == n and np.array_equal(np.sort(idx), np.arange(n)):
                    take = pos[np.argsort(idx, kind="stable")]
                    plan.append((k, "gather", None if np.array_equal(take, np.arange(src.size))
                                 else take))
                else:
                    plan.append((k, "scatter", (pos, idx)))
            plans.append((l1.shape, plan))
    cts: dict[int, Any] = {}
    for ct, (oshape, plan) in zip(outs, plans):
        if ct is None:
            continue
        g = ct.value
        gflat = np.ravel(g) if tuple(np.shape(g)) == oshape else \
            np.ravel(np.broadcast_to(g, oshape))
        for k, how, data in plan:
            if how == "gather":
                c = gflat if data is None else gflat[data]
            else:
                pos, idx = data
                c = np.zeros(sizes[k], dtype=np.result_type(g))
                np.add.at(c, idx, gflat[pos])
            c = np.reshape(c, shapes[k])
            cts[k] = c if k not in cts else np.add(cts[k], c)
    out = []
    for k, c in cts.items():
        v = _var_of(leaves[spots[k]])
        if v is not None:
            out.append((v, Cotangent(c)))
    return out


def _var_of(x: Any) -> Any:
    from ...tracer import Tracer
    return x.graph_var if isinstance(x, Tracer) else None
