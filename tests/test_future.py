"""Future: the write-once contract of API.md section 1, as a user sees it."""

from __future__ import annotations

import gc
import inspect
import sys
import traceback
from functools import partial
from typing import TYPE_CHECKING, Any

import outcome
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_promise import (
    AlreadySetError,
    Future,
    FutureStatistics,
    gather,
    spawn,
    wait_all,
    wait_any,
)

if TYPE_CHECKING:
    from collections.abc import Callable

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup


async def _collect(fut: Future[Any], into: list[Any]) -> None:
    into.append(await fut.get())


# -- construction and repr ---------------------------------------------------


def test_constructed_outside_trio_run() -> None:
    fut: Future[int] = Future()
    assert not fut.done()
    assert fut.statistics() == FutureStatistics(tasks_waiting=0)
    assert repr(fut) == "<trio_promise.Future pending, 0 waiting>"


def test_repr_states() -> None:
    fut: Future[Any] = Future()
    fut.set_result([1, 2])
    assert repr(fut) == "<trio_promise.Future result=[1, 2]>"
    failed: Future[int] = Future()
    failed.set_exception(ValueError("boom"))
    assert repr(failed) == "<trio_promise.Future exception=ValueError('boom')>"


def test_repr_shortens_long_results() -> None:
    fut: Future[str] = Future()
    fut.set_result("x" * 1000)
    text = repr(fut)
    assert text.startswith("<trio_promise.Future result='xxx")
    assert text.endswith("...>")
    assert len(text) < 100


async def test_repr_counts_waiters() -> None:
    fut: Future[int] = Future()
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(fut.get)
        await trio.testing.wait_all_tasks_blocked()
        assert repr(fut) == "<trio_promise.Future pending, 3 waiting>"
        assert fut.statistics().tasks_waiting == 3
        fut.set_result(1)
    assert fut.statistics().tasks_waiting == 0


def test_slots_and_final() -> None:
    fut: Future[int] = Future()
    assert not hasattr(fut, "__dict__")
    with pytest.raises(
        TypeError, match=r"^trio_promise\.Future does not support subclassing$"
    ):

        class Sub(Future):  # type: ignore[misc,type-arg]
            pass


def test_statistics_is_frozen() -> None:
    stats = Future[int]().statistics()
    with pytest.raises(AttributeError):
        stats.tasks_waiting = 3  # type: ignore[misc]


# -- one waiter, many waiters, before and after the set ------------------------


async def test_get_after_set() -> None:
    fut: Future[int] = Future()
    fut.set_result(7)
    assert fut.done()
    assert await fut.get() == 7
    assert await fut.get() == 7
    assert fut.get_nowait() == 7


async def test_one_waiter_before_set() -> None:
    fut: Future[str] = Future()
    got: list[str] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_collect, fut, got)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        fut.set_result("hello")
    assert got == ["hello"]


@pytest.mark.parametrize("before", [True, False])
async def test_ten_thousand_waiters(before: bool) -> None:
    fut: Future[object] = Future()
    value = object()
    got: list[object] = []
    if not before:
        fut.set_result(value)
    async with trio.open_nursery() as nursery:
        for _ in range(10_000):
            nursery.start_soon(_collect, fut, got)
        await trio.testing.wait_all_tasks_blocked()
        if before:
            assert fut.statistics().tasks_waiting == 10_000
            fut.set_result(value)
    assert len(got) == 10_000
    assert all(item is value for item in got)
    assert fut.statistics().tasks_waiting == 0


async def test_none_is_a_value() -> None:
    fut: Future[None] = Future()
    fut.set_result(None)
    assert fut.done()
    await fut.get()
    assert fut.outcome_nowait() == outcome.Value(None)
    assert repr(fut) == "<trio_promise.Future result=None>"


# -- the write side ----------------------------------------------------------


def test_set_twice_raises_and_keeps_first() -> None:
    fut: Future[int] = Future()
    fut.set_result(1)
    with pytest.raises(
        AlreadySetError,
        match=r"^<trio_promise\.Future result=1> is already settled; consider "
        r"try_set_result\(\) if several tasks may settle it$",
    ):
        fut.set_result(2)
    with pytest.raises(
        AlreadySetError,
        match=r"^<trio_promise\.Future result=1> is already settled; consider "
        r"try_set_exception\(\) if several tasks may settle it$",
    ):
        fut.set_exception(ValueError())
    assert fut.get_nowait() == 1


def test_already_set_error_is_a_runtime_error() -> None:
    assert issubclass(AlreadySetError, RuntimeError)


