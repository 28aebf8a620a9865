"""KeyboardInterrupt anywhere: a real SIGINT at every line the library runs.

API.md section 1, "KeyboardInterrupt", and STYLE.md rule 8. For each
scenario, a first run records every line of ``trio_promise`` that it
executes (``sys.settrace``). Then, one run per recorded line, a SIGINT is
raised (``signal.raise_signal``) the first time that line is about to run.
trio's own handler decides where it lands: right there if the code is not
KI-protected, or at the main task's next checkpoint if it is, as it does
for its own primitives. Each run must then end with ``KeyboardInterrupt``
(alone, or in a group) or normally, and the invariants must hold:

* no future that a task was to settle is left pending: a ``spawn``ed
  task's future ends with its value, its exception or
  ``BrokenPromiseError``; a setter interrupted inside settles its future;
* no ``Correlator`` entry is left behind;
* no ``CapacityLimiter`` slot is lost and no ``RateLimiter`` waiter is left
  (a head that left without handing over would stop every later task);
* no join leaves a hook on a future (``statistics()`` is back to 0).

The runs use trio's ``MockClock`` (autojump), so timeouts cost no real
time. How many lines each scenario sweeps is printed (``pytest -s``) and
checked against a floor, so that the sweep cannot quietly cover nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import outcome
import pytest
import trio
import trio.testing

import trio_promise
from trio_promise import (
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
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import FrameType
    from typing import TypeAlias

    from trio_promise._limit import LimiterArg as _LimiterArg

    LimiterArg: TypeAlias = _LimiterArg

PACKAGE = os.path.dirname(trio_promise.__file__) + os.sep
# The setters that promise to settle their future once entered.
SETTERS = {
    "set_result",
    "set_exception",
    "_set_exception",
    "try_set_result",
    "try_set_exception",
    "_store_exception",
    "_settle",
}

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="trio handles SIGINT only in the main thread",
)


@dataclass
class World:
    """What a scenario leaves behind, for the invariant checks."""

    futures: list[Future[Any]] = field(default_factory=list["Future[Any]"])
    correlators: list[Correlator[Any, Any]] = field(
        default_factory=list["Correlator[Any, Any]"]
    )
    capacity: list[trio.CapacityLimiter] = field(
        default_factory=list[trio.CapacityLimiter]
    )
    rates: list[RateLimiter] = field(default_factory=list[RateLimiter])


Scenario = "Callable[[World], Callable[[], Awaitable[None]]]"


async def _work(value: int) -> int:
    await trio.sleep(1)
    return value


async def _fail() -> int:
    await trio.sleep(1)
    raise ValueError("failed")


async def _wait_quietly(fut: Future[Any]) -> None:
    # A waiter that takes whatever the future ends with (BrokenPromiseError
    # when its task is interrupted), without failing the scenario.
    await fut.outcome()


def _spawn(
    limiter: LimiterArg = None,
) -> Callable[[World], Callable[[], Awaitable[None]]]:
    def scenario(world: World) -> Callable[[], Awaitable[None]]:
        async def main() -> None:
            async with trio.open_nursery() as outer, trio.open_nursery() as nursery:
                for value in range(2):
                    world.futures.append(spawn(nursery, _work, value, limiter=limiter))
                world.futures.append(
                    spawn(nursery, _fail, limiter=limiter, propagate=False)
                )
                scope = trio.CancelScope()
                world.futures.append(
                    spawn(nursery, _work, 9, limiter=limiter, cancel_scope=scope)
                )
                # A waiter in another nursery: it must never hang.
                outer.start_soon(_wait_quietly, world.futures[0])
                await wait_settled(world.futures)
                scope.cancel()

        return main

    return scenario


def _scope_given_twice(world: World) -> Callable[[], Awaitable[None]]:
    # spawn(cancel_scope=)'s record of the scopes it was given: a second
    # spawn() with one is refused, and one whose task could not start (a
    # closed nursery) stays usable. The scenario fails (a RuntimeError, not a
    # KeyboardInterrupt) if an interrupt left either record wrong.
    async def main() -> None:
        async with trio.open_nursery() as closed:
            pass
        spare = trio.CancelScope()
        with contextlib.suppress(RuntimeError):
            spawn(closed, _work, 3, cancel_scope=spare)
        async with trio.open_nursery() as nursery:
            scope = trio.CancelScope()
            world.futures.append(spawn(nursery, _work, 1, cancel_scope=scope))
            try:
                spawn(nursery, _work, 2, cancel_scope=scope)
            except RuntimeError:
                pass
            else:
                raise AssertionError("a scope was given to two tasks")
            world.futures.append(spawn(nursery, _work, 3, cancel_scope=spare))
            await wait_settled(world.futures)

    return main


def _limited(world: World) -> Callable[[], Awaitable[None]]:
    capacity = trio.CapacityLimiter(1)
    rate = RateLimiter(1, burst=1)
    world.capacity.append(capacity)
    world.rates.append(rate)
    return _spawn(limiter=(capacity, rate))(world)


def _with_capacity(world: World) -> Callable[[], Awaitable[None]]:
    capacity = trio.CapacityLimiter(1)
    world.capacity.append(capacity)
    return _spawn(limiter=capacity)(world)


def _correlator(world: World) -> Callable[[], Awaitable[None]]:
    replies: Correlator[int, str] = Correlator()
    world.correlators.append(replies)

    async def caller(key: int) -> None:
        try:
            with replies.expect(key) as fut:
                world.futures.append(fut)
                await fut.outcome()
        except BrokenPromiseError:
            return  # the reader was interrupted and closed the correlator

    async def reader() -> None:
        # No close() in a finally here: that would drop every entry and
        # hide one left behind by an interrupted expect().
        await trio.sleep(1)
        replies.resolve(1, "one")
        replies.fail(2, ValueError("error reply"))
        await trio.sleep(10)
        replies.close()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(caller, 1)
            nursery.start_soon(reader)
            with trio.move_on_after(5):
                await caller(2)
            with trio.move_on_after(5):
                await caller(3)

    return main


class _Closed(Exception):
    """A protocol's own 'connection closed' error, for close(error=)."""


