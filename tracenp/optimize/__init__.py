"""Graph simplification passes.  The pass framework (named rules, phases) lives here."""
from .dce import eliminate_dead_code

__all__ = ["eliminate_dead_code"]
