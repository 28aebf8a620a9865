"""Correlation: many requests in flight, replies matched back by id.

``callers`` tasks each send ``per_caller`` requests one after the other, so
that ``callers`` requests are in flight at any time. The transport is the same
for every variant: an unbounded trio memory channel to an echo server task,
and another one back to a reader task that matches each reply to its waiting
caller. Only the matching differs: trio_promise's ``Correlator``, the floor's
dict of ``trio.Event`` + slot objects, and dicts of aioresult's or anyio's
futures.

The callers start parked on a start signal (outside the timed window); the
window runs from that signal until the last caller has its last reply.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, TypeAlias

import aioresult
import anyio
import trio
import trio.testing

from trio_promise import Correlator

from ._common import Clock, Slot, on_trio
from ._harness import FLOOR, Variant

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

Message: TypeAlias = "tuple[int, int]"
Send: TypeAlias = "trio.MemorySendChannel[Message]"
Receive: TypeAlias = "trio.MemoryReceiveChannel[Message]"
# call(key, value, send) -> the reply's value
Call: TypeAlias = "Callable[[int, int, Send], Awaitable[int]]"
# deliver(key, value) for every reply that arrives
Deliver: TypeAlias = "Callable[[int, int], object]"


async def exchange(
    callers: int, per_caller: int, call: Call, deliver: Deliver
) -> float:
    """Run the whole exchange; return the seconds from start to last reply."""
    requests_send, requests_receive = trio.open_memory_channel[Message](math.inf)
    replies_send, replies_receive = trio.open_memory_channel[Message](math.inf)
    go = trio.Event()
    clock = Clock(callers)

    async def server(receive: Receive, send: Send) -> None:
        async with receive, send:
            async for key, value in receive:
                await send.send((key, value))

    async def reader(receive: Receive) -> None:
        async with receive:
            async for key, value in receive:
                deliver(key, value)

    async def caller(first_key: int, send: Send) -> None:
        async with send:
            await go.wait()
            for key in range(first_key, first_key + per_caller):
                reply = await call(key, key, send)
                assert reply == key
        clock.one_done()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server, requests_receive, replies_send)
        nursery.start_soon(reader, replies_receive)
        async with requests_send:
            for i in range(callers):
                nursery.start_soon(caller, i * per_caller, requests_send.clone())
        await trio.testing.wait_all_tasks_blocked()
        start = time.perf_counter()
        go.set()
    return clock.end - start


def correlation_ours(per_caller: int) -> Callable[[int], Awaitable[float]]:
    async def main(callers: int) -> float:
        replies: Correlator[int, int] = Correlator()

        async def call(key: int, value: int, send: Send) -> int:
            with replies.expect(key) as fut:
                await send.send((key, value))
                return await fut.get()

        return await exchange(callers, per_caller, call, replies.resolve)

    return main


def correlation_floor(per_caller: int) -> Callable[[int], Awaitable[float]]:
    async def main(callers: int) -> float:
        pending: dict[int, Slot] = {}

        async def call(key: int, value: int, send: Send) -> int:
            slot = pending[key] = Slot()
            try:
                await send.send((key, value))
                await slot.event.wait()
                reply = slot.value
                assert isinstance(reply, int)
                return reply
            finally:
                del pending[key]

        def deliver(key: int, value: int) -> None:
            slot = pending.get(key)
            if slot is not None and not slot.event.is_set():
                slot.value = value
                slot.event.set()

        return await exchange(callers, per_caller, call, deliver)

    return main


def correlation_aioresult(per_caller: int) -> Callable[[int], Awaitable[float]]:
    async def main(callers: int) -> float:
        pending: dict[int, aioresult.Future[int]] = {}

        async def call(key: int, value: int, send: Send) -> int:
            fut = pending[key] = aioresult.Future[int]()
            try:
                await send.send((key, value))
                await fut.wait_done()
                return fut.result()
            finally:
                del pending[key]

        def deliver(key: int, value: int) -> None:
            fut = pending.get(key)
            if fut is not None and not fut.is_done():
                fut.set_result(value)

        return await exchange(callers, per_caller, call, deliver)

    return main


def correlation_anyio(per_caller: int) -> Callable[[int], Awaitable[float]]:
    async def main(callers: int) -> float:
        pending: dict[int, anyio.Future[int]] = {}

        async def call(key: int, value: int, send: Send) -> int:
            fut = pending[key] = anyio.Future[int]()
            try:
                await send.send((key, value))
                return await fut
            finally:
                del pending[key]

        def deliver(key: int, value: int) -> None:
            fut = pending.get(key)
            if fut is not None and fut.status is anyio.Future.Status.PENDING:
                fut.return_value = value

        return await exchange(callers, per_caller, call, deliver)

    return main


def correlation_variants(per_caller: int) -> tuple[Variant, ...]:
    return (
        Variant(
            "trio_promise",
            on_trio(correlation_ours(per_caller)),
            note="Correlator: expect() / resolve()",
        ),
        Variant(
            FLOOR,
            on_trio(correlation_floor(per_caller)),
            note="dict of trio.Event + slot objects",
        ),
        Variant(
            "aioresult",
            on_trio(correlation_aioresult(per_caller)),
            note="dict of aioresult.Future",
        ),
        Variant(
            "anyio",
            on_trio(correlation_anyio(per_caller)),
            note="dict of anyio.Future",
        ),
    )
