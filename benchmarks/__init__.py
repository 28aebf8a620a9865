"""Benchmarks for trio_promise: each scenario against the floor and the peers.

Run ``python benchmarks/run.py`` (full, a few minutes) or
``python benchmarks/run.py --quick`` (every scenario at small sizes, seconds).
See ``benchmarks/README.md``.
"""
