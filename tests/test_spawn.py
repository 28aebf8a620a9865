"""spawn(): API.md section 3, as a user sees it."""

from __future__ import annotations

import gc
import inspect
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from trio_promise import BrokenPromiseError, Future, spawn

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator


class Stop(BaseException):
    """Stands in for KeyboardInterrupt / SystemExit (a non-Exception)."""


async def double(x: int) -> int:
    await trio.lowlevel.checkpoint()
    return 2 * x


async def fail(message: str) -> int:
    await trio.lowlevel.checkpoint()
    raise ValueError(message)


async def stop() -> int:
    await trio.lowlevel.checkpoint()
    raise Stop


async def current_name() -> str:
    await trio.lowlevel.checkpoint()
    return trio.lowlevel.current_task().name


async def stop_when_cancelled() -> None:
    try:
        await trio.sleep_forever()
    finally:
        raise Stop


async def cancelled_with_stop() -> None:
    # Cancelled from outside, this raises a group of a Stop and a Cancelled.
    async with trio.open_nursery() as inner:
        inner.start_soon(stop_when_cancelled)
        inner.start_soon(trio.sleep_forever)


async def cancelled_twice() -> None:
    # Cancelled from outside, this raises a group of Cancelled only.
    async with trio.open_nursery() as inner:
        inner.start_soon(trio.sleep_forever)
        inner.start_soon(trio.sleep_forever)


# -- results -------------------------------------------------------------------


async def test_value_reaches_the_future() -> None:
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, double, 21)
        assert isinstance(fut, Future)
        assert not fut.done()
        assert await fut.get() == 42


async def test_spawn_is_not_a_checkpoint_and_starts_later() -> None:
    started: list[int] = []

    async def record() -> None:
        started.append(1)
        await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        with trio.testing.assert_no_checkpoints():
            fut = spawn(nursery, record)
        assert started == []
        await fut.get()
        assert started == [1]


async def test_waiter_in_another_nursery_gets_the_value() -> None:
    got: list[int] = []
    async with trio.open_nursery() as waiters, trio.open_nursery() as producers:
        fut = spawn(producers, double, 5)

        async def wait() -> None:
            got.append(await fut.get())

        waiters.start_soon(wait)
    assert got == [10]


async def test_many_waiters_same_value() -> None:
    got: list[int] = []
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, double, 4)

        async def wait() -> None:
            got.append(await fut.get())

        for _ in range(3):
            nursery.start_soon(wait)
    assert got == [8, 8, 8]


async def test_caller_may_settle_first() -> None:
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, double, 1)
        fut.set_result(99)
    assert fut.get_nowait() == 99


async def test_caller_may_settle_first_then_task_fails_quietly() -> None:
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, fail, "late", propagate=False)
        fut.set_result(7)
    assert fut.get_nowait() == 7


# -- task names ------------------------------------------------------------------


async def test_task_named_after_the_function() -> None:
    names: list[str] = []

    async def record_name() -> None:
        names.append(trio.lowlevel.current_task().name)
        await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        spawn(nursery, record_name)
        nursery.start_soon(record_name)
    # The very name trio gives a task started directly with the function.
    assert names[0] == names[1]
    assert names[0].endswith("test_task_named_after_the_function.<locals>.record_name")


async def test_task_name_given() -> None:
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, current_name, name="fetcher #1")
    assert fut.get_nowait() == "fetcher #1"


# -- failures ----------------------------------------------------------------------


async def test_exception_goes_to_future_and_nursery() -> None:
    fut: Future[int] = Future()
    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match=r"^boom$")):
        async with trio.open_nursery() as nursery:
            fut = spawn(nursery, fail, "boom")
    with pytest.raises(ValueError, match=r"^boom$"):
        fut.get_nowait()