def test_try_setters() -> None:
    fut: Future[int] = Future()
    assert fut.try_set_result(1) is True
    assert fut.try_set_result(2) is False
    assert fut.try_set_exception(ValueError()) is False
    assert fut.get_nowait() == 1
    failed: Future[int] = Future()
    assert failed.try_set_exception(KeyError("k")) is True
    assert failed.try_set_result(3) is False
    with pytest.raises(KeyError):
        failed.get_nowait()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            ValueError,
            r"^set_exception\(\) needs an exception instance, got the class "
            r"ValueError; did you mean ValueError\(\)\?$",
        ),
        (
            trio.Cancelled,
            r"^set_exception\(\) needs an exception instance, got the class "
            r"Cancelled; did you mean Cancelled\(\)\?$",
        ),
        (
            "boom",
            r"^set_exception\(\) needs an Exception instance, got str$",
        ),
        (
            42,
            r"^set_exception\(\) needs an Exception instance, got int$",
        ),
        (
            KeyboardInterrupt(),
            r"^set_exception\(\) refuses KeyboardInterrupt: only Exception "
            r"instances can be stored, a BaseException belongs to the task it "
            r"was raised in$",
        ),
        (
            SystemExit(1),
            r"^set_exception\(\) refuses SystemExit: ",
        ),
        (
            GeneratorExit(),
            r"^set_exception\(\) refuses GeneratorExit: ",
        ),
        (
            BaseExceptionGroup("g", [KeyboardInterrupt()]),
            r"^set_exception\(\) refuses BaseExceptionGroup: ",
        ),
    ],
)
def test_set_exception_refuses_bad_input(bad: Any, message: str) -> None:
    fut: Future[int] = Future()
    with pytest.raises(TypeError, match=message):
        fut.set_exception(bad)
    assert not fut.done()
    try_message = message.replace("^set_exception", "^try_set_exception")
    with pytest.raises(TypeError, match=try_message):
        fut.try_set_exception(bad)
    assert not fut.done()
    # A bad exception is a bug, not a race: still a TypeError once settled.
    fut.set_result(5)
    with pytest.raises(TypeError, match=message):
        fut.set_exception(bad)
    with pytest.raises(TypeError, match=try_message):
        fut.try_set_exception(bad)
    assert fut.get_nowait() == 5


async def test_set_exception_refuses_a_real_cancelled() -> None:
    fut: Future[int] = Future()
    with trio.CancelScope() as scope:
        scope.cancel()
        try:
            await trio.lowlevel.checkpoint()
        except trio.Cancelled as cancelled:
            with pytest.raises(
                TypeError, match=r"^set_exception\(\) refuses Cancelled: "
            ):
                fut.set_exception(cancelled)  # type: ignore[arg-type]
            raise
    assert not fut.done()


def test_exception_group_of_exceptions_is_accepted() -> None:
    fut: Future[int] = Future()
    group = ExceptionGroup("two", [ValueError(), KeyError()])
    fut.set_exception(group)
    with pytest.RaisesGroup(ValueError, KeyError) as info:
        fut.get_nowait()
    assert info.value is group


def test_set_outcome() -> None:
    ok: Future[int] = Future()
    value = outcome.Value(3)
    ok.set_outcome(value)
    assert ok.get_nowait() == 3
    assert value.unwrap() == 3  # read, not unwrapped
    bad: Future[int] = Future()
    error = ValueError("x")
    bad.set_outcome(outcome.Error(error))
    with pytest.raises(ValueError, match=r"^x$"):
        bad.get_nowait()
    with pytest.raises(AlreadySetError):
        bad.set_outcome(outcome.Value(1))
    by_keyword: Future[int] = Future()
    by_keyword.set_outcome(o=outcome.Value(5))  # the parameter is named "o"
    assert by_keyword.get_nowait() == 5


def test_set_outcome_refuses_bad_input() -> None:
    fut: Future[int] = Future()
    with pytest.raises(
        TypeError,
        match=r"^set_outcome\(\) needs an outcome\.Value or outcome\.Error, got int$",
    ):
        fut.set_outcome(3)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"^set_outcome\(\) refuses KeyboardInterrupt"
    ):
        fut.set_outcome(outcome.Error(KeyboardInterrupt()))
    assert not fut.done()


@pytest.mark.parametrize(
    "name",
    [
        "set_result",
        "set_exception",
        "set_outcome",
        "try_set_result",
        "try_set_exception",
        "done",
        "get_nowait",
        "outcome_nowait",
        "statistics",
    ],
)
def test_sync_api_is_sync(name: str) -> None:
    assert not inspect.iscoroutinefunction(getattr(Future, name))


@pytest.mark.parametrize("name", ["get", "outcome"])
def test_async_api_is_async(name: str) -> None:
    assert inspect.iscoroutinefunction(getattr(Future, name))


# -- get_nowait and outcomes -------------------------------------------------------