def _correlator_ids(world: World) -> Callable[[], Awaitable[None]]:
    # Every new path of the Correlator: ids from next_key() (with a wrap
    # onto a key whose quarantine has ended: the purge), a request abandoned
    # into quarantine, a reply freeing its key, a late reply, statistics(),
    # close(error=) on waiting callers, and the later callers it refuses.
    replies: Correlator[int, str] = Correlator(keys=range(1, 4), quarantine=2)
    world.correlators.append(replies)

    async def caller(  # noqa: ASYNC114 (not a startable function)
        patience: float, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            with trio.move_on_after(patience), replies.expect(replies.next_key()) as fut:
                world.futures.append(fut)
                # Started once registered: the ids go out in a fixed order
                # (trio shuffles the order in which new tasks first run).
                task_status.started()
                await fut.get()
        except _Closed:
            return

    async def reader() -> None:
        # Key 1 is abandoned at t = 1 (quarantined until t = 3); key 2 gets
        # its reply; key 1's reply comes late.
        await trio.sleep(1.5)
        replies.resolve(2, "two")
        replies.resolve(1, "late")
        await trio.sleep(3.5)
        replies.statistics()
        replies.close(OSError("stream ended"), error=_Closed("connection closed"))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(caller, 1)  # key 1
            await nursery.start(caller, 10)  # key 2
            nursery.start_soon(reader)
            await trio.sleep(4)
            await nursery.start(caller, 10)  # key 3
            await nursery.start(caller, 10)  # key 1 again: its quarantine ended
        with contextlib.suppress(_Closed):
            replies.next_key()
        await caller(10)

    return main


def _setters_with_joins(world: World) -> Callable[[], Awaitable[None]]:
    first: Future[int] = Future()
    second: Future[int] = Future()
    world.futures += [first, second]

    async def drain() -> None:
        async for _ in as_completed([first, second]):
            pass

    async def setter() -> None:
        await trio.sleep(1)
        first.set_result(1)
        second.set_exception(ValueError("second"))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_any, [first, second])
            nursery.start_soon(wait_settled, [first, second])
            nursery.start_soon(drain)
            nursery.start_soon(first.get)
            nursery.start_soon(setter)
            with trio.move_on_after(10), contextlib.suppress(ValueError):
                await wait_all([first, second])

    return main


SCENARIOS: dict[str, tuple[Callable[[World], Callable[[], Awaitable[None]]], int]] = {
    # name: (scenario, the fewest library lines it must sweep)
    "spawn": (_spawn(), 40),
    "spawn with a CapacityLimiter": (_with_capacity, 40),
    "spawn, one scope given twice": (_scope_given_twice, 40),
    "spawn with (CapacityLimiter, RateLimiter)": (_limited, 60),
    "Correlator request": (_correlator, 30),
    "Correlator ids, quarantine and close(error=)": (_correlator_ids, 60),
    "setters with joins waiting": (_setters_with_joins, 60),
}


def _as_future(obj: object) -> Future[Any] | None:
    if isinstance(obj, Future):
        future: Future[Any] = obj  # pyright: ignore[reportUnknownVariableType]
        return future
    return None


def run(main: Callable[[], Awaitable[None]], tracer: Any) -> BaseException | None:
    old = sys.gettrace()
    sys.settrace(tracer)

    def go() -> None:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    try:
        result = outcome.capture(go)
    finally:
        sys.settrace(old)
    return result.error if isinstance(result, outcome.Error) else None


def only_keyboard_interrupts(exc: BaseException | None) -> bool:
    if exc is None or isinstance(exc, KeyboardInterrupt):
        return True
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)
        return group.split(KeyboardInterrupt)[1] is None
    return False


