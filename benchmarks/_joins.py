"""Joins: wait_all, wait_any and as_completed over n pending futures.

The n futures are created before the clock starts. The timed window runs from
starting the joining task (so the join's setup over n futures is counted)
until the join has returned (wait_all, wait_any) or yielded every future
(as_completed). Once every task is blocked, the producer settles the futures
in input order (for wait_any only the last one: the worst case for a scan).

The target is that the time per future stays flat as n grows (a join must be
O(n)). trio has no way to wait on many Events at once, so the hand-written
floor for wait_any and as_completed needs a task per Event; aioresult's and
anyio's helpers do the same inside.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, TypeVar

import aioresult
import anyio
import trio
import trio.testing

from trio_promise import Future, as_completed, wait_all, wait_any

from ._common import Slot, on_trio
from ._harness import FLOOR, Variant

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

F = TypeVar("F")


async def timed_join(
    futures: list[F],
    join: Callable[[list[F]], Awaitable[object]],
    settle: Callable[[list[F]], None],
) -> float:
    """Time ``join(futures)``, with ``settle(futures)`` once every task blocks."""
    end: list[float] = []

    async def joiner() -> None:
        await join(futures)
        end.append(time.perf_counter())

    async with trio.open_nursery() as nursery:
        start = time.perf_counter()
        nursery.start_soon(joiner)
        await trio.testing.wait_all_tasks_blocked()
        settle(futures)
    return end[0] - start


# -- how each library's futures are made and settled ---------------------------


def ours(n: int) -> list[Future[int]]:
    return [Future() for _ in range(n)]


def set_ours(futures: list[Future[int]], last_only: bool) -> None:
    if last_only:
        futures[-1].set_result(0)
    else:
        for i, fut in enumerate(futures):
            fut.set_result(i)


def slots(n: int) -> list[Slot]:
    return [Slot() for _ in range(n)]


def set_slots(items: list[Slot], last_only: bool) -> None:
    for i, slot in enumerate(items[-1:] if last_only else items):
        slot.value = i
        slot.event.set()


def aio(n: int) -> list[aioresult.Future[int]]:
    return [aioresult.Future() for _ in range(n)]


def set_aio(futures: list[aioresult.Future[int]], last_only: bool) -> None:
    for i, fut in enumerate(futures[-1:] if last_only else futures):
        fut.set_result(i)


def anyio_futures(n: int) -> list[anyio.Future[int]]:
    return [anyio.Future() for _ in range(n)]


def set_anyio(futures: list[anyio.Future[int]], last_only: bool) -> None:
    for i, fut in enumerate(futures[-1:] if last_only else futures):
        fut.return_value = i


# -- wait_all ---------------------------------------------------------------


async def all_ours(n: int) -> float:
    async def join(futures: list[Future[int]]) -> None:
        values = await wait_all(futures)
        assert len(values) == n

    return await timed_join(ours(n), join, lambda f: set_ours(f, False))


async def all_floor(n: int) -> float:
    async def join(items: list[Slot]) -> None:
        for slot in items:
            await slot.event.wait()
        values = [slot.value for slot in items]
        assert len(values) == n

    return await timed_join(slots(n), join, lambda f: set_slots(f, False))


async def all_aioresult(n: int) -> float:
    async def join(futures: list[aioresult.Future[int]]) -> None:
        await aioresult.wait_all(futures)
        values = [fut.result() for fut in futures]
        assert len(values) == n

    return await timed_join(aio(n), join, lambda f: set_aio(f, False))


async def all_anyio(n: int) -> float:
    async def join(futures: list[anyio.Future[int]]) -> None:
        await anyio.gather(*(fut.wait() for fut in futures))
        values = [fut.return_value for fut in futures]
        assert len(values) == n

    return await timed_join(anyio_futures(n), join, lambda f: set_anyio(f, False))


# -- wait_any ---------------------------------------------------------------


async def any_ours(n: int) -> float:
    async def join(futures: list[Future[int]]) -> None:
        first = await wait_any(futures)
        assert first is futures[-1]

    return await timed_join(ours(n), join, lambda f: set_ours(f, True))


async def any_floor(n: int) -> float:
    async def join(items: list[Slot]) -> None:
        first: list[Slot] = []

        async def watch(slot: Slot) -> None:
            await slot.event.wait()
            first.append(slot)
            nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            for slot in items:
                nursery.start_soon(watch, slot)
        assert first[0] is items[-1]

    return await timed_join(slots(n), join, lambda f: set_slots(f, True))


async def any_aioresult(n: int) -> float:
    async def join(futures: list[aioresult.Future[int]]) -> None:
        first = await aioresult.wait_any(futures)
        assert first is futures[-1]

    return await timed_join(aio(n), join, lambda f: set_aio(f, True))


async def any_anyio(n: int) -> float:
    async def join(futures: list[anyio.Future[int]]) -> None:
        async with anyio.as_completed(*futures) as handles:
            first = await handles.receive()
        assert first.return_value == 0

    return await timed_join(anyio_futures(n), join, lambda f: set_anyio(f, True))


# -- as_completed -------------------------------------------------------------


async def each_ours(n: int) -> float:
    async def join(futures: list[Future[int]]) -> None:
        seen = 0
        async for _ in as_completed(futures):
            seen += 1
        assert seen == n

    return await timed_join(ours(n), join, lambda f: set_ours(f, False))


async def each_floor(n: int) -> float:
    async def join(items: list[Slot]) -> None:
        send, receive = trio.open_memory_channel[Slot](math.inf)

        async def watch(slot: Slot) -> None:
            await slot.event.wait()
            send.send_nowait(slot)

        seen = 0
        async with trio.open_nursery() as nursery:
            for slot in items:
                nursery.start_soon(watch, slot)
            for _ in range(n):
                await receive.receive()
                seen += 1
        assert seen == n

    return await timed_join(slots(n), join, lambda f: set_slots(f, False))


async def each_aioresult(n: int) -> float:
    async def join(futures: list[aioresult.Future[int]]) -> None:
        send, receive = trio.open_memory_channel[aioresult.Future[int]](math.inf)
        seen = 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(aioresult.results_to_channel, futures, send)
            async for _ in receive:
                seen += 1
        assert seen == n

    return await timed_join(aio(n), join, lambda f: set_aio(f, False))


async def each_anyio(n: int) -> float:
    async def join(futures: list[anyio.Future[int]]) -> None:
        seen = 0
        async with anyio.as_completed(*futures) as handles:
            async for _ in handles:
                seen += 1
        assert seen == n

    return await timed_join(anyio_futures(n), join, lambda f: set_anyio(f, False))


def per_future(
    main: Callable[[int], Awaitable[float]], n: int
) -> Callable[[int], float]:
    """A runner of ``main`` over ``n`` futures that returns the time per future."""

    def run(_: int) -> float:
        return trio.run(main, n) / n

    return run


def flat_variants(sizes: tuple[int, ...]) -> list[tuple[str, tuple[Variant, ...]]]:
    """trio_promise's joins at every size, in the same rounds.

    Each size is divided by the smallest, round by round: the per-round ratio
    of time per future is a flatness measure that a slow phase of the machine
    cannot fake (a single case per size would be measured minutes apart).
    """
    ours = (("wait_all", all_ours), ("wait_any", any_ours), ("as_completed", each_ours))
    base = f"n={sizes[0]:,}"
    return [
        (
            f"{join} flat",
            tuple(
                Variant(
                    f"n={n:,}",
                    per_future(main, n),
                    baseline=base,
                    note=f"trio_promise {join}(): time per future / at {base}",
                )
                for n in sizes
            ),
        )
        for join, main in ours
    ]


def join_variants() -> list[tuple[str, tuple[Variant, ...]]]:
    task_each = "a task per Event (trio cannot wait on many Events at once)"
    return [
        (
            "wait_all",
            (
                Variant("trio_promise", on_trio(all_ours), note="wait_all()"),
                Variant(FLOOR, on_trio(all_floor), note="await each Event in turn"),
                Variant(
                    "aioresult",
                    on_trio(all_aioresult),
                    note="aioresult.wait_all() (awaits each in turn)",
                ),
                Variant(
                    "anyio",
                    on_trio(all_anyio),
                    note="anyio.gather() of Future.wait() (a task each)",
                ),
            ),
        ),
        (
            "wait_any",
            (
                Variant("trio_promise", on_trio(any_ours), note="wait_any()"),
                Variant(FLOOR, on_trio(any_floor), note=task_each),
                Variant(
                    "aioresult",
                    on_trio(any_aioresult),
                    note="aioresult.wait_any() (a task each)",
                ),
                Variant(
                    "anyio",
                    on_trio(any_anyio),
                    note="first of anyio.as_completed() (a task each)",
                ),
            ),
        ),
        (
            "as_completed",
            (
                Variant("trio_promise", on_trio(each_ours), note="as_completed()"),
                Variant(FLOOR, on_trio(each_floor), note=f"{task_each}, a channel"),
                Variant(
                    "aioresult",
                    on_trio(each_aioresult),
                    note="aioresult.results_to_channel() (a task each)",
                ),
                Variant(
                    "anyio",
                    on_trio(each_anyio),
                    note="anyio.as_completed() (a task each)",
                ),
            ),
        ),
    ]
