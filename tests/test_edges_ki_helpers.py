"""KeyboardInterrupt anywhere in the task helpers: gather, gather_map, race, amap.

API.md section 1 ("KeyboardInterrupt") and STYLE.md rule 8, for the helpers,
with the machinery of ``test_edges_ki.py``. That sweep interrupts the *first*
time each line runs; here the SIGINT goes at every line *event* instead (the
n-th line run in ``trio_promise``, for every n), because the places that
matter most here run a second time on the way out: the exit of a limiter's
``async with`` (in each task, around each call) and the exit of the helper's
own nursery. trio's handler decides where the interrupt lands: right there
if the code is not KI-protected, else at the main task's next checkpoint.

Each run must end with ``KeyboardInterrupt`` (alone or in groups) or
normally, never with anything else (a ``TrioInternalError`` from a nursery
exit cut in two, a ``TooSlowError`` from a hang), and afterwards:

* every limiter's slots have come back (``borrowed_tokens == 0``), and no
  task waits on a limiter or a ``RateLimiter``;
* no call is left running.

trio's scheduler shuffles the tasks of each batch with a module-level random
generator; it is seeded before every run, so that the n-th line event of an
interrupted run is the same as in the first, uninterrupted one (else the
target could move). The runs use the autojump ``MockClock``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, cast

import pytest
import trio

from trio_promise import RateLimiter, amap, gather, gather_map, race

from .test_edges_ki import PACKAGE, World, check, only_keyboard_interrupts, run

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
    from types import FrameType

pytestmark = [
    pytest.mark.skipif(
        not hasattr(signal, "raise_signal"), reason="needs signal.raise_signal"
    ),
    # An interrupt at a task's very first instruction, before any line of it
    # runs, leaves the coroutine it was given unawaited, as for any task that
    # nursery.start_soon() was handed: Python's warning, not a leak.
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),
]


@pytest.fixture(autouse=True)
def _ctrl_c_raises() -> Generator[None]:
    # trio turns SIGINT into KeyboardInterrupt only where Python's default
    # handler is installed; a process started in the background by a shell
    # ignores SIGINT, and the sweep would then interrupt nothing.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Running:
    """Counts the calls that are running (none may be left)."""

    def __init__(self) -> None:
        self.now = 0

    async def call(self, item: int, delay: float = 1) -> int:
        self.now += 1
        try:
            await trio.sleep(delay)
        finally:
            self.now -= 1
        if item == 3:
            raise ValueError("item 3")
        return item


def _limiters(world: World) -> tuple[trio.CapacityLimiter, RateLimiter]:
    capacity = trio.CapacityLimiter(2)
    rate = RateLimiter(4, burst=2)
    world.capacity.append(capacity)
    world.rates.append(rate)
    return capacity, rate


def _capacity(world: World) -> trio.CapacityLimiter:
    # Alone: the RateLimiter's own lines are swept in the first run of each
    # scenario, which keeps the sweep short.
    return world.capacity[0]


async def _rows(count: int) -> AsyncIterator[int]:
    try:
        for item in range(count):
            await trio.lowlevel.checkpoint()
            yield item
    finally:
        await trio.lowlevel.checkpoint()  # noqa: ASYNC102 (the finally awaits on purpose: the clean-up under test)


@contextlib.contextmanager
def _expecting(*kinds: type[Exception]) -> Generator[None]:
    """Catch the scenario's expected failures, alone or in groups.

    Like ``except* kinds``: anything else (the interrupt) goes on.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        rest = group.split(kinds)[1]
        if rest is not None:
            raise rest from None
    except kinds:
        pass


def _without_value_errors() -> contextlib.AbstractContextManager[None]:
    return _expecting(ValueError)


# Each scenario: world -> (main, the running counter). main must end
# normally when nothing interrupts it; expected failures are caught inside.
Scenario = "Callable[[World], tuple[Callable[[], Awaitable[None]], Running]]"


def _gather(world: World) -> tuple[Callable[[], Awaitable[None]], Running]:
    calls = Running()
    limiter = _limiters(world)

    async def main() -> None:
        await gather(*(lambda i=i: calls.call(i) for i in range(3)), limiter=limiter)
        with _without_value_errors():
            await gather(
                lambda: calls.call(0), lambda: calls.call(3), limiter=_capacity(world)
            )

    return main, calls


def _race(world: World) -> tuple[Callable[[], Awaitable[None]], Running]:
    calls = Running()
    limiter = _limiters(world)

    async def main() -> None:
        await race(
            lambda: calls.call(3, 0.5),
            lambda: calls.call(1, 2),
            lambda: calls.call(2, 1),
            limiter=limiter,
        )
        with _without_value_errors():
            await race(
                lambda: calls.call(3), lambda: calls.call(3), limiter=_capacity(world)
            )

    return main, calls


