"""Future-only scenarios: handoff, settled get, fan-out, and memory.

Every variant is written the way its library is meant to be used. The floor is
the cheapest hand-written equivalent: a ``trio.Event`` and a slot, in a small
``__slots__`` class (:class:`Slot`), set and read inline.
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from typing import TYPE_CHECKING, TypeAlias

import aioresult
import anyio
import trio
import trio.testing

from trio_promise import Future

from . import _common
from ._common import (
    ASYNCIO_NOTE,
    AsyncioSlot,
    Clock,
    EventClass,
    Slot,
    asyncio_settle,
    on_asyncio,
    on_trio,
)
from ._harness import ASYNCIO_FLOOR, EVENT_CLASS, FLOOR, Variant

if TYPE_CHECKING:
    from collections.abc import Callable


EVENT_CLASS_NOTE = "a class: trio.Event + slot, set_result() and async get(), no checks"


# -- handoff: two tasks ping-pong through fresh futures ------------------------
#
# Each round trip: A creates a reply future and settles B's future with it
# (B is parked on it), then parks on the reply; B wakes, creates its next future
# and settles the reply with it. Two creations, two sets, two parked waits.
# Settling with None ends B.

TPLink: TypeAlias = "Future[TPLink | None]"
AioLink: TypeAlias = "aioresult.Future[AioLink | None]"
AnyioLink: TypeAlias = "anyio.Future[AnyioLink | None]"
AsyncioLink: TypeAlias = "asyncio.Future[AsyncioLink | None]"


async def handoff_ours(n: int) -> float:
    async def partner(fut: TPLink) -> None:
        while True:
            reply = await fut.get()
            if reply is None:
                return
            fut = Future()
            reply.set_result(fut)

    first: TPLink = Future()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partner, first)
        await trio.testing.wait_all_tasks_blocked()
        fut = first
        start = time.perf_counter()
        for _ in range(n):
            reply: TPLink = Future()
            fut.set_result(reply)
            nxt = await reply.get()
            assert nxt is not None
            fut = nxt
        elapsed = time.perf_counter() - start
        fut.set_result(None)
    return elapsed


async def handoff_floor(n: int) -> float:
    async def partner(slot: Slot) -> None:
        while True:
            await slot.event.wait()
            reply = slot.value
            if reply is None:
                return
            assert isinstance(reply, Slot)
            slot = Slot()
            reply.value = slot
            reply.event.set()

    first = Slot()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partner, first)
        await trio.testing.wait_all_tasks_blocked()
        slot = first
        start = time.perf_counter()
        for _ in range(n):
            reply = Slot()
            slot.value = reply
            slot.event.set()
            await reply.event.wait()
            nxt = reply.value
            assert isinstance(nxt, Slot)
            slot = nxt
        elapsed = time.perf_counter() - start
        slot.value = None
        slot.event.set()
    return elapsed


async def handoff_event_class(n: int) -> float:
    async def partner(link: EventClass) -> None:
        while True:
            reply = await link.get()
            if reply is None:
                return
            assert isinstance(reply, EventClass)
            link = EventClass()
            reply.set_result(link)

    first = EventClass()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partner, first)
        await trio.testing.wait_all_tasks_blocked()
        link = first
        start = time.perf_counter()
        for _ in range(n):
            reply = EventClass()
            link.set_result(reply)
            nxt = await reply.get()
            assert isinstance(nxt, EventClass)
            link = nxt
        elapsed = time.perf_counter() - start
        link.set_result(None)
    return elapsed


async def handoff_aioresult(n: int) -> float:
    async def partner(fut: AioLink) -> None:
        while True:
            await fut.wait_done()
            reply = fut.result()
            if reply is None:
                return
            fut = aioresult.Future()
            reply.set_result(fut)

    first: AioLink = aioresult.Future()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partner, first)
        await trio.testing.wait_all_tasks_blocked()
        fut = first
        start = time.perf_counter()
        for _ in range(n):
            reply: AioLink = aioresult.Future()
            fut.set_result(reply)
            await reply.wait_done()
            nxt = reply.result()
            assert nxt is not None
            fut = nxt
        elapsed = time.perf_counter() - start
        fut.set_result(None)
    return elapsed


async def handoff_anyio(n: int) -> float:
    async def partner(fut: AnyioLink) -> None:
        while True:
            reply = await fut
            if reply is None:
                return
            fut = anyio.Future()
            reply.return_value = fut

    first: AnyioLink = anyio.Future()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partner, first)
        await trio.testing.wait_all_tasks_blocked()
        fut = first
        start = time.perf_counter()
        for _ in range(n):
            reply: AnyioLink = anyio.Future()
            fut.return_value = reply
            nxt = await reply
            assert nxt is not None
            fut = nxt
        elapsed = time.perf_counter() - start
        fut.return_value = None
    return elapsed


async def handoff_asyncio(n: int) -> float:
    loop = asyncio.get_running_loop()

    async def partner(fut: AsyncioLink) -> None:
        while True:
            reply = await fut
            if reply is None:
                return
            fut = loop.create_future()
            reply.set_result(fut)

    first: AsyncioLink = loop.create_future()
    task = asyncio.create_task(partner(first))
    await asyncio_settle()
    fut = first
    start = time.perf_counter()
    for _ in range(n):
        reply: AsyncioLink = loop.create_future()
        fut.set_result(reply)
        nxt = await reply
        assert nxt is not None
        fut = nxt
    elapsed = time.perf_counter() - start
    fut.set_result(None)
    await task
    return elapsed


async def handoff_asyncio_floor(n: int) -> float:
    async def partner(slot: AsyncioSlot) -> None:
        while True:
            await slot.event.wait()
            reply = slot.value
            if reply is None:
                return
            assert isinstance(reply, AsyncioSlot)
            slot = AsyncioSlot()
            reply.value = slot
            reply.event.set()

    first = AsyncioSlot()
    task = asyncio.create_task(partner(first))
    await asyncio_settle()
    slot = first
    start = time.perf_counter()
    for _ in range(n):
        reply = AsyncioSlot()
        slot.value = reply
        slot.event.set()
        await reply.event.wait()
        nxt = reply.value
        assert isinstance(nxt, AsyncioSlot)
        slot = nxt
    elapsed = time.perf_counter() - start
    slot.value = None
    slot.event.set()
    await task
    return elapsed


def handoff_variants() -> tuple[Variant, ...]:
    return (
        Variant("trio_promise", on_trio(handoff_ours)),
        Variant(FLOOR, on_trio(handoff_floor), note="trio.Event + slot"),
        Variant(EVENT_CLASS, on_trio(handoff_event_class), note=EVENT_CLASS_NOTE),
        Variant("aioresult", on_trio(handoff_aioresult), note="aioresult.Future"),
        Variant("anyio", on_trio(handoff_anyio), note="anyio.Future"),
        Variant(
            "asyncio",
            on_asyncio(handoff_asyncio),
            baseline=ASYNCIO_FLOOR,
            note=ASYNCIO_NOTE,
        ),
        Variant(
            ASYNCIO_FLOOR,
            on_asyncio(handoff_asyncio_floor),
            baseline=ASYNCIO_FLOOR,
            note="asyncio.Event + slot",
        ),
    )


# -- settled get: await on a future that is already settled --------------------


async def settled_ours(n: int) -> float:
    fut: Future[int] = Future()
    fut.set_result(1)
    start = time.perf_counter()
    for _ in range(n):
        await fut.get()
    return time.perf_counter() - start


async def settled_floor(n: int) -> float:
    slot = Slot()
    slot.value = 1
    slot.event.set()
    start = time.perf_counter()
    for _ in range(n):
        await slot.event.wait()
        slot.value  # noqa: B018  (the read is part of the cost)
    return time.perf_counter() - start


async def settled_aioresult(n: int) -> float:
    fut: aioresult.Future[int] = aioresult.Future()
    fut.set_result(1)
    start = time.perf_counter()
    for _ in range(n):
        await fut.wait_done()
        fut.result()
    return time.perf_counter() - start


async def settled_anyio(n: int) -> float:
    fut: anyio.Future[int] = anyio.Future()
    fut.return_value = 1
    start = time.perf_counter()
    for _ in range(n):
        await fut
    return time.perf_counter() - start


async def settled_asyncio(n: int) -> float:
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    fut.set_result(1)
    start = time.perf_counter()
    for _ in range(n):
        await fut
    return time.perf_counter() - start


async def settled_asyncio_floor(n: int) -> float:
    slot = AsyncioSlot()
    slot.value = 1
    slot.event.set()
    start = time.perf_counter()
    for _ in range(n):
        await slot.event.wait()
        slot.value  # noqa: B018
    return time.perf_counter() - start


def settled_variants() -> tuple[Variant, ...]:
    note = "not a checkpoint in asyncio: returns without yielding"
    return (
        Variant("trio_promise", on_trio(settled_ours)),
        Variant(FLOOR, on_trio(settled_floor), note="trio.Event.wait() + slot"),
        Variant("aioresult", on_trio(settled_aioresult), note="wait_done() + result()"),
        Variant("anyio", on_trio(settled_anyio), note="await anyio.Future"),
        Variant(
            "asyncio",
            on_asyncio(settled_asyncio),
            baseline=ASYNCIO_FLOOR,
            note=f"{ASYNCIO_NOTE}; {note}",
        ),
        Variant(
            ASYNCIO_FLOOR,
            on_asyncio(settled_asyncio_floor),
            baseline=ASYNCIO_FLOOR,
            note=f"asyncio.Event + slot; {note}",
        ),
    )


# -- fan-out: one set wakes n parked waiters ----------------------------------
#
# The waiters are started and parked outside the timed window; the window runs
# from the set until the last waiter has returned from its wait.


async def fanout_ours(n: int) -> float:
    clock = Clock(n)
    fut: Future[int] = Future()

    async def waiter() -> None:
        await fut.get()
        clock.one_done()

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        clock.start()
        fut.set_result(1)
    return clock.elapsed


async def fanout_floor(n: int) -> float:
    clock = Clock(n)
    slot = Slot()

    async def waiter() -> None:
        await slot.event.wait()
        slot.value  # noqa: B018
        clock.one_done()

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        clock.start()
        slot.value = 1
        slot.event.set()
    return clock.elapsed


async def fanout_event_class(n: int) -> float:
    clock = Clock(n)
    link = EventClass()

    async def waiter() -> None:
        await link.get()
        clock.one_done()

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        clock.start()
        link.set_result(1)
    return clock.elapsed


async def fanout_aioresult(n: int) -> float:
    clock = Clock(n)
    fut: aioresult.Future[int] = aioresult.Future()

    async def waiter() -> None:
        await fut.wait_done()
        fut.result()
        clock.one_done()

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        clock.start()
        fut.set_result(1)
    return clock.elapsed


async def fanout_anyio(n: int) -> float:
    clock = Clock(n)
    fut: anyio.Future[int] = anyio.Future()

    async def waiter() -> None:
        await fut
        clock.one_done()

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        clock.start()
        fut.return_value = 1
    return clock.elapsed


async def fanout_asyncio(n: int) -> float:
    clock = Clock(n)
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def waiter() -> None:
        await fut
        clock.one_done()

    tasks = [asyncio.create_task(waiter()) for _ in range(n)]
    await asyncio_settle()
    clock.start()
    fut.set_result(1)
    await asyncio.gather(*tasks)
    return clock.elapsed


async def fanout_asyncio_floor(n: int) -> float:
    clock = Clock(n)
    slot = AsyncioSlot()

    async def waiter() -> None:
        await slot.event.wait()
        slot.value  # noqa: B018
        clock.one_done()

    tasks = [asyncio.create_task(waiter()) for _ in range(n)]
    await asyncio_settle()
    clock.start()
    slot.value = 1
    slot.event.set()
    await asyncio.gather(*tasks)
    return clock.elapsed


def fanout_variants(*, collector_paused: bool = False) -> tuple[Variant, ...]:
    """The fan-out variants; with ``collector_paused``, each with the garbage
    collector off in its timed window (see ``_common.collector_paused``)."""
    wrap = _common.collector_paused if collector_paused else _unchanged
    return (
        Variant("trio_promise", wrap(on_trio(fanout_ours))),
        Variant(FLOOR, wrap(on_trio(fanout_floor)), note="trio.Event + slot"),
        Variant(
            EVENT_CLASS, wrap(on_trio(fanout_event_class)), note=EVENT_CLASS_NOTE
        ),
        Variant("aioresult", wrap(on_trio(fanout_aioresult)), note="aioresult.Future"),
        Variant("anyio", wrap(on_trio(fanout_anyio)), note="anyio.Future"),
        Variant(
            "asyncio",
            wrap(on_asyncio(fanout_asyncio)),
            baseline=ASYNCIO_FLOOR,
            note=ASYNCIO_NOTE,
        ),
        Variant(
            ASYNCIO_FLOOR,
            wrap(on_asyncio(fanout_asyncio_floor)),
            baseline=ASYNCIO_FLOOR,
            note="asyncio.Event + slot",
        ),
    )


def _unchanged(run: Callable[[int], float]) -> Callable[[int], float]:
    return run


# -- memory: bytes retained per pending future with no waiters ----------------


def retained_bytes(factory: Callable[[], object], n: int) -> float:
    """Bytes that ``n`` objects made by ``factory`` keep alive, per object.

    GC is off so that nothing is collected (or allocated by the collector)
    between the two readings; the list that holds the objects is allocated
    before the first reading, so only the objects themselves are counted.
    """
    holder: list[object] = [None] * n
    was_enabled = gc.isenabled()
    gc.disable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            holder[i] = factory()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        if was_enabled:
            gc.enable()
    del holder
    return (after - before) / n


MEMORY_NOTES = {
    "trio_promise": "Future()",
    "aioresult": "aioresult.Future()",
    "anyio": "anyio.Future(): makes its Event at once",
    "trio.Event": "trio.Event()",
    FLOOR: "trio.Event + slot object",
    "asyncio": "asyncio.Future() (outside reference)",
}


# (name, note, factory); the factories run inside trio.run (anyio needs it).
def memory_factories(
    loop: asyncio.AbstractEventLoop,
) -> list[tuple[str, str, Callable[[], object]]]:
    factories: list[tuple[str, Callable[[], object]]] = [
        ("trio_promise", Future),
        ("aioresult", aioresult.Future),
        ("anyio", anyio.Future),
        ("trio.Event", trio.Event),
        (FLOOR, Slot),
        ("asyncio", loop.create_future),
    ]
    return [(name, MEMORY_NOTES[name], factory) for name, factory in factories]


def measure_memory(n: int, repeats: int) -> list[tuple[str, str, float]]:
    """Bytes per pending future for each variant (the smallest of ``repeats``)."""
    loop = asyncio.new_event_loop()
    try:
        factories = memory_factories(loop)

        # Inside trio.run, because anyio.Future() needs a running loop.
        async def main() -> list[tuple[str, str, float]]:
            await trio.lowlevel.checkpoint()
            rows: list[tuple[str, str, float]] = []
            for name, note, factory in factories:
                best = min(retained_bytes(factory, n) for _ in range(repeats))
                # Objects are whole multiples of 8 bytes; what is left over is
                # the loop's own int and tracemalloc's bookkeeping, over n.
                rows.append((name, note, float(round(best))))
            return rows

        return trio.run(main)
    finally:
        loop.close()