async def test_exception_reaches_waiter_in_another_nursery() -> None:
    fut: Future[int] = Future()
    errors: list[BaseException] = []

    async def wait(fut: Future[int]) -> None:
        try:
            await fut.get()
        except ValueError as exc:
            errors.append(exc)

    async with trio.open_nursery() as waiters:
        with pytest.RaisesGroup(ValueError):
            async with trio.open_nursery() as producers:
                fut = spawn(producers, fail, "bad")
                waiters.start_soon(wait, fut)
                await trio.testing.wait_all_tasks_blocked()
    assert len(errors) == 1
    assert isinstance(errors[0], ValueError)
    assert str(errors[0]) == "bad"


async def test_propagate_false_keeps_exception_in_future_only() -> None:
    sibling_done = False

    async def sibling() -> None:
        nonlocal sibling_done
        await trio.sleep(1)
        sibling_done = True

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sibling)
        fut = spawn(nursery, fail, "quiet", propagate=False)
        with pytest.raises(ValueError, match=r"^quiet$"):
            await fut.get()
    assert sibling_done


async def test_propagate_false_in_a_cancelled_nursery() -> None:
    # The task fails while its nursery is cancelled: the failure stays in
    # the future, and the nursery exits quietly.
    async def fail_shielded() -> int:
        with trio.CancelScope(shield=True):
            await trio.lowlevel.checkpoint()
        raise ValueError("x")

    async with trio.open_nursery() as nursery:
        nursery.cancel_scope.cancel()
        fut = spawn(nursery, fail_shielded, propagate=False)
    with pytest.raises(ValueError, match=r"^x$"):
        fut.get_nowait()


async def test_propagate_false_still_propagates_base_exceptions() -> None:
    fut: Future[int] = Future()
    with pytest.RaisesGroup(Stop):
        async with trio.open_nursery() as nursery:
            fut = spawn(nursery, stop, propagate=False)
    with pytest.raises(BrokenPromiseError, match=r"^task '.*stop' died of Stop "):
        fut.get_nowait()


# -- cancellation and BaseException: BrokenPromiseError ------------------------------


async def test_cancelled_task_breaks_the_promise_for_outside_waiter() -> None:
    results: list[BaseException] = []
    async with trio.open_nursery() as waiters, trio.open_nursery() as producers:
        fut = spawn(producers, trio.sleep_forever)

        async def wait() -> None:
            try:
                await fut.get()
            except BrokenPromiseError as exc:
                results.append(exc)

        waiters.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        producers.cancel_scope.cancel()
    [error] = results
    assert isinstance(error, BrokenPromiseError)
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert error.__context__ is None
    with pytest.raises(
        BrokenPromiseError,
        match=r"^task 'trio\.sleep_forever' was cancelled before it produced a "
        r"result$",
    ):
        fut.get_nowait()


async def test_cancelled_before_start() -> None:
    async with trio.open_nursery() as nursery:
        nursery.cancel_scope.cancel()
        fut = spawn(nursery, double, 1, name="early")
    with pytest.raises(
        BrokenPromiseError,
        match=r"^task 'early' was cancelled before it produced a result$",
    ):
        fut.get_nowait()


async def test_base_exception_breaks_the_promise_and_propagates() -> None:
    fut: Future[int] = Future()
    with pytest.RaisesGroup(Stop):
        async with trio.open_nursery() as nursery:
            fut = spawn(nursery, stop, name="stopper")
    with pytest.raises(
        BrokenPromiseError,
        match=r"^task 'stopper' died of Stop before it produced a result$",
    ) as info:
        fut.get_nowait()
    assert isinstance(info.value.__cause__, Stop)


async def test_keyboard_interrupt_breaks_the_promise() -> None:
    async def interrupted() -> None:
        await trio.lowlevel.checkpoint()
        raise KeyboardInterrupt

    fut: Future[None] = Future()
    with pytest.RaisesGroup(KeyboardInterrupt):
        async with trio.open_nursery() as nursery:
            fut = spawn(nursery, interrupted, name="ki")
    with pytest.raises(
        BrokenPromiseError, match=r"^task 'ki' died of KeyboardInterrupt before"
    ) as info:
        fut.get_nowait()
    assert isinstance(info.value.__cause__, KeyboardInterrupt)


