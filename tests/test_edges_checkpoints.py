"""Every public async function is a checkpoint on every path (STYLE.md 1, 7).

Two checks per path, because they catch different defects:

* ``trio.testing.assert_checkpoints()``: the call yields to the scheduler
  and checks for cancellation (a schedule point *and* a cancel point);
* a loop around the call in a scope that is already cancelled must stop at
  the first call, as a loop around ``trio.sleep(0)`` does. A nursery's exit
  is only a schedule point, so a helper whose callables never await passes
  the first check and fails this one unless it adds the cancel point.

``PATHS`` lists each path: already settled, pending, empty input, failing,
non-awaiting callables. ``test_every_public_async_name_is_swept`` walks the
public surface, so a new async function or method cannot be left out.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

import trio_promise
from trio_promise import (
    Future,
    RateLimiter,
    as_completed,
    wait_all,
    wait_any,
    wait_settled,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


def _settled(value: int = 1) -> Future[int]:
    fut: Future[int] = Future()
    fut.set_result(value)
    return fut


def _failed() -> Future[int]:
    fut: Future[int] = Future()
    fut.set_exception(ValueError("failed"))
    return fut


async def _quietly(awaitable: Awaitable[object]) -> None:
    # The path's own failure is not what is tested here (Cancelled is).
    with contextlib.suppress(ValueError, StopAsyncIteration):
        await awaitable


async def _anext_settled() -> None:
    await as_completed([_settled()]).__anext__()


async def _anext_exhausted() -> None:
    iterator = as_completed(list[Future[int]]())
    await _quietly(iterator.__anext__())


async def _anext_pending() -> None:
    fut: Future[int] = Future()

    async def later() -> None:  # noqa: ASYNC124 (a task body)
        fut.set_result(1)

    async with trio.open_nursery() as nursery:
        iterator = as_completed([fut])
        nursery.start_soon(later)
        await iterator.__anext__()


async def _aclose() -> None:
    await as_completed([Future[int]()]).aclose()


async def _rate_now() -> None:
    await RateLimiter(1, burst=1).acquire()


async def _rate_with() -> None:
    async with RateLimiter(1, burst=1):
        pass


PATHS: dict[str, Callable[[], Awaitable[object]]] = {
    "Future.get, settled": lambda: _settled().get(),
    "Future.get, failed": lambda: _quietly(_failed().get()),
    "Future.outcome, settled": lambda: _settled().outcome(),
    "Future.outcome, failed": lambda: _failed().outcome(),
    "wait_all, empty": lambda: wait_all(list[Future[int]]()),
    "wait_all, settled": lambda: wait_all([_settled(), _settled()]),
    "wait_all, failed": lambda: _quietly(wait_all([Future[int](), _failed()])),
    "wait_settled, empty": lambda: wait_settled(list[Future[int]]()),
    "wait_settled, settled": lambda: wait_settled([_settled(), _failed()]),
    "wait_any, settled": lambda: wait_any([Future[int](), _settled()]),
    "AsCompleted.__anext__, settled": _anext_settled,
    "AsCompleted.__anext__, exhausted": _anext_exhausted,
    "AsCompleted.__anext__, pending": _anext_pending,
    "AsCompleted.aclose": _aclose,
    "RateLimiter.acquire, token there": _rate_now,
    "RateLimiter.__aenter__, token there": _rate_with,
}

# Public async callables, by qualified name, and the paths that sweep them.
SWEPT = {
    "Future.get",
    "Future.outcome",
    "wait_all",
    "wait_settled",
    "wait_any",
    "AsCompleted.__anext__",
    "AsCompleted.aclose",
    "RateLimiter.acquire",
    "RateLimiter.__aenter__",
}
# Swept elsewhere, where the helpers' own tests live.
SWEPT_ELSEWHERE = {
    "gather": "tests/test_tasks.py",
    "gather_map": "tests/test_tasks.py",
    "race": "tests/test_tasks.py",
    "AmapIterator.__anext__": "tests/test_amap.py",
    # Not a checkpoint by design (documented): leaving a rate limit gives
    # nothing back and never waits.
    "RateLimiter.__aexit__": "tests/test_ratelimit.py",
}


def _public_async_names() -> set[str]:
    names: set[str] = set()
    for name in trio_promise.__all__:
        obj = getattr(trio_promise, name)
        if inspect.iscoroutinefunction(obj):
            names.add(name)
        members = vars(obj).items() if inspect.isclass(obj) else ()
        for attr, member in members:
            private = attr.startswith("_") and not attr.endswith("__")
            if not private and inspect.iscoroutinefunction(member):
                names.add(f"{name}.{attr}")
    return names


def test_every_public_async_name_is_swept() -> None:
    found = _public_async_names()
    covered = SWEPT | set(SWEPT_ELSEWHERE)
    assert found <= covered, f"not swept: {sorted(found - covered)}"
    for name in SWEPT:
        assert any(path.startswith(name) for path in PATHS), name


@pytest.mark.parametrize("path", list(PATHS))
async def test_is_a_checkpoint(path: str) -> None:
    with trio.testing.assert_checkpoints():
        await PATHS[path]()


@pytest.mark.parametrize("path", list(PATHS))
async def test_is_a_cancel_point_in_a_cancelled_loop(path: str) -> None:
    calls = 0
    with trio.CancelScope() as scope:
        scope.cancel()
        for _ in range(100):
            calls += 1
            await PATHS[path]()
    assert scope.cancelled_caught
    assert calls == 1, f"{path}: ran {calls} times in a cancelled scope"