def test_nowait_on_pending() -> None:
    fut: Future[int] = Future()
    with pytest.raises(trio.WouldBlock):
        fut.get_nowait()
    with pytest.raises(trio.WouldBlock):
        fut.outcome_nowait()
    assert not fut.done()


async def test_outcomes_are_fresh() -> None:
    fut: Future[int] = Future()
    fut.set_result(4)
    first = await fut.outcome()
    second = fut.outcome_nowait()
    assert first is not second
    assert first == outcome.Value(4)
    assert first.unwrap() == 4
    assert second.unwrap() == 4  # each caller may unwrap its own


async def test_error_outcomes_are_fresh_and_share_the_exception() -> None:
    fut: Future[int] = Future()
    error = ValueError("bad")
    fut.set_exception(error)
    first = await fut.outcome()
    second = fut.outcome_nowait()
    assert isinstance(first, outcome.Error)
    assert isinstance(second, outcome.Error)
    assert first is not second
    assert first.error is error
    with pytest.raises(ValueError, match=r"^bad$"):
        first.unwrap()
    with pytest.raises(ValueError, match=r"^bad$"):
        second.unwrap()


async def test_outcome_waits() -> None:
    fut: Future[int] = Future()
    got: list[outcome.Outcome[int]] = []

    async def waiter() -> None:
        got.append(await fut.outcome())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert fut.statistics().tasks_waiting == 1
        fut.set_result(9)
    assert got == [outcome.Value(9)]


# -- the shared exception rule ---------------------------------------------------------


def _raise_value_error() -> None:
    raise ValueError("stored")


def _stored_error() -> ValueError:
    try:
        _raise_value_error()
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")  # pragma: no cover


async def test_waiters_get_the_same_exception_object() -> None:
    fut: Future[int] = Future()
    error = _stored_error()
    seen: list[BaseException] = []

    async def waiter() -> None:
        try:
            await fut.get()
        except ValueError as exc:
            seen.append(exc)

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        fut.set_exception(error)
    assert len(seen) == 3
    assert all(exc is error for exc in seen)


async def test_traceback_does_not_grow_between_waiters() -> None:
    fut: Future[int] = Future()
    error = _stored_error()
    stored_frames = [f.name for f in traceback.extract_tb(error.__traceback__)]
    fut.set_exception(error)
    lengths: list[int] = []
    for _ in range(3):
        with pytest.raises(ValueError, match=r"^stored$") as info:
            await fut.get()
        frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
        # The waiter's own frames come first, then the stored traceback.
        assert frames[-len(stored_frames) :] == stored_frames
        lengths.append(len(frames))
    assert lengths[0] == lengths[1] == lengths[2]
    for _ in range(3):
        with pytest.raises(ValueError, match=r"^stored$") as info:
            fut.get_nowait()
        lengths.append(len(traceback.extract_tb(info.value.__traceback__)))
    assert lengths[3] == lengths[4] == lengths[5]


async def test_waiter_in_except_block_does_not_change_context_for_others() -> None:
    fut: Future[int] = Future()
    error = _stored_error()
    original_context = error.__context__
    original_cause = error.__cause__
    fut.set_exception(error)

    try:
        raise KeyError("the first waiter's own problem")
    except KeyError:
        with pytest.raises(ValueError, match=r"^stored$") as info:
            await fut.get()
        # Raising it inside this waiter's except block does not make the
        # KeyError its context, for this waiter...
        assert info.value.__context__ is original_context
        assert info.value.__cause__ is original_cause
        # ...and get_nowait() keeps it too.
        with pytest.raises(ValueError, match=r"^stored$") as info:
            fut.get_nowait()
        assert info.value.__context__ is original_context

    # ...nor for the next one.
    with pytest.raises(ValueError, match=r"^stored$") as info:
        await fut.get()
    assert info.value.__context__ is original_context
    assert info.value.__cause__ is original_cause
    result = fut.outcome_nowait()
    assert isinstance(result, outcome.Error)
    assert result.error.__context__ is original_context


def test_cause_is_kept() -> None:
    fut: Future[int] = Future()
    cause = OSError("disk")
    error = RuntimeError("wrapped")
    error.__cause__ = cause
    fut.set_exception(error)
    with pytest.raises(RuntimeError) as info:
        fut.get_nowait()
    assert info.value.__cause__ is cause


def _failure(kind: str) -> ValueError:
    """A ValueError raised the way ``kind`` says, as a task would store it."""
    try:
        try:
            raise OSError("while handling this")
        except OSError as handled:
            if kind == "with a context":
                raise ValueError("stored")  # noqa: B904 (the implicit context is the point)
            if kind == "from a cause":
                raise ValueError("stored") from handled
            if kind == "from None":
                raise ValueError("stored") from None
        raise ValueError("stored")
    except ValueError as exc:
        return exc