async def test_group_with_cancelled_keeps_only_the_rest() -> None:
    fut: Future[None] = Future()
    with pytest.RaisesGroup(pytest.RaisesGroup(Stop)):
        async with trio.open_nursery() as nursery:
            fut = spawn(nursery, cancelled_with_stop, name="mixed")
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    with pytest.raises(
        BrokenPromiseError,
        match=r"^task 'mixed' died of BaseExceptionGroup before it produced a "
        r"result$",
    ) as info:
        fut.get_nowait()
    assert pytest.RaisesGroup(Stop).matches(info.value.__cause__)


async def test_group_of_only_cancelled_keeps_nothing() -> None:
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, cancelled_twice, name="twice")
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    with pytest.raises(
        BrokenPromiseError,
        match=r"^task 'twice' was cancelled before it produced a result$",
    ) as info:
        fut.get_nowait()
    assert info.value.__cause__ is None


async def test_cancelled_task_does_not_overwrite_a_set_future() -> None:
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, cancelled_twice)
        await trio.testing.wait_all_tasks_blocked()
        fut.set_result(None)
        nursery.cancel_scope.cancel()
    assert fut.get_nowait() is None


# -- limiter ---------------------------------------------------------------------------


async def test_limiter_holds_a_token_while_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = trio.CapacityLimiter(1)
    running = 0
    most = 0

    async def job(x: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await trio.sleep(1)
        running -= 1
        return x

    async with trio.open_nursery() as nursery:
        futs = [spawn(nursery, job, i, limiter=limiter) for i in range(3)]
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.borrowed_tokens == 1
        assert limiter.statistics().tasks_waiting == 2
    assert most == 1
    assert [f.get_nowait() for f in futs] == [0, 1, 2]
    assert trio.current_time() == 3


async def test_limiters_entered_in_order_exited_in_reverse() -> None:
    log: list[str] = []

    @asynccontextmanager
    async def tag(label: str) -> AsyncGenerator[None, None]:
        log.append(f"enter {label}")
        await trio.lowlevel.checkpoint()
        yield
        log.append(f"exit {label}")

    async def job() -> int:
        log.append("job")
        await trio.lowlevel.checkpoint()
        return 1

    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, job, limiter=(tag("a"), tag("b")))
    assert fut.get_nowait() == 1
    assert log == ["enter a", "enter b", "job", "exit b", "exit a"]


async def test_any_async_context_manager_is_a_limiter() -> None:
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, double, 3, limiter=trio.Semaphore(1))
    assert fut.get_nowait() == 6


async def test_cancelled_while_waiting_for_the_limiter() -> None:
    limiter = trio.CapacityLimiter(1)
    async with trio.open_nursery() as nursery:
        first = spawn(nursery, trio.sleep_forever, limiter=limiter)
        second = spawn(nursery, trio.sleep_forever, limiter=limiter)
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.statistics().tasks_waiting == 1
        nursery.cancel_scope.cancel()
    for fut in (first, second):
        with pytest.raises(BrokenPromiseError, match=r"^task '.*' was cancelled"):
            fut.get_nowait()
    assert limiter.borrowed_tokens == 0


# -- argument errors, at once ----------------------------------------------------------


async def test_not_callable_is_a_type_error_at_once() -> None:
    async with trio.open_nursery() as nursery:
        with (
            trio.testing.assert_no_checkpoints(),
            pytest.raises(
                TypeError, match=r"^spawn\(\) needs an async function, got int 3$"
            ),
        ):
            spawn(nursery, 3)  # type: ignore[arg-type]


