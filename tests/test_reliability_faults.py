"""Reliability: producers that die, readers that crash, threads that race.

Whatever goes wrong on the producing side, three things must hold:

* no waiter hangs (every test is bounded by ``trio.fail_after``: on the
  autojump clock, where a hang becomes TooSlowError, or as a plain safety net
  in the tests that use real threads);
* no waiter gets ``trio.Cancelled`` unless its own scope was cancelled (the
  waiters here run shielded, or in a nursery that nothing cancels, and
  record exactly what they saw);
* every failure reaches somebody: the nursery that owns the producer, the
  waiters (as the failure itself or as ``BrokenPromiseError`` chained to it),
  or the caller of ``trio.run``.
"""

from __future__ import annotations

import re
import sys
import threading
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import outcome
import pytest
import trio
import trio.testing

from trio_promise import (
    AlreadySetError,
    BrokenPromiseError,
    Correlator,
    Future,
    RateLimiter,
    as_completed,
    spawn,
    wait_all,
    wait_any,
    wait_settled,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

DEADLINE = 100  # virtual seconds on the autojump clock


class _Waiters:
    """Watch one future in every way a user can, and record what each saw.

    Each watcher runs shielded, so that only the future can end it: if it
    ended with ``Cancelled``, that cancellation came from somewhere it must
    not (the record would say so, and ``check`` fails).
    """

    KINDS = ("get", "outcome", "wait_all", "wait_any", "wait_settled", "as_completed")

    def __init__(self, fut: Future[Any]) -> None:
        self.fut = fut
        self.seen: dict[str, outcome.Outcome[Any]] = {}

    async def _watch(self, kind: str) -> None:
        fut = self.fut
        result: Any = None
        with trio.CancelScope(shield=True):
            try:
                if kind == "get":
                    result = await fut.get()
                elif kind == "outcome":
                    result = (await fut.outcome()).unwrap()
                elif kind == "wait_all":
                    [result] = await wait_all([fut])
                elif kind == "wait_any":
                    result = (await wait_any([fut])).get_nowait()
                elif kind == "wait_settled":
                    first, again = await wait_settled([fut, fut])
                    assert first is not again  # fresh outcomes, per position
                    result = first.unwrap()
                else:
                    async for each in as_completed([fut, fut]):
                        result = each.get_nowait()
            except Exception as exc:
                self.seen[kind] = outcome.Error(exc)
                return
            except BaseException as exc:  # recorded, then let go as usual
                self.seen[kind] = outcome.Error(exc)
                raise
            self.seen[kind] = outcome.Value(result)

    def start(self, nursery: trio.Nursery) -> None:
        for kind in self.KINDS:
            nursery.start_soon(self._watch, kind, name=f"watch by {kind}")

    def errors(self) -> list[BaseException]:
        """Return what each watcher raised; fail if any hung or got a value."""
        assert set(self.seen) == set(self.KINDS), f"hung: {self.seen}"
        errors: list[BaseException] = []
        for kind, seen in self.seen.items():
            assert isinstance(seen, outcome.Error), (kind, seen)
            assert not isinstance(seen.error, trio.Cancelled), kind
            errors.append(seen.error)
        return errors


# -- spawned producers that die ----------------------------------------------


async def test_cancelled_producer_breaks_the_promise_for_outside_waiters(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def producer() -> int:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as outside, trio.open_nursery() as inside:
            fut = spawn(inside, producer)
            waiters = _Waiters(fut)
            waiters.start(outside)
            await trio.testing.wait_all_tasks_blocked()
            assert fut.statistics().tasks_waiting == len(_Waiters.KINDS)
            inside.cancel_scope.cancel()
    errors = waiters.errors()
    assert all(exc is errors[0] for exc in errors)  # one shared object
    assert isinstance(errors[0], BrokenPromiseError)
    assert errors[0].__cause__ is None  # a Cancelled is never kept
    assert errors[0].__suppress_context__
    assert str(errors[0]).startswith("task ")
    assert str(errors[0]).endswith(" was cancelled before it produced a result")


async def test_producer_cancelled_by_a_deadline_while_waiting_for_limiters(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Cancelled before it even started (queued on a RateLimiter): still broken."""
    rate = RateLimiter(1, burst=1)
    capacity = trio.CapacityLimiter(1)

    async def producer(i: int) -> int:
        await trio.sleep(10)
        return i

    watchers: list[_Waiters] = []
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as outside:
            with trio.move_on_after(5):
                async with trio.open_nursery() as inside:
                    for i in range(4):
                        fut = spawn(inside, producer, i, limiter=(rate, capacity))
                        watchers.append(_Waiters(fut))
                        watchers[-1].start(outside)
                    await trio.testing.wait_all_tasks_blocked()
                    for w in watchers:
                        assert w.fut.statistics().tasks_waiting == len(w.KINDS)
    assert len(watchers) == 4
    for w in watchers:
        errors = w.errors()
        assert isinstance(errors[0], BrokenPromiseError)
        assert errors[0].__cause__ is None
    assert rate.statistics().tasks_waiting == 0
    assert capacity.statistics().borrowed_tokens == 0


async def test_failing_producer_reaches_the_nursery_and_every_waiter(
    autojump_clock: trio.abc.Clock,
) -> None:
    boom = ValueError("boom")

    async def producer() -> int:
        await trio.sleep(1)
        raise boom

    found: list[_Waiters] = []
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as outside:
            with pytest.RaisesGroup(
                pytest.RaisesExc(ValueError, match=r"^boom$")
            ) as caught:
                async with trio.open_nursery() as inside:
                    found.append(_Waiters(spawn(inside, producer)))
                    found[0].start(outside)
                    await trio.testing.wait_all_tasks_blocked()
    assert caught.value.exceptions[0] is boom
    [waiters] = found
    assert all(exc is boom for exc in waiters.errors())


async def test_producer_dying_of_a_group_keeps_only_the_real_cause(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Cancelled while a child crashes in its cleanup: the crash is the cause.

    The producer's own nursery raises a BaseExceptionGroup of Cancelled and
    the crash. spawn() must store BrokenPromiseError chained to the part that
    is not Cancelled, and the crash must still reach the owning nursery.
    """
    crash = OSError("disk on fire")

    async def child_crashes_in_cleanup() -> None:
        try:
            await trio.sleep_forever()
        finally:
            raise crash

    async def producer() -> int:
        async with trio.open_nursery() as own:
            own.start_soon(child_crashes_in_cleanup)
            await trio.sleep_forever()
        raise AssertionError("unreachable")

    found: list[_Waiters] = []
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as outside:
            with pytest.RaisesGroup(
                pytest.RaisesGroup(pytest.RaisesExc(OSError, match=r"^disk on fire$"))
            ) as caught:
                async with trio.open_nursery() as inside:
                    found.append(_Waiters(spawn(inside, producer)))
                    found[0].start(outside)
                    await trio.testing.wait_all_tasks_blocked()
                    inside.cancel_scope.cancel()
    assert caught.value.exceptions[0].exceptions[0] is crash
    [waiters] = found
    errors = waiters.errors()
    assert all(exc is errors[0] for exc in errors)
    broken = errors[0]
    assert isinstance(broken, BrokenPromiseError)
    assert str(broken).endswith(" died of ExceptionGroup before it produced a result")
    assert pytest.RaisesGroup(OSError, flatten_subgroups=True).matches(broken.__cause__)
    cause = broken.__cause__
    assert isinstance(cause, ExceptionGroup)
    assert cause.split(OSError)[0] is not None


def test_producer_raising_keyboard_interrupt() -> None:
    """KeyboardInterrupt reaches trio.run's caller; waiters get a broken promise."""
    waiters: list[_Waiters] = []

    async def producer() -> int:
        await trio.sleep(1)
        raise KeyboardInterrupt

    async def main() -> None:
        with trio.fail_after(DEADLINE):
            async with trio.open_nursery() as outside, trio.open_nursery() as inside:
                waiters.append(_Waiters(spawn(inside, producer)))
                waiters[0].start(outside)
                await trio.testing.wait_all_tasks_blocked()

    clock = trio.testing.MockClock(autojump_threshold=0)
    with pytest.RaisesGroup(pytest.RaisesGroup(KeyboardInterrupt)):
        trio.run(main, clock=clock)
    [w] = waiters
    errors = w.errors()
    assert all(exc is errors[0] for exc in errors)
    assert isinstance(errors[0], BrokenPromiseError)
    assert isinstance(errors[0].__cause__, KeyboardInterrupt)
    assert str(errors[0]).endswith(
        " died of KeyboardInterrupt before it produced a result"
    )


def test_producer_raising_system_exit() -> None:
    """SystemExit, like KeyboardInterrupt: out of trio.run, broken for waiters."""
    waiters: list[_Waiters] = []
    code = SystemExit(3)

    async def producer() -> int:
        await trio.sleep(1)
        raise code

    async def main() -> None:
        with trio.fail_after(DEADLINE):
            async with trio.open_nursery() as outside, trio.open_nursery() as inside:
                waiters.append(_Waiters(spawn(inside, producer)))
                waiters[0].start(outside)
                await trio.testing.wait_all_tasks_blocked()

    clock = trio.testing.MockClock(autojump_threshold=0)
    with pytest.RaisesGroup(pytest.RaisesGroup(SystemExit)) as caught:
        trio.run(main, clock=clock)
    assert caught.value.exceptions[0].exceptions[0] is code
    assert waiters[0].errors()[0].__cause__ is code


# -- a Correlator whose reader dies mid-stream -------------------------------


@dataclass
class _Session:
    """What a correlated session left behind (see ``_correlated_session``)."""

    replies: Correlator[int, str]
    seen: dict[int, outcome.Outcome[str]]  # what each caller saw
    answered: list[int]  # the ids the reader resolved, in order
    reader_end: outcome.Outcome[None]  # how the reader ended


async def _correlated_session(
    reader_end_body: Callable[[Correlator[int, str]], Awaitable[None]],
    requests: int,
    answer_first: int,
) -> _Session:
    """Callers in one nursery, the reader in another, on one Correlator.

    Each caller registers its id, "sends" it and waits (shielded, so that
    only the correlator can end its wait). The reader answers
    ``answer_first`` requests in wire order, then ends by running
    ``reader_end_body(replies)``, all under ``with replies:``, so the
    correlator is closed with whatever ended the reader.
    """
    replies: Correlator[int, str] = Correlator()
    seen: dict[int, outcome.Outcome[str]] = {}
    answered: list[int] = []
    wire_send, wire_recv = trio.open_memory_channel[int](requests)

    async def caller(msg_id: int) -> None:
        with trio.CancelScope(shield=True):
            try:
                with replies.expect(msg_id) as fut:
                    wire_send.send_nowait(msg_id)
                    seen[msg_id] = outcome.Value(await fut.get())
            except Exception as exc:
                seen[msg_id] = outcome.Error(exc)
            assert msg_id not in replies

    async def reader() -> None:
        with replies:
            async for msg_id in wire_recv:
                await trio.sleep(1)
                assert replies.resolve(msg_id, f"reply {msg_id}")
                answered.append(msg_id)
                if len(answered) == answer_first:
                    break
            await reader_end_body(replies)

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as callers:
            for msg_id in range(requests):
                callers.start_soon(caller, msg_id)
            await trio.testing.wait_all_tasks_blocked()
            assert len(replies) == requests
            reader_end = await outcome.acapture(reader)
    return _Session(replies, seen, answered, reader_end)


def _check_callers(session: _Session, requests: int) -> list[BrokenPromiseError]:
    """Each caller got its own reply or a BrokenPromiseError; return those."""
    assert sorted(session.seen) == list(range(requests))  # every caller ended
    broken: list[BrokenPromiseError] = []
    for msg_id, each in session.seen.items():
        if msg_id in session.answered:
            assert each == outcome.Value(f"reply {msg_id}")  # its own, nobody else's
        else:
            assert isinstance(each, outcome.Error)
            assert isinstance(each.error, BrokenPromiseError)
            # "in flight" counts the requests without a reply: an answered
            # key is freed at once, even while its caller is still in its
            # 'with' block.
            unanswered = requests - len(session.answered)
            assert re.fullmatch(
                rf"the correlator was closed with {unanswered} requests in flight, "
                rf"so no reply will come for key {msg_id}",
                str(each.error),
            )
            broken.append(each.error)
    assert len(broken) == requests - len(session.answered)
    assert session.replies.closed
    assert len(session.replies) == 0
    with (
        pytest.raises(BrokenPromiseError, match=r"^the correlator is closed, so "),
        session.replies.expect(requests),
    ):
        pytest.fail("a closed correlator registers nothing")  # pragma: no cover
    assert len(session.replies) == 0
    return broken


async def test_correlator_reader_crashing_mid_stream(
    autojump_clock: trio.abc.Clock,
) -> None:
    crash = ConnectionResetError("peer went away")

    async def crash_now(replies: Correlator[int, str]) -> None:
        await trio.lowlevel.checkpoint()  # the next read from the stream
        raise crash

    session = await _correlated_session(crash_now, requests=50, answer_first=20)
    broken = _check_callers(session, 50)
    assert len(broken) == 30
    assert all(exc.__cause__ is crash for exc in broken)
    # The crash also went on, unchanged, to whoever ran the reader.
    assert isinstance(session.reader_end, outcome.Error)
    assert session.reader_end.error is crash


async def test_correlator_reader_cancelled_mid_stream(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A reader cancelled (a connection deadline, say): no Cancelled is kept."""

    async def cancelled_now(replies: Correlator[int, str]) -> None:
        with trio.move_on_after(1), replies:  # closes with Cancelled as cause
            await trio.sleep_forever()

    session = await _correlated_session(cancelled_now, requests=10, answer_first=3)
    broken = _check_callers(session, 10)
    assert all(exc.__cause__ is None for exc in broken)
    assert session.reader_end == outcome.Value(None)


async def test_correlator_reader_dying_of_a_group_with_cancellations(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Cancelled while a child crashes: the cause keeps the crash, not Cancelled."""
    crash = EOFError("stream ended")

    async def child_crashes_in_cleanup() -> None:
        try:
            await trio.sleep_forever()
        finally:
            raise crash

    async def crash_in_a_child(replies: Correlator[int, str]) -> None:
        with trio.move_on_after(1), replies:
            # replies sees BaseExceptionGroup([Cancelled, EOFError]) here.
            async with trio.open_nursery() as nursery:
                nursery.start_soon(child_crashes_in_cleanup)
                await trio.sleep_forever()

    session = await _correlated_session(crash_in_a_child, requests=10, answer_first=5)
    broken = _check_callers(session, 10)
    cause = broken[0].__cause__
    assert all(exc.__cause__ is cause for exc in broken)
    # Exactly the crash: the Cancelled part of the group was dropped.
    assert pytest.RaisesGroup(
        pytest.RaisesExc(EOFError, match=r"^stream ended$")
    ).matches(cause)
    assert isinstance(cause, ExceptionGroup)
    assert isinstance(session.reader_end, outcome.Error)
    # And the crash went on to whoever ran the reader, without the Cancelled.
    assert pytest.RaisesGroup(EOFError).matches(session.reader_end.error)


# -- a thread handoff from 8 threads at once ---------------------------------

THREADS = 8
ROUNDS = 25


def _worker(
    setter_name: str,
    i: int,
    fut: Future[int],
    barrier: threading.Barrier,
    calls: list[Any],
) -> None:
    """In a worker thread: wait for the others, then settle through trio."""
    barrier.wait(timeout=30)
    setter = getattr(fut, setter_name)
    arg: Any = i if setter_name.endswith("result") else ValueError(i)
    try:
        calls[i] = ("returned", trio.from_thread.run_sync(setter, arg), arg)
    except AlreadySetError as exc:
        calls[i] = ("raised", exc, arg)


async def _race_from_threads(
    setter_name: str, rounds: int
) -> list[tuple[list[Any], list[outcome.Outcome[int]]]]:
    """``THREADS`` threads settle one future at once; ``rounds`` times over.

    Each worker thread waits at a barrier (so they really go together) and
    then hands the setter to trio with ``trio.from_thread.run_sync``. No
    callback is registered anywhere: the waiters simply ``await``.
    Returns, per round, what each thread's call gave and what each waiter saw.
    """

    async def waiter(fut: Future[int], seen: list[outcome.Outcome[int]]) -> None:
        seen.append(await fut.outcome())

    results: list[tuple[list[Any], list[outcome.Outcome[int]]]] = []
    for _ in range(rounds):
        fut: Future[int] = Future()
        barrier = threading.Barrier(THREADS)
        calls: list[Any] = [None] * THREADS
        seen: list[outcome.Outcome[int]] = []
        # A safety net only (real threads, real clock): nothing is timed.
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    nursery.start_soon(waiter, fut, seen)
                await trio.testing.wait_all_tasks_blocked()
                for i in range(THREADS):
                    work = partial(_worker, setter_name, i, fut, barrier, calls)
                    nursery.start_soon(trio.to_thread.run_sync, work)
        results.append((calls, seen))
    return results


@pytest.mark.parametrize(
    "setter_name",
    ["set_result", "try_set_result", "set_exception", "try_set_exception"],
)
async def test_thread_handoff_from_8_threads_at_once(setter_name: str) -> None:
    for calls, seen in await _race_from_threads(setter_name, ROUNDS):
        if setter_name.startswith("try_"):
            won = [c for c in calls if c[1] is True]
            lost = [c for c in calls if c[1] is False]
        else:
            won = [c for c in calls if c[0] == "returned"]
            lost = [c for c in calls if c[0] == "raised"]
            for c in lost:
                assert str(c[1]).startswith("<trio_promise.Future ")
                assert " is already settled; consider try_set_" in str(c[1])
        assert len(won) == 1
        assert len(lost) == THREADS - 1
        winner_arg = won[0][2]
        assert len(seen) == 5
        for each in seen:
            if isinstance(winner_arg, int):
                assert each == outcome.Value(winner_arg)
            else:
                assert isinstance(each, outcome.Error)
                assert each.error is winner_arg


async def test_thread_producer_spawned_into_a_future() -> None:
    """A blocking function run in a thread, spawned: its result reaches waiters."""

    def blocking(i: int) -> int:
        return i * i

    with trio.fail_after(60):  # a safety net only
        async with trio.open_nursery() as nursery:
            futures = [
                spawn(nursery, trio.to_thread.run_sync, blocking, i)
                for i in range(THREADS)
            ]
            assert await wait_all(futures) == [i * i for i in range(THREADS)]
