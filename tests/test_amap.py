"""amap: API.md section 5b, as a user sees it.

Time is trio's MockClock (the ``autojump_clock`` fixture): ``trio.sleep(3)``
takes no real time, so the timings asserted here are exact.
"""

from __future__ import annotations

import gc
import inspect
import signal
import sys
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import outcome
import pytest
import trio
import trio.testing

from trio_promise import AmapIterator, amap, gather_map

from ._helpers import Ready, no_cyclic_garbage

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from types import FrameType


class Stop(BaseException):
    """Stands in for KeyboardInterrupt / SystemExit (a non-Exception)."""


class Calls:
    """Counts the calls: started, running, cancelled, and items in hand.

    An item is in hand from the start of its call until the loop has taken
    its pair (``took``), which is what ``limit`` bounds.
    """

    def __init__(self) -> None:
        self.started: list[int] = []
        self.running = 0
        self.most_running = 0
        self.cancelled = 0
        self.taken = 0
        self.most_in_hand = 0
        self.names: list[str] = []

    def took(self) -> None:
        self.taken += 1

    async def call(self, item: int, delay: float = 1, fail: int | None = None) -> int:
        self.started.append(item)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        self.most_in_hand = max(self.most_in_hand, len(self.started) - self.taken)
        self.names.append(trio.lowlevel.current_task().name)
        try:
            await trio.sleep(delay)
        except trio.Cancelled:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1
        if item == fail:
            raise ValueError(f"item {item} failed")
        return item * 10


class Pulled:
    """A lazy input that records each item read."""

    def __init__(self, count: int | None = None) -> None:
        self.count = count
        self.pulled: list[int] = []

    def __iter__(self) -> Iterator[int]:
        item = 0
        while self.count is None or item < self.count:
            self.pulled.append(item)
            yield item
            item += 1

    def agen(self) -> AsyncIterator[int]:
        return _Async(iter(self))


class _Async:
    """An async iterator over an iterator, which checkpoints at each item.

    A class, not an async generator: one left unfinished (amap was left
    early) must not make trio warn when it is collected.
    """

    def __init__(self, items: Iterator[int]) -> None:
        self.items = items

    def __aiter__(self) -> _Async:
        return self

    async def __anext__(self) -> int:
        await trio.lowlevel.checkpoint()
        try:
            return next(self.items)
        except StopIteration:
            raise StopAsyncIteration from None


async def cached(item: int) -> int:
    # Never yields to trio: a cache hit. amap's own checkpoints are what we see.
    return await Ready(item)


async def always_fails(item: int) -> int:
    await Ready(None)
    raise ValueError(f"bad {item}")


def start_in(nursery: trio.Nursery, fn: Any, *args: object) -> None:
    nursery.start_soon(fn, *args)


def no_tasks_left() -> bool:
    """No nursery of amap's is left open in this task (so none of its tasks)."""
    return all(
        nursery.parent_task is not trio.lowlevel.current_task()
        or not any(
            "amap" in task.name or "Calls" in task.name for task in nursery.child_tasks
        )
        for nursery in trio.lowlevel.current_task().child_nurseries
    )


# -- results ------------------------------------------------------------------


async def test_pairs_in_completion_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()
    seen: list[tuple[int, int, float]] = []

    async def call(item: int) -> int:
        return await calls.call(item, delay=4 - item)

    async with amap(call, [0, 1, 2, 3]) as results:
        assert isinstance(results, AmapIterator)
        async for item, result in results:
            seen.append((item, result, trio.current_time()))
    assert seen == [(3, 30, 1), (2, 20, 2), (1, 10, 3), (0, 0, 4)]
    assert calls.most_running == 4  # no limit: everything at once
    assert no_tasks_left()