async def test_coroutine_object_gets_a_hint_and_is_closed() -> None:
    coro = double(1)
    async with trio.open_nursery() as nursery:
        with pytest.raises(
            TypeError,
            match=r"^spawn\(\) needs an async function, got the coroutine object "
            r".*; pass the function itself, not the result of calling it "
            r"\(fn, not fn\(\)\)$",
        ):
            spawn(nursery, coro)  # type: ignore[arg-type]
    # Closed, so no "never awaited" warning (an error under this pytest config).
    assert inspect.getcoroutinestate(coro) == "CORO_CLOSED"


async def test_bad_limiter_is_a_type_error_at_once() -> None:
    started: list[int] = []

    async def job() -> None:
        started.append(1)
        await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        with pytest.raises(
            TypeError,
            match=r"^spawn\(\): limiter must be usable as 'async with limiter:'",
        ):
            spawn(nursery, job, limiter=3)  # type: ignore[arg-type]
    assert started == []


async def test_wrong_arguments_are_a_type_error_at_once() -> None:
    # Like nursery.start_soon: async_fn(*args) is called right away.
    async with trio.open_nursery() as nursery:
        with (
            trio.testing.assert_no_checkpoints(),
            pytest.raises(TypeError, match=r"^double\(\) takes 1 positional"),
        ):
            spawn(nursery, double, 1, 2)  # type: ignore[arg-type]


async def test_sync_function_is_a_type_error_at_once() -> None:
    def sync(x: int) -> int:
        return x

    async with trio.open_nursery() as nursery:
        with pytest.raises(
            TypeError,
            match=r"^spawn\(\) needs an async function, but <function .*sync at "
            r".*> returned int 1; is it missing 'async def'\?$",
        ):
            spawn(nursery, sync, 1)  # type: ignore[arg-type]


class Ready:
    """An awaitable that is not a coroutine."""

    def __await__(self) -> Generator[Any, None, int]:
        yield from ()
        return 5


async def test_any_awaitable_will_do() -> None:
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, Ready)
        assert await fut.get() == 5


class Broken:
    """An awaitable that is not a coroutine, and fails."""

    def __await__(self) -> Generator[Any, None, int]:
        yield from ()
        raise ValueError("broken awaitable")


async def test_any_failing_awaitable_will_do() -> None:
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, Broken, propagate=False)
        with pytest.raises(ValueError, match=r"^broken awaitable$"):
            await fut.get()


async def test_closed_nursery_leaves_no_unawaited_coroutine() -> None:
    async with trio.open_nursery() as nursery:
        pass
    with pytest.raises(RuntimeError, match=r"^Nursery is closed"):
        spawn(nursery, double, 1)
    # An unawaited coroutine would warn when collected (an error here).
    gc.collect()


async def test_limiter_failing_leaves_no_unawaited_coroutine() -> None:
    class Broken:
        async def __aenter__(self) -> None:
            await trio.lowlevel.checkpoint()
            raise OSError("no token")

        async def __aexit__(self, *exc_info: object) -> None:
            pass  # pragma: no cover  (never entered)

    fut: Future[int] = Future()
    with pytest.RaisesGroup(OSError):
        async with trio.open_nursery() as nursery:
            fut = spawn(nursery, double, 1, limiter=Broken())
    with pytest.raises(OSError, match=r"^no token$"):
        fut.get_nowait()
    # The stored exception's traceback holds the task's frame, and so the
    # coroutine: let it go, so that it would warn now if it were unclosed.
    del fut
    gc.collect()


def test_a_non_nursery_is_a_type_error_at_once() -> None:
    # spawn() is sync: the error comes from the call itself.
    with (
        pytest.raises(
            TypeError,
            match=r"^spawn\(\) needs a trio\.Nursery first, got str; open one with "
            r"'async with trio\.open_nursery\(\) as nursery:'$",
        ),
    ):
        spawn("not a nursery", trio.sleep, 0)  # type: ignore[arg-type]
