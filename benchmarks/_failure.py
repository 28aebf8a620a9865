"""The failure path: a failed future read by many, and many failing tasks.

* **failure fan-out**: one ``set_exception`` wakes n parked waiters, each of
  which gets the exception raised and catches it. Timed as fan-out: from the
  set until the last waiter has caught it.
* **failing spawn + wait_settled**: n tasks that each raise, started with
  ``spawn(..., propagate=False)`` and joined with ``wait_settled``; timed
  from the first spawn until the outcomes are in hand, as spawn + wait_all.

The floors: for the fan-out, a ``trio.Event`` and two slots, the exception
and the traceback it had when stored, raised by each waiter with
``raise exc.with_traceback(tb)`` (what any shared exception needs, or its
traceback grows with every waiter; trio_promise does the same, and also
restores ``__context__``). For the failing tasks, nursery tasks that catch
the exception and write an ``outcome.Error`` into a preallocated list (the
same list of outcomes that ``wait_settled`` returns).

Peers: aioresult's ``Future.set_exception`` (``result()`` raises a fresh
``TaskFailedException`` from it) and ``ResultCapture(...,
suppress_exception=True)`` + ``aioresult.wait_all``; anyio's
``Future.exception = exc`` (``await fut`` raises a fresh ``FutureFailed``
from it). anyio has no equivalent of ``propagate=False``: a failing task
handle raises into its task group, so it has no failing-tasks variant.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import aioresult
import anyio
import outcome
import trio
import trio.testing

from trio_promise import Future, spawn, wait_settled

from ._common import Clock, on_trio
from ._harness import FLOOR, Variant

if TYPE_CHECKING:
    from types import TracebackType


class Boom(Exception):
    """The failure every variant raises."""


def fail() -> None:
    raise Boom("no reply")


def stored_error() -> Boom:
    """An exception with a traceback, as a producer would store it."""
    try:
        fail()
    except Boom as exc:
        return exc
    raise AssertionError("fail() returned")


# -- failure fan-out -----------------------------------------------------------


async def fail_fanout_ours(n: int) -> float:
    clock = Clock(n)
    fut: Future[int] = Future()
    error = stored_error()

    async def waiter() -> None:
        try:
            await fut.get()
        except Boom:
            clock.one_done()

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        start = time.perf_counter()
        fut.set_exception(error)
    return clock.end - start


class ErrorSlot:
    """The floor: a ``trio.Event``, the exception and its stored traceback."""

    __slots__ = ("error", "event", "traceback")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.error: BaseException | None = None
        self.traceback: TracebackType | None = None


async def fail_fanout_floor(n: int) -> float:
    clock = Clock(n)
    slot = ErrorSlot()
    error = stored_error()

    async def waiter() -> None:
        try:
            await slot.event.wait()
            exc = slot.error
            if exc is not None:
                raise exc.with_traceback(slot.traceback)
        except Boom:
            clock.one_done()

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        start = time.perf_counter()
        slot.error = error
        slot.traceback = error.__traceback__
        slot.event.set()
    return clock.end - start


async def fail_fanout_aioresult(n: int) -> float:
    clock = Clock(n)
    fut: aioresult.Future[int] = aioresult.Future()
    error = stored_error()

    async def waiter() -> None:
        await fut.wait_done()
        try:
            fut.result()
        except aioresult.TaskFailedException:
            clock.one_done()

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        start = time.perf_counter()
        fut.set_exception(error)
    return clock.end - start


async def fail_fanout_anyio(n: int) -> float:
    clock = Clock(n)
    fut: anyio.Future[int] = anyio.Future()
    error = stored_error()

    async def waiter() -> None:
        try:
            await fut
        except anyio.FutureFailed:
            clock.one_done()

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        start = time.perf_counter()
        fut.exception = error
    return clock.end - start


def fail_fanout_variants() -> tuple[Variant, ...]:
    return (
        Variant(
            "trio_promise",
            on_trio(fail_fanout_ours),
            note="set_exception(); each waiter catches it from get()",
        ),
        Variant(
            FLOOR,
            on_trio(fail_fanout_floor),
            note="trio.Event + exception + traceback slots; "
            "raise exc.with_traceback(tb)",
        ),
        Variant(
            "aioresult",
            on_trio(fail_fanout_aioresult),
            note="Future.set_exception(); result() raises TaskFailedException",
        ),
        Variant(
            "anyio",
            on_trio(fail_fanout_anyio),
            note="Future.exception = exc; await raises FutureFailed",
        ),
    )


# -- failing spawn + wait_settled ------------------------------------------------


class Work:
    """The work of each task: fail at once (a static method, so that the
    linters do not ask for it to be sync: it must be an async function)."""

    @staticmethod
    async def failing(i: int) -> int:
        raise Boom(i)


failing = Work.failing


async def fail_spawn_ours(n: int) -> float:
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        futures = [spawn(nursery, failing, i, propagate=False) for i in range(n)]
        results = await wait_settled(futures)
    elapsed = time.perf_counter() - start
    assert isinstance(results[-1], outcome.Error)
    return elapsed


async def fail_spawn_floor(n: int) -> float:
    start = time.perf_counter()
    results: list[outcome.Outcome[int] | None] = [None] * n

    async def run(i: int) -> None:
        try:
            results[i] = outcome.Value(await failing(i))
        except Exception as exc:
            results[i] = outcome.Error(exc)

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(run, i, name=failing)
    elapsed = time.perf_counter() - start
    assert isinstance(results[-1], outcome.Error)
    return elapsed


async def fail_spawn_aioresult(n: int) -> float:
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        captures = [
            aioresult.ResultCapture.start_soon(
                nursery, failing, i, suppress_exception=True
            )
            for i in range(n)
        ]
        await aioresult.wait_all(captures)
        errors = [c.exception() for c in captures]
    elapsed = time.perf_counter() - start
    assert isinstance(errors[-1], Boom)
    return elapsed


def fail_spawn_variants() -> tuple[Variant, ...]:
    return (
        Variant(
            "trio_promise",
            on_trio(fail_spawn_ours),
            note="spawn(propagate=False) + wait_settled()",
        ),
        Variant(
            FLOOR,
            on_trio(fail_spawn_floor),
            note="nursery tasks writing outcome.Error into a preallocated list",
        ),
        Variant(
            "aioresult",
            on_trio(fail_spawn_aioresult),
            note="ResultCapture(suppress_exception=True) + wait_all()",
        ),
    )
