"""spawn + wait_all: start n trivial tasks and collect their results in order."""

from __future__ import annotations

import time

import aioresult
import anyio
import trio

from trio_promise import spawn, wait_all

from ._common import on_trio
from ._harness import FLOOR, Variant


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
