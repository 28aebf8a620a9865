"""Joins over futures: API.md section 4, as a user sees it."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

import outcome
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_promise import Future, as_completed, wait_all, wait_any, wait_settled

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


def settled(value: int) -> Future[int]:
    fut: Future[int] = Future()
    fut.set_result(value)
    return fut


def failed(exc: Exception) -> Future[int]:
    fut: Future[int] = Future()
    fut.set_exception(exc)
    return fut


def watchers(*futs: Future[Any]) -> list[int]:
    return [fut.statistics().tasks_waiting for fut in futs]


async def settle_later(fut: Future[int], value: int, delay: float) -> None:
    await trio.sleep(delay)
    fut.set_result(value)


# -- a property shared by the joins: any settle order, any input order -------------

# n futures; the input lists them by index (any order, repeats allowed); some
# are settled before the join is called, the rest in the given order after it
# has parked.
_scenarios = st.integers(min_value=1, max_value=12).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, n - 1), min_size=1, max_size=2 * n),
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.permutations(range(n)),
    )
)


def _run_scenario(
    positions: list[int],
    before: list[bool],
    order: list[int],
    join: Callable[[list[Future[int]]], Awaitable[Any]],
) -> tuple[Any, list[int]]:
    """Return what the join gave, and the order the futures were settled."""
    futs: list[Future[int]] = [Future() for _ in before]
    settled_order: list[int] = []
    result: list[Any] = []

    async def main() -> None:
        for index, early in enumerate(before):
            if early:
                futs[index].set_result(index * 10)
                settled_order.append(index)

        async def run_join() -> None:
            result.append(await join([futs[i] for i in positions]))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_join)
            await trio.testing.wait_all_tasks_blocked()
            for index in order:
                if not before[index]:
                    futs[index].set_result(index * 10)
                    settled_order.append(index)
                    await trio.lowlevel.checkpoint()
        # Whatever happened, nothing is left watching the futures.
        assert watchers(*futs) == [0] * len(futs)

    trio.run(main)
    return result[0], settled_order


@settings(max_examples=60, deadline=None)
@given(_scenarios)
def test_wait_all_keeps_input_order(
    scenario: tuple[list[int], list[bool], list[int]],
) -> None:
    positions, before, order = scenario
    values, _ = _run_scenario(positions, before, order, wait_all)
    assert values == [i * 10 for i in positions]


@settings(max_examples=60, deadline=None)
@given(_scenarios)
def test_wait_settled_keeps_input_order(
    scenario: tuple[list[int], list[bool], list[int]],
) -> None:
    positions, before, order = scenario
    outcomes, _ = _run_scenario(positions, before, order, wait_settled)
    assert [o.unwrap() for o in outcomes] == [i * 10 for i in positions]


@settings(max_examples=60, deadline=None)
@given(_scenarios)
def test_as_completed_yields_each_once_as_settled(
    scenario: tuple[list[int], list[bool], list[int]],
) -> None:
    positions, before, order = scenario

    async def collect(futs: list[Future[int]]) -> list[int]:
        return [fut.get_nowait() async for fut in as_completed(futs)]

    values, settled_order = _run_scenario(positions, before, order, collect)
    distinct = list(dict.fromkeys(positions))
    early = [i * 10 for i in distinct if before[i]]
    late = [i * 10 for i in settled_order if i in distinct and not before[i]]
    assert values == early + late


@settings(max_examples=60, deadline=None)
@given(_scenarios)
def test_wait_any_returns_the_first_settled(
    scenario: tuple[list[int], list[bool], list[int]],
) -> None:
    positions, before, order = scenario

    async def first_value(futs: list[Future[int]]) -> int:
        return (await wait_any(futs)).get_nowait()

    value, _ = _run_scenario(positions, before, order, first_value)
    early = [i for i in positions if before[i]]
    if early:
        assert value == early[0] * 10
    else:
        assert value == next(i for i in order if i in positions) * 10


# -- wait_all --------------------------------------------------------------------------


async def test_wait_all_values(autojump_clock: trio.testing.MockClock) -> None:
    futs: list[Future[int]] = [Future() for _ in range(3)]
    async with trio.open_nursery() as nursery:
        for index, fut in enumerate(futs):
            nursery.start_soon(settle_later, fut, index, 3 - index)
        assert await wait_all(futs) == [0, 1, 2]
        assert trio.current_time() == 3


async def test_wait_all_accepts_any_iterable() -> None:
    futs = [settled(1), settled(2)]
    assert await wait_all(fut for fut in futs) == [1, 2]
    assert await wait_all(tuple(futs)) == [1, 2]
    assert sorted(await wait_all(set(futs))) == [1, 2]


async def test_wait_all_same_future_twice() -> None:
    fut: Future[int] = Future()
    other = settled(5)
    async with trio.open_nursery() as nursery:

        async def settle() -> None:
            await trio.testing.wait_all_tasks_blocked()
            # Watched once, however often it is listed.
            assert fut.statistics().tasks_waiting == 1
            fut.set_result(3)

        nursery.start_soon(settle)
        assert await wait_all([fut, other, fut]) == [3, 5, 3]


async def test_wait_all_fails_fast_past_a_pending_forever_future() -> None:
    never: Future[int] = Future()
    failing: Future[int] = Future()
    boom = ValueError("boom")
    async with trio.open_nursery() as nursery:

        async def fail_it() -> None:
            await trio.testing.wait_all_tasks_blocked()
            assert watchers(never, failing) == [1, 1]
            failing.set_exception(boom)

        nursery.start_soon(fail_it)
        with pytest.raises(ValueError, match=r"^boom$") as info:
            await wait_all([never, failing])
    assert info.value is boom
    # The pending future is left alone, with nothing watching it.
    assert not never.done()
    assert watchers(never) == [0]


async def test_wait_all_watching_leaves_the_exception_as_stored() -> None:
    never: Future[int] = Future()
    failing: Future[int] = Future()
    boom = ValueError("boom")
    async with trio.open_nursery() as nursery:

        async def fail_it() -> None:
            await trio.testing.wait_all_tasks_blocked()
            try:
                raise KeyError("unrelated")
            except KeyError:
                failing.set_exception(boom)
            # The join's hook has looked at it; the producer's own object
            # still has the traceback and context it had when stored.
            assert boom.__traceback__ is None
            assert boom.__context__ is None

        nursery.start_soon(fail_it)
        with pytest.raises(ValueError, match=r"^boom$"):
            await wait_all([never, failing])


async def test_wait_all_already_failed_come_first_in_input_order() -> None:
    first = ValueError("first")
    pending: Future[int] = Future()
    futs = [settled(1), pending, failed(first), failed(KeyError("second"))]
    with (
        trio.testing.assert_checkpoints(),
        pytest.raises(ValueError, match=r"^first$") as info,
    ):
        await wait_all(futs)
    assert info.value is first
    assert watchers(pending) == [0]


async def test_wait_all_first_failure_to_settle_wins() -> None:
    a: Future[int] = Future()
    b: Future[int] = Future()
    async with trio.open_nursery() as nursery:

        async def fail_both() -> None:
            await trio.testing.wait_all_tasks_blocked()
            # Both before the join runs again: b settled first, so b's.
            b.set_exception(KeyError("b"))
            a.set_exception(ValueError("a"))

        nursery.start_soon(fail_both)
        with pytest.raises(KeyError):
            await wait_all([a, b])


async def test_wait_all_success_then_late_failure_is_not_seen() -> None:
    a: Future[int] = Future()
    b: Future[int] = Future()
    async with trio.open_nursery() as nursery:

        async def settle() -> None:
            await trio.testing.wait_all_tasks_blocked()
            a.set_result(1)
            b.set_result(2)

        nursery.start_soon(settle)
        assert await wait_all([a, b]) == [1, 2]


async def test_wait_all_cancelled_leaves_futures_untouched(
    autojump_clock: trio.testing.MockClock,
) -> None:
    futs: list[Future[int]] = [Future(), Future()]
    with trio.move_on_after(1) as scope:
        await wait_all([*futs, settled(0)])
    assert scope.cancelled_caught
    assert watchers(*futs) == [0, 0]
    futs[0].set_result(1)
    futs[1].set_result(2)
    assert await wait_all(futs) == [1, 2]


async def test_wait_all_cancelled_and_settled_in_the_same_tick() -> None:
    fut: Future[int] = Future()
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()

        async def waiter() -> None:
            with scope:
                await wait_all([fut])
            assert scope.cancelled_caught

        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()
        # The join is already aborted: its hook must not wake it again.
        fut.set_result(1)
    assert fut.get_nowait() == 1


# Cancellation wins over a stored failure (API.md sections 1 and 4).


async def test_wait_all_woken_by_a_failure_then_cancelled_gets_cancelled() -> None:
    pending: Future[int] = Future()
    failing: Future[int] = Future()
    got: list[object] = []
    scope = trio.CancelScope()

    async def waiter() -> None:
        with scope:
            try:
                got.append(await wait_all([pending, failing]))
            except ValueError as exc:  # pragma: no cover (the defect)
                got.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        failing.set_exception(ValueError("crash"))
        scope.cancel()
    assert got == []
    assert scope.cancelled_caught
    # Its hook left the future still pending; the failure stays as stored.
    assert watchers(pending) == [0]
    with pytest.raises(ValueError, match=r"^crash$"):
        failing.get_nowait()


async def test_wait_all_woken_by_its_last_value_then_cancelled_returns() -> None:
    # The values are read: a completed join is not undone.
    first, second = settled(1), Future[int]()
    got: list[object] = []
    scope = trio.CancelScope()

    async def waiter() -> None:
        with scope:
            got.append(await wait_all([first, second]))
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        second.set_result(2)
        scope.cancel()
    assert got == [[1, 2]]
    assert scope.cancelled_caught


async def test_wait_settled_woken_then_cancelled_returns_the_outcomes() -> None:
    # wait_settled never raises the failures: its list is a value, returned
    # as any completed read is.
    fut: Future[int] = Future()
    got: list[list[outcome.Outcome[int]]] = []
    scope = trio.CancelScope()

    async def waiter() -> None:
        with scope:
            got.append(await wait_settled([fut]))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        error = ValueError("crash")
        fut.set_exception(error)
        scope.cancel()
    assert got == [[outcome.Error(error)]]


async def test_wait_all_a_crash_is_reported_once() -> None:
    futs = [Future[int]() for _ in range(3)]

    async def producer() -> None:
        try:
            await trio.testing.wait_all_tasks_blocked()
            raise OSError("producer crashed")
        finally:
            for fut in futs:
                fut.set_exception(ValueError("no result"))

    async def joiner() -> None:
        await wait_all(futs)

    with pytest.RaisesGroup(pytest.RaisesExc(OSError, match=r"^producer crashed$")):
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(joiner)
            nursery.start_soon(producer)
    assert watchers(*futs) == [0, 0, 0]


async def test_wait_all_checkpoints() -> None:
    with trio.testing.assert_checkpoints():
        assert await wait_all([]) == []
    with trio.testing.assert_checkpoints():
        assert await wait_all([settled(1), settled(2)]) == [1, 2]
    with trio.testing.assert_checkpoints(), pytest.raises(ValueError, match=r"^x$"):
        await wait_all([failed(ValueError("x"))])
    fut: Future[int] = Future()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(settle_later, fut, 1, 0)
        with trio.testing.assert_checkpoints():
            assert await wait_all([fut]) == [1]


async def test_wait_all_empty_and_settled_input_is_a_cancel_point() -> None:
    with trio.CancelScope() as scope:
        scope.cancel()
        await wait_all([settled(1)])
        pytest.fail("not cancelled")  # pragma: no cover
    assert scope.cancelled_caught


# -- wait_settled --------------------------------------------------------------------


async def test_wait_settled_outcomes_are_fresh_per_position() -> None:
    boom = ValueError("boom")
    fut: Future[int] = Future()
    bad = failed(boom)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(settle_later, fut, 7, 0)
        results = await wait_settled([fut, bad, fut, bad])
    assert results[0] == outcome.Value(7)
    assert results[0] is not results[2]
    assert results[1] is not results[3]
    for result in (results[1], results[3]):
        assert isinstance(result, outcome.Error)
        with pytest.raises(ValueError, match=r"^boom$") as info:
            result.unwrap()
        assert info.value is boom


async def test_wait_settled_waits_past_failures() -> None:
    a: Future[int] = Future()
    b: Future[int] = Future()
    async with trio.open_nursery() as nursery:

        async def settle() -> None:
            await trio.testing.wait_all_tasks_blocked()
            a.set_exception(ValueError("a"))
            await trio.testing.wait_all_tasks_blocked()
            assert watchers(b) == [1]
            b.set_result(2)

        nursery.start_soon(settle)
        results = await wait_settled([a, b])
    assert isinstance(results[0], outcome.Error)
    assert results[1] == outcome.Value(2)


async def test_wait_settled_checkpoints_and_cancellation(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.testing.assert_checkpoints():
        assert await wait_settled([]) == []
    with trio.testing.assert_checkpoints():
        assert await wait_settled([settled(1)]) == [outcome.Value(1)]
    pending: Future[int] = Future()
    with trio.move_on_after(1) as scope:
        await wait_settled([pending])
    assert scope.cancelled_caught
    assert watchers(pending) == [0]


# -- wait_any ------------------------------------------------------------------------


async def test_wait_any_first_settled_in_input_order() -> None:
    pending: Future[int] = Future()
    second = failed(ValueError())
    third = settled(3)
    with trio.testing.assert_checkpoints():
        assert await wait_any([pending, second, third]) is second
    assert watchers(pending) == [0]


async def test_wait_any_first_to_settle_while_waiting() -> None:
    futs: list[Future[int]] = [Future() for _ in range(3)]
    async with trio.open_nursery() as nursery:

        async def settle() -> None:
            await trio.testing.wait_all_tasks_blocked()
            assert watchers(*futs) == [1, 1, 1]
            # Two in the same tick: the first one to settle is the answer.
            futs[2].set_exception(KeyError("x"))
            futs[0].set_result(0)

        nursery.start_soon(settle)
        with trio.testing.assert_checkpoints():
            first = await wait_any(futs)
    assert first is futs[2]
    assert watchers(*futs) == [0, 0, 0]


async def test_wait_any_same_future_twice(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fut: Future[int] = Future()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(settle_later, fut, 1, 1)
        assert await wait_any([fut, fut]) is fut


async def test_wait_any_cancelled_leaves_no_hooks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    futs: list[Future[int]] = [Future(), Future()]
    with trio.move_on_after(1):
        await wait_any(futs)
    assert watchers(*futs) == [0, 0]


async def test_wait_any_cancelled_and_settled_in_the_same_tick() -> None:
    fut: Future[int] = Future()
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()

        async def waiter() -> None:
            with scope:
                await wait_any([fut])

        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()
        fut.set_result(1)
    assert scope.cancelled_caught


async def test_wait_any_empty_is_a_value_error_at_once() -> None:
    with (
        trio.testing.assert_no_checkpoints(),
        pytest.raises(
            ValueError,
            match=r"^wait_any\(\) needs at least one future, got an empty "
            r"iterable; with nothing to wait for it would wait forever$",
        ),
    ):
        await wait_any([])


# -- as_completed ------------------------------------------------------------------


async def test_as_completed_in_settle_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    futs: list[Future[int]] = [Future() for _ in range(3)]
    early = settled(-1)
    got: list[int] = []
    async with trio.open_nursery() as nursery:
        for index, fut in enumerate(futs):
            nursery.start_soon(settle_later, fut, index, 3 - index)
        async for fut in as_completed([*futs, early, early]):
            got.append(fut.get_nowait())
    assert got == [-1, 2, 1, 0]


async def test_as_completed_yields_failures_too() -> None:
    bad = failed(ValueError("x"))
    got = [fut async for fut in as_completed([bad])]
    assert got == [bad]


def test_as_completed_validates_at_once() -> None:
    # A plain function: the error comes from the call, not the first step.
    with pytest.raises(TypeError, match=r"^as_completed\(\) takes only"):
        as_completed([settled(1), "nope"])  # type: ignore[arg-type]


async def test_as_completed_every_step_is_a_checkpoint() -> None:
    fut: Future[int] = Future()
    iterator = as_completed([settled(1), fut])
    with trio.testing.assert_checkpoints():
        await iterator.__anext__()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(settle_later, fut, 2, 0)
        with trio.testing.assert_checkpoints():
            assert await iterator.__anext__() is fut
    for _ in range(2):
        with trio.testing.assert_checkpoints(), pytest.raises(StopAsyncIteration):
            await iterator.__anext__()
    with trio.testing.assert_checkpoints(), pytest.raises(StopAsyncIteration):
        await as_completed([]).__anext__()


async def test_as_completed_early_break_leaves_no_hooks() -> None:
    never: list[Future[int]] = [Future() for _ in range(3)]
    first = settled(0)
    async for fut in as_completed([first, *never]):
        assert fut is first
        assert watchers(*never) == [1, 1, 1]
        break
    # Dropping the iterator took its hooks back at once: no task, no GC.
    assert watchers(*never) == [0, 0, 0]


async def test_as_completed_break_while_others_pending_then_they_settle() -> None:
    a: Future[int] = Future()
    b: Future[int] = Future()
    async with trio.open_nursery() as nursery:

        async def settle() -> None:
            await trio.testing.wait_all_tasks_blocked()
            a.set_result(1)

        nursery.start_soon(settle)
        async for fut in as_completed([a, b]):
            assert fut is a
            break
    assert watchers(b) == [0]
    b.set_result(2)  # nothing is woken, nothing breaks


async def test_as_completed_aclose() -> None:
    never: Future[int] = Future()
    iterator = as_completed([settled(1), never])
    assert watchers(never) == [1]
    with trio.testing.assert_checkpoints():
        await iterator.aclose()
    assert watchers(never) == [0]
    await iterator.aclose()
    with pytest.raises(StopAsyncIteration):
        await iterator.__anext__()


async def test_as_completed_cancelled_step_loses_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fut: Future[int] = Future()
    iterator = as_completed([fut])
    with trio.move_on_after(1):
        await iterator.__anext__()
    # A cancelled step takes its hook back at once (API.md section 4)...
    assert watchers(fut) == [0]
    fut.set_result(1)  # ...and a future settled meanwhile is not lost.
    # A step cancelled while a future is ready does not consume it either.
    with trio.CancelScope() as scope:
        scope.cancel()
        await iterator.__anext__()
    assert await iterator.__anext__() is fut


async def test_as_completed_cancelled_and_settled_in_the_same_tick() -> None:
    fut: Future[int] = Future()
    iterator = as_completed([fut])
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()

        async def step() -> None:
            with scope:
                await iterator.__anext__()

        nursery.start_soon(step)
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()
        fut.set_result(1)
    assert scope.cancelled_caught
    assert await iterator.__anext__() is fut


async def test_as_completed_one_task_at_a_time() -> None:
    fut: Future[int] = Future()
    iterator = as_completed([fut])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(iterator.__anext__)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(
            RuntimeError,
            match=r"^as_completed\(\): another task is already waiting on this "
            r"iterator; iterate it from one task at a time$",
        ):
            await iterator.__anext__()
        with pytest.raises(
            RuntimeError,
            match=r"^as_completed\(\): cannot close the iterator while another "
            r"task is waiting on it$",
        ):
            await iterator.aclose()
        fut.set_result(1)


def test_as_completed_is_freed_when_dropped() -> None:
    never: Future[int] = Future()
    iterator = as_completed([never])
    del iterator
    gc.collect()
    assert watchers(never) == [0]


# -- argument errors shared by the joins ------------------------------------------

_JOINS: list[Callable[[Any], Any]] = [wait_all, wait_settled, wait_any]


@pytest.mark.parametrize("join", _JOINS)
async def test_non_future_item_is_a_type_error_at_once(
    join: Callable[[Any], Awaitable[Any]],
) -> None:
    name = join.__name__
    pending: Future[int] = Future()
    with (
        trio.testing.assert_no_checkpoints(),
        pytest.raises(
            TypeError,
            match=rf"^{name}\(\) takes only trio_promise\.Future items, got "
            r"int at index 1; start a task into a Future with "
            r"spawn\(nursery, async_fn, \.\.\.\)$",
        ),
    ):
        await join([pending, 3])
    assert watchers(pending) == [0]


@pytest.mark.parametrize("join", [*_JOINS, as_completed])
async def test_single_future_is_a_type_error(join: Callable[[Any], Any]) -> None:
    name = join.__name__
    with pytest.raises(
        TypeError,
        match=rf"^{name}\(\) takes an iterable of futures, got a single Future; "
        rf"wrap it in a list: {name}\(\[fut\]\)$",
    ):
        await join(settled(1))
