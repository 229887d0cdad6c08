"""CPU kernels for fused regions.

``blocked``: the region is evaluated block by block; each block runs NumPy's own ufunc
loops (``out=``) into per-thread scratch buffers sized to stay in cache, and blocks are
spread over a shared thread pool (NumPy releases the GIL in its loops).  Results are bit
for bit those of NumPy, with no full-size temporaries.  ``numpy``: small regions run op by
op, the cheapest path.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from tracenp._ndarray import NDARRAY

from ..config import config
from ..graph.ir import Var
from ..optimize.pattern import Const, operands
from ..optimize.fusion import Region, operands_of_call

__all__ = ["run_region", "choose_kernel", "fallback_kernel", "compile_region"]

class _BlockedOps:
    """The fused layer's table: an op runs inside a fused region if it is a single-output
    ufunc (any library's) or ``where`` (see tracenp.optimize.fusion.is_elementwise)."""

    def __contains__(self, name: object) -> bool:
        from ..graph.ops import REGISTRY
        op = REGISTRY.get(name)
        if name == "where":
            return True
        ufunc = getattr(op, "ufunc", None)
        return (ufunc is not None and getattr(op, "method", None) == "__call__"
                and ufunc.nout == 1 and ufunc.signature is None)


BLOCKED_OPS = _BlockedOps()

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_local = threading.local()


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers != config.threads:
            _pool = ThreadPoolExecutor(max_workers=max(1, config.threads),
                                       thread_name_prefix="tracenp")
        return _pool


class _Program:
    """A region compiled to a list of ufunc steps over references.

    A reference is ("in", k) region input, ("tmp", k) scratch, ("out", k) region output,
    or ("const", value).
    """

    def __init__(self, region: Region):
        self.region = region
        where: dict[int, tuple] = {v.id: ("in", k) for k, v in enumerate(region.inputs)}
        body_outputs = region.outputs if region.reduce is None else []
        out_index = {v.id: k for k, v in enumerate(body_outputs)}
        self.tmp_dtypes: list[np.dtype] = []
        steps = []
        self.extra: list = []     # array constants: passed (and blocked) like inputs
        n_inputs = len(region.inputs)

        def ref_of(x: Any) -> tuple:
            if isinstance(x, Var) and not _is_const_literal(x):
                return where[x.id]
            value = _literal_value(x)
            if isinstance(value, NDARRAY) and value.ndim:
                if x.id in where:
                    return where[x.id]
                where[x.id] = ("in", n_inputs + len(self.extra))
                self.extra.append(value)
                return where[x.id]
            return ("const", value)

        for node in region.nodes:
            o = node.outputs[0]
            if o.id in out_index:
                dest = ("out", out_index[o.id])
            else:
                dest = ("tmp", len(self.tmp_dtypes))
                self.tmp_dtypes.append(o.aval.dtype)
            where[o.id] = dest
            ops = operands(node) if node.op.name != "where" else operands_of_call(node, 3)
            refs = tuple(ref_of(x) for x in ops)
            kind = "where" if node.op.name == "where" else "ufunc"
            fn = node.op.ufunc if kind == "ufunc" else None
            steps.append((kind, fn, refs, dest))
        self.steps = steps
        self.reduce = None
        if region.reduce is not None:
            self.reduce = (region.reduce.op.name, region.reduce.op.fn, where[region.reduce.inputs[0].id])
        # A flat layout for the plain (small-size) path: env = inputs + tmps + outs + consts.
        n_in, n_tmp, n_out = n_inputs + len(self.extra), len(self.tmp_dtypes), len(body_outputs)
        base = {"in": 0, "tmp": n_in, "out": n_in + n_tmp}
        consts: list = []

        def index(ref: tuple) -> int:
            if ref[0] == "const":
                consts.append(ref[1])
                return n_in + n_tmp + n_out + len(consts) - 1
            return base[ref[0]] + ref[1]
        self.flat_steps = [(fn if kind == "ufunc" else np.where, [index(r) for r in refs], index(dest))
                           for kind, fn, refs, dest in steps]
        self.flat_template = [None] * (n_tmp + n_out) + consts
        self.out_slice = slice(n_in + n_tmp, n_in + n_tmp + n_out)
        from ..optimize.fusion import work_of
        self.work = work_of(region.nodes)
        self.itemsize = max([v.aval.dtype.itemsize for v in region.inputs if isinstance(v, Var)]
                            + [n.outputs[0].aval.dtype.itemsize for n in region.nodes] + [1])


def _is_const_literal(v: Var) -> bool:
    from ..graph.ir import Literal
    return isinstance(v, Literal)


def _literal_value(x: Any) -> Any:
    if isinstance(x, Const):
        return x.value
    return x.value


def compile_region(region: Region) -> _Program:
    prog = getattr(region, "_program", None)
    if prog is None:
        prog = _Program(region)
        prog.kernel = choose_kernel(region)
        prog.kernel_for = config.kernel
        region._program = prog   # published complete: other threads may be running it
    return prog


def choose_kernel(region: Region) -> str:
    """Which kernel kind runs this region: the cost model.

    Small regions run op by op through NumPy (no per-call setup).  Larger ones run blocked
    through NumPy's loops, or through numexpr or numba when ``config.kernel`` asks for it
    and the region qualifies (its result then equals NumPy's bit for bit, see
    numexpr_kernel and numba_kernel).  "auto" prefers numba where it is installed and the
    region qualifies; until its kernel is compiled the region runs ``fallback_kernel``.
    """
    size = 1
    for d in region.shape:
        size *= d
    if size < config.min_fuse_elements and config.kernel == "auto":
        return "numpy"
    if config.kernel in ("numba", "auto"):
        from .numba_kernel import available, numba_program
        if available():
            prog = numba_program(region)
            if prog is not None and not prog.failed:
                return "numba"
    return fallback_kernel(region)


def fallback_kernel(region: Region) -> str:
    """The kernel kind without numba: what runs a numba region until its kernel is ready,
    and the calls it declines."""
    if config.kernel == "auto":
        from ..optimize.fusion import worth_fusing
        if not worth_fusing(region.nodes, region.shape):
            return "numpy"          # fused for numba only (cheap): op by op meanwhile
    if config.kernel in ("numexpr", "auto"):
        from .numexpr_kernel import numexpr_program
        if numexpr_program(region) is not None and (
                config.kernel == "numexpr" or _prefers_numexpr(region)):
            return "numexpr"
    return "numpy" if config.kernel == "numpy" else "blocked"


def _prefers_numexpr(region: Region) -> bool:
    """numexpr's VM never leaves L1 and costs no Python call per op and block: it wins on
    long arithmetic chains (measured: benchmarks/README.md)."""
    return len(region.nodes) >= config.numexpr_min_ops


def run_region(region: Region, inputs: list) -> tuple:
    prog = compile_region(region)
    if prog.extra:
        inputs = list(inputs) + prog.extra
    kernel = prog.kernel if config.kernel == prog.kernel_for else choose_kernel(region)
    if kernel == "numba":
        from .numba_kernel import pay_rent, run_numba
        out = run_numba(region, inputs, prog)
        if out is not None:
            return out
        t0 = time.perf_counter()
        out = _run_kind(fallback_kernel(region), region, prog, inputs)
        pay_rent(region, time.perf_counter() - t0)
        return out
    if kernel == "blocked" and config.kernel in ("auto", "numba"):
        from .numba_kernel import pay_segment_rent   # numba loops for runs of exact ops
        t0 = time.perf_counter()
        out = _run_blocked(prog, inputs)
        pay_segment_rent(prog, time.perf_counter() - t0)
        return out
    return _run_kind(kernel, region, prog, inputs)


# A region's cost per element for the threads' threshold is at least this: one pass over
# memory costs about as much as 8 cheap ops (measured on 2 cores: docs/kernels.md).
_PASS_COST = 8


def _run_kind(kernel: str, region: Region, prog: _Program, inputs: list) -> tuple:
    if kernel == "numpy":
        return _run_numpy(prog, inputs)
    if kernel == "numexpr":
        from .numexpr_kernel import run_numexpr
        return run_numexpr(region, inputs)
    return _run_blocked(prog, inputs)


def _run_numpy(prog: _Program, inputs: list) -> tuple:
    env = list(inputs) + prog.flat_template
    for fn, idx, dest in prog.flat_steps:
        env[dest] = fn(*[env[i] for i in idx])
    if prog.reduce is not None:
        name, fn, ref = prog.reduce
        return (fn(env[len(inputs) + ref[1]]),)
    return tuple(env[prog.out_slice])


def _run_blocked(prog: _Program, inputs: list) -> tuple:
    region = prog.region
    shape = region.shape
    outs = [np.empty(shape, v.aval.dtype) for v in region.outputs] if prog.reduce is None else []
    flat = all(not isinstance(x, NDARRAY) or x.ndim == 0 or
               (x.shape == shape and x.flags.c_contiguous) for x in inputs)
    if flat:
        ins = [x.reshape(-1) if isinstance(x, NDARRAY) and x.ndim else x for x in inputs]
        outs_v = [o.reshape(-1) for o in outs]
        total, per_unit, inner = int(np.prod(shape)), 1, ()
        sliced = [isinstance(x, NDARRAY) and x.ndim == 1 for x in ins]
    else:
        ins, outs_v = inputs, outs
        total, inner = shape[0], shape[1:]
        per_unit = 1
        for d in inner:
            per_unit *= d
        nd = len(shape)
        sliced = [isinstance(x, NDARRAY) and x.ndim == nd and x.shape[0] == shape[0] and shape[0] != 1
                  for x in ins]
    steps = prog.steps
    if flat and config.kernel in ("auto", "numba"):
        from .numba_kernel import segment_steps
        steps = segment_steps(prog) or steps
    units = max(1, config.chunk_bytes // (prog.itemsize * max(per_unit, 1)))
    chunks = [(c, a, min(a + units, total)) for c, a in enumerate(range(0, total, units))]
    partials: list = [None] * len(chunks)
    reduce = prog.reduce
    err = np.geterr()
    n_threads = min(config.threads, len(chunks))
    if total * per_unit * max(prog.work, _PASS_COST) < config.parallel_work:
        n_threads = 1           # small work: waking the pool costs more than it saves

    def work(group: list[tuple[int, int]]) -> None:
        scratch = _scratch(prog.tmp_dtypes, units * per_unit)
        with np.errstate(**err):
            for c, a, b in group:
                n = b - a
                tmp = [s[:n * per_unit].reshape((n,) + inner) for s in scratch]
                ins_c = [x[a:b] if s else x for x, s in zip(ins, sliced)]
                outs_c = [o[a:b] for o in outs_v]
                _run_steps(steps, ins_c, tmp, outs_c)
                if reduce is not None:
                    partials[c] = _PARTIAL[reduce[0]](tmp[reduce[2][1]])

    if n_threads <= 1:
        work(chunks)
    else:
        groups = [chunks[i::n_threads] for i in range(n_threads)]
        list(_get_pool().map(work, groups))
    if reduce is not None:
        return (_combine(reduce[0], partials, total * per_unit),)
    return tuple(outs)


# A folded full reduction: per-block partials (NumPy's pairwise sum inside each block),
# combined in block order, so the result does not depend on the number of threads.
_PARTIAL = {"sum": np.sum, "mean": np.sum, "max": np.max, "amax": np.max,
            "min": np.min, "amin": np.min}


def _combine(name: str, partials: list, count: int):
    arr = np.array(partials)
    if name == "sum":
        return np.sum(arr)
    if name == "mean":
        return np.true_divide(np.sum(arr), count)
    return np.max(arr) if name in ("max", "amax") else np.min(arr)


def _scratch(dtypes: list, n: int) -> list:
    """This thread's scratch buffers, one per intermediate value, of at least ``n`` items:
    allocated once per thread and size, reused by every later block and call."""
    pool = getattr(_local, "scratch", None)
    if pool is None:
        pool = _local.scratch = {}
    out, used = [], {}
    for dt in dtypes:
        k = used[dt] = used.get(dt, -1) + 1
        key = (dt, k)
        buf = pool.get(key)
        if buf is None or buf.size < n:
            buf = pool[key] = np.empty(n, dt)
        out.append(buf)
    return out


def _run_steps(steps: list, ins: list, tmp: list, outs: list) -> None:
    spaces = {"in": ins, "tmp": tmp, "out": outs}

    def get(ref: tuple) -> Any:
        return ref[1] if ref[0] == "const" else spaces[ref[0]][ref[1]]

    for kind, fn, refs, dest in steps:
        if kind == "seg":           # a numba segment (numba_kernel.segment_steps)
            fn(spaces, get, lambda sub, sp: _run_steps(sub, sp["in"], sp["tmp"], sp["out"]))
            continue
        d = spaces[dest[0]][dest[1]]
        if kind == "ufunc":
            fn(*[get(r) for r in refs], out=d)
        else:
            c, a, b = (get(r) for r in refs)
            np.copyto(d, b, casting="unsafe")
            np.copyto(d, a, casting="unsafe", where=c)