_KINDS = ["plain", "with a context", "from a cause", "from None"]


def _pollute(error: ValueError, how: str) -> None:
    """What another holder of the shared object may have done with it."""
    if how == "nothing":
        return
    try:
        raise KeyError("a holder's own problem")
    except KeyError:
        # Both set error.__context__ to the KeyError: Python's implicit
        # chaining, which is not ours to prevent.
        unwrap: Callable[[], object] = outcome.Error(error).unwrap
        if how == "raised it in one":
            unwrap = partial(_reraise, error)
        with pytest.raises(ValueError, match=r"^stored$"):
            unwrap()
    assert isinstance(error.__context__, KeyError)


def _reraise(error: ValueError) -> None:
    raise error


_POLLUTERS = ["nothing", "unwrapped an outcome in an except block", "raised it in one"]


async def _raise_by(path: str, fut: Future[int]) -> None:
    if path.startswith("get_nowait"):
        fut.get_nowait()
    elif path.startswith("get"):
        await fut.get()
    elif path.startswith("wait_all"):
        await wait_all([fut])
    elif path.startswith("wait_any then get_nowait"):
        (await wait_any([fut])).get_nowait()
    else:
        await (await wait_any([fut])).get()


async def _raise_in(place: str, path: str, fut: Future[int]) -> BaseException:
    """Raise ``fut``'s failure by ``path``, inside or outside a handler."""

    async def attempt() -> None:
        if place == "outside any handler":
            await _raise_by(path, fut)
        elif place == "handling another exception":
            try:
                raise KeyError("the waiter's own problem")
            except KeyError:
                await _raise_by(path, fut)
        else:
            try:
                fut.get_nowait()
            except ValueError:
                await _raise_by(path, fut)

    with pytest.raises(ValueError, match=r"^stored$") as info:
        await attempt()
    return info.value


_PATHS = [
    "get, settled before",
    "get, parked when it settles",
    "get_nowait",
    "wait_all, settled before",
    "wait_all, parked when it settles",
    "wait_any then get, parked when it settles",
    "wait_any then get_nowait, settled before",
]
_PLACES = [
    "outside any handler",
    "handling another exception",
    "handling this very exception",
]


@pytest.mark.parametrize("place", _PLACES)
@pytest.mark.parametrize("path", _PATHS)
async def test_every_raising_path_keeps_the_stored_chaining(path: str, place: str) -> None:
    # API.md section 1: after a raise by any of our paths, the shared object's
    # __context__ (and __cause__, __suppress_context__) are the ones it had
    # when it was stored: for that waiter, and for everybody holding it, also
    # after another holder's raise gave it a context of its own.
    for kind in _KINDS:
        for how in _POLLUTERS:
            error = _failure(kind)
            stored = (error.__context__, error.__cause__, error.__suppress_context__)
            fut: Future[int] = Future()
            if path.endswith("parked when it settles"):

                async def settle_later(fut: Future[int], error: ValueError, how: str) -> None:
                    await trio.testing.wait_all_tasks_blocked()
                    # Polluted after it is stored, before the waiter runs.
                    fut.set_exception(error)
                    _pollute(error, how)

                # A waiter cannot be handling the failure before it is set.
                first_place = place
                if place == "handling this very exception":
                    first_place = "handling another exception"
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(settle_later, fut, error, how)
                    raised = await _raise_in(first_place, path, fut)
            else:
                fut.set_exception(error)
                _pollute(error, how)
                raised = await _raise_in(place, path, fut)
            assert raised is error
            chaining = (error.__context__, error.__cause__, error.__suppress_context__)
            assert chaining == stored, (kind, how)
            # And again, after the raise, for the next holder.
            _pollute(error, how)
            assert await _raise_in(place, path.split(",")[0], fut) is error
            chaining = (error.__context__, error.__cause__, error.__suppress_context__)
            assert chaining == stored, (kind, how)


def test_the_chaining_kinds_are_what_they_say() -> None:
    # The sweep above is only as good as its stored exceptions.
    plain, context, cause, none = (_failure(kind) for kind in _KINDS)
    assert (plain.__context__, plain.__cause__, plain.__suppress_context__) == (
        None,
        None,
        False,
    )
    assert isinstance(context.__context__, OSError)
    assert context.__cause__ is None
    assert not context.__suppress_context__
    assert isinstance(cause.__cause__, OSError)
    assert cause.__suppress_context__
    assert isinstance(none.__context__, OSError)
    assert none.__cause__ is None
    assert none.__suppress_context__


# -- 'await fut', a missing .get() ------------------------------------------------


_NOT_AWAITABLE = (
    r"^trio_promise\.Future is not awaitable; use 'await fut\.get\(\)' to wait "
    r"for its result$"
)