def _lines(
    scenario: Callable[[World], Callable[[], Awaitable[None]]],
) -> list[tuple[str, int]]:
    seen: dict[tuple[str, int], None] = {}

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code.co_filename.startswith(PACKAGE):
            if event == "line":
                seen[frame.f_code.co_filename, frame.f_lineno] = None
            return tracer
        return None

    exc = run(scenario(World()), tracer)
    assert exc is None, f"the scenario fails without any interrupt: {exc!r}"
    return list(seen)


def check(world: World, interrupted_setter: Future[Any] | None, where: str) -> None:
    for fut in world.futures:
        assert fut.statistics().tasks_waiting == 0, (
            f"{where}: a waiter or hook is left on {fut!r}"
        )
    if interrupted_setter is not None:
        assert interrupted_setter.done(), f"{where}: a setter was interrupted"
    for replies in world.correlators:
        assert len(replies) == 0, f"{where}: {replies!r} kept an entry"
        # No quarantine record half-made: the dict and the ordered deque
        # hold the same keys, once each, and none of them is in flight.
        order = [key for _, key in replies._order]  # pyright: ignore[reportPrivateUsage]
        until = replies._until  # pyright: ignore[reportPrivateUsage]
        assert sorted(order) == sorted(until), f"{where}: quarantine records differ"
        assert len(set(order)) == len(order), f"{where}: a key quarantined twice"
    for capacity in world.capacity:
        assert capacity.borrowed_tokens == 0, f"{where}: a limiter slot was lost"
        assert capacity.statistics().tasks_waiting == 0
    for rate in world.rates:
        assert rate.statistics().tasks_waiting == 0, (
            f"{where}: a RateLimiter waiter is stuck"
        )


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_keyboard_interrupt_at_every_line(name: str) -> None:
    scenario, floor = SCENARIOS[name]
    lines = _lines(scenario)
    assert len(lines) >= floor, f"{name}: only {len(lines)} lines swept"
    interrupted = 0
    for target in lines:
        world = World()
        fired: list[Future[Any] | None] = []

        def tracer(
            frame: FrameType,
            event: str,
            arg: object,
            target: tuple[str, int] = target,
            fired: list[Future[Any] | None] = fired,
        ) -> Any:
            code = frame.f_code
            if code.co_filename.startswith(PACKAGE):
                if (
                    event == "line"
                    and not fired
                    and (code.co_filename, frame.f_lineno) == target
                ):
                    setter: object = (
                        frame.f_locals.get("self") if code.co_name in SETTERS else None
                    )
                    fired.append(_as_future(setter))
                    signal.raise_signal(signal.SIGINT)
                return tracer
            return None

        exc = run(scenario(world), tracer)
        where = f"{name}, SIGINT at {os.path.basename(target[0])}:{target[1]}"
        assert fired, f"{where}: the line was not reached again"
        assert only_keyboard_interrupts(exc), f"{where}: ended with {exc!r}"
        interrupted += exc is not None
        check(world, fired[0], where)
        if name.startswith(("spawn", "Correlator")):
            for fut in world.futures:
                assert fut.done(), f"{where}: a spawned task left {fut!r} pending"
    print(
        f"\n{name}: SIGINT at each of {len(lines)} library lines, {interrupted} runs interrupted"
    )
    assert interrupted > 0


# -- protection does not make waiting deaf to Ctrl-C ---------------------------


@trio.lowlevel.enable_ki_protection
def _ctrl_c() -> None:
    # Raised from protected code, so trio delivers it to the main task,
    # wherever that task is waiting: as a Ctrl-C from outside would be.
    signal.raise_signal(signal.SIGINT)


async def _next(futs: list[Future[int]]) -> object:
    return await as_completed(futs).__anext__()


WAITS: dict[str, Callable[[list[Future[int]]], Awaitable[object]]] = {
    "Future.get": lambda futs: futs[0].get(),
    "Future.outcome": lambda futs: futs[0].outcome(),
    "wait_all": wait_all,
    "wait_settled": wait_settled,
    "wait_any": wait_any,
    "as_completed": _next,
    "RateLimiter.acquire": lambda futs: _drained_rate().acquire(),
}


def _drained_rate() -> RateLimiter:
    rate = RateLimiter(0.001, burst=1)
    rate.acquire_nowait()
    return rate


@pytest.mark.parametrize("name", list(WAITS))
def test_a_protected_wait_is_still_interrupted_by_ctrl_c(name: str) -> None:
    # KI protection keeps bookkeeping whole; it must not make the main task
    # deaf to Ctrl-C while it waits in the library.
    futs = [Future[int](), Future[int]()]

    async def main() -> None:
        async def press_ctrl_c() -> None:
            await trio.testing.wait_all_tasks_blocked()
            _ctrl_c()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(press_ctrl_c)
            await WAITS[name](futs)

    exc = run(main, None)
    assert exc is not None
    assert only_keyboard_interrupts(exc), repr(exc)
    for fut in futs:
        assert fut.statistics().tasks_waiting == 0
