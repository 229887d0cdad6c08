"""Corpus of ordinary NumPy programs used as differential tests (eager NumPy vs. tracenp replay)."""
