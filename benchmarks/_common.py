"""Pieces every scenario shares: the floor's slot, runners, a stop clock."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

# Seconds one run of a variant may take where a superlinear implementation
# could take many minutes (fan-in at 100,000 tasks): past it the runner stops
# the work and returns math.inf, the report says "over budget", and the
# harness does not run that variant again in that case.
BUDGET = 30.0

ASYNCIO_NOTE = "outside reference: own asyncio loop, ratio to the asyncio floor"


class Slot:
    """The floor: a bare ``trio.Event`` and a slot for the value."""

    __slots__ = ("event", "value")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.value: object = None


class EventClass:
    """The "Event class": what a user writes in five minutes instead of a
    future, as a class. A ``trio.Event`` and a slot, a ``set_result`` method
    and an ``async def get()`` that waits and returns the slot: no write-once
    check, no lazy Event, no exception path. trio_promise's ``Future`` pays
    for those; the target is to cost at most 3% more than this."""

    __slots__ = ("_event", "_value")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: object = None

    def set_result(self, value: object) -> None:
        self._value = value
        self._event.set()

    async def get(self) -> object:
        await self._event.wait()
        return self._value


class AsyncioSlot:
    """The asyncio floor: a bare ``asyncio.Event`` and a slot."""

    __slots__ = ("event", "value")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.value: object = None


def on_trio(main: Callable[[int], Awaitable[float]]) -> Callable[[int], float]:
    """A runner: ``trio.run(main, size)``; ``main`` returns the timed seconds."""

    def run(size: int) -> float:
        return trio.run(main, size)

    return run


def on_asyncio(main: Callable[[int], Awaitable[float]]) -> Callable[[int], float]:
    """A runner: ``asyncio.run(main(size))`` on a fresh event loop."""

    async def wrap(size: int) -> float:
        return await main(size)

    def run(size: int) -> float:
        return asyncio.run(wrap(size))

    return run


async def asyncio_settle() -> None:
    """Let every asyncio task run until it blocks (asyncio's rough equivalent
    of ``trio.testing.wait_all_tasks_blocked``)."""
    for _ in range(5):
        await asyncio.sleep(0)


class Clock:
    """Counts finished waiters; the last one stops the clock.

    ``start()`` starts it; ``elapsed`` is the window from there to the last
    waiter. Under :func:`collector_paused` the garbage collector is off for
    exactly that window (and on again at its end).
    """

    __slots__ = ("begin", "end", "left")

    # Set by collector_paused() for the runs it wraps.
    pause_collector = False

    def __init__(self, n: int) -> None:
        self.left = n
        self.begin = 0.0
        self.end = 0.0

    def start(self) -> None:
        if Clock.pause_collector:
            gc.disable()
        self.begin = time.perf_counter()

    def one_done(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.end = time.perf_counter()
            if Clock.pause_collector:
                gc.enable()

    @property
    def elapsed(self) -> float:
        return self.end - self.begin


def collector_paused(run: Callable[[int], float]) -> Callable[[int], float]:
    """A runner like ``run``, with the garbage collector off in the timed
    window only (each variant's ``Clock``), so that what is timed is the
    wake-up path itself, not whether a full collection of the heap (100,000
    parked tasks) happens to start inside the window."""

    def paused(size: int) -> float:
        Clock.pause_collector = True
        try:
            return run(size)
        finally:
            Clock.pause_collector = False
            gc.enable()

    return paused