@pytest.mark.parametrize("settled", [False, True])
async def test_await_without_get_says_to_use_get(settled: bool) -> None:
    fut: Future[int] = Future()
    if settled:
        fut.set_result(1)
    with pytest.raises(TypeError, match=_NOT_AWAITABLE):
        await fut  # type: ignore[misc]
    # Nothing changed, nothing waits.
    assert fut.done() is settled
    assert fut.statistics() == FutureStatistics(tasks_waiting=0)


async def test_a_callable_returning_a_future_is_refused_at_once() -> None:
    # The run-time __await__ makes a Future look awaitable to inspect; the
    # helpers still refuse it at the call, before any task starts.
    fut: Future[int] = Future()
    fut.set_result(1)
    message = (
        r"^{}\(\) needs an async function, but <function .*<lambda> at 0x[0-9a-f]+> "
        r"returned Future <trio_promise\.Future result=1>; a Future is not "
        r"awaitable, pass its get method instead \(fut\.get, not lambda: fut\)$"
    )
    with pytest.raises(TypeError, match=message.format("gather")):
        await gather(lambda: fut)  # type: ignore[arg-type,return-value]
    async with trio.open_nursery() as nursery:
        with pytest.raises(TypeError, match=message.format("spawn")):
            spawn(nursery, lambda: fut)  # type: ignore[arg-type,return-value]
    assert await gather(fut.get) == (1,)


# -- cancellation leaves no trace -------------------------------------------------------


async def test_cancelled_waiter_leaves_no_trace(autojump_clock: trio.abc.Clock) -> None:
    fut: Future[int] = Future()
    with trio.move_on_after(1) as scope:
        await fut.get()
    assert scope.cancelled_caught
    assert not fut.done()
    assert fut.statistics().tasks_waiting == 0
    assert repr(fut) == "<trio_promise.Future pending, 0 waiting>"
    # Usable afterwards, by new waiters.
    got: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_collect, fut, got)
        await trio.testing.wait_all_tasks_blocked()
        fut.set_result(5)
    assert got == [5]


async def test_one_waiter_times_out_the_others_get_the_value(
    autojump_clock: trio.abc.Clock,
) -> None:
    fut: Future[str] = Future()
    got: list[str] = []
    timed_out: list[bool] = []

    async def impatient() -> None:
        with trio.move_on_after(1):
            got.append(await fut.get())
            return
        timed_out.append(True)

    async def producer() -> None:
        await trio.sleep(5)
        fut.set_result("late")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(impatient)
        for _ in range(3):
            nursery.start_soon(_collect, fut, got)
        nursery.start_soon(producer)
        await trio.sleep(2)
        assert fut.statistics().tasks_waiting == 3
    assert timed_out == [True]
    assert got == ["late", "late", "late"]


async def test_cancelled_outcome_waiter_leaves_no_trace() -> None:
    fut: Future[int] = Future()
    with trio.CancelScope() as scope:
        scope.cancel()
        await fut.outcome()
    assert fut.statistics().tasks_waiting == 0
    assert not fut.done()


async def test_many_cancel_cycles_do_not_leak() -> None:
    fut: Future[int] = Future()
    gc.collect()
    before = sys.getsizeof(fut)
    for _ in range(1000):
        with trio.CancelScope() as scope:
            scope.cancel()
            await fut.get()
    assert sys.getsizeof(fut) == before
    assert fut.statistics().tasks_waiting == 0


async def test_cancelled_waiter_does_not_disturb_others() -> None:
    fut: Future[int] = Future()
    got: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_collect, fut, got)
        with trio.CancelScope() as scope:
            nursery.start_soon(_collect, fut, got)

            async def cancel_soon() -> None:
                await trio.testing.wait_all_tasks_blocked()
                scope.cancel()

            nursery.start_soon(cancel_soon)
            await fut.get()
        assert fut.statistics().tasks_waiting == 2
        fut.set_result(1)
    assert got == [1, 1]


async def test_waiters_cancelled_together_then_a_new_waiter() -> None:
    fut: Future[int] = Future()
    got: list[int] = []
    scopes = [trio.CancelScope(), trio.CancelScope()]
    async with trio.open_nursery() as nursery:
        for scope in scopes:
            nursery.start_soon(_collect_in, scope, fut, got)
        await trio.testing.wait_all_tasks_blocked()
        assert fut.statistics().tasks_waiting == 2
        for scope in scopes:
            scope.cancel()  # both leave in the same round
        await trio.testing.wait_all_tasks_blocked()
        assert fut.statistics().tasks_waiting == 0
        nursery.start_soon(_collect, fut, got)
        await trio.testing.wait_all_tasks_blocked()
        assert fut.statistics().tasks_waiting == 1
        fut.set_result(4)
    assert got == [4]


