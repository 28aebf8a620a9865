"""Static type tests for RateLimiter and ``limiter=``: mypy and pyright only.

Each ``assert_type`` pins an inferred type. Each line ending in
``# type: ignore[code]`` must fail to type-check: mypy's warn_unused_ignores
and pyright's reportUnnecessaryTypeIgnoreComment turn a line that stops
failing into an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
from typing_extensions import assert_type

from trio_promise import RateLimiter, RateLimiterStatistics, gather_map, spawn

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager


async def _fetch(url: str) -> bytes:
    await trio.lowlevel.checkpoint()
    return url.encode()


async def ratelimiter_checks() -> None:
    rate = RateLimiter(10, burst=5)
    RateLimiter(0.5)
    RateLimiter("10")  # type: ignore[arg-type]
    RateLimiter(10, burst=2.5)  # type: ignore[arg-type]
    RateLimiter(10, 5)  # type: ignore[call-arg]
    RateLimiter()  # type: ignore[call-arg]

    assert_type(await rate.acquire(), None)
    assert_type(rate.acquire_nowait(), None)
    async with rate as entered:
        assert_type(entered, None)
    stats = rate.statistics()
    assert_type(stats, RateLimiterStatistics)
    assert_type(stats.tasks_waiting, int)
    assert_type(stats.tokens, float)
    stats.tokens = 1.0  # type: ignore[misc]
    rate.release()  # type: ignore[attr-defined]

    # Usable wherever an async context manager is expected.
    manager: AbstractAsyncContextManager[None] = rate
    del manager


async def limiter_checks(urls: list[str]) -> None:
    rate = RateLimiter(10)
    capacity = trio.CapacityLimiter(20)
    assert_type(await gather_map(_fetch, urls, limiter=rate), list[bytes])
    assert_type(
        await gather_map(_fetch, urls, limit=20, limiter=(rate, capacity)), list[bytes]
    )
    await gather_map(_fetch, urls, limiter=(rate, trio.Semaphore(3)))
    await gather_map(_fetch, urls, limiter=5)  # type: ignore[arg-type]
    await gather_map(_fetch, urls, limiter=[rate])  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, _fetch, "u", limiter=(rate, capacity))
        assert_type(await fut.get(), bytes)
        spawn(nursery, _fetch, "u", limiter=rate)
        spawn(nursery, _fetch, "u", limiter="rate")  # type: ignore[arg-type]
