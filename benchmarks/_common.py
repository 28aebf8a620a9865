"""Pieces every scenario shares: the floor's slot, runners, a stop clock."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

ASYNCIO_NOTE = "outside reference: own asyncio loop, ratio to the asyncio floor"


class Slot:
    """The floor: a bare ``trio.Event`` and a slot for the value."""

    __slots__ = ("event", "value")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.value: object = None


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
    """Counts finished waiters; the last one stops the clock."""

    __slots__ = ("end", "left")

    def __init__(self, n: int) -> None:
        self.left = n
        self.end = 0.0

    def one_done(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.end = time.perf_counter()