async def test_waiter_cancelled_then_future_set_before_it_runs() -> None:
    # The cancel takes the waiter off the Event at once; the future is set
    # before the waiter runs again, so it leaves with Cancelled from a
    # settled future: it gets nothing, and the future and its other waiters
    # are as if it had never waited. (Without this test the branch was only
    # reached by chance, in the stress and KI sweeps.)
    fut: Future[int] = Future()
    got: list[int] = []
    scope = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_collect_in, scope, fut, got)
        nursery.start_soon(_collect, fut, got)
        await trio.testing.wait_all_tasks_blocked()
        assert fut.statistics().tasks_waiting == 2
        scope.cancel()
        fut.set_result(5)
        assert fut.statistics().tasks_waiting == 0
    assert got == [5]
    assert scope.cancelled_caught
    assert fut.get_nowait() == 5
    assert await fut.get() == 5


async def _collect_in(
    scope: trio.CancelScope, fut: Future[Any], into: list[Any]
) -> None:
    with scope:
        into.append(await fut.get())


async def test_settled_get_is_still_cancellable() -> None:
    fut: Future[int] = Future()
    fut.set_result(1)
    with trio.CancelScope() as scope:
        scope.cancel()
        await fut.get()
        pytest.fail("get() on a settled future must still be a cancel point")
    assert scope.cancelled_caught


# -- cancellation wins over a stored failure (API.md section 1) -------------------


async def _wait_in(
    scope: trio.CancelScope,
    wait: Callable[[], Any],
    into: list[object],
) -> None:
    # Records what the wait gave (its value, or the exception it raised);
    # a Cancelled goes on to the scope, which records it.
    with scope:
        try:
            into.append(await wait())
        except ValueError as exc:
            into.append(exc)


@pytest.mark.parametrize("wait", ["get", "outcome"])
async def test_a_waiter_cancelled_after_the_failure_woke_it_gets_cancelled(
    wait: str,
) -> None:
    # The failure wakes the waiter first, then its task is cancelled before
    # it runs again: it resumes cancelled, so it gets Cancelled.
    fut: Future[int] = Future()
    got: list[object] = []
    scope = trio.CancelScope()
    error = ValueError("crash")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_wait_in, scope, getattr(fut, wait), got)
        await trio.testing.wait_all_tasks_blocked()
        fut.set_exception(error)
        scope.cancel()
    assert got == []
    assert scope.cancelled_caught
    # The failure stays for everybody else, unchanged.
    with pytest.raises(ValueError, match=r"^crash$") as info:
        fut.get_nowait()
    assert info.value is error
    assert info.value.__context__ is None
    assert fut.statistics().tasks_waiting == 0


async def test_a_waiter_cancelled_before_the_failure_gets_cancelled() -> None:
    fut: Future[int] = Future()
    got: list[object] = []
    scope = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_wait_in, scope, fut.get, got)
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()
        fut.set_exception(ValueError("crash"))
    assert got == []
    assert scope.cancelled_caught


async def test_a_value_is_returned_to_a_waiter_cancelled_after_it_woke() -> None:
    # A completed read is not undone: the value is returned, and the
    # cancellation is delivered at the task's next checkpoint.
    fut: Future[int] = Future()
    got: list[object] = []
    scope = trio.CancelScope()

    async def read_then_checkpoint() -> None:
        with scope:
            got.append(await fut.get())
            await trio.lowlevel.checkpoint()
            got.append("not reached")  # pragma: no cover

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_then_checkpoint)
        await trio.testing.wait_all_tasks_blocked()
        fut.set_result(7)
        scope.cancel()
    assert got == [7]
    assert scope.cancelled_caught


async def test_only_the_cancelled_waiters_lose_the_failure() -> None:
    fut: Future[int] = Future()
    got: list[object] = []
    kept: list[object] = []
    cancelled = [trio.CancelScope() for _ in range(3)]
    error = ValueError("crash")
    async with trio.open_nursery() as nursery:
        for scope in cancelled:
            nursery.start_soon(_wait_in, scope, fut.get, got)
        for _ in range(2):
            nursery.start_soon(_wait_in, trio.CancelScope(), fut.get, kept)
        await trio.testing.wait_all_tasks_blocked()
        fut.set_exception(error)
        for scope in cancelled:
            scope.cancel()
    assert got == []
    assert all(scope.cancelled_caught for scope in cancelled)
    assert kept == [error, error]


