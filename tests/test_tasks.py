"""gather, gather_map, race: API.md section 5, as a user sees it."""

from __future__ import annotations

import itertools
import sys
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import outcome
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_promise import gather, gather_map, race

from ._helpers import Ready, no_cyclic_garbage

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

if TYPE_CHECKING:
    from collections.abc import (
        AsyncIterator,
        Awaitable,
        Callable,
        Iterable,
        Iterator,
    )

T = TypeVar("T")


class Stop(BaseException):
    """Stands in for KeyboardInterrupt / SystemExit (a non-Exception)."""


async def after(delay: float, value: Any) -> Any:
    await trio.sleep(delay)
    return value


async def fail_after(delay: float, exc: Exception) -> Any:
    await trio.sleep(delay)
    raise exc


async def at_once(value: int) -> int:
    # No checkpoint at all, so the helper's own checkpoint is what we see.
    return await Ready(value)


async def raise_at_once(exc: Exception) -> Any:
    await Ready(None)
    raise exc


class Tracker:
    """Counts the tasks running a tracked call, and the most at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.started = 0
        self.cancelled = 0
        self.names: list[str] = []

    async def call(self, delay: float, value: Any) -> Any:
        self.running += 1
        self.started += 1
        self.most = max(self.most, self.running)
        self.names.append(trio.lowlevel.current_task().name)
        try:
            await trio.sleep(delay)
        except trio.Cancelled:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1
        return value


def run_with_clock(main: Any) -> None:
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# -- gather --------------------------------------------------------------------------


async def test_gather_results_in_argument_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    number, text, nothing = await gather(
        partial(after, 3, 1), partial(after, 1, "a"), partial(after, 2, None)
    )
    assert (number, text, nothing) == (1, "a", None)
    assert trio.current_time() == 3


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=12))
def test_gather_keeps_order_for_any_timing(delays: list[int]) -> None:
    async def main() -> None:
        fns = [partial(after, delay, index) for index, delay in enumerate(delays)]
        assert await gather(*fns) == tuple(range(len(delays)))

    run_with_clock(main)


async def test_gather_nothing() -> None:
    with trio.testing.assert_checkpoints():
        assert await gather() == ()


async def test_gather_is_a_checkpoint_when_nothing_waits() -> None:
    with trio.testing.assert_checkpoints():
        assert await gather(partial(at_once, 1), partial(at_once, 2)) == (1, 2)
    with trio.CancelScope() as scope:
        scope.cancel()
        await gather()
        pytest.fail("not cancelled")  # pragma: no cover
    assert scope.cancelled_caught


async def test_gather_failure_cancels_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tracker = Tracker()
    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match=r"^bad$")):
        await gather(
            partial(tracker.call, 10, 1),
            partial(fail_after, 1, ValueError("bad")),
            partial(tracker.call, 10, 2),
        )
    assert tracker.cancelled == 2
    assert tracker.running == 0
    assert trio.current_time() == 1


async def test_gather_every_failure_in_the_group() -> None:
    with pytest.RaisesGroup(ValueError, KeyError):
        await gather(
            partial(raise_at_once, ValueError()), partial(raise_at_once, KeyError())
        )


async def test_gather_cancelled_from_outside_leaves_no_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tracker = Tracker()
    with trio.move_on_after(1) as scope:
        await gather(*(partial(tracker.call, 10, i) for i in range(3)))
    assert scope.cancelled_caught
    assert tracker.started == tracker.cancelled == 3
    assert tracker.running == 0


async def test_gather_tasks_named_after_the_callables() -> None:
    names: list[str] = []

    async def first() -> None:
        names.append(trio.lowlevel.current_task().name)
        await trio.lowlevel.checkpoint()

    await gather(first)
    # The name trio gives a task started directly with this function.
    assert names == [f"{first.__module__}.{first.__qualname__}"]


async def test_gather_not_callable_is_a_type_error_at_once() -> None:
    tracker = Tracker()
    with (
        trio.testing.assert_no_checkpoints(),
        pytest.raises(
            TypeError, match=r"^gather\(\) needs an async function, got str 'x'$"
        ),
    ):
        await gather(partial(tracker.call, 0, 1), "x")  # type: ignore[call-overload]
    assert tracker.started == 0


# -- gather_map --------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    # Every call takes some time, so that the first calls overlap.
    st.lists(st.integers(1, 5), max_size=15),
    st.one_of(st.none(), st.integers(1, 6)),
)
def test_gather_map_keeps_order_and_the_limit(
    delays: list[int], limit: int | None
) -> None:
    tracker = Tracker()

    async def call(pair: tuple[int, int]) -> int:
        index, delay = pair
        result: int = await tracker.call(delay, index)
        return result

    async def main() -> None:
        results = await gather_map(call, enumerate(delays), limit=limit)
        assert results == list(range(len(delays)))

    run_with_clock(main)
    expected = len(delays) if limit is None else min(limit, len(delays))
    assert tracker.most == expected
    assert tracker.running == 0


async def test_gather_map_reads_lazily_with_a_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pulled: list[int] = []

    def numbers() -> Iterator[int]:
        for number in itertools.count():
            pulled.append(number)
            yield number

    tracker = Tracker()

    async def call(number: int) -> int:
        result: int = await tracker.call(1, number)
        return result

    with trio.move_on_after(2.5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(gather_map, call, numbers(), limit=3))
            await trio.testing.wait_all_tasks_blocked()
            # A slot first, then an item: nothing is read ahead.
            assert pulled == [0, 1, 2]
            await trio.sleep(1.5)
            assert pulled == [0, 1, 2, 3, 4, 5]
    assert tracker.most == 3
    assert tracker.running == 0
    assert len(pulled) == 9


async def test_gather_map_without_limit_starts_everything() -> None:
    tracker = Tracker()
    assert await gather_map(partial(tracker.call, 0), range(20)) == list(range(20))
    assert tracker.most == 20


async def test_gather_map_limiter_composes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tracker = Tracker()
    limiter = trio.CapacityLimiter(2)
    results = await gather_map(partial(tracker.call, 1), range(6), limiter=limiter)
    assert results == list(range(6))
    assert tracker.most == 2
    assert trio.current_time() == 3
    # Both at once: the tighter one decides.
    tracker = Tracker()
    results = await gather_map(
        partial(tracker.call, 1), range(6), limit=4, limiter=(limiter,)
    )
    assert results == list(range(6))
    assert tracker.most == 2


async def test_gather_map_empty_is_a_checkpoint() -> None:
    for limit in (None, 2):
        with trio.testing.assert_checkpoints():
            assert await gather_map(at_once, [], limit=limit) == []
        with trio.CancelScope() as scope:
            scope.cancel()
            await gather_map(at_once, iter(()), limit=limit)
            pytest.fail("not cancelled")  # pragma: no cover
        assert scope.cancelled_caught


async def test_gather_map_is_a_checkpoint_when_nothing_waits() -> None:
    for limit in (None, 1):
        with trio.testing.assert_checkpoints():
            assert await gather_map(at_once, [1, 2], limit=limit) == [1, 2]


async def test_gather_map_failure_cancels_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tracker = Tracker()

    async def call(number: int) -> int:
        if number == 2:
            await fail_after(1, ValueError("two"))
        result: int = await tracker.call(10, number)
        return result

    for limit, started in ((None, 4), (3, 2)):
        tracker = Tracker()
        with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match=r"^two$")):
            await gather_map(call, range(5), limit=limit)
        # With a limit, the slot the failed call freed starts nothing new.
        assert tracker.started == tracker.cancelled == started
        assert tracker.running == 0


async def test_gather_map_iterable_error_with_a_limit_cancels_the_calls() -> None:
    tracker = Tracker()

    def broken() -> Iterator[int]:
        yield 1
        raise KeyError("iterable")

    with pytest.RaisesGroup(KeyError):
        await gather_map(partial(tracker.call, 10), broken(), limit=5)
    assert tracker.started == tracker.cancelled == 1


async def test_gather_map_iterable_error_without_a_limit_comes_first() -> None:
    tracker = Tracker()

    def broken() -> Iterator[int]:
        yield 1
        raise KeyError("iterable")

    with pytest.raises(KeyError, match=r"^'iterable'$"):
        await gather_map(partial(tracker.call, 10), broken())
    assert tracker.started == 0


async def test_gather_map_cancelled_from_outside_leaves_no_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    for limit in (None, 2):
        tracker = Tracker()
        with trio.move_on_after(1) as scope:
            await gather_map(partial(tracker.call, 10), range(5), limit=limit)
        assert scope.cancelled_caught
        assert tracker.running == 0
        assert tracker.started == tracker.cancelled == (5 if limit is None else 2)


async def test_gather_map_tasks_named_after_the_function() -> None:
    tracker = Tracker()
    await gather_map(partial(tracker.call, 0), [0], limit=1)
    await gather_map(partial(tracker.call, 0), [0])
    # The name trio gives a task started directly with this function.
    name = f"{Tracker.call.__module__}.{Tracker.call.__qualname__}"
    assert tracker.names == [name, name]


@pytest.mark.parametrize("limit", [0, -1])
async def test_gather_map_limit_below_one(limit: int) -> None:
    with (
        trio.testing.assert_no_checkpoints(),
        pytest.raises(
            ValueError,
            match=rf"^gather_map\(\): limit must be >= 1 \(the most calls running at once\), got "
            rf"{limit}; use limit=None for no limit$",
        ),
    ):
        await gather_map(at_once, [1], limit=limit)


@pytest.mark.parametrize(
    ("limit", "shown"), [(True, "bool True"), (2.0, "float 2.0"), ("3", "str '3'")]
)
async def test_gather_map_limit_not_an_int(limit: Any, shown: str) -> None:
    with (
        trio.testing.assert_no_checkpoints(),
        pytest.raises(
            TypeError,
            match=rf"^gather_map\(\): limit must be an int >= 1 or None, got {shown}$",
        ),
    ):
        await gather_map(at_once, [1], limit=limit)


async def test_gather_map_bad_arguments_at_once() -> None:
    pulled: list[int] = []

    def numbers() -> Iterator[int]:
        pulled.append(1)
        yield 1

    with (
        trio.testing.assert_no_checkpoints(),
        pytest.raises(
            TypeError,
            match=r"^gather_map\(\) needs an iterable or async iterable of arguments, "
            r"got int; to "
            r"call async_fn once, use gather_map\(async_fn, \[arg\]\)$",
        ),
    ):
        await gather_map(at_once, 5)  # type: ignore[call-overload]
    with pytest.raises(
        TypeError, match=r"^gather_map\(\) needs an async function, got NoneType"
    ):
        await gather_map(None, numbers())  # type: ignore[call-overload]
    with pytest.raises(
        TypeError,
        match=r"^gather_map\(\): limiter must be usable as 'async with limiter:'",
    ):
        await gather_map(at_once, numbers(), limiter=object())  # type: ignore[call-overload]
    assert pulled == []


# -- race --------------------------------------------------------------------------


async def test_race_first_success_wins_losers_awaited(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tracker = Tracker()
    winner = await race(
        partial(tracker.call, 3, "slow"),
        partial(after, 1, "fast"),
        partial(tracker.call, 5, "slower"),
    )
    assert winner == "fast"
    # Both losers were cancelled and had finished before race returned.
    assert tracker.cancelled == 2
    assert tracker.running == 0
    assert trio.current_time() == 1


async def test_race_failures_are_out_of_the_race(
    autojump_clock: trio.testing.MockClock,
) -> None:
    winner = await race(
        partial(fail_after, 0, ValueError()), partial(after, 2, "mirror b")
    )
    assert winner == "mirror b"


async def test_race_all_fail_in_argument_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    first, second, third = KeyError("a"), ValueError("b"), OSError("c")
    with pytest.RaisesGroup(
        KeyError, ValueError, OSError, match=r"^race\(\): all 3 callables failed$"
    ) as info:
        await race(
            partial(fail_after, 3, first),
            partial(fail_after, 1, second),
            partial(fail_after, 2, third),
        )
    assert isinstance(info.value, ExceptionGroup)
    assert info.value.exceptions == (first, second, third)


async def test_race_only_callable_fails() -> None:
    with pytest.RaisesGroup(ValueError, match=r"^race\(\): its only callable failed$"):
        await race(partial(fail_after, 0, ValueError()))


async def test_race_simultaneous_winners_first_one_counts() -> None:
    # Both return before either could be cancelled: one wins, the other's
    # result is dropped.
    assert await race(partial(at_once, 1), partial(at_once, 2)) in (1, 2)


async def test_race_loser_failing_while_cancelled_is_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def sore_loser() -> str:
        try:
            await trio.sleep(10)
        finally:
            raise ValueError("cleanup failed")

    assert await race(sore_loser, partial(after, 1, "winner")) == "winner"


async def test_race_base_exception_propagates() -> None:
    async def stop() -> str:
        await trio.lowlevel.checkpoint()
        raise Stop

    with pytest.RaisesGroup(Stop):
        await race(stop, partial(after, 1, "x"))


async def test_race_cancelled_from_outside_leaves_no_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tracker = Tracker()
    with trio.move_on_after(1) as scope:
        await race(partial(tracker.call, 5, 1), partial(tracker.call, 5, 2))
    assert scope.cancelled_caught
    assert tracker.started == tracker.cancelled == 2
    assert tracker.running == 0


async def test_race_is_a_checkpoint() -> None:
    with trio.testing.assert_checkpoints():
        assert await race(partial(at_once, 3)) == 3


async def test_race_tasks_named_after_the_callables() -> None:
    tracker = Tracker()
    await race(partial(tracker.call, 0, 1))
    assert tracker.names == [f"{Tracker.call.__module__}.Tracker.call"]


async def test_race_nothing_is_a_value_error_at_once() -> None:
    with (
        trio.testing.assert_no_checkpoints(),
        pytest.raises(
            ValueError,
            match=r"^race\(\) needs at least one async callable; with none there "
            r"is no winner to wait for$",
        ),
    ):
        await race()  # type: ignore[call-overload]


async def test_race_not_callable_is_a_type_error_at_once() -> None:
    tracker = Tracker()
    with (
        trio.testing.assert_no_checkpoints(),
        pytest.raises(
            TypeError, match=r"^race\(\) needs an async function, got int 1$"
        ),
    ):
        await race(partial(tracker.call, 0, 1), 1)  # type: ignore[call-overload]
    assert tracker.started == 0


# -- every helper is a cancel point, also when nothing awaits ----------------------


async def cached(value: int = 0) -> int:
    # A cache hit: never yields to trio, so the helper's own checkpoint is
    # all there is.
    return await Ready(value)


async def raise_now(value: int = 0) -> int:
    await Ready(None)
    raise ValueError(f"failed {value}")


class AIter:
    """An async iterator that never awaits either.

    A class, not an async generator: one left unfinished (the helper was
    cancelled) must not make trio warn when it is collected.
    """

    def __init__(self, items: Iterable[int]) -> None:
        self.items = iter(items)

    def __aiter__(self) -> AIter:
        return self

    async def __anext__(self) -> int:
        try:
            return next(self.items)
        except StopIteration:
            raise StopAsyncIteration from None


async def agen(items: Iterable[int]) -> AsyncIterator[int]:
    """An async generator that never yields to trio either.

    gather_map closes one that it stops reading (here: cancelled after its
    first item), in its own task: that path is swept too.
    """
    try:
        for item in items:
            yield await Ready(item)
    finally:
        await Ready(None)


def _gather_map_helper(
    limit: int | None,
    settled: bool,
    make: Callable[[], Iterable[int] | AIter | AsyncIterator[int]],
    limiter: trio.CapacityLimiter | None = None,
) -> Callable[[], Awaitable[object]]:
    async def helper() -> object:
        return await gather_map(
            cached, make(), limit=limit, settled=settled, limiter=limiter
        )

    return helper


HELPERS: dict[str, Callable[[], Awaitable[object]]] = {
    "gather()": gather,
    "gather": lambda: gather(cached, cached),
    "race": lambda: race(cached, cached),
    "race of failures": lambda: race(partial(raise_now, 1), cached),
    "gather limiter=": lambda: gather(cached, cached, limiter=trio.CapacityLimiter(1)),
    "race limiter=": lambda: race(
        partial(raise_now, 1), cached, limiter=trio.CapacityLimiter(1)
    ),
    "gather_map limiter=": _gather_map_helper(
        2, False, lambda: [1, 2, 3], trio.CapacityLimiter(1)
    ),
    **{
        f"gather_map limit={limit} settled={settled} {kind}": _gather_map_helper(
            limit, settled, make
        )
        for limit in (None, 1, 3)
        for settled in (False, True)
        for kind, make in (
            ("list", lambda: [1, 2, 3]),
            ("empty", list[int]),
            ("async", lambda: AIter([1, 2, 3])),
            ("empty async", lambda: AIter([])),
            ("async generator", lambda: agen([1, 2, 3])),
            ("empty async generator", lambda: agen([])),
        )
    },
}


@pytest.mark.parametrize("name", HELPERS)
async def test_a_cancelled_loop_stops_at_the_first_call(name: str) -> None:
    helper = HELPERS[name]
    iterations = 0
    with trio.CancelScope() as scope:
        scope.cancel()
        while True:
            await helper()
            iterations += 1  # pragma: no cover
    assert scope.cancelled_caught
    assert iterations == 0


@pytest.mark.parametrize("name", HELPERS)
async def test_a_loop_cancelled_midway_stops_at_the_next_call(name: str) -> None:
    helper = HELPERS[name]
    iterations = 0
    with trio.CancelScope() as scope:
        while True:
            await helper()
            iterations += 1
            if iterations == 5:
                scope.cancel()
    assert scope.cancelled_caught
    assert iterations == 5


@pytest.mark.parametrize("name", HELPERS)
async def test_every_path_is_a_checkpoint(name: str) -> None:
    with trio.testing.assert_checkpoints():
        await HELPERS[name]()


async def test_a_cancelled_call_runs_no_callable() -> None:
    ran: list[int] = []

    async def record(value: int = 0) -> int:
        ran.append(value)
        return await Ready(value)

    for helper in (
        lambda: gather(record, record),
        lambda: race(record),
        lambda: gather_map(record, [1, 2]),
        lambda: gather_map(record, [1, 2], limit=1),
        lambda: gather_map(record, AIter([1, 2]), settled=True),
    ):
        with trio.CancelScope() as scope:
            scope.cancel()
            await helper()
        assert scope.cancelled_caught
    assert ran == []


# -- a function missing async is a TypeError at once --------------------------------


def not_async(value: int = 0) -> int:
    return value


_MISSING = (
    r"^{}\(\) needs an async function, but <function not_async at 0x[0-9a-f]+> "
    r"returned int 0; is it missing 'async def'\?$"
)


async def test_gather_missing_async_is_a_type_error_before_anything() -> None:
    tracker = Tracker()
    with (
        trio.testing.assert_no_checkpoints(),
        pytest.raises(TypeError, match=_MISSING.format("gather")),
    ):
        await gather(partial(tracker.call, 0, 1), not_async)  # type: ignore[arg-type]
    # The tracker's coroutine was made, then closed (else Python would warn,
    # an error here): its body never ran.
    assert tracker.started == 0


async def test_race_missing_async_is_a_type_error_before_anything() -> None:
    tracker = Tracker()
    with (
        trio.testing.assert_no_checkpoints(),
        pytest.raises(TypeError, match=_MISSING.format("race")),
    ):
        await race(partial(tracker.call, 0, 1), not_async)  # type: ignore[arg-type]
    assert tracker.started == 0


@pytest.mark.parametrize("limit", [None, 2])
async def test_gather_map_missing_async_first_item(limit: int | None) -> None:
    with (
        trio.testing.assert_no_checkpoints(),
        pytest.raises(TypeError, match=_MISSING.format("gather_map")),
    ):
        await gather_map(not_async, [0, 1], limit=limit)  # type: ignore[arg-type]
    # An async iterable: after its first item is read, still a plain error.
    with pytest.raises(TypeError, match=_MISSING.format("gather_map")):
        await gather_map(not_async, AIter([0, 1]), limit=limit)  # type: ignore[arg-type]


async def test_gather_map_missing_async_on_a_later_item_fails_the_group() -> None:
    def maker(value: int) -> Any:
        return cached(value) if value == 0 else value

    with pytest.RaisesGroup(
        pytest.RaisesExc(
            TypeError,
            match=r"^gather_map\(\) needs an async function, but <function .*maker "
            r"at 0x[0-9a-f]+> returned int 1; is it missing 'async def'\?$",
        )
    ):
        await gather_map(maker, [0, 1], limit=1)


# -- gather_map: async input, settled ---------------------------------------------


async def test_gather_map_async_input_in_order_and_lazily(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pulled: list[int] = []
    tracker = Tracker()

    async def numbers() -> AsyncIterator[int]:
        for number in range(9):
            await trio.lowlevel.checkpoint()
            pulled.append(number)
            yield number

    async def call(number: int) -> int:
        result: int = await tracker.call(3 - number % 3, number)
        return result

    async with trio.open_nursery() as nursery:
        results: list[list[int]] = []
        nursery.start_soon(
            lambda: _collect(results, gather_map(call, numbers(), limit=3))
        )
        await trio.testing.wait_all_tasks_blocked()
        assert pulled == [0, 1, 2]  # nothing read ahead of a free slot
    assert results == [[n for n in range(9)]]
    assert tracker.most == 3


async def _collect(into: list[T], awaitable: Awaitable[T]) -> None:
    into.append(await awaitable)


async def test_gather_map_from_a_memory_channel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    send, receive = trio.open_memory_channel[int](0)

    async def producer() -> None:
        async with send:
            for number in range(4):
                await trio.sleep(1)
                await send.send(number)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        assert await gather_map(partial(after, 5), receive) == [0, 1, 2, 3]
    # Each started as it arrived: the last at 4 s, done at 9 s.
    assert trio.current_time() == 9


@pytest.mark.parametrize("limit", [None, 2])
async def test_gather_map_async_input_error(limit: int | None) -> None:
    tracker = Tracker()

    async def broken(after_items: int) -> AsyncIterator[int]:
        await trio.lowlevel.checkpoint()
        for number in range(after_items):
            yield number
        raise KeyError("items")

    # On the first read, nothing has started: the error as it is.
    with pytest.raises(KeyError, match=r"^'items'$"):
        await gather_map(partial(tracker.call, 10), broken(0), limit=limit)
    # Later, it cancels the running calls and comes in the group.
    with pytest.RaisesGroup(KeyError):
        await gather_map(partial(tracker.call, 10), broken(1), limit=limit)
    assert tracker.started == tracker.cancelled == 1


async def test_gather_map_first_read_error_comes_as_it_is() -> None:
    class Broken:
        def __iter__(self) -> Broken:
            return self

        def __next__(self) -> int:
            raise KeyError("first")

    with pytest.raises(KeyError, match=r"^'first'$"):
        await gather_map(cached, Broken(), limit=2)


@pytest.mark.parametrize("limit", [None, 2])
@pytest.mark.parametrize("is_async", [False, True])
async def test_gather_map_settled_keeps_failures_in_place(
    limit: int | None, is_async: bool, autojump_clock: trio.testing.MockClock
) -> None:
    tracker = Tracker()

    async def call(number: int) -> int:
        if number % 3 == 1:
            await fail_after(number, ValueError(f"bad {number}"))
        result: int = await tracker.call(5 - number, number * 10)
        return result

    numbers = range(6)
    results = await gather_map(
        call, AIter(numbers) if is_async else numbers, limit=limit, settled=True
    )
    assert len(results) == 6
    for number, result in zip(numbers, results, strict=False):
        if number % 3 == 1:
            assert isinstance(result, outcome.Error)
            assert repr(result.error) == f"ValueError('bad {number}')"
        else:
            assert result == outcome.Value(number * 10)
    # Nothing was cancelled: every call ran to its end.
    assert tracker.cancelled == 0
    assert tracker.started == 4


async def test_gather_map_settled_lets_base_exceptions_through() -> None:
    async def stop(number: int) -> int:
        await trio.lowlevel.checkpoint()
        raise Stop

    with pytest.RaisesGroup(Stop):
        await gather_map(stop, [1, 2], settled=True)


async def test_gather_map_settled_outcomes_are_fresh() -> None:
    results = await gather_map(raise_now, [1, 2], settled=True)
    assert results[0] is not results[1]
    for result in results:
        with pytest.raises(ValueError, match=r"^failed \d$"):
            result.unwrap()


async def test_gather_map_settled_limiter_composes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tracker = Tracker()
    results = await gather_map(
        partial(tracker.call, 1), range(4), limiter=trio.Semaphore(2), settled=True
    )
    assert results == [outcome.Value(n) for n in range(4)]
    assert tracker.most == 2


# -- no reference cycles on failure paths ----------------------------------------


@pytest.mark.parametrize("limit", [None, 2])
async def test_gather_map_failures_leave_no_cyclic_garbage(limit: int | None) -> None:
    with no_cyclic_garbage():
        for _ in range(100):
            results = await gather_map(raise_now, [1, 2, 3], limit=limit, settled=True)
            del results
    with no_cyclic_garbage():
        for _ in range(100):
            with suppress(ExceptionGroup):
                await gather_map(raise_now, [1, 2, 3], limit=limit)


# -- edges: unprintable callables, non-coroutine awaitables, limiter waits --------


class Unprintable:
    """A callable whose repr raises: error messages must not."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __call__(self) -> int:
        return 0


