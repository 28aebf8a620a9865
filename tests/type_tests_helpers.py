"""Static type checks for spawn, the joins and the task helpers.

Checked by mypy and pyright, never run (pytest does not collect this file;
the functions are public only so that pyright does not flag them as unused).
A line marked ``# type: ignore[code]`` must fail: both checkers report an
unused ignore as an error, so a call that stops failing breaks the check.
"""

from __future__ import annotations

import outcome
import trio
from typing_extensions import assert_type

from trio_promise import (
    Future,
    as_completed,
    gather,
    gather_map,
    race,
    spawn,
    wait_all,
    wait_any,
    wait_settled,
)


async def fetch(url: str) -> bytes:
    await trio.lowlevel.checkpoint()
    return url.encode()


async def count() -> int:
    await trio.lowlevel.checkpoint()
    return 1


async def label() -> str:
    await trio.lowlevel.checkpoint()
    return "x"


async def flag() -> bool:
    await trio.lowlevel.checkpoint()
    return True


async def nothing() -> None:
    await trio.lowlevel.checkpoint()


async def check_spawn() -> None:
    async with trio.open_nursery() as nursery:
        assert_type(spawn(nursery, fetch, "https://example.org"), Future[bytes])
        assert_type(spawn(nursery, count), Future[int])
        assert_type(spawn(nursery, nothing), Future[None])
        assert_type(
            spawn(
                nursery,
                fetch,
                "u",
                name="fetcher",
                limiter=(trio.CapacityLimiter(2), trio.Semaphore(1)),
                propagate=False,
            ),
            Future[bytes],
        )
        spawn(nursery, fetch, 1)  # type: ignore[arg-type]
        spawn(nursery, fetch)  # type: ignore[arg-type]
        spawn(nursery, fetch, "u", "extra")  # type: ignore[arg-type]
        spawn(nursery, count, limiter=3)  # type: ignore[arg-type]
        spawn(nursery, fetch, url="u")  # type: ignore[arg-type,call-arg]


async def check_gather() -> None:
    assert_type(await gather(), tuple[()])
    assert_type(await gather(count), tuple[int])
    assert_type(await gather(count, label), tuple[int, str])
    assert_type(await gather(count, label, flag), tuple[int, str, bool])
    assert_type(await gather(count, label, flag, nothing), tuple[int, str, bool, None])
    assert_type(
        await gather(count, label, flag, nothing, count),
        tuple[int, str, bool, None, int],
    )
    assert_type(
        await gather(count, label, flag, nothing, count, label),
        tuple[int, str, bool, None, int, str],
    )
    # Past six, one type for all.
    assert_type(
        await gather(count, count, count, count, count, count, count),
        tuple[int, ...],
    )
    user, posts = await gather(label, count)
    assert_type(user, str)
    assert_type(posts, int)
    await gather(fetch)  # type: ignore[arg-type]
    await gather(count, 1)  # type: ignore[call-overload]


async def check_gather_map() -> None:
    assert_type(await gather_map(fetch, ["a", "b"]), list[bytes])
    assert_type(
        await gather_map(fetch, iter(["a"]), limit=2, limiter=trio.Semaphore(1)),
        list[bytes],
    )
    await gather_map(fetch, [1, 2])  # type: ignore[arg-type]
    await gather_map(fetch, ["a"], limit="2")  # type: ignore[arg-type]
    await gather_map(fetch, ["a"], 2)  # type: ignore[call-arg]


async def check_race() -> None:
    assert_type(await race(count), int)
    assert_type(await race(count, count, count), int)
    assert_type(await race(label, label), str)
    await race()  # type: ignore[call-overload]
    await race(fetch)  # type: ignore[arg-type]


async def check_joins(futs: list[Future[int]], texts: set[Future[str]]) -> None:
    assert_type(await wait_all(futs), list[int])
    assert_type(await wait_all(texts), list[str])
    assert_type(await wait_all(f for f in futs), list[int])
    assert_type(await wait_settled(futs), list[outcome.Outcome[int]])
    assert_type(await wait_any(futs), Future[int])
    assert_type(await wait_any(texts), Future[str])
    async for fut in as_completed(futs):
        assert_type(fut, Future[int])
    await wait_all([1, 2])  # type: ignore[arg-type]
    await wait_any(futs[0])  # type: ignore[arg-type]
    await wait_settled(["x"])  # type: ignore[arg-type]
    as_completed([count])  # type: ignore[arg-type]
