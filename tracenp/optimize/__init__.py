"""Graph simplification: named rewrite rules in phases, plus structural passes.

``optimize(graph, disable=..., fast_math=...)`` runs everything; rule modules register
their rules on import (one table, :data:`RULES`).
"""
from . import algebra  # noqa: F401  (registers rules)
from . import stability  # noqa: F401  (registers rules)
from . import chains  # noqa: F401  (registers rules)
from . import slicing  # noqa: F401  (registers rules)
from .dce import eliminate_dead_code
from .framework import PHASES, RULES, OptimizeReport, Rule, optimize, rule

__all__ = ["eliminate_dead_code", "optimize", "OptimizeReport", "Rule", "RULES", "PHASES", "rule"]
