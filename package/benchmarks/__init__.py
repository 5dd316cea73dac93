"""Benchmark: what the stage cache saves, against the single-stage build it replaces.

`nox -s bench` (or `python -m benchmarks`) runs the scenarios on an empty-cache runner
daemon against a registry of its own and writes benchmarks/results/.
"""
