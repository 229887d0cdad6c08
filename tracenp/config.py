"""Runtime settings: ``tracenp.config.threads`` and friends.

``threads``: how many threads tracenp's own kernels use (default: all cores).  numexpr's
thread count is process-global; tracenp never changes it (see docs/kernels.md).
``chunk_bytes``: the target size of a block of a fused kernel (fits in L2 with its scratch).
``min_fuse_elements``: below this, fused regions run op by op through NumPy (cheapest).
``kernel``: which kernel kind fused regions use ("auto" lets the cost model choose).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["config", "Config"]


@dataclass
class Config:
    threads: int = os.cpu_count() or 1
    chunk_bytes: int = 1 << 18
    min_fuse_elements: int = 1 << 15
    min_fuse_work: int = 2_500_000   # elements x per-element op cost (optimize.fusion._OP_COST)
    kernel: str = "auto"          # "auto", "blocked", "numexpr" (where it qualifies), "numpy"
    numexpr_min_ops: int = 6      # auto: exact arithmetic regions at least this long use numexpr


config = Config()
