"""CPU kernels for fused regions.

``blocked``: the region is evaluated block by block; each block runs NumPy's own ufunc
loops (``out=``) into per-thread scratch buffers sized to stay in cache, and blocks are
spread over a shared thread pool (NumPy releases the GIL in its loops).  Results are bit
for bit those of NumPy, with no full-size temporaries.  ``numpy``: small regions run op by
op, the cheapest path.
"""
from __future__ import annotations

import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
from tracenp._ndarray import NDARRAY

from ..config import config
from ..graph.ir import Var
from ..optimize.pattern import Const, operands
from ..optimize.fusion import Region, operands_of_call
from . import guards
from . import numba_kernel as _nk

__all__ = ["run_region", "region_runner", "choose_kernel", "fallback_kernel", "compile_region"]

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


def run_shares(fn: Callable[[Any], Any], shares: list) -> list:
    """``fn`` on each share, the first in the calling thread (one wake-up fewer) and the
    others on the shared pool; every share is done before this returns or raises.  The
    results, in order."""
    futures = [_get_pool().submit(fn, share) for share in shares[1:]]
    try:
        first = fn(shares[0])
    finally:
        for fut in futures:
            fut.exception()
    return [first] + [fut.result() for fut in futures]


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
        self.guarded: set[int] = set()  # node indices no numba segment may take (guards)
        self._guard(region)           # (blocked steps only: the op-by-op path is NumPy's)
        from ..optimize.fusion import work_of
        self.work = work_of(region.nodes)
        self.size = int(np.prod(region.shape))
        self.views: dict[int, tuple] = {}    # thread -> its scratch views (one-block regions)
        self.one_block: tuple | None = None  # (config.kernel, block): a settled 1-d one-block run
        self.out_dtypes = [v.aval.dtype for v in body_outputs]
        self.itemsize = max([v.aval.dtype.itemsize for v in region.inputs if isinstance(v, Var)]
                            + [n.outputs[0].aval.dtype.itemsize for n in region.nodes] + [1])

    def _guard(self, region: Region) -> None:
        """Overflow-guarded selects (tracenp.exec.guards): the ``exp`` step reads the
        overflow flag, ``log1p`` writes into the select's destination, the comparison is
        not computed and the select runs only if the flag is up."""
        if guards.flag_reader() is None:
            return
        outputs = {v.id for v in region.outputs}
        if region.reduce is not None:
            outputs.add(region.reduce.inputs[0].id)
        found = guards.find(region.nodes, outputs)
        steps = self.steps = list(self.steps) if found else self.steps
        for e, l_, c, w in found:
            x_ref, k = steps[c][2]
            dest = steps[w][3]
            steps[e] = ("flag",) + steps[e][1:]
            steps[l_] = steps[l_][:3] + (dest,)
            steps[c] = ("skip", None, (), steps[c][3])
            steps[w] = ("guard", None, (x_ref, k, ("step", e)), dest)
            self.guarded.update((c, w))


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
        prog.settled = None     # run_region's shortcut, once the kernel has no rent to pay
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
        return "blocked" if runs_segmented(region) else "numpy"
    if config.kernel in ("numba", "auto"):
        from .numba_kernel import available, numba_program
        if available():
            prog = numba_program(region)
            if prog is not None and not prog.failed:
                return "numba"
    return fallback_kernel(region)


def runs_segmented(region: Region) -> bool:
    """The region is not numba's as a whole but has numba segments (runs of at least two
    exact ops) or overflow guards (tracenp.exec.guards): below ``config.min_fuse_elements``
    it runs blocked, in one block, where each segment is one call instead of one ufunc call
    per op, and a guarded select costs a flag read instead of two passes."""
    cached = getattr(region, "_segmented", None)
    if cached is None:
        prog = _Program(region)
        cached = region._segmented = bool(prog.guarded) or (
            _nk.available() and _nk.numba_program(region) is None and bool(_nk.segments(prog)))
    return cached


def fallback_kernel(region: Region) -> str:
    """The kernel kind without numba: what runs a numba region until its kernel is ready,
    and the calls it declines."""
    if config.kernel == "auto":
        from ..optimize.fusion import worth_fusing
        if not worth_fusing(region.nodes, region.shape):
            # fused for numba only (cheap): op by op meanwhile, or blocked with segments
            return "blocked" if runs_segmented(region) else "numpy"
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


def region_runner(region: Region) -> Callable[[list], tuple]:
    """``run(inputs)``: the region's kernel on its inputs (what a plan step calls)."""
    return functools.partial(run_region, region)