async def test_ordered_slow_first_item_keeps_the_slots(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()
    starts: dict[int, float] = {}

    async def call(item: int) -> int:
        starts[item] = trio.current_time()
        return await calls.call(item, delay=10 if item == 0 else 1)

    seen: list[tuple[int, int, float]] = []
    async with amap(call, range(5), limit=3, ordered=True) as results:
        async for item, result in results:
            calls.took()
            seen.append((item, result, trio.current_time()))
    assert [(i, r) for i, r, _ in seen] == [(i, i * 10) for i in range(5)]
    # Items 1 and 2 finished at 1 s but waited for item 0, holding their
    # slots: item 3 could start only when item 0's pair was taken, at 10 s.
    assert starts == {0: 0, 1: 0, 2: 0, 3: 10, 4: 10}
    assert [t for _, _, t in seen] == [10, 10, 10, 11, 11]
    assert calls.most_in_hand == 3


@pytest.mark.parametrize("ordered", [False, True])
async def test_settled_keeps_every_failure_in_place(
    ordered: bool, autojump_clock: trio.testing.MockClock
) -> None:
    calls = Calls()

    async def call(item: int) -> int:
        return await calls.call(item, delay=item % 3, fail=item if item % 2 else None)

    pairs: list[tuple[int, outcome.Outcome[int]]] = []
    async with amap(call, range(8), limit=3, ordered=ordered, settled=True) as results:
        async for pair in results:
            pairs.append(pair)
    if ordered:
        assert [item for item, _ in pairs] == list(range(8))
    assert sorted(item for item, _ in pairs) == list(range(8))
    for item, result in pairs:
        if item % 2:
            assert isinstance(result, outcome.Error)
            assert isinstance(result.error, ValueError)
            assert str(result.error) == f"item {item} failed"
        else:
            assert result == outcome.Value(item * 10)
    # Nothing was cancelled, every item ran.
    assert calls.cancelled == 0
    assert sorted(calls.started) == list(range(8))
    # Fresh outcomes: each can be unwrapped by whoever holds it.
    for _, result in pairs:
        if isinstance(result, outcome.Error):
            with pytest.raises(ValueError, match=r"^item \d failed$"):
                result.unwrap()


async def test_settled_lets_base_exceptions_through() -> None:
    async def call(item: int) -> int:
        await trio.lowlevel.checkpoint()
        raise Stop

    with pytest.RaisesGroup(Stop):
        async with amap(call, [1], settled=True) as results:
            async for _ in results:
                pytest.fail("no pair")  # pragma: no cover


async def test_empty_input() -> None:
    items: Any
    for items in (list[int](), Pulled(0), Pulled(0).agen()):
        async with amap(cached, items, limit=2) as results:
            with trio.testing.assert_checkpoints():
                assert [pair async for pair in results] == []
            # The end is sticky.
            with pytest.raises(StopAsyncIteration):
                await results.__anext__()


async def test_tasks_named_after_async_fn() -> None:
    calls = Calls()
    async with amap(partial(calls.call, delay=0), [1, 2], limit=1) as results:
        async for _ in results:
            calls.took()
    # The name trio gives a task started directly with this function.
    assert calls.names == [f"{Calls.call.__module__}.{Calls.call.__qualname__}"] * 2


async def test_limiter_composes(autojump_clock: trio.testing.MockClock) -> None:
    calls = Calls()
    limiter = trio.CapacityLimiter(2)
    async with amap(calls.call, range(6), limit=4, limiter=limiter) as results:
        assert sorted([item async for item, _ in results]) == list(range(6))
    assert calls.most_running == 2
    assert trio.current_time() == 3


# -- limit: backpressure and memory ------------------------------------------


@pytest.mark.parametrize("ordered", [False, True])
async def test_a_slow_loop_stops_new_starts(
    ordered: bool, autojump_clock: trio.testing.MockClock
) -> None:
    calls = Calls()
    source = Pulled(20)

    async def call(item: int) -> int:
        return await calls.call(item, delay=item % 4)

    async with amap(call, source, limit=3, ordered=ordered) as results:
        async for _ in results:
            calls.took()
            # The body is slower than any call: the calls wait for it.
            await trio.sleep(5)
            # Never more than the limit in hand, and nothing read ahead.
            assert len(source.pulled) - calls.taken <= 3
    assert calls.most_in_hand == 3
    assert len(calls.started) == 20
    # 20 items, one taken every 5 s (plus the first result).
    assert 100 <= trio.current_time() <= 104


async def test_without_limit_every_item_starts_as_read(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()
    async with amap(partial(calls.call, delay=1), range(50)) as results:
        async for _ in results:
            await trio.sleep(10)
    assert calls.most_running == 50


# -- input ----------------------------------------------------------------------


async def test_input_from_a_memory_channel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()
    send, receive = trio.open_memory_channel[int](0)
    seen: list[tuple[int, float]] = []

    async def producer() -> None:
        async with send:
            for item in range(4):
                await trio.sleep(10)
                await send.send(item)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        async with amap(partial(calls.call, delay=1), receive, limit=2) as results:
            async for item, _ in results:
                seen.append((item, trio.current_time()))
    # Each item starts as soon as it arrives, and its pair comes 1 s later.
    assert seen == [(0, 11), (1, 21), (2, 31), (3, 41)]


async def test_async_input_is_read_only_when_a_slot_is_free(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()
    source = Pulled()
    async with amap(partial(calls.call, delay=1), source.agen(), limit=3) as results:
        async for item, _ in results:
            calls.took()
            assert len(source.pulled) - calls.taken <= 3
            if item == 10:
                break
    assert len(source.pulled) <= 11 + 3


@pytest.mark.parametrize("is_async", [False, True])
async def test_an_error_from_items_cancels_the_calls(
    is_async: bool, autojump_clock: trio.testing.MockClock
) -> None:
    calls = Calls()

    def broken() -> Iterator[int]:
        yield 1
        yield 2
        raise KeyError("items")

    async def abroken() -> AsyncIterator[int]:
        for item in broken():
            await trio.lowlevel.checkpoint()
            yield item

    items = abroken() if is_async else broken()
    with pytest.RaisesGroup(pytest.RaisesExc(KeyError, match=r"^'items'$")):
        async with amap(partial(calls.call, delay=10), items, limit=5) as results:
            async for _ in results:
                pytest.fail("no call finishes")  # pragma: no cover
    assert calls.started == [1, 2]
    assert calls.cancelled == 2
    assert calls.running == 0


# -- failures and leaving early -------------------------------------------------


async def test_a_failing_call_cancels_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()
    source = Pulled()
    seen: list[int] = []

    async def call(item: int) -> int:
        return await calls.call(item, delay=item % 3 + 1, fail=4)

    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match=r"^item 4 failed$")):
        async with amap(call, source, limit=3) as results:
            async for item, _ in results:
                calls.took()
                seen.append(item)
    assert calls.running == 0
    assert calls.cancelled >= 1
    # Nothing was read after the failure.
    assert len(source.pulled) == len(calls.started)
    assert 4 not in seen
    assert no_tasks_left()


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_function_missing_async_is_a_plain_type_error(is_async: bool) -> None:
    def sync(item: int) -> int:
        return item

    items: Any = Pulled(2).agen() if is_async else [1, 2]
    first = 0 if is_async else 1

    async def run() -> None:
        async with amap(_bad(sync), items) as results:
            async for _ in results:
                pytest.fail("no pair")  # pragma: no cover

    with pytest.raises(
        TypeError,
        match=rf"^amap\(\) needs an async function, but <function .*sync at "
        rf"0x[0-9a-f]+> returned int {first}; is it missing 'async def'\?$",
    ):
        await run()


async def test_a_later_item_whose_call_is_not_awaitable_fails_the_group() -> None:
    def maker(item: int) -> Any:
        return cached(item) if item == 0 else item

    with pytest.RaisesGroup(
        pytest.RaisesExc(
            TypeError,
            match=r"^amap\(\) needs an async function, but <function .*maker "
            r"at 0x[0-9a-f]+> returned int 1; is it missing 'async def'\?$",
        )
    ):
        async with amap(maker, [0, 1], limit=1) as results:
            async for _ in results:
                pass


@pytest.mark.parametrize("ordered", [False, True])
async def test_break_cancels_the_calls_and_reads_no_further(
    ordered: bool, autojump_clock: trio.testing.MockClock
) -> None:
    calls = Calls()
    source = Pulled()

    async def call(item: int) -> int:
        return await calls.call(item, delay=1 + item % 5)

    pulled = -1
    async with amap(call, source, limit=4, ordered=ordered) as results:
        async for _ in results:
            calls.took()
            if calls.taken == 3:
                pulled = len(source.pulled)
                break
    assert calls.running == 0
    assert calls.cancelled >= 1
    assert len(source.pulled) == pulled
    assert no_tasks_left()
    with pytest.raises(RuntimeError, match=r"after their 'async with amap"):
        await results.__anext__()


async def test_an_exception_in_the_body_cancels_the_calls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()
    source = Pulled()

    async def call(item: int) -> int:
        return await calls.call(item, delay=1 + item)

    pulled = -1

    async def run() -> None:
        nonlocal pulled
        async with amap(call, source, limit=3) as results:
            async for _ in results:
                pulled = len(source.pulled)
                raise KeyError("body")

    # Alone, the body's own exception comes out as itself.
    with pytest.raises(KeyError, match=r"^'body'$"):
        await run()
    assert calls.running == 0
    assert calls.cancelled == 2
    assert len(source.pulled) == pulled
    assert no_tasks_left()


async def test_cancelled_from_outside(autojump_clock: trio.testing.MockClock) -> None:
    calls = Calls()
    source = Pulled()
    with trio.move_on_after(2.5) as scope:
        async with amap(partial(calls.call, delay=1), source, limit=3) as results:
            async for _ in results:
                calls.took()
    assert scope.cancelled_caught
    assert calls.running == 0
    assert calls.cancelled == 3
    # Two rounds of three took 2 s; the third round was running.
    assert len(source.pulled) == 9
    assert no_tasks_left()


# -- checkpoints ------------------------------------------------------------------


@pytest.mark.parametrize("settled", [False, True])
@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("limit", [None, 1, 3])
async def test_every_step_is_a_checkpoint(
    limit: int | None, ordered: bool, settled: bool
) -> None:
    async with amap(
        cached, [1, 2, 3], limit=limit, ordered=ordered, settled=settled
    ) as results:
        await trio.testing.wait_all_tasks_blocked()  # pairs ready at once
        for _ in range(3):
            with trio.testing.assert_checkpoints():
                await results.__anext__()
        with trio.testing.assert_checkpoints(), pytest.raises(StopAsyncIteration):
            await results.__anext__()


async def _agen(count: int) -> AsyncIterator[int]:
    # An async generator: amap closes it when it stops reading.
    try:
        for item in range(count):
            yield await Ready(item)
    finally:
        await Ready(None)


INPUTS: dict[str, Any] = {
    "list": lambda: [1, 2, 3],
    "async iterator": lambda: Pulled(3).agen(),
    "async generator": lambda: _agen(3),
}


@pytest.mark.parametrize("with_limiter", [False, True])
@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("limit", [None, 2])
async def test_a_cancelled_loop_stops_at_the_cancel(
    limit: int | None, kind: str, with_limiter: bool
) -> None:
    iterations = 0
    limiter = trio.CapacityLimiter(1) if with_limiter else None
    with trio.CancelScope() as scope:
        scope.cancel()
        while True:
            async with amap(
                cached, INPUTS[kind](), limit=limit, limiter=limiter
            ) as results:
                async for _ in results:
                    iterations += 1  # pragma: no cover
    assert scope.cancelled_caught
    assert iterations == 0
    assert limiter is None or limiter.borrowed_tokens == 0


@pytest.mark.parametrize("with_limiter", [False, True])
@pytest.mark.parametrize("kind", INPUTS)
async def test_a_loop_cancelled_midway_stops_at_the_next_run(
    kind: str, with_limiter: bool
) -> None:
    runs = 0
    limiter = trio.CapacityLimiter(1) if with_limiter else None
    with trio.CancelScope() as scope:
        while True:
            async with amap(cached, INPUTS[kind](), limit=2, limiter=limiter) as results:
                async for _ in results:
                    pass
            runs += 1
            if runs == 3:
                scope.cancel()
    assert scope.cancelled_caught
    assert runs == 3


async def test_a_cancelled_step_takes_no_pair() -> None:
    async with amap(cached, [1, 2], ordered=True) as results:
        await trio.testing.wait_all_tasks_blocked()
        with trio.CancelScope() as scope:
            scope.cancel()
            await results.__anext__()
            pytest.fail("not cancelled")  # pragma: no cover
        assert [pair async for pair in results] == [(1, 1), (2, 2)]


# -- argument errors and misuse ----------------------------------------------------


def _bad(value: object) -> Any:
    return value


_NO_ITEMS: Any = object()  # stands for the lazy input the test watches

ARGUMENT_ERRORS: list[tuple[Any, Any, dict[str, Any], type, str]] = [
    (
        "fetch",
        _NO_ITEMS,
        {},
        TypeError,
        r"^amap\(\) needs an async function, got str 'fetch'$",
    ),
    (
        cached,
        5,
        {},
        TypeError,
        r"^amap\(\) needs an iterable or async iterable of arguments, got int; "
        r"to call async_fn once, use amap\(async_fn, \[arg\]\)$",
    ),
    *(
        (
            cached,
            _NO_ITEMS,
            {"limit": limit},
            ValueError,
            rf"^amap\(\): limit must be >= 1 \(the most items in hand at "
            rf"once\), got {limit}; use limit=None for no limit$",
        )
        for limit in (0, -1)
    ),
    *(
        (
            cached,
            _NO_ITEMS,
            {"limit": limit},
            TypeError,
            rf"^amap\(\): limit must be an int >= 1 or None, got {shown}$",
        )
        for limit, shown in ((True, "bool True"), (1.5, "float 1.5"), ("2", "str '2'"))
    ),
    (
        cached,
        _NO_ITEMS,
        {"limiter": 5},
        TypeError,
        r"^amap\(\): limiter must be usable as 'async with limiter:' \(a "
        r"trio\.CapacityLimiter, trio\.Semaphore, RateLimiter, \.\.\.\) or a "
        r"tuple of them, got 5$",
    ),
]


@pytest.mark.parametrize(
    ("async_fn", "items", "kwargs", "exc", "match"), ARGUMENT_ERRORS
)
def test_argument_errors_at_the_call(
    async_fn: Any, items: Any, kwargs: dict[str, Any], exc: type, match: str
) -> None:
    # amap() is synchronous: raising here is raising before any checkpoint.
    source = Pulled()
    if items is _NO_ITEMS:
        items = iter(source)
    with pytest.raises(exc, match=match):
        amap(async_fn, items, **kwargs)
    assert source.pulled == []


def test_a_coroutine_object_instead_of_the_function() -> None:
    coro = cached(1)
    with pytest.raises(
        TypeError, match=r"^amap\(\) needs an async function, got the coroutine object"
    ):
        amap(_bad(coro), [1])


async def test_iterating_after_the_block() -> None:
    async with amap(cached, [1]) as results:
        pass
    with pytest.raises(
        RuntimeError,
        match=r"^amap\(\): the results were iterated after their 'async with "
        r"amap\(\.\.\.\)' block ended; iterate inside the block$",
    ):
        await results.__anext__()


async def test_iterating_from_two_tasks_at_once() -> None:
    async def take(results: AmapIterator[Any]) -> None:
        async for _ in results:
            pass  # pragma: no cover

    # The body's nursery's group, alone: it comes out of amap as itself.
    with pytest.RaisesGroup(
        pytest.RaisesExc(
            RuntimeError,
            match=r"^amap\(\): two tasks are iterating the same results at "
            r"once; iterate in one task and hand the pairs on \(a memory "
            r"channel\)$",
        )
    ):
        async with amap(trio.sleep, [10**6]) as results, trio.open_nursery() as n:
            n.start_soon(take, results)
            await trio.testing.wait_all_tasks_blocked()
            await results.__anext__()


async def test_iterating_in_a_task_started_inside_the_block() -> None:
    seen: list[tuple[int, int]] = []

    async def take(results: AmapIterator[tuple[int, int]]) -> None:
        async for pair in results:
            seen.append(pair)

    async with amap(cached, [1, 2], ordered=True) as results, trio.open_nursery() as n:
        n.start_soon(take, results)
        await trio.testing.wait_all_tasks_blocked()
    assert seen == [(1, 1), (2, 2)]


async def test_iterating_from_a_task_outside_the_block() -> None:
    async def take(results: AmapIterator[Any]) -> None:
        await results.__anext__()

    with pytest.RaisesGroup(
        pytest.RaisesExc(
            RuntimeError,
            match=r"^amap\(\): the results were iterated outside their 'async with "
            r"amap\(\.\.\.\)' block, in a task that did not enter it; iterate in "
            r"that task or in one it starts inside the block$",
        )
    ):
        async with trio.open_nursery() as outer, amap(cached, [1]) as results:
            # The misuse under test: a task of a nursery opened *before* the
            # block (which flake8-async would rightly flag if written here).
            start_in(outer, take, results)
            await trio.testing.wait_all_tasks_blocked()


async def test_iterating_from_a_task_above_the_block() -> None:
    box: list[AmapIterator[Any]] = []
    done = trio.Event()

    async def owner() -> None:
        async with amap(cached, [1]) as results:
            box.append(results)
            await done.wait()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(owner)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(RuntimeError, match=r"in a task that did not enter it"):
            await box[0].__anext__()
        done.set()


async def test_a_limiter_wait_cancelled_closes_the_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = Calls()
    limiter = trio.CapacityLimiter(1)
    with trio.move_on_after(1.5):
        async with amap(calls.call, range(3), limiter=limiter) as results:
            async for _ in results:
                calls.took()
    # One ran to its end, one was cancelled in its call, one while waiting
    # for the limiter (its coroutine closed, else Python would warn).
    assert calls.taken == 1
    assert calls.started == [0, 1]
    assert limiter.borrowed_tokens == 0


# -- KeyboardInterrupt at any line -------------------------------------------------


def _ki_scenario(
    ordered: bool, settled: bool, interrupt_at: int | None
) -> tuple[int, BaseException | None, trio.CapacityLimiter, Calls]:
    """Run one amap to its end; SIGINT at the n-th line run in trio_promise.

    Returns the number of trio_promise lines run, what ``trio.run`` raised,
    and the objects whose state must be whole afterwards.
    """
    files = {inspect.getfile(amap), inspect.getfile(gather_map)}
    calls = Calls()
    limiter = trio.CapacityLimiter(1)
    lines = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal lines
        if frame.f_code.co_filename not in files:
            return None
        if event == "line":
            lines += 1
            if lines == interrupt_at:
                # trio's handler decides, as for a real ^C: raise here if
                # this frame is not KI-protected, else later, in main.
                signal.raise_signal(signal.SIGINT)
        return trace

    async def main() -> None:
        with trio.fail_after(100):  # a hang would be a bug: fail instead
            async with amap(
                partial(calls.call, delay=1),
                range(4),
                limit=2,
                limiter=limiter,
                ordered=ordered,
                settled=settled,
            ) as results:
                async for _ in results:
                    calls.took()

    # Anything but the interrupt (TooSlowError: a hang; TrioInternalError)
    # propagates and fails the test.
    error: BaseException | None = None
    # Put back whatever traced before (coverage's tracer, under dev.py).
    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    except (KeyboardInterrupt, BaseExceptionGroup) as exc:
        error = exc
    finally:
        sys.settrace(previous)
    return lines, error, limiter, calls


def _only_keyboard_interrupts(error: BaseException) -> bool:
    if isinstance(error, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", error)
        return all(_only_keyboard_interrupts(each) for each in group.exceptions)
    return isinstance(error, KeyboardInterrupt)


@pytest.mark.sweep  # SIGINT at every line amap runs
@pytest.mark.parametrize(("ordered", "settled"), [(False, False), (True, True)])
# An interrupt at a task's very first instruction, before any line of it
# runs, leaves its coroutine argument unawaited, as it would for any task
# that nursery.start_soon() was given a coroutine for: Python's warning, not
# a leak. Everything else must be whole.
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
def test_keyboard_interrupt_at_any_line_leaves_nothing_behind(
    ordered: bool, settled: bool
) -> None:
    total, error, _, calls = _ki_scenario(ordered, settled, None)
    assert error is None
    assert calls.taken == 4
    for interrupt_at in range(1, total + 1):
        _, error, limiter, calls = _ki_scenario(ordered, settled, interrupt_at)
        # The interrupt came out of trio.run (trio may have raised it from
        # a task, in a group); nothing hung (no TooSlowError).
        assert error is not None, interrupt_at
        assert _only_keyboard_interrupts(error), (interrupt_at, error)
        # No limiter slot lost, no call left running; and (filterwarnings =
        # error) no coroutine left that nobody awaited.
        assert limiter.borrowed_tokens == 0, interrupt_at
        assert calls.running == 0, interrupt_at
        del error
        # A coroutine left unawaited by the interrupt may sit in a cycle with
        # the KeyboardInterrupt's traceback: collect it here, under this
        # test's warning filter, not in whichever test collects next.
        gc.collect()


# -- no reference cycles -----------------------------------------------------------


async def test_failure_paths_leave_no_cyclic_garbage() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise KeyError("items")

    async def run(items: Any, settled: bool = False, ordered: bool = False) -> None:
        async with amap(
            always_fails, items, limit=2, settled=settled, ordered=ordered
        ) as results:
            async for _, result in results:
                del result

    for settled, ordered in ((False, False), (True, False), (True, True)):
        with no_cyclic_garbage():
            for _ in range(100):
                with suppress(ExceptionGroup):
                    await run([1, 2, 3], settled=settled, ordered=ordered)
    with no_cyclic_garbage():
        for _ in range(100):
            with suppress(ExceptionGroup):
                await run(broken(), settled=True)


async def test_break_leaves_no_cyclic_garbage() -> None:
    with no_cyclic_garbage():
        for _ in range(100):
            try:
                async with amap(always_fails, [1, 2], settled=True) as results:
                    async for _ in results:
                        raise KeyError("body")
            except KeyError:
                pass


async def test_the_context_manager_is_entered_once() -> None:
    manager = amap(cached, [1, 2])
    async with manager as results:
        assert sorted([pair async for pair in results]) == [(1, 1), (2, 2)]
    with pytest.raises(
        RuntimeError,
        match=r"^amap\(\): this 'async with' was already entered; call amap\(\) "
        r"again for a new run$",
    ):
        async with manager:
            pass  # pragma: no cover


# -- a shielded loop learns that the run is over ------------------------------------


def _fails_after_a_while() -> Iterator[int]:
    yield 0
    yield 1
    raise KeyError("items")


async def _async_fails_after_a_while() -> AsyncIterator[int]:
    for item in (0, 1):
        await trio.sleep(1)
        yield item
    await trio.sleep(1)
    raise KeyError("items")


async def _call_fails(item: int) -> int:
    await trio.sleep(1 if item == 1 else 100)
    if item == 1:
        raise KeyError("call")
    return item


async def _slow(item: int) -> int:
    await trio.sleep(100)
    return item


# Each way a run can fail: (async_fn, a maker of items, the failure).
SHIELDED_FAILURES: dict[str, tuple[Any, Any, str]] = {
    "a call raises": (_call_fails, lambda: range(5), "call"),
    "the items' iterator raises": (_slow, _fails_after_a_while, "items"),
    "async items raise": (_slow, _async_fails_after_a_while, "items"),
}


@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("how", SHIELDED_FAILURES)
async def test_a_shielded_loop_ends_after_a_failure(
    how: str, ordered: bool, autojump_clock: trio.testing.MockClock
) -> None:
    async_fn, make_items, failure = SHIELDED_FAILURES[how]
    # How a hang is detected, deterministically: with the autojump clock,
    # time moves only when every task is blocked. The calls take at most
    # 100 s, so the watchdog's 1000 s comes only if the loop hangs; it then
    # lifts the shield and cancels it (a cancellation from outside cannot
    # reach a shielded loop), so that the test fails instead of hanging.
    shield = trio.CancelScope(shield=True)
    hung = False
    ended = False

    async def watchdog() -> None:
        nonlocal hung
        await trio.sleep(1000)
        hung = True  # pragma: no cover (only when the loop hangs)
        shield.shield = False  # pragma: no cover
        shield.cancel()  # pragma: no cover

    async def run() -> None:
        nonlocal ended
        async with amap(async_fn, make_items(), limit=3, ordered=ordered) as results:
            with shield:
                async for _ in results:
                    pass
                ended = True

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watchdog)
        with pytest.RaisesGroup(
            pytest.RaisesExc(KeyError, match=rf"^'{failure}'$")
        ):
            await run()
        nursery.cancel_scope.cancel()
    assert not hung, "the shielded loop hung"
    assert ended, "the loop did not end by itself"
    # Not a cancellation from outside: the scope was never cancelled.
    assert not shield.cancel_called
    assert trio.current_time() < 100


async def test_after_a_failure_no_more_pairs_are_handed_over(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Pairs finished before the failure, not yet taken: the loop, shielded,
    # stops at the failure instead of taking them.
    taken: list[int] = []

    async def call(item: int) -> int:
        await trio.sleep(1 if item < 3 else 2)
        if item == 3:
            raise KeyError("call")
        return item

    with pytest.RaisesGroup(KeyError):
        async with amap(call, range(4)) as results:
            with trio.CancelScope(shield=True):
                await trio.sleep(5)  # everything has finished or failed
                async for item, _ in results:
                    taken.append(item)  # pragma: no cover
    assert taken == []


# -- the body's own exception comes out as itself -----------------------------------


async def test_a_lone_body_exception_keeps_its_own_context() -> None:
    async def run() -> None:
        async with amap(cached, [1, 2]) as results:
            async for _ in results:
                try:
                    raise ValueError("handled")
                except ValueError:
                    raise KeyError("body") from None

    with pytest.raises(KeyError, match=r"^'body'$") as info:
        await run()
    assert isinstance(info.value.__context__, ValueError)
    assert info.value.__suppress_context__


async def test_a_group_raised_by_the_body_comes_as_it_is() -> None:
    group = ExceptionGroup("mine", [KeyError("a"), ValueError("b")])

    async def run() -> None:
        async with amap(cached, [1, 2]) as results:
            async for _ in results:
                raise group

    with pytest.raises(ExceptionGroup) as info:
        await run()
    assert info.value is group


async def test_fail_after_inside_the_block_is_too_slow_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def run() -> None:
        async with amap(_slow, range(3), limit=2) as results:
            with trio.fail_after(5):
                async for _ in results:
                    pass  # pragma: no cover

    with pytest.raises(trio.TooSlowError):
        await run()


async def test_fail_after_around_the_block_is_too_slow_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def run() -> None:
        with trio.fail_after(5):
            async with amap(_slow, range(3), limit=2) as results:
                async for _ in results:
                    pass  # pragma: no cover

    with pytest.raises(trio.TooSlowError):
        await run()
    assert trio.current_time() == 5


async def test_a_body_exception_with_a_call_failure_stays_in_the_group(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def call(item: int) -> int:
        await trio.sleep(item)
        if item == 2:
            raise ValueError("call")
        return item

    with pytest.RaisesGroup(KeyError, ValueError):
        async with amap(call, [1, 2]) as results:
            async for _ in results:
                # The call fails while the body cleans up, then the body
                # fails too: two failures, kept together.
                with trio.CancelScope(shield=True):
                    await trio.sleep(5)
                raise KeyError("body")


async def test_a_call_failure_alone_stays_in_the_group() -> None:
    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match=r"^bad 1$")):
        async with amap(always_fails, [1]) as results:
            async for _ in results:
                pass  # pragma: no cover


async def test_new_failure_paths_leave_no_cyclic_garbage() -> None:
    # A limited call failing; the first call's TypeError, raised plain; an
    # async generator closed after a failure.
    limiter = trio.CapacityLimiter(1)

    def sync(item: int) -> int:
        return item

    async def run(async_fn: Any, items: Any) -> None:
        async with amap(async_fn, items, limit=2, limiter=limiter) as results:
            async for _ in results:
                pass  # pragma: no cover

    with no_cyclic_garbage():
        for _ in range(100):
            with suppress(ExceptionGroup):
                await run(always_fails, [1, 2])
            with suppress(TypeError):
                await run(_bad(sync), [1, 2])
            with suppress(ExceptionGroup):
                await run(always_fails, _agen(5))
    assert limiter.borrowed_tokens == 0
