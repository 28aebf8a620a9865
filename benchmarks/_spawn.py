"""spawn + wait_all: start n trivial tasks and collect their results in order.

"spawn + wait_all, piece by piece" adds what ``spawn()`` + ``wait_all()``
do to the floor one piece at a time, each variant being the one before plus
one piece, so that the report shows what each costs:

1. a ``Future`` per task, settled by the task (``try_set_result``);
2. the coroutine made by the spawner, not in the task (``spawn()`` calls
   ``async_fn(*args)`` at once, so that wrong arguments are a ``TypeError``
   there, as ``start_soon`` does);
3. the task body ``spawn()`` uses (``trio_promise._spawn._produce``: the
   KI-protected frame that settles the future whatever happens, around the
   frame that runs the user's coroutine unprotected);
4. ``spawn()`` itself (its checks and its call), values read after the
   nursery;
5. ``wait_all()`` to collect them: trio_promise's variant of the main row.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import aioresult
import anyio
import trio

from trio_promise import Future, spawn, wait_all
from trio_promise._spawn import _produce  # pyright: ignore[reportPrivateUsage]

from ._common import on_trio
from ._harness import FLOOR, Variant

if TYPE_CHECKING:
    from collections.abc import Awaitable


class Work:
    """The work of each spawned task: nothing, so that only the spawning and
    the collecting are measured (a static method, so that the linters do not
    ask for it to be sync: it must be an async function)."""

    @staticmethod
    async def trivial(i: int) -> int:
        return i


trivial = Work.trivial


async def spawn_ours(n: int) -> float:
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        futures = [spawn(nursery, trivial, i) for i in range(n)]
        results = await wait_all(futures)
    elapsed = time.perf_counter() - start
    assert results[-1] == n - 1
    return elapsed


async def spawn_floor(n: int) -> float:
    start = time.perf_counter()
    results: list[int] = [0] * n

    async def run(i: int) -> None:
        results[i] = await trivial(i)

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(run, i, name=trivial)
    elapsed = time.perf_counter() - start
    assert results[-1] == n - 1
    return elapsed


async def spawn_aioresult(n: int) -> float:
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        captures = [
            aioresult.ResultCapture.start_soon(nursery, trivial, i) for i in range(n)
        ]
        await aioresult.wait_all(captures)
        results = [c.result() for c in captures]
    elapsed = time.perf_counter() - start
    assert results[-1] == n - 1
    return elapsed


async def spawn_anyio(n: int) -> float:
    start = time.perf_counter()
    results = await anyio.amap(trivial, range(n))
    elapsed = time.perf_counter() - start
    assert results[-1] == n - 1
    return elapsed


async def with_future(n: int) -> float:
    start = time.perf_counter()
    futures: list[Future[int]] = []

    async def run(fut: Future[int], i: int) -> None:
        fut.try_set_result(await trivial(i))

    async with trio.open_nursery() as nursery:
        for i in range(n):
            fut: Future[int] = Future()
            futures.append(fut)
            nursery.start_soon(run, fut, i, name=trivial)
    results = [fut.get_nowait() for fut in futures]
    elapsed = time.perf_counter() - start
    assert results[-1] == n - 1
    return elapsed


async def with_coroutine_made_first(n: int) -> float:
    start = time.perf_counter()
    futures: list[Future[int]] = []

    async def run(fut: Future[int], coro: Awaitable[int]) -> None:
        fut.try_set_result(await coro)

    async with trio.open_nursery() as nursery:
        for i in range(n):
            fut: Future[int] = Future()
            futures.append(fut)
            nursery.start_soon(run, fut, trivial(i), name=trivial)
    results = [fut.get_nowait() for fut in futures]
    elapsed = time.perf_counter() - start
    assert results[-1] == n - 1
    return elapsed


async def with_task_body(n: int) -> float:
    start = time.perf_counter()
    futures: list[Future[int]] = []
    async with trio.open_nursery() as nursery:
        for i in range(n):
            fut: Future[int] = Future()
            futures.append(fut)
            nursery.start_soon(_produce, fut, trivial(i), name=trivial)
    results = [fut.get_nowait() for fut in futures]
    elapsed = time.perf_counter() - start
    assert results[-1] == n - 1
    return elapsed


async def with_spawn(n: int) -> float:
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        futures = [spawn(nursery, trivial, i) for i in range(n)]
    results = [fut.get_nowait() for fut in futures]
    elapsed = time.perf_counter() - start
    assert results[-1] == n - 1
    return elapsed


def parts_variants() -> tuple[Variant, ...]:
    return (
        Variant(FLOOR, on_trio(spawn_floor), note="the floor of the main row"),
        Variant("+ future", on_trio(with_future), note="1. a Future per task"),
        Variant(
            "+ coroutine first",
            on_trio(with_coroutine_made_first),
            note="2. + the coroutine made by the spawner",
        ),
        Variant(
            "+ task body",
            on_trio(with_task_body),
            note="3. + spawn()'s KI-protected task body",
        ),
        Variant("+ spawn()", on_trio(with_spawn), note="4. + spawn() itself"),
        Variant(
            "trio_promise",
            on_trio(spawn_ours),
            note="5. + wait_all(): the whole, spawn() + wait_all()",
        ),
    )


def spawn_variants() -> tuple[Variant, ...]:
    return (
        Variant("trio_promise", on_trio(spawn_ours), note="spawn() + wait_all()"),
        Variant(
            FLOOR,
            on_trio(spawn_floor),
            note="nursery tasks writing into a preallocated list",
        ),
        Variant(
            "aioresult",
            on_trio(spawn_aioresult),
            note="ResultCapture.start_soon() + wait_all()",
        ),
        Variant("anyio", on_trio(spawn_anyio), note="anyio.amap (a TaskHandle each)"),
    )
