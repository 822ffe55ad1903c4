"""Benchmarks: programs that print figures (``python -m bench``); nothing here asserts."""
