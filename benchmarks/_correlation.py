"""Correlation: many requests in flight, replies matched back by id.

Three shapes, with the same transport for every variant: an unbounded trio
memory channel to an echo server task, and another one back to a reader task
that matches each reply to its waiting caller. Only the matching differs:
trio_promise's ``Correlator``, the floor's dict of ``trio.Event`` + slot
objects, and dicts of aioresult's or anyio's futures.

* **caller loop** ("correlation"): ``callers`` tasks each send ``per_caller``
  requests one after the other, so that ``callers`` requests are in flight at
  any time. The callers start parked on a start signal (outside the timed
  window); the window runs from that signal until the last caller has its
  last reply.
* **task per request** ("correlation, task per request"): the shape of a
  server handling independent calls. Every request runs in a task of its own,
  spawned inside the timed window; the window ends when the last of them has
  its reply.
* **quarantine** ("correlation, quarantine"): ``callers`` tasks each send
  ``per_caller`` requests with ids from ``next_key()`` in a 16-bit id space,
  and give up on every tenth (a timeout), so that its reply comes late. On a
  mock clock that the server moves on by 1 ms per reply, with a quarantine of
  10 s against none: what the quarantine costs per request, and how many keys
  it holds at its peak.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

import aioresult
import anyio
import trio
import trio.testing

from trio_promise import Correlator

from ._common import Clock, Slot, on_trio
from ._harness import FLOOR, OURS, Variant

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

Message: TypeAlias = "tuple[int, int]"
Send: TypeAlias = "trio.MemorySendChannel[Message]"
Receive: TypeAlias = "trio.MemoryReceiveChannel[Message]"
# call(key, value, send) -> the reply's value
Call: TypeAlias = "Callable[[int, int, Send], Awaitable[int]]"
# deliver(key, value) for every reply that arrives
Deliver: TypeAlias = "Callable[[int, int], object]"


async def _echo_server(receive: Receive, send: Send) -> None:
    """The peer: answers each request with its own key and value."""
    async with receive, send:
        async for key, value in receive:
            await send.send((key, value))


async def _reader(receive: Receive, deliver: Deliver) -> None:
    """The reader task: hands each reply to ``deliver``."""
    async with receive:
        async for key, value in receive:
            deliver(key, value)


async def exchange(
    callers: int, per_caller: int, call: Call, deliver: Deliver
) -> float:
    """Run the whole exchange; return the seconds from start to last reply."""
    requests_send, requests_receive = trio.open_memory_channel[Message](math.inf)
    replies_send, replies_receive = trio.open_memory_channel[Message](math.inf)
    go = trio.Event()
    clock = Clock(callers)

    async def caller(first_key: int, send: Send) -> None:
        async with send:
            await go.wait()
            for key in range(first_key, first_key + per_caller):
                reply = await call(key, key, send)
                assert reply == key
        clock.one_done()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_echo_server, requests_receive, replies_send)
        nursery.start_soon(_reader, replies_receive, deliver)
        async with requests_send:
            for i in range(callers):
                nursery.start_soon(caller, i * per_caller, requests_send.clone())
        await trio.testing.wait_all_tasks_blocked()
        start = time.perf_counter()
        go.set()
    return clock.end - start


async def spawned_exchange(requests: int, call: Call, deliver: Deliver) -> float:
    """Spawn a task per request inside the timed window; return its seconds.

    The window runs from the first ``start_soon`` to the last reply; the
    server and the reader are started, and parked, before it.
    """
    requests_send, requests_receive = trio.open_memory_channel[Message](math.inf)
    replies_send, replies_receive = trio.open_memory_channel[Message](math.inf)
    clock = Clock(requests)

    async def handle(key: int, send: Send) -> None:
        reply = await call(key, key, send)
        assert reply == key
        clock.one_done()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_echo_server, requests_receive, replies_send)
        nursery.start_soon(_reader, replies_receive, deliver)
        await trio.testing.wait_all_tasks_blocked()
        async with requests_send, trio.open_nursery() as handlers:
            clock.start()
            for key in range(requests):
                handlers.start_soon(handle, key, requests_send)
    return clock.elapsed


# What each variant does per request: its call() and the reader's deliver().
# ``Exchange`` is one of the shapes above: exchange (a caller loop, bound to
# its requests per caller) or spawned_exchange.
Exchange: TypeAlias = "Callable[[int, Call, Deliver], Awaitable[float]]"


def caller_loop(per_caller: int) -> Exchange:
    async def run(callers: int, call: Call, deliver: Deliver) -> float:
        return await exchange(callers, per_caller, call, deliver)

    return run


def correlation_ours(shape: Exchange) -> Callable[[int], Awaitable[float]]:
    async def main(size: int) -> float:
        replies: Correlator[int, int] = Correlator()

        async def call(key: int, value: int, send: Send) -> int:
            with replies.expect(key) as fut:
                await send.send((key, value))
                return await fut.get()

        return await shape(size, call, replies.resolve)

    return main


def correlation_ours_next_key(shape: Exchange) -> Callable[[int], Awaitable[float]]:
    """The Correlator as documented for a client: ids from ``next_key()``."""

    async def main(size: int) -> float:
        replies: Correlator[int, int] = Correlator(keys=range(1, 2**31))

        async def call(_: int, value: int, send: Send) -> int:
            key = replies.next_key()
            with replies.expect(key) as fut:
                await send.send((key, value))
                return await fut.get()

        return await shape(size, call, replies.resolve)

    return main


def correlation_floor(shape: Exchange) -> Callable[[int], Awaitable[float]]:
    async def main(size: int) -> float:
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

        return await shape(size, call, deliver)

    return main


def correlation_aioresult(shape: Exchange) -> Callable[[int], Awaitable[float]]:
    async def main(size: int) -> float:
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

        return await shape(size, call, deliver)

    return main


def correlation_anyio(shape: Exchange) -> Callable[[int], Awaitable[float]]:
    async def main(size: int) -> float:
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

        return await shape(size, call, deliver)

    return main


def _variants(shape: Exchange) -> tuple[Variant, ...]:
    return (
        Variant(
            OURS,
            on_trio(correlation_ours(shape)),
            note="Correlator: expect() / resolve()",
        ),
        Variant(
            FLOOR,
            on_trio(correlation_floor(shape)),
            note="dict of trio.Event + slot objects",
        ),
        Variant(
            "aioresult",
            on_trio(correlation_aioresult(shape)),
            note="dict of aioresult.Future",
        ),
        Variant(
            "anyio",
            on_trio(correlation_anyio(shape)),
            note="dict of anyio.Future",
        ),
    )


def correlation_variants(per_caller: int) -> tuple[Variant, ...]:
    """The caller loop: ``size`` callers, ``per_caller`` requests each."""
    return _variants(caller_loop(per_caller))


# The name of the extra variant of the task-per-request row.
NEXT_KEY = "trio_promise, next_key()"


def task_per_request_variants() -> tuple[Variant, ...]:
    """A task per request, spawned in the timed window; ``size`` requests."""
    return (
        *_variants(spawned_exchange),
        Variant(
            NEXT_KEY,
            on_trio(correlation_ours_next_key(spawned_exchange)),
            note="Correlator with ids from next_key() (keys=range(1, 2**31))",
        ),
    )


# -- quarantine -------------------------------------------------------------------

# A 16-bit id space (DNS, MQTT): 100,000 requests wrap around it.
QUARANTINE_KEYS = range(1, 2**16)
QUARANTINE_SECONDS = 10.0
# Mock seconds the server's clock moves on per reply.
TICK = 0.001
# One request in this many is abandoned by its caller (a timeout).
ABANDON_EVERY = 10
NO_QUARANTINE = "no quarantine"
DASH = "\N{EN DASH}"


@dataclass
class QuarantineProbe:
    """What the quarantine variant saw, run by run (for the report)."""

    peaks: list[int] = field(default_factory=list[int])
    late: list[int] = field(default_factory=list[int])
    abandoned: list[int] = field(default_factory=list[int])

    def facts(self) -> tuple[str, ...]:
        if not self.peaks:
            return ()
        return (
            f"peak quarantine size: {max(self.peaks):,} keys "
            f"(lowest peak of a run: {min(self.peaks):,}; "
            f"quarantine {QUARANTINE_SECONDS:g} s, {TICK * 1000:g} ms of the mock "
            f"clock per reply)",
            f"late replies counted: {min(self.late):,}{DASH}{max(self.late):,} "
            f"per run, of {max(self.abandoned):,} requests abandoned",
        )



def quarantine_run(
    callers: int, quarantine: float, probe: QuarantineProbe | None
) -> Callable[[int], float]:
    """``size`` requests from ``callers`` callers, on a mock clock."""

    async def main(requests: int) -> float:
        per_caller = requests // callers
        mock = trio.lowlevel.current_clock()
        assert isinstance(mock, trio.testing.MockClock)
        replies: Correlator[int, int] = Correlator(
            keys=QUARANTINE_KEYS, quarantine=quarantine
        )
        requests_send, requests_receive = trio.open_memory_channel[Message](math.inf)
        replies_send, replies_receive = trio.open_memory_channel[Message](math.inf)
        go = trio.Event()
        clock = Clock(callers)
        peak = abandoned = 0

        async def server(receive: Receive, send: Send) -> None:
            async with receive, send:
                async for key, value in receive:
                    mock.jump(TICK)
                    await send.send((key, value))

        async def caller(first: int, send: Send) -> None:
            nonlocal peak, abandoned
            async with send:
                await go.wait()
                for value in range(first, first + per_caller):
                    key = replies.next_key()
                    with replies.expect(key) as fut:
                        await send.send((key, value))
                        if value % ABANDON_EVERY:
                            assert await fut.get() == value
                            continue
                        with trio.move_on_after(0):
                            await fut.get()
                    abandoned += 1
                    peak = max(peak, replies.statistics().quarantined)
            clock.one_done()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(server, requests_receive, replies_send)
            nursery.start_soon(_reader, replies_receive, replies.resolve)
            async with requests_send:
                for i in range(callers):
                    nursery.start_soon(caller, i * per_caller, requests_send.clone())
            await trio.testing.wait_all_tasks_blocked()
            clock.start()
            go.set()
        if probe is not None:
            probe.peaks.append(peak)
            probe.late.append(replies.statistics().late_replies)
            probe.abandoned.append(abandoned)
        return clock.elapsed

    def run(callers: int) -> float:
        return trio.run(main, callers, clock=trio.testing.MockClock())

    return run


def quarantine_variants(callers: int, probe: QuarantineProbe) -> tuple[Variant, ...]:
    """With a quarantine of 10 s, against the same run without one."""
    return (
        Variant(
            OURS,
            quarantine_run(callers, QUARANTINE_SECONDS, probe),
            baseline=NO_QUARANTINE,
            note=f"Correlator(keys=range(1, 2**16), quarantine={QUARANTINE_SECONDS:g})",
        ),
        Variant(
            NO_QUARANTINE,
            quarantine_run(callers, 0.0, None),
            baseline=NO_QUARANTINE,
            note="Correlator(keys=range(1, 2**16)): the same run, quarantine=0",
        ),
    )
