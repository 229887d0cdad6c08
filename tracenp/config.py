"""Runtime settings: ``tracenp.config.threads`` and friends.

``threads``: how many threads tracenp's own kernels use (default: all cores).  numexpr's
thread count is process-global; tracenp never changes it (see docs/kernels.md).
``chunk_bytes``: the target size of a block of a fused kernel (fits in L2 with its scratch).
``min_fuse_elements``: below this, fused regions run op by op through NumPy (cheapest),
except a region with numba segments (runs of exact ops, each one compiled loop) from
``min_segment_elements`` on: it runs blocked in one block, fewer calls than op by op.
``min_rowwise_elements``: row regions (axis reductions fused with the work around them)
start here; below it their few-row blocks cost more than the op by op calls they save.
``kernel``: which kernel kind fused regions use ("auto" lets the cost model choose).
``numba_*``: the numba kind's cost model (tracenp.exec.numba_kernel, docs/kernels.md).
``parallel_work``: fused kernels use the thread pool only above this work.
``cache_size``: how many call signatures' plans a compiled function keeps (least recently
used dropped first); the ``cache_size`` compile option overrides it per function.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["config", "Config", "cache_subdir"]


@dataclass
class Config:
    threads: int = os.cpu_count() or 1
    chunk_bytes: int = 1 << 18
    min_fuse_elements: int = 1 << 15
    min_segment_elements: int = 768       # regions with numba segments fuse from here on
    min_rowwise_elements: int = 1 << 18   # row regions (softmax) from here on (auto)
    min_fuse_work: int = 2_500_000   # elements x per-element op cost (optimize.fusion._OP_COST)
    parallel_work: int = 5_000_000   # fused kernels use the threads above elements x max(cost, 8)
    kernel: str = "auto"          # "auto", "blocked", "numexpr", "numba" (where they qualify), "numpy"
    numexpr_min_ops: int = 6      # auto: exact arithmetic regions at least this long use numexpr
    numba_compile_seconds: float = 0.25   # auto: a region compiles once its other kernel ran this long
    numba_background: bool = True         # auto: compile in a background thread (else at the call)
    cache_size: int = 64          # plans kept per compiled function (least recently used dropped)


config = Config()


def cache_subdir(name: str) -> str | None:
    """``$TRACENP_CACHE_DIR/name`` (default ``~/.cache/tracenp/name``, after
    ``$XDG_CACHE_HOME``), created; None where it cannot be written (then nothing is
    cached on disk)."""
    base = os.environ.get("TRACENP_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "tracenp")
    d = os.path.join(base, name)
    try:
        os.makedirs(d, exist_ok=True)
        return d if os.access(d, os.W_OK) else None
    except OSError:
        return None