async def test_a_shielded_waiter_still_gets_the_failure() -> None:
    # Cancelled means effectively cancelled: a shield inside the cancelled
    # scope keeps the failure for its waiter.
    fut: Future[int] = Future()
    got: list[object] = []
    outer = trio.CancelScope()

    async def shielded() -> None:
        with outer:
            await _wait_in(trio.CancelScope(shield=True), fut.get, got)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(shielded)
        await trio.testing.wait_all_tasks_blocked()
        fut.set_exception(ValueError("crash"))
        outer.cancel()
    assert [type(exc) for exc in got] == [ValueError]


async def test_a_crash_that_fails_the_futures_is_reported_once() -> None:
    # The producer dies, fails its futures in its finally, and its crash
    # cancels the waiters in the same nursery: the group holds the crash
    # alone, not one more error per waiter.
    futs = [Future[int]() for _ in range(5)]

    async def producer() -> None:
        try:
            await trio.testing.wait_all_tasks_blocked()
            raise OSError("producer crashed")
        finally:
            for fut in futs:
                fut.set_exception(ValueError("no result: the producer crashed"))

    async def consumer(fut: Future[int]) -> None:
        await fut.get()

    with pytest.RaisesGroup(pytest.RaisesExc(OSError, match=r"^producer crashed$")):
        async with trio.open_nursery() as nursery:
            for fut in futs:
                nursery.start_soon(consumer, fut)
            nursery.start_soon(producer)
    for fut in futs:
        with pytest.raises(ValueError, match=r"^no result: the producer crashed$"):
            fut.get_nowait()


# -- joins watching a future: how they show up, and that they leave ---------


async def test_joins_watching_one_future() -> None:
    fut: Future[int] = Future()
    other: Future[int] = Future()
    results: list[object] = []

    async def join_all() -> None:
        results.append(await wait_all([fut, other, fut]))

    async def join_any() -> None:
        results.append(await wait_any([fut]))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(join_all)
        nursery.start_soon(join_any)
        nursery.start_soon(fut.get)
        await trio.testing.wait_all_tasks_blocked()
        # One get() waiter and two joins; the join given `fut` twice counts
        # once.
        assert fut.statistics().tasks_waiting == 3
        assert repr(fut) == "<trio_promise.Future pending, 3 waiting>"
        assert other.statistics().tasks_waiting == 1

        with trio.move_on_after(0):
            await wait_any([other, fut])
        # The cancelled join took its hooks back, the others are kept.
        assert fut.statistics().tasks_waiting == 3
        assert other.statistics().tasks_waiting == 1
        nursery.cancel_scope.cancel()
    assert fut.statistics().tasks_waiting == 0
    assert other.statistics().tasks_waiting == 0
    assert results == []


@pytest.mark.parametrize("others", [0, 1])
async def test_a_join_given_a_future_twice_watches_it_once(others: int) -> None:
    fut: Future[int] = Future()
    results: list[object] = []

    async def join_twice() -> None:
        results.append(await wait_all([fut, fut]))

    async with trio.open_nursery() as nursery:
        for _ in range(others):
            nursery.start_soon(wait_any, [fut])
            await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(join_twice)
        await trio.testing.wait_all_tasks_blocked()
        assert fut.statistics().tasks_waiting == 1 + others
        fut.set_result(3)
    assert results == [[3, 3]]
    assert fut.statistics().tasks_waiting == 0


async def test_a_cancelled_lone_join_leaves_no_trace() -> None:
    fut: Future[int] = Future()
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_cancel_when_blocked, scope)
            await wait_any([fut])
    assert scope.cancelled_caught
    assert fut.statistics().tasks_waiting == 0
    assert not fut.done()


@pytest.mark.parametrize("other_joins", [0, 1, 2])
async def test_fail_fast_on_a_failed_future_leaves_no_hooks(other_joins: int) -> None:
    before: Future[int] = Future()
    failed: Future[int] = Future()
    failed.set_exception(KeyError("k"))
    after: Future[int] = Future()
    async with trio.open_nursery() as nursery:
        for _ in range(other_joins):
            nursery.start_soon(wait_any, [after])
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(KeyError, match=r"^'k'$"):
            await wait_all([before, failed, after])
        assert before.statistics().tasks_waiting == 0
        # The other joins' watches are untouched.
        assert after.statistics().tasks_waiting == other_joins
        nursery.cancel_scope.cancel()
    assert after.statistics().tasks_waiting == 0


async def _cancel_when_blocked(scope: trio.CancelScope) -> None:
    await trio.testing.wait_all_tasks_blocked()
    scope.cancel()


async def test_settling_wakes_every_join() -> None:
    fut: Future[int] = Future()
    results: list[object] = []

    async def join_all() -> None:
        results.append(await wait_all([fut]))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(join_all)
        await trio.testing.wait_all_tasks_blocked()
        assert fut.statistics().tasks_waiting == 3
        fut.set_result(8)
    assert results == [[8], [8], [8]]
    assert fut.statistics().tasks_waiting == 0


