"""No cyclic garbage: every failure path is freed by reference counting.

API.md section 1, "No cyclic garbage", and STYLE.md rule 9. A frame of ours
that raises a stored exception, or a task body that stores one, ends up in
the exception's traceback; if that frame still holds the future (or the
exception) as it leaves, the future, the exception and every frame of the
traceback (with their locals: a failed task's response body, say) form a
reference cycle that only the garbage collector frees (trio#1770).

The sweep runs each failure path ``ROUNDS`` times with the collector off
and asks ``gc.collect()`` how much it had to free: it must be 0. A plain
trio nursery with a failing task is the control: it makes none either.

Each round is written the way a careful user writes it: the round's own
frame drops its references (``del``) before it returns, since the user's
frames are in the traceback too and are the user's business.
"""

# ruff: noqa: SIM105
# (Each round is written as a user writes it, with try/except, on purpose:
# contextlib.suppress would add frames of its own to the path under test.)

from __future__ import annotations

import gc
import sys
import weakref
from typing import TYPE_CHECKING, Any

import outcome
import pytest
import trio
import trio.testing

from trio_promise import (
    BrokenPromiseError,
    Correlator,
    Future,
    as_completed,
    race,
    spawn,
    wait_all,
    wait_any,
    wait_settled,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Generator

ROUNDS = 100


def _failed(message: str = "failed") -> Future[int]:
    fut: Future[int] = Future()
    fut.set_exception(ValueError(message))
    return fut


async def _boom() -> int:
    await trio.lowlevel.checkpoint()
    raise ValueError("boom")


# -- one round of each failure path --------------------------------------------


async def _nursery_control() -> None:
    # Not ours: trio itself, for comparison.
    try:
        async with trio.open_nursery() as nursery:  # noqa: ASYNC112 (the control)
            nursery.start_soon(_boom)
    except BaseExceptionGroup:
        pass


async def _get() -> None:
    fut = _failed()
    try:
        await fut.get()
    except ValueError:
        pass
    del fut


async def _waiter(fut: Future[int]) -> None:
    try:
        await fut.get()
    except ValueError:
        pass
    del fut


async def _get_from_many_waiters() -> None:
    fut: Future[int] = Future()
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(_waiter, fut)
        await trio.testing.wait_all_tasks_blocked()
        fut.set_exception(ValueError("shared"))
    del fut


async def _get_nowait() -> None:  # noqa: ASYNC124 (async like every round)
    fut = _failed()
    try:
        fut.get_nowait()
    except ValueError:
        pass
    del fut


async def _outcome_unwrapped() -> None:
    fut = _failed()
    result = await fut.outcome()
    try:
        result.unwrap()
    except ValueError:
        pass
    del fut, result


async def _wait_all_settled_input() -> None:
    futs = [Future[int](), _failed()]
    futs[0].set_result(1)
    try:
        await wait_all(futs)
    except ValueError:
        pass
    del futs


async def _wait_all_failing_while_waiting() -> None:
    futs = [Future[int](), Future[int]()]

    async def fail_later(fut: Future[int]) -> None:
        await trio.lowlevel.checkpoint()
        fut.set_exception(ValueError("later"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fail_later, futs[1])
        try:
            await wait_all(futs)
        except ValueError:
            pass
    del futs


async def _wait_settled() -> None:
    futs = [_failed(), _failed()]
    results = await wait_settled(futs)
    assert isinstance(results[0], outcome.Error)
    del futs, results


async def _wait_any() -> None:
    futs = [Future[int](), _failed()]
    first = await wait_any(futs)
    try:
        first.get_nowait()
    except ValueError:
        pass
    del futs, first


async def _as_completed() -> None:
    futs = [_failed(), _failed()]
    fut = futs[0]
    async for fut in as_completed(futs):
        try:
            fut.get_nowait()
        except ValueError:
            pass
    del futs, fut


async def _spawn_failing_kept() -> None:
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, _boom, propagate=False)
    try:
        await fut.get()
    except ValueError:
        pass
    del fut


async def _spawn_failing_propagated() -> None:
    try:
        async with trio.open_nursery() as nursery:
            spawn(nursery, _boom)
    except BaseExceptionGroup:
        pass


async def _spawn_cancelled() -> None:
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, trio.sleep_forever)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    try:
        await fut.get()
    except BrokenPromiseError:
        pass
    del fut


async def _spawn_cancelled_by_its_scope() -> None:
    scope = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, trio.sleep_forever, cancel_scope=scope)
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()
    try:
        await fut.get()
    except BrokenPromiseError:
        pass
    del fut, scope


async def _spawn_limiter_failing() -> None:
    capacity = trio.CapacityLimiter(1)
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, _boom, limiter=capacity, propagate=False)
    try:
        await fut.get()
    except ValueError:
        pass
    del fut, capacity


async def _correlator_close() -> None:
    replies: Correlator[int, str] = Correlator()

    async def caller(replies: Correlator[int, str]) -> None:
        with replies.expect(1) as fut:
            try:
                await fut.get()
            except BrokenPromiseError:
                pass
        del fut, replies

    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller, replies)
        await trio.testing.wait_all_tasks_blocked()
        replies.close(ValueError("connection lost"))
    del replies


