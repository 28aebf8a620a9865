"""Static type tests: checked by mypy and pyright, never run.

Each ``assert_type`` pins an inferred type. Each line ending in
``# type: ignore[code]`` must fail to type-check: mypy's warn_unused_ignores
and pyright's reportUnnecessaryTypeIgnoreComment turn a line that stops
failing into an error.
"""

from __future__ import annotations

import outcome
from typing_extensions import assert_type

from trio_promise import Future, FutureStatistics


async def future_checks() -> None:
    fut: Future[int] = Future()
    fut.set_result(1)
    fut.set_result("one")  # type: ignore[arg-type]
    fut.set_exception(ValueError())
    fut.set_exception(ValueError)  # type: ignore[arg-type]
    fut.set_exception(KeyboardInterrupt())  # type: ignore[arg-type]
    fut.set_outcome(outcome.Value(1))
    fut.set_outcome(outcome.Value("x"))  # type: ignore[arg-type]
    assert_type(fut.try_set_result(2), bool)
    assert_type(fut.try_set_exception(KeyError()), bool)
    assert_type(fut.done(), bool)
    assert_type(await fut.get(), int)
    assert_type(fut.get_nowait(), int)
    assert_type(await fut.outcome(), outcome.Outcome[int])
    assert_type(fut.outcome_nowait(), outcome.Outcome[int])
    assert_type(fut.statistics(), FutureStatistics)
    assert_type(fut.statistics().tasks_waiting, int)
    fut.cancel()  # type: ignore[attr-defined]
    await fut  # type: ignore[misc]

    # Invariant: a Future[bool] is not a Future[int], nor the other way.
    flag: Future[bool] = Future()
    as_int: Future[int] = flag  # type: ignore[assignment]
    as_object: Future[object] = fut  # type: ignore[assignment]
    del as_int, as_object