@pytest.mark.parametrize("joins", [1, 3])
async def test_try_set_result_wakes_every_join(joins: int) -> None:
    # try_set_result wakes the joins with its own written-out copy of the
    # hook calls (every spawned task settles through it): one join is a lone
    # hook, several are a dict of them. Before this test only the sweeps
    # reached the second case.
    fut: Future[int] = Future()
    results: list[object] = []

    async def join_all() -> None:
        results.append(await wait_all([fut]))

    async with trio.open_nursery() as nursery:
        for _ in range(joins):
            nursery.start_soon(join_all)
        await trio.testing.wait_all_tasks_blocked()
        assert fut.statistics().tasks_waiting == joins
        assert fut.try_set_result(8)
        assert not fut.try_set_result(9)
    assert results == [[8]] * joins
    assert fut.statistics().tasks_waiting == 0


async def test_last_of_two_joins_leaving_empties_the_watch_list() -> None:
    fut: Future[int] = Future()
    async with trio.open_nursery() as nursery:
        for _ in range(2):
            nursery.start_soon(wait_any, [fut])
        await trio.testing.wait_all_tasks_blocked()
        assert fut.statistics().tasks_waiting == 2
        nursery.cancel_scope.cancel()
    assert fut.statistics().tasks_waiting == 0
    assert repr(fut) == "<trio_promise.Future pending, 0 waiting>"


# -- checkpoints -------------------------------------------------------------------


async def test_every_async_call_is_a_checkpoint() -> None:
    settled: Future[int] = Future()
    settled.set_result(1)
    failed: Future[int] = Future()
    failed.set_exception(ValueError("failed"))
    with trio.testing.assert_checkpoints():
        await settled.get()
    with trio.testing.assert_checkpoints():
        await settled.outcome()
    with (
        trio.testing.assert_checkpoints(),
        pytest.raises(ValueError, match=r"^failed$"),
    ):
        await failed.get()
    with trio.testing.assert_checkpoints():
        await failed.outcome()

    pending: Future[int] = Future()
    pending2: Future[int] = Future()

    async def settle_later() -> None:
        await trio.testing.wait_all_tasks_blocked()
        pending.set_result(2)
        await trio.testing.wait_all_tasks_blocked()
        pending2.set_result(3)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(settle_later)
        with trio.testing.assert_checkpoints():
            assert await pending.get() == 2
        with trio.testing.assert_checkpoints():
            assert await pending2.outcome() == outcome.Value(3)


def test_sync_calls_are_not_checkpoints() -> None:
    # They work without a running trio at all, which proves they never yield.
    fut: Future[int] = Future()
    assert not fut.done()
    fut.set_result(1)
    assert fut.get_nowait() == 1
    assert fut.outcome_nowait() == outcome.Value(1)


# -- threads -------------------------------------------------------------------------


async def test_set_from_a_worker_thread() -> None:
    fut: Future[str] = Future()
    got: list[str] = []

    def worker() -> None:
        trio.from_thread.run_sync(fut.set_result, "from a thread")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_collect, fut, got)
        await trio.to_thread.run_sync(worker)
    assert got == ["from a thread"]


# -- hypothesis: racing setters -------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    setters=st.lists(st.tuples(st.booleans(), st.integers()), min_size=1, max_size=12),
    waiters=st.integers(min_value=0, max_value=8),
    late_waiters=st.integers(min_value=0, max_value=4),
)
def test_exactly_one_racing_setter_wins(
    setters: list[tuple[bool, int]], waiters: int, late_waiters: int
) -> None:
    async def main() -> None:
        fut: Future[int] = Future()
        wins: list[int] = []
        seen: list[outcome.Outcome[int]] = []

        async def setter(index: int, fail: bool, value: int) -> None:
            await trio.lowlevel.checkpoint()
            if fail:
                won = fut.try_set_exception(ValueError(value))
            else:
                won = fut.try_set_result(value)
            if won:
                wins.append(index)

        async def waiter() -> None:
            seen.append(await fut.outcome())

        async with trio.open_nursery() as nursery:
            for _ in range(waiters):
                nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            for index, (fail, value) in enumerate(setters):
                nursery.start_soon(setter, index, fail, value)
        for _ in range(late_waiters):
            seen.append(await fut.outcome())

        assert len(wins) == 1
        fail, value = setters[wins[0]]
        assert len(seen) == waiters + late_waiters
        for result in seen:
            if fail:
                assert isinstance(result, outcome.Error)
                assert result.error.args == (value,)
            else:
                assert result == outcome.Value(value)
        if fail:
            errors = {id(r.error) for r in seen if isinstance(r, outcome.Error)}
            assert len(errors) <= 1  # one shared exception object

    trio.run(main)