async def _correlator_fail() -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(1) as fut:
        replies.fail(1, ValueError("error reply"))
        try:
            await fut.get()
        except ValueError:
            pass
    del fut, replies


class _Closed(Exception):
    """A protocol's own 'connection closed' error, for close(error=)."""


async def _closed_caller(replies: Correlator[int, str]) -> None:
    fut: Future[str] | None = None
    try:
        with replies.expect(replies.next_key()) as fut:
            await fut.get()
    except _Closed:
        pass
    del fut, replies


async def _correlator_close_error() -> None:
    # One error shared by the pending callers and the later ones: raised
    # from get(), from expect() and from next_key().
    replies: Correlator[int, str] = Correlator(keys=range(1, 10))
    async with trio.open_nursery() as nursery:
        for _ in range(2):
            nursery.start_soon(_closed_caller, replies)
        await trio.testing.wait_all_tasks_blocked()
        replies.close(ValueError("connection lost"), error=_Closed("closed"))
    await _closed_caller(replies)
    try:
        replies.next_key()
    except _Closed:
        pass
    del replies


async def _correlator_close_later_caller() -> None:
    # Without error=: a later caller's BrokenPromiseError chains the cause.
    replies: Correlator[int, str] = Correlator(keys=range(1, 10))
    replies.close(ValueError("connection lost"))
    try:
        with replies.expect(1):
            pass
    except BrokenPromiseError:
        pass
    try:
        replies.next_key()
    except BrokenPromiseError:
        pass
    del replies


async def _correlator_quarantine() -> None:
    # A request abandoned into quarantine, its late reply, and the refused
    # reuse of its id.
    replies: Correlator[int, str] = Correlator(keys=range(1, 3), quarantine=60)
    key = replies.next_key()
    with trio.move_on_after(0), replies.expect(key) as fut:
        await fut.get()
    try:
        fut.get_nowait()
    except BrokenPromiseError:
        pass
    replies.resolve(key, "late")
    try:
        with replies.expect(key):
            pass
    except ValueError:
        pass
    del fut, replies


async def _race_all_failing() -> None:
    async def other() -> int:
        await trio.lowlevel.checkpoint()
        raise KeyError("other")

    try:
        await race(_boom, other)
    except BaseExceptionGroup:
        pass


PATHS: dict[str, Callable[[], Awaitable[None]]] = {
    "trio nursery (control)": _nursery_control,
    "get": _get,
    "get, three waiters": _get_from_many_waiters,
    "get_nowait": _get_nowait,
    "outcome + unwrap": _outcome_unwrapped,
    "wait_all, failed input": _wait_all_settled_input,
    "wait_all, failing while waiting": _wait_all_failing_while_waiting,
    "wait_settled": _wait_settled,
    "wait_any": _wait_any,
    "as_completed": _as_completed,
    "spawn failing, propagate=False": _spawn_failing_kept,
    "spawn failing, propagate=True": _spawn_failing_propagated,
    "spawn cancelled": _spawn_cancelled,
    "spawn cancelled by its cancel_scope": _spawn_cancelled_by_its_scope,
    "spawn failing with a limiter": _spawn_limiter_failing,
    "Correlator close": _correlator_close,
    "Correlator fail": _correlator_fail,
    "Correlator close(error=)": _correlator_close_error,
    "Correlator close, a later caller": _correlator_close_later_caller,
    "Correlator quarantine": _correlator_quarantine,
    "race, all failing": _race_all_failing,
}


@pytest.fixture
def collector_off() -> Generator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("name", list(PATHS))
async def test_failure_path_leaves_no_cyclic_garbage(
    name: str, collector_off: None
) -> None:
    path = PATHS[name]
    await path()  # warm-up: caches, first-use allocations
    gc.collect()
    for _ in range(ROUNDS):
        await path()
    assert gc.collect() == 0, f"{name}: reference cycles left for the collector"


async def test_a_failed_tasks_locals_are_freed_with_the_future(
    collector_off: None,
) -> None:
    # What the rule is for: a large object in the failing task's frame lives
    # as long as the exception's traceback, and so as long as the future;
    # once the last reference to the future goes, it goes too, at once.
    class Body:
        """Stands in for a large response body."""

    refs: list[weakref.ref[Body]] = []

    async def fetch() -> int:
        body = Body()
        refs.append(weakref.ref(body))
        await trio.lowlevel.checkpoint()
        raise ValueError("bad reply")

    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, fetch, propagate=False)
    with pytest.raises(ValueError, match=r"^bad reply$"):
        await fut.get()
    assert refs[0]() is not None  # kept by the traceback, as it should be
    del fut
    assert refs[0]() is None


async def test_shared_exception_keeps_its_context_and_traceback_length() -> None:
    # The re-raise that keeps __context__ must not cost a growing traceback.
    fut = _failed("shared")
    original = fut.outcome_nowait()
    assert isinstance(original, outcome.Error)
    lengths: list[int] = []
    for _ in range(3):
        try:
            raise KeyError("the waiter's own")
        except KeyError:
            try:
                await fut.get()
            except ValueError as exc:
                assert exc.__context__ is None  # noqa: PT017
                tb: Any = exc.__traceback__
                count = 0
                while tb is not None:
                    count += 1
                    tb = tb.tb_next
                lengths.append(count)
    assert lengths[0] == lengths[1] == lengths[2]
    del fut
