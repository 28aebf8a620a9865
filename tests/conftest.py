"""Markers given by file name, so that a new sweep is classified where it lands.

``sweep``: a slow test that searches a space (SIGINT at every line, the
collector off around every failure path, 100,000-cycle memory and stress
runs, tracemalloc peaks). ``python3 dev.py check`` runs the sweeps once, on
the interpreter that runs dev.py (without coverage: 100% branch coverage must
come from the ordinary, deterministic tests); every other run, and the inner
loop (``python3 dev.py quick``), deselects them with ``-m "not sweep"``.

``interpreter_sweep``: the sweeps whose result depends on the interpreter
itself, not only on the library's logic: where a SIGINT can land is decided by
the interpreter's line events, and which objects end in reference cycles by
its frames and exceptions. CPython 3.10 runs one library line that later
versions do not (a version branch in ``_future.py``) and builds frame objects
eagerly, so dev.py runs these on 3.10 as well. They are cheap (seconds).

A test in any file can also carry ``@pytest.mark.sweep`` itself.

Hypothesis runs with no per-example deadline and without its too-slow
health check, for every test (a test's own ``@settings`` keeps these unless
it sets them): both time examples by the wall clock, so they fail on a
loaded machine, not on a defect.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from collections.abc import Iterable

settings.register_profile(
    "trio_promise", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("trio_promise")

# File name patterns (tests/ only) whose every test is a sweep.
SWEEP_FILES = (
    "test_edges_ki*.py",  # SIGINT at every line
    "test_edges_garbage*.py",  # gc off, gc.collect() must find 0
    "test_reliability_stress.py",  # 10,000-100,000 tasks and futures
    "test_reliability_leaks.py",  # 100,000 cycles, memory must stay flat
    "test_amap_memory.py",  # tracemalloc peaks, in subprocesses
)
# The subset that depends on the interpreter (see the module docstring).
INTERPRETER_SWEEP_FILES = ("test_edges_ki*.py", "test_edges_garbage*.py")


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = item.path.name
        if _matches(name, INTERPRETER_SWEEP_FILES):
            item.add_marker(pytest.mark.interpreter_sweep)
        if _matches(name, SWEEP_FILES) or item.get_closest_marker(
            "interpreter_sweep"
        ):
            item.add_marker(pytest.mark.sweep)