async def test_missing_async_message_survives_a_failing_repr() -> None:
    with pytest.raises(
        TypeError,
        match=r"^gather\(\) needs an async function, but <Unprintable instance "
        r"at 0x[0-9a-f]+> returned int 0; is it missing 'async def'\?$",
    ):
        await gather(_bad_fn(Unprintable()))


def _bad_fn(value: object) -> Any:
    return value


async def test_missing_async_leaves_other_awaitables_alone() -> None:
    # A Ready is awaitable but not a coroutine: nothing to close.
    with pytest.raises(TypeError, match=_MISSING.format("race")):
        await race(lambda: Ready(1), _bad_fn(not_async))


async def test_gather_map_cancelled_while_waiting_for_a_limiter(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tracker = Tracker()
    limiter = trio.CapacityLimiter(1)
    with trio.move_on_after(1) as scope:
        await gather_map(partial(tracker.call, 10), range(3), limiter=limiter)
    assert scope.cancelled_caught
    # One ran (and was cancelled); two never got the limiter, and their
    # coroutines were closed (else Python would warn, an error here).
    assert tracker.started == tracker.cancelled == 1
    assert limiter.borrowed_tokens == 0


async def test_limited_failures_leave_no_cyclic_garbage() -> None:
    # The frames that a limited call's failure passes through (run_limited,
    # the racer's attempt) keep nothing that leads back to it.
    limiter = trio.CapacityLimiter(2)
    with no_cyclic_garbage():
        for _ in range(100):
            with suppress(ExceptionGroup):
                await race(partial(raise_now, 1), partial(raise_now, 2), limiter=limiter)
            with suppress(ExceptionGroup):
                await gather(partial(raise_now, 1), cached, limiter=limiter)
            results = await gather_map(
                raise_now, [1, 2], limit=1, limiter=(limiter,), settled=True
            )
            del results
    assert limiter.borrowed_tokens == 0