def run_region(region: Region, inputs: list) -> tuple:
    prog = getattr(region, "_program", None)
    if prog is not None and prog.settled is not None and prog.kernel_for == config.kernel:
        return prog.settled(prog, inputs)     # the kernel is decided and has no rent to pay
    prog = compile_region(region)
    if prog.extra:
        inputs = list(inputs) + prog.extra
    kernel = prog.kernel if config.kernel == prog.kernel_for else choose_kernel(region)
    if kernel == "numba":
        out = _nk.run_numba(region, inputs, prog)
        if out is not None:
            return out
        t0 = time.perf_counter()
        out = _run_kind(fallback_kernel(region), region, prog, inputs)
        _nk.pay_rent(region, time.perf_counter() - t0)
        return out
    if kernel == "blocked" and config.kernel in ("auto", "numba") and not _segments_ready(prog):
        t0 = time.perf_counter()          # numba loops for runs of exact ops: rent
        out = _run_blocked(prog, inputs)
        _nk.pay_segment_rent(prog, time.perf_counter() - t0)
        return out
    if not prog.extra and kernel == prog.kernel and kernel in _SETTLED:
        prog.settled = _SETTLED[kernel]       # later calls go straight to the kernel
        _settle_one_block(prog)
    return _run_kind(kernel, region, prog, inputs)


def _segments_ready(prog: _Program) -> bool:
    """The region's numba segments are all compiled (or it has none): no rent to pay."""
    return getattr(prog, "_segment_steps", None) is not None or getattr(prog, "_segments", None) == []


