"""Benchmarks that print figures (not pass/fail timing tests). Run them all with ``python -m bench``."""
