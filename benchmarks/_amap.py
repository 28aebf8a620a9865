"""amap: a streaming map over n items, at most ``LIMIT`` in hand at once.

Per-item overhead of ``trio_promise.amap`` (API.md section 5b) with trivial
work, from entering ``async with amap(...)`` until the loop has taken the
last ``(item, result)`` pair.

The floor, on plain trio: a feeder task reads the items and takes a
``trio.CapacityLimiter`` slot (on behalf of the item's index) before it
starts each item's task, so at most ``LIMIT`` tasks exist and the items are
read lazily; each task runs the call and sends ``(item, result)`` into an
unbuffered memory channel, and gives its slot back once the loop has taken
the pair, so that "in hand" means running or finished and not yet taken, as
for amap. The feeder closes the channel when every task has ended.

aiometer's ``amap(fn, items, max_at_once=LIMIT)`` runs on trio through
anyio. It takes a sequence, not a lazy iterable, and buffers every result
(its channel holds ``len(items)``), so a slow consumer does not hold back new
starts and it yields results, not pairs.

anyio's ``amap`` returns a list (no limit, no streaming): not an equivalent.

aiometer is optional (the bench extra); without it the row has no aiometer
variant, and the suite says so.
"""

from __future__ import annotations

import importlib
import time
from typing import TYPE_CHECKING, Any

import trio

from trio_promise import amap

from ._common import on_trio
from ._harness import FLOOR, Variant

if TYPE_CHECKING:
    from collections.abc import Callable

LIMIT = 100

def aiometer_module() -> Any:
    """The aiometer module, or ``None`` if it is not installed."""
    try:
        return importlib.import_module("aiometer")
    except ImportError:
        return None


def unavailable() -> list[str]:
    """Why part of the amap row cannot run (empty if it all can)."""
    if aiometer_module() is None:
        return ["aiometer not installed: amap row without its aiometer variant"]
    return []


class Work:
    """The work of each item: nothing, so that only amap's own cost is
    measured (a static method, so that the linters do not ask for it to be
    sync: it must be an async function)."""

    @staticmethod
    async def trivial(i: int) -> int:
        return i


trivial = Work.trivial


async def amap_ours(n: int) -> float:
    seen = 0
    start = time.perf_counter()
    async with amap(trivial, range(n), limit=LIMIT) as results:
        async for item, result in results:
            assert item == result
            seen += 1
    elapsed = time.perf_counter() - start
    assert seen == n
    return elapsed


async def amap_floor(n: int) -> float:
    seen = 0
    start = time.perf_counter()
    limiter = trio.CapacityLimiter(LIMIT)
    send, receive = trio.open_memory_channel[tuple[int, int]](0)

    async def run(token: int, item: int) -> None:
        result = await trivial(item)
        await send.send((item, result))
        limiter.release_on_behalf_of(token)

    async def feed() -> None:
        try:
            async with trio.open_nursery() as tasks:
                for token, item in enumerate(range(n)):
                    await limiter.acquire_on_behalf_of(token)
                    tasks.start_soon(run, token, item, name=trivial)
        finally:
            send.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(feed)
        async with receive:
            async for item, result in receive:
                assert item == result
                seen += 1
    elapsed = time.perf_counter() - start
    assert seen == n
    return elapsed


async def amap_aiometer(n: int) -> float:
    aiometer = aiometer_module()
    assert aiometer is not None
    seen = 0
    start = time.perf_counter()
    async with aiometer.amap(trivial, range(n), max_at_once=LIMIT) as results:
        async for _ in results:
            seen += 1
    elapsed = time.perf_counter() - start
    assert seen == n
    return elapsed


def amap_variants() -> tuple[Variant, ...]:
    """The variants that can run here (aiometer's only if it is installed)."""
    found: list[tuple[str, Callable[[int], float], str]] = [
        ("trio_promise", on_trio(amap_ours), f"amap(fn, items, limit={LIMIT})"),
        (
            FLOOR,
            on_trio(amap_floor),
            f"CapacityLimiter({LIMIT}) slot per task, taken by a feeder, given "
            "back when the pair is taken; unbuffered memory channel",
        ),
    ]
    if aiometer_module() is not None:
        found.append(
            (
                "aiometer",
                on_trio(amap_aiometer),
                f"aiometer.amap(fn, items, max_at_once={LIMIT}) via anyio "
                "(takes a sequence, buffers every result)",
            )
        )
    return tuple(Variant(name, run, note=note) for name, run, note in found)