# Blocks of a region with numba segments (or overflow guards: a few transcendental passes,
# each block's turn costing 2-3 us of calls: stable softplus at 1e5, one thread, 124 us in
# 256 KiB blocks, 114 in one) are this many times ``config.chunk_bytes``: its
# few scratch values stay in L2 all the same, and each block's turn costs two threads a
# hand-over of the GIL per segment and ufunc call, which dominated 256 KiB blocks
# (measured on 2 cores at 1e6: gelu_f32 0.61 -> 0.31 ms, log1p_exp 1.41 -> 1.04 ms,
# logistic 0.71 -> 0.62 ms; regions without segments, such as Black-Scholes, do not gain).
_SEGMENTED_BLOCKS = 4

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
    """The region's nodes op by op, NumPy's own calls."""
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
    one = prog.one_block
    if one is not None and one[0] == config.kernel:     # a 1-d region in one block
        for x in inputs:
            if type(x) is NDARRAY and x.ndim and not (x.shape == shape and x.flags.c_contiguous):
                break
        else:
            outs = [np.empty(shape, dt) for dt in prog.out_dtypes]
            _run_steps(one[1], inputs, _block_scratch(prog, prog.size, 1, ()), outs)
            return tuple(outs)
    outs = [np.empty(shape, dt) for dt in prog.out_dtypes] if prog.reduce is None else []
    flat = True
    for x in inputs:
        if type(x) is NDARRAY and x.ndim and not (x.shape == shape and x.flags.c_contiguous):
            flat = False
            break
    if flat:
        ins = [x.reshape(-1) if type(x) is NDARRAY and x.ndim else x for x in inputs]
        outs_v = [o.reshape(-1) for o in outs]
        total, per_unit, inner = prog.size, 1, ()
    elif _sums_in_memory_order(prog, inputs):
        return _run_numpy(prog, inputs)
    else:
        ins, outs_v = inputs, outs
        total, inner = shape[0], shape[1:]
        per_unit = prog.size // total if total else 1
    steps = prog.steps
    if flat and config.kernel in ("auto", "numba"):
        steps = _nk.segment_steps(prog) or steps
    block = _block_function(prog, steps)
    # (a folded reduction keeps its blocks: its partial sums must not change with them)
    chunk = config.chunk_bytes * (_SEGMENTED_BLOCKS if (steps is not prog.steps or prog.guarded)
                                  and prog.reduce is None else 1)
    units = max(1, chunk // (prog.itemsize * max(per_unit, 1)))
    reduce = prog.reduce
    if total <= units and reduce is None:       # one block, in this thread: no bookkeeping
        _run_steps(block, ins, _block_scratch(prog, total, per_unit, inner), outs_v)
        if flat and len(shape) == 1 and (steps is not prog.steps or _segments_ready(prog)):
            prog.one_block = (config.kernel, block)  # settled: later calls skip the set-up
            _settle_one_block(prog)
        return tuple(outs)
    if flat:
        sliced = [type(x) is NDARRAY and x.ndim == 1 for x in ins]
    else:
        nd = len(shape)
        sliced = [isinstance(x, NDARRAY) and x.ndim == nd and x.shape[0] == shape[0] and shape[0] != 1
                  for x in ins]
    chunks = [(c, a, min(a + units, total)) for c, a in enumerate(range(0, total, units))]
    partials: list = [None] * len(chunks)
    n_threads = min(config.threads, len(chunks))
    if total * per_unit * max(prog.work, _PASS_COST) < config.parallel_work:
        n_threads = 1           # small work: waking the pool costs more than it saves

    def work(group: list[tuple[int, int, int]]) -> None:
        scratch = _scratch(prog.tmp_dtypes, units * per_unit)
        for c, a, b in group:
            n = b - a
            tmp = [s[:n * per_unit].reshape((n,) + inner) for s in scratch]
            ins_c = [x[a:b] if s else x for x, s in zip(ins, sliced)]
            _run_steps(block, ins_c, tmp, [o[a:b] for o in outs_v])
            if reduce is not None:
                partials[c] = _PARTIAL[reduce[0]](tmp[reduce[2][1]])

    if n_threads <= 1:
        work(chunks)
    else:
        err = np.geterr()       # the workers run under the caller's error settings

        def work_in(group: list[tuple[int, int, int]]) -> None:
            with np.errstate(**err):
                work(group)
        run_shares(work_in, [chunks[i::n_threads] for i in range(n_threads)])
    if reduce is not None:
        return (_combine(reduce[0], partials, total * per_unit),)
    return tuple(outs)


def _settle_one_block(prog: _Program) -> None:
    """A settled blocked region that runs in one block: its calls go to its runner."""
    if prog.settled is _run_blocked and prog.one_block is not None:
        prog.settled = _one_block_runner(prog, prog.one_block[1], len(prog.region.inputs))


def _sums_in_memory_order(prog: _Program, inputs: list) -> bool:
    """A folded float sum (or mean) whose inputs are not all C-ordered: NumPy's own
    intermediates follow the inputs' layout (a transposed input gives Fortran-ordered
    values) and ``np.sum`` adds them in memory order, so the region runs op by op, NumPy's
    calls (bit for bit; a C-order sum can differ in the last bit)."""
    if prog.reduce is None or prog.reduce[0] not in ("sum", "mean"):
        return False
    if prog.region.reduce.inputs[0].aval.dtype.kind not in "fc":
        return False
    return any(type(x) is NDARRAY and x.ndim > 1 and x.size > 1 and not x.flags.c_contiguous
               for x in inputs)


def _one_block_runner(prog: _Program, block: Callable, n_inputs: int) -> Callable:
    """``run(prog, inputs)``: a settled 1-d one-block region's call written out as one
    function (the one-block path of ``_run_blocked``: the same checks, then the block's
    steps, in line), so a small call pays no set-up (measured on 2 cores: the stable
    softplus at 10^4 elements, 14.2 against 14.9 us from ``_run_blocked``; a compiled call
    14.2 against 15.1 us)."""
    names = [f"x{k}" for k in range(n_inputs)]
    lines = ["def run(prog, inputs):",
             "    if prog.one_block is not ONE or config.kernel != KIND:",
             "        return slow(prog, inputs)"]
    if names:
        lines.append(f"    {', '.join(names)}, = inputs")
    lines += [f"    if type({x}) is ND and {x}.ndim and ({x}.shape != S or not {x}.flags.c_contiguous):"
              f"\n        return slow(prog, inputs)" for x in names]
    lines += ["    v = views.get(ident())",
              "    if v is None or v[0] != N:",
              "        return slow(prog, inputs)",
              f"    O = [{', '.join(f'empty(S, D{m})' for m in range(len(prog.out_dtypes)))}]"]
    ns: dict[str, Any] = {"ONE": prog.one_block, "config": config, "KIND": prog.one_block[0],
                          "slow": _run_blocked, "ND": NDARRAY, "S": prog.region.shape,
                          "views": prog.views, "ident": threading.get_ident, "N": prog.size,
                          "empty": np.empty}
    cached = getattr(prog, "_block", None)
    if cached is not None and cached[1] is block:    # the block's steps, in line
        lines += ["    I = inputs", "    T = v[1]"] + _block_lines(cached[0], ns)
    else:
        ns["block"] = block
        lines.append("    block(inputs, v[1], O)")
    lines.append("    return tuple(O)")
    ns.update({f"D{m}": dt for m, dt in enumerate(prog.out_dtypes)})
    exec(compile("\n".join(lines), "<tracenp one block>", "exec"), ns)
    return ns["run"]


def _block_scratch(prog: _Program, n: int, per_unit: int, inner: tuple) -> list:
    """This thread's scratch views for a region that is one block of ``n`` units (views
    of the thread's scratch buffers, kept per program: the same every call)."""
    key = threading.get_ident()
    cached = prog.views.get(key)
    if cached is None or cached[0] != n:
        scratch = _scratch(prog.tmp_dtypes, n * per_unit)
        views = [s[:n * per_unit].reshape((n,) + inner) for s in scratch]
        cached = prog.views[key] = (n, views)
    return cached[1]


_SETTLED = {"numpy": _run_numpy, "blocked": _run_blocked}


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
            buf = pool[key] = _aligned_empty(n, dt)
        out.append(buf)
    return out


def _aligned_empty(n: int, dtype: Any, align: int = 64) -> NDARRAY:
    """``np.empty(n, dtype)`` starting on a cache line: SIMD loops load and store whole
    lines (measured on 10^4 float64, AVX-512: exp into an aligned buffer 5.34 us, into one
    16 bytes off 5.52-5.75; malloc gives 16-byte alignment)."""
    dtype = np.dtype(dtype)
    raw = np.empty(n * dtype.itemsize + align, np.uint8)
    start = -raw.__array_interface__["data"][0] % align
    return raw[start:start + n * dtype.itemsize].view(dtype)


def _run_steps(block: Callable[[list, list, list], None], ins: list, tmp: list,
               outs: list) -> None:
    """Runs one block through the region's block function (``_block_function``)."""
    block(ins, tmp, outs)


def _block_function(prog: _Program, steps: list) -> Any:
    """``block(ins, tmp, outs)``: ``steps`` on one block, written out
    as one Python function (no per-step dispatch); cached per program and steps list."""
    cached = getattr(prog, "_block", None)
    if cached is not None and cached[0] is steps:
        return cached[1]
    fn = _generate_block(steps)
    prog._block = (steps, fn)
    return fn


_SPACE = {"in": "I", "tmp": "T", "out": "O"}


def _generate_block(steps: list) -> Any:
    ns: dict[str, Any] = {}
    lines = ["def block(I, T, O):"] + _block_lines(steps, ns) + ["    return None"]
    exec(compile("\n".join(lines), "<tracenp block>", "exec"), ns)
    return ns["block"]


def _block_lines(steps: list, ns: dict) -> list[str]:
    """The body of ``block(I, T, O)`` for ``steps`` (its names go into ``ns``)."""
    ns["_copyto"] = np.copyto
    lines: list[str] = []

    def ref(r: tuple) -> str:
        if r[0] == "const":
            name = f"c{len(ns)}"
            ns[name] = r[1]
            return name
        return f"{_SPACE[r[0]]}[{r[1]}]"

    for k, (kind, fn, refs, dest) in enumerate(steps):
        if kind == "seg":           # a numba segment (numba_kernel.segment_steps)
            seg, loop = refs
            ns[f"g{k}"], ns[f"r{k}"] = loop, _generate_block(dest)   # (its ufunc steps)
            args = [ref(r) for r in seg.ins]
            args = [f"_scalar({a})" if sc else a for a, sc in zip(args, seg.scalar)]
            outs = [ref(r) for r in seg.outs]
            lines.append(f"    fl = g{k}(0, {outs[0]}.shape[0], {', '.join(args + outs)})")
            lines.append(f"    if fl & _FE_MASK and fl & _enabled_flags(): "
                         f"r{k}(I, T, O)")
            ns["_FE_MASK"], ns["_enabled_flags"] = _nk._FE_MASK, _nk._enabled_flags
            ns["_scalar"] = _scalar
        elif kind in ("ufunc", "flag"):
            ns[f"f{k}"] = fn
            lines.append(f"    f{k}({', '.join(ref(r) for r in refs)}, out={ref(dest)})")
            if kind == "flag":      # the floating-point flags its loop left (guards)
                ns["_flags"] = guards.flag_reader()
                lines.append(f"    fl{k} = _flags()")
        elif kind == "skip":
            continue
        elif kind == "guard":       # the select of an overflow guard, if the flag is up
            x, c = ref(refs[0]), ref(refs[1])
            ns["_OVER"], ns["_fix"] = guards.overflow_bit(), _guarded_select
            lines.append(f"    if fl{refs[2][1]} & _OVER: _fix({x}, {c}, {ref(dest)})")
        else:
            c, a, b = (ref(r) for r in refs)
            d = ref(dest)
            lines.append(f"    _copyto({d}, {b}, casting='unsafe')")
            lines.append(f"    _copyto({d}, {a}, casting='unsafe', where={c})")
    return lines


def _guarded_select(x: Any, k: Any, out: Any) -> None:
    """``out = where(x > k, x, out)``: an overflow guard's select, in place."""
    np.copyto(out, x, where=np.greater(x, k))


def _scalar(x: Any) -> Any:
    """A 0-d array operand of a numba segment as the scalar its loop takes."""
    return x[()] if type(x) is NDARRAY else x