def _gather_map(world: World) -> tuple[Callable[[], Awaitable[None]], Running]:
    calls = Running()
    limiter = _limiters(world)

    async def main() -> None:
        await gather_map(calls.call, range(3), limit=2, limiter=limiter)
        capacity = _capacity(world)
        await gather_map(calls.call, _rows(3), limiter=capacity)
        await gather_map(calls.call, range(2, 5), limiter=capacity, settled=True)
        with _without_value_errors():
            await gather_map(calls.call, _rows(5), limit=2, limiter=capacity)

    return main, calls


def _amap(ordered: bool) -> Callable[[World], tuple[Callable[[], Awaitable[None]], Running]]:
    def scenario(world: World) -> tuple[Callable[[], Awaitable[None]], Running]:
        calls = Running()
        limiter = _limiters(world)

        async def main() -> None:
            async with amap(
                calls.call, range(2), limit=2, limiter=limiter, ordered=ordered
            ) as results:
                async for _ in results:
                    pass
            capacity = _capacity(world)
            async with amap(
                calls.call, range(2, 5), limiter=capacity, ordered=ordered, settled=True
            ) as outcomes:
                # (Item 3 fails: an outcome.Error in its pair.)
                async for _ in outcomes:
                    pass
            async with amap(calls.call, _rows(9), limit=1, limiter=capacity) as more:
                async for item, _ in more:
                    if item == 1:
                        break
            with _without_value_errors():
                async with amap(calls.call, range(2, 5), limiter=capacity) as failing:
                    async for _ in failing:
                        pass

        return main, calls

    return scenario


async def _rows_then_fail(count: int) -> AsyncIterator[int]:
    for item in range(count):
        await trio.lowlevel.checkpoint()
        yield item
    raise KeyError("items")


def _sync(item: int) -> int:
    return item


def _other_paths(world: World) -> tuple[Callable[[], Awaitable[None]], Running]:
    # The paths without a limiter, empty input, and the failures that take
    # their own way out (a lone body exception, the first call's TypeError,
    # the input failing, iterating from a task started inside the block).
    calls = Running()

    async def take(results: Any) -> None:
        async for _ in results:
            pass

    async def main() -> None:
        await gather()
        await gather(lambda: calls.call(0))
        with trio.CancelScope() as cancelled:
            cancelled.cancel()
            await gather(lambda: calls.call(0))  # cancelled before it starts
        await gather_map(calls.call, [], limit=2)
        await race(lambda: calls.call(1))
        with _expecting(ValueError):
            await race(lambda: calls.call(3))
        async with (
            amap(calls.call, _rows(2), ordered=True) as results,
            trio.open_nursery() as nursery,  # noqa: ASYNC112 (the control)
        ):
            nursery.start_soon(take, results)
        with _expecting(KeyError):
            async with amap(calls.call, range(3)) as failing:
                async for _ in failing:
                    raise KeyError("body")
        with _expecting(KeyError):
            async with amap(calls.call, range(2)) as failing:
                async for _ in failing:
                    raise ExceptionGroup("body", [KeyError("body")])
        with _expecting(KeyError):
            async with amap(calls.call, _rows_then_fail(2), limit=2) as failing:
                async for _ in failing:
                    pass
        with _expecting(TypeError):
            async with amap(cast("Any", _sync), range(2)) as failing:
                async for _ in failing:
                    pass  # pragma: no cover

    return main, calls


SCENARIOS: dict[str, tuple[Any, int]] = {
    # name: (scenario, the fewest library line events it must sweep)
    "gather with limiter=": (_gather, 150),
    "race with limiter=": (_race, 150),
    "gather_map with limit= and limiter=": (_gather_map, 400),
    "amap with limit= and limiter=": (_amap(False), 400),
    "amap, ordered": (_amap(True), 400),
    "the other paths of the four helpers": (_other_paths, 400),
}


def _seed() -> None:
    # trio's scheduler shuffles each batch with this generator (private, so
    # reached only here): the same seed, the same order, run after run.
    trio._core._run._r.seed(20)  # pyright: ignore[reportPrivateUsage]


