"""Static type tests: checked by mypy and pyright, never run.

Each ``assert_type`` pins an inferred type. Each line ending in
``# type: ignore[code]`` must fail to type-check: mypy's warn_unused_ignores
and pyright's reportUnnecessaryTypeIgnoreComment turn a line that stops
failing into an error. pytest does not collect this file (no ``test_``
prefix); the functions are public only so that pyright does not report them
as unused.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import outcome
import trio
from typing_extensions import assert_type

from trio_promise import (
    AmapIterator,
    AsCompleted,
    Correlator,
    CorrelatorStatistics,
    Future,
    FutureStatistics,
    RateLimiter,
    RateLimiterStatistics,
    amap,
    as_completed,
    gather,
    gather_map,
    race,
    spawn,
    wait_all,
    wait_any,
    wait_settled,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from contextlib import AbstractAsyncContextManager


# -- future ----------------------------------------


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


# -- helpers ----------------------------------------


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


# -- spawn(cancel_scope=) ----------------------------------------


async def check_spawn_cancel_scope() -> None:
    async with trio.open_nursery() as nursery:
        assert_type(spawn(nursery, count, cancel_scope=trio.CancelScope()), Future[int])
        assert_type(
            spawn(
                nursery,
                fetch,
                "u",
                name="fetcher",
                limiter=trio.CapacityLimiter(2),
                propagate=False,
                cancel_scope=trio.CancelScope(deadline=trio.current_time() + 5),
            ),
            Future[bytes],
        )
        assert_type(spawn(nursery, nothing, cancel_scope=None), Future[None])
        assert_type(
            spawn(nursery, count, cancel_scope=trio.move_on_at(trio.current_time() + 1)),
            Future[int],
        )
        # fail_at() is a context manager around a scope, not a scope.
        spawn(
            nursery,
            count,
            cancel_scope=trio.fail_at(trio.current_time() + 1),  # type: ignore[arg-type]
        )
        spawn(nursery, count, cancel_scope=5)  # type: ignore[arg-type]
        spawn(nursery, count, cancel_scope=trio.CancelScope)  # type: ignore[arg-type]
        # Keyword-only: a positional scope is an argument for the function.
        spawn(nursery, count, trio.CancelScope())  # type: ignore[arg-type]


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
    # limiter= keeps the types per position, at every arity.
    capacity = trio.CapacityLimiter(2)
    assert_type(await gather(limiter=capacity), tuple[()])
    assert_type(await gather(count, limiter=capacity), tuple[int])
    assert_type(await gather(count, label, limiter=capacity), tuple[int, str])
    assert_type(
        await gather(count, label, flag, limiter=(capacity, RateLimiter(5))),
        tuple[int, str, bool],
    )
    assert_type(
        await gather(count, label, flag, nothing, limiter=capacity),
        tuple[int, str, bool, None],
    )
    assert_type(
        await gather(count, label, flag, nothing, count, limiter=capacity),
        tuple[int, str, bool, None, int],
    )
    assert_type(
        await gather(count, label, flag, nothing, count, label, limiter=None),
        tuple[int, str, bool, None, int, str],
    )
    assert_type(
        await gather(count, count, count, count, count, count, count, limiter=capacity),
        tuple[int, ...],
    )
    await gather(count, limiter=5)  # type: ignore[call-overload]
    await gather(count, limiter=[capacity])  # type: ignore[call-overload]


async def check_gather_map() -> None:
    assert_type(await gather_map(fetch, ["a", "b"]), list[bytes])
    assert_type(
        await gather_map(fetch, iter(["a"]), limit=2, limiter=trio.Semaphore(1)),
        list[bytes],
    )
    await gather_map(fetch, [1, 2])  # type: ignore[arg-type]
    await gather_map(fetch, ["a"], limit="2")  # type: ignore[call-overload]
    await gather_map(fetch, ["a"], 2)  # type: ignore[call-overload]


async def check_race() -> None:
    assert_type(await race(count), int)
    assert_type(await race(count, count, count), int)
    assert_type(await race(label, label), str)
    await race()  # type: ignore[call-overload]
    await race(fetch)  # type: ignore[arg-type]
    capacity = trio.CapacityLimiter(2)
    assert_type(await race(count, limiter=capacity), int)
    assert_type(await race(label, label, limiter=(capacity, RateLimiter(5))), str)
    await race(count, limiter=5)  # type: ignore[call-overload]


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
    # The iterator has aclose(), so aclosing() type-checks (API.md section 4).
    iterator = as_completed(futs)
    assert_type(iterator, AsCompleted[int])
    await iterator.aclose()
    async with aclosing(as_completed(texts)) as closing:
        async for text in closing:
            assert_type(text, Future[str])
    as_completed(futs).close()  # type: ignore[attr-defined]


# -- gather_map settled, async input ----------------------------------------


async def check_gather_map_settled(urls: list[str], more: AsyncIterator[str]) -> None:
    assert_type(
        await gather_map(fetch, urls, settled=True), list[outcome.Outcome[bytes]]
    )
    assert_type(await gather_map(fetch, urls, limit=3, settled=False), list[bytes])
    assert_type(await gather_map(fetch, more), list[bytes])
    assert_type(
        await gather_map(fetch, more, limit=2, settled=True),
        list[outcome.Outcome[bytes]],
    )
    flag: bool = bool(urls)
    assert_type(
        await gather_map(fetch, urls, settled=flag),
        list[bytes] | list[outcome.Outcome[bytes]],
    )
    await gather_map(fetch, urls, settled="yes")  # type: ignore[call-overload]
    await gather_map(fetch, [b"x"], settled=True)  # type: ignore[arg-type]


# -- amap ----------------------------------------


async def check_amap(urls: list[str], more: AsyncIterator[str]) -> None:
    async with amap(fetch, urls) as results:
        assert_type(results, AmapIterator[tuple[str, bytes]])
        async for url, page in results:
            assert_type(url, str)
            assert_type(page, bytes)
    async with amap(fetch, more, limit=10, ordered=True) as results:
        async for url, page in results:
            assert_type(url, str)
            assert_type(page, bytes)
    async with amap(fetch, urls, limit=10, settled=True) as settled:
        async for url, result in settled:
            assert_type(url, str)
            assert_type(result, outcome.Outcome[bytes])
    async with amap(count_to, range(3), limiter=RateLimiter(10)) as numbers:
        assert_type(await numbers.__anext__(), tuple[int, int])
    manager: AbstractAsyncContextManager[AmapIterator[tuple[str, bytes]]] = amap(
        fetch, urls
    )
    del manager
    # A covariant iterator: pairs of str and bytes are pairs of objects.
    wide: AmapIterator[tuple[object, object]] = results
    del wide
    amap(fetch, [1, 2])  # type: ignore[arg-type]
    amap(fetch, urls, limit="10")  # type: ignore[call-overload]
    amap(fetch, urls, limiter=5)  # type: ignore[call-overload]
    amap(fetch, urls, 10)  # type: ignore[call-overload]
    amap(fetch)  # type: ignore[call-overload]
    async for _ in amap(fetch, urls):  # type: ignore[attr-defined]
        pass
    async with amap(fetch, urls) as results:
        async for _url, page in results:
            page.upper()
            page + "x"  # type: ignore[operator]


async def count_to(number: int) -> int:
    await trio.lowlevel.checkpoint()
    return number


# -- ratelimit ----------------------------------------


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
    assert_type(await gather_map(fetch, urls, limiter=rate), list[bytes])
    assert_type(
        await gather_map(fetch, urls, limit=20, limiter=(rate, capacity)), list[bytes]
    )
    await gather_map(fetch, urls, limiter=(rate, trio.Semaphore(3)))
    await gather_map(fetch, urls, limiter=5)  # type: ignore[call-overload]
    await gather_map(fetch, urls, limiter=[rate])  # type: ignore[call-overload]
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, fetch, "u", limiter=(rate, capacity))
        assert_type(await fut.get(), bytes)
        spawn(nursery, fetch, "u", limiter=rate)
        spawn(nursery, fetch, "u", limiter="rate")  # type: ignore[arg-type]


# -- correlator ----------------------------------------


async def correlator_checks() -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(1) as fut:
        assert_type(fut, Future[str])
        assert_type(await fut.get(), str)
    replies.expect("one")  # type: ignore[arg-type]
    assert_type(replies.resolve(1, "x"), bool)
    replies.resolve(1, 2)  # type: ignore[arg-type]
    replies.resolve("1", "x")  # type: ignore[arg-type]
    assert_type(replies.fail(1, ValueError()), bool)
    replies.fail(1, ValueError)  # type: ignore[arg-type]
    replies.fail(1, KeyboardInterrupt())  # type: ignore[arg-type]
    replies.close()
    replies.close(OSError("gone"))
    replies.close(KeyboardInterrupt())
    replies.close("gone")  # type: ignore[arg-type]
    assert_type(replies.closed, bool)
    replies.closed = True  # type: ignore[misc]
    assert_type(len(replies), int)
    assert_type(1 in replies, bool)
    with Correlator[str, bytes]() as other:
        assert_type(other, Correlator[str, bytes])
    await replies.expect(2)  # type: ignore[misc]
    replies.cancel()  # type: ignore[attr-defined]

    # Invariant in both parameters.
    as_object: Correlator[int, object] = replies  # type: ignore[assignment]
    narrow: Correlator[bool, str] = replies  # type: ignore[assignment]
    del as_object, narrow


def correlator_ids_checks() -> None:
    ids: Correlator[int, dict[str, object]] = Correlator(
        keys=range(1, 2**16), quarantine=60.0
    )
    assert_type(ids.next_key(), int)
    assert_type(Correlator(keys=range(3)), Correlator[int, Any])
    Correlator(quarantine=1)
    Correlator(quarantine=0.5)
    # With keys=, the keys are ints.
    by_name: Correlator[str, int] = Correlator(keys=range(3))  # type: ignore[assignment]
    Correlator(keys=[1, 2])  # type: ignore[call-overload]
    Correlator(quarantine="60")  # type: ignore[call-overload]
    Correlator(range(3))  # type: ignore[call-overload]
    stats = ids.statistics()
    assert_type(stats, CorrelatorStatistics)
    assert_type(stats.in_flight, int)
    assert_type(stats.quarantined, int)
    assert_type(stats.late_replies, int)
    assert_type(stats.unknown_replies, int)
    stats.late_replies = 0  # type: ignore[misc]
    ids.close(error=ConnectionError("closed"))
    ids.close(OSError("stream broke"), error=ConnectionError("closed"))
    ids.close(error=ConnectionError)  # type: ignore[arg-type]
    ids.close(error=KeyboardInterrupt())  # type: ignore[arg-type]
    ids.close(None, ConnectionError("closed"))  # type: ignore[call-arg]
    del by_name