def _count_events(scenario: Any) -> int:
    events = 0

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal events
        if frame.f_code.co_filename.startswith(PACKAGE):
            if event == "line":
                events += 1
            return tracer
        return None

    world = World()
    main, calls = scenario(world)
    _seed()
    exc = run(main, tracer)
    assert exc is None, f"the scenario fails without any interrupt: {exc!r}"
    check(world, None, "no interrupt")
    assert calls.now == 0
    return events


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_keyboard_interrupt_at_every_line_event(name: str) -> None:
    scenario, floor = SCENARIOS[name]
    total = _count_events(scenario)
    assert total >= floor, f"{name}: only {total} line events swept"
    interrupted = unreached = 0
    exits: set[str] = set()
    for target in range(1, total + 1):
        world = World()
        main, calls = scenario(world)
        events = 0
        where: list[str] = []

        def tracer(
            frame: FrameType,
            event: str,
            arg: object,
            target: int = target,
            where: list[str] = where,
        ) -> Any:
            nonlocal events
            code = frame.f_code
            if code.co_filename.startswith(PACKAGE):
                if event == "line":
                    events += 1
                    if events == target:
                        where.append(
                            f"{os.path.basename(code.co_filename)}:{frame.f_lineno} "
                            f"in {code.co_name}"
                        )
                        signal.raise_signal(signal.SIGINT)
                return tracer
            return None

        _seed()
        exc = run(main, tracer)
        place = f"{name}, SIGINT at line event {target} ({where})"
        if not where:
            # trio walks some sets of tasks (a cancelled scope's) in address
            # order, so a run may end a few line events short of the
            # counting run (seen on CPython 3.10 with trio 0.28). Such a run
            # was not interrupted, and must leave everything whole too.
            assert exc is None, f"{place}: ended with {exc!r}"
            check(world, None, place)
            assert calls.now == 0, f"{place}: a call was left running"
            unreached += 1
            continue
        assert only_keyboard_interrupts(exc), f"{place}: ended with {exc!r}"
        interrupted += exc is not None
        check(world, None, place)
        assert calls.now == 0, f"{place}: a call was left running"
        exits.add(where[0])
        del exc
    # An unawaited coroutine may sit in a cycle with an interrupt's
    # traceback: collect them here, under this file's warning filter.
    gc.collect()
    print(
        f"\n{name}: SIGINT at each of {total} library line events "
        f"({len(exits)} distinct lines), {interrupted} runs interrupted, "
        f"{unreached} ended before their event"
    )
    assert interrupted > 0
    assert total - unreached >= floor, f"{name}: only {total - unreached} events swept"


def test_the_sweeps_reach_the_limiter_and_nursery_exits() -> None:
    # The lines the issue is about: a limiter's exit (run_limited's 'async
    # with', entered and left) and the helpers' nursery exits. Count how
    # often each runs in the scenarios: each must run at least twice (in and
    # out) so that the event sweep interrupts it on the way out too.
    import trio_promise._amap as amap_module
    import trio_promise._limit as limit_module
    import trio_promise._tasks as tasks_module

    def lines_of(module: Any, text: str) -> set[tuple[str, int]]:
        path = module.__file__
        with open(path, encoding="utf-8") as source:
            return {
                (path, number)
                for number, line in enumerate(source, 1)
                if text in line
            }

    wanted = (
        lines_of(limit_module, "async with limiters[0]:")
        | lines_of(tasks_module, "async with trio.open_nursery() as nursery:")
        | lines_of(amap_module, "return bool(await manager.__aexit__(")
    )
    assert len(wanted) >= 5
    seen: dict[tuple[str, int], int] = {}

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code.co_filename.startswith(PACKAGE):
            key = (frame.f_code.co_filename, frame.f_lineno)
            if event == "line" and key in wanted:
                seen[key] = seen.get(key, 0) + 1
            return tracer
        return None

    for scenario, _ in SCENARIOS.values():
        main, _calls = scenario(World())
        _seed()
        assert run(main, tracer) is None
    missing = {f"{os.path.basename(p)}:{n}" for p, n in wanted if seen.get((p, n), 0) < 2}
    assert not missing, f"not reached on the way in and out: {sorted(missing)}"


def test_groups_are_only_keyboard_interrupts() -> None:
    # The check the sweep relies on, on the shapes trio produces.
    assert only_keyboard_interrupts(None)
    assert only_keyboard_interrupts(
        BaseExceptionGroup("x", [KeyboardInterrupt(), BaseExceptionGroup("y", [KeyboardInterrupt()])])
    )
    assert not only_keyboard_interrupts(trio.TrioInternalError())


@pytest.mark.parametrize("limit", [None, 3])
def test_reading_the_input_stays_interruptible(limit: int | None) -> None:
    # The helpers are KI-protected, but the reads of the user's input are
    # not: a Ctrl-C while a (slow, or endless) generator runs lands there
    # and then, instead of waiting for a checkpoint that may never come.
    produced: list[int] = []

    def numbers() -> Iterator[int]:
        for number in range(10):
            produced.append(number)
            if number == 5:
                signal.raise_signal(signal.SIGINT)
            yield number

    async def call(number: int) -> int:
        await trio.lowlevel.checkpoint()
        return number

    async def main() -> None:
        await gather_map(call, numbers(), limit=limit)

    exc = run(main, None)
    assert exc is not None
    assert only_keyboard_interrupts(exc), repr(exc)
    assert produced == [0, 1, 2, 3, 4, 5]
    produced.clear()

    async def amap_only() -> None:
        async with amap(call, numbers(), limit=limit) as results:
            async for _ in results:
                pass

    exc = run(amap_only, None)
    assert exc is not None
    assert only_keyboard_interrupts(exc), repr(exc)
    assert produced == [0, 1, 2, 3, 4, 5]
