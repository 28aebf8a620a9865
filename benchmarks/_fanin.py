"""Fan-in: k tasks each wait for the first of two futures, one of them shared.

The pattern: every worker waits for its own reply *or* a shared "stop"
future (``await wait_any([stop, own])``), the shape of a request with a
connection-wide shutdown signal. The shared future is watched by all k tasks
at once, so a join that pays O(k) per task on it (a scan of its waiters to
add or to remove one) is O(k^2) in all; API.md section 4 promises O(k).

The k own futures and the shared one are created before the clock starts.
The timed window runs from starting the k tasks (so every task's park on the
two futures is counted) until every task has returned: once every task is
blocked, the producer settles each own future in task order, and the shared
one stays pending (the common case of a stop signal that does not fire). So
each task parks on both, is woken by its own, and leaves the shared one
behind.

The floor, on plain trio: trio cannot wait on two Events at once. The
idiomatic ways are a nursery per task with two waiter tasks that cancel each
other (three tasks and a nursery per wait), or one "either" Event per task
that both producers set. The second is far cheaper, so it is the floor: the
own slot's Event is the task's "either" Event; its producer sets it, and
the task registers it in a set beside the shared slot, whose producer would
set every Event in the set (a task tells which fired by looking at the shared
slot). Per task: one set insertion and one removal, O(1).

aioresult has ``wait_any`` over its futures (a nursery and a task per
future inside); anyio has none, the nearest is the first handle out of
``anyio.as_completed`` over the two futures (a task each, as in the wait_any
rows).

Every variant runs under the same watchdog (``BUDGET``): if the k tasks are
not done by then, it sets the shared future, which lets every task go in
O(k), and the run counts as over budget.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeVar

import aioresult
import anyio
import trio
import trio.testing

from trio_promise import Future, wait_any

from . import _common
from ._common import BUDGET, Clock, Slot, on_trio
from ._harness import FLOOR, Variant

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

# What one library calls a future (or the floor's slot).
Own = TypeVar("Own")


async def timed_fanin(
    owns: Sequence[Own],
    task: Callable[[Own], Awaitable[None]],
    settle_own: Callable[[Own], None],
    settle_shared: Callable[[], None],
) -> float:
    """Seconds from starting ``task(own)`` for each own until all returned.

    Once every task is blocked, ``settle_own`` is called on each own in
    order. ``math.inf`` if the watchdog had to call ``settle_shared``.
    """
    fired: list[bool] = []

    async def watchdog() -> None:
        await trio.sleep(BUDGET)
        fired.append(True)
        settle_shared()

    clock = Clock(1)  # the window; under collector_paused, without the collector
    async with trio.open_nursery() as outer:
        outer.start_soon(watchdog)
        await trio.testing.wait_all_tasks_blocked()
        clock.start()
        async with trio.open_nursery() as nursery:
            for own in owns:
                nursery.start_soon(task, own)
            await trio.testing.wait_all_tasks_blocked()
            for own in owns:
                settle_own(own)
        clock.one_done()
        outer.cancel_scope.cancel()
    return math.inf if fired else clock.elapsed


async def fanin_ours(k: int) -> float:
    shared: Future[int] = Future()
    owns: list[Future[int]] = [Future() for _ in range(k)]

    async def task(own: Future[int]) -> None:
        first = await wait_any([shared, own])
        assert first is own or first is shared

    def settle_own(own: Future[int]) -> None:
        own.set_result(0)

    return await timed_fanin(owns, task, settle_own, lambda: shared.set_result(1))


async def fanin_floor(k: int) -> float:
    shared = Slot()
    # The Events of the tasks waiting on the shared slot: its producer sets
    # them all (see settle_shared).
    listeners: set[trio.Event] = set()
    owns = [Slot() for _ in range(k)]

    async def task(own: Slot) -> None:
        either = own.event
        listeners.add(either)
        try:
            await either.wait()
        finally:
            listeners.discard(either)
        first = shared if shared.event.is_set() else own
        assert first is own or first is shared

    def settle_own(own: Slot) -> None:
        own.value = 0
        own.event.set()

    def settle_shared() -> None:
        shared.value = 1
        shared.event.set()
        for event in list(listeners):
            event.set()

    return await timed_fanin(owns, task, settle_own, settle_shared)


async def fanin_aioresult(k: int) -> float:
    shared: aioresult.Future[int] = aioresult.Future()
    owns: list[aioresult.Future[int]] = [aioresult.Future() for _ in range(k)]

    async def task(own: aioresult.Future[int]) -> None:
        first = await aioresult.wait_any([shared, own])
        assert first is own or first is shared

    def settle_own(own: aioresult.Future[int]) -> None:
        own.set_result(0)

    return await timed_fanin(owns, task, settle_own, lambda: shared.set_result(1))


async def fanin_anyio(k: int) -> float:
    shared: anyio.Future[int] = anyio.Future()
    owns: list[anyio.Future[int]] = [anyio.Future() for _ in range(k)]

    async def task(own: anyio.Future[int]) -> None:
        async with anyio.as_completed(shared, own) as handles:
            await handles.receive()

    def settle_own(own: anyio.Future[int]) -> None:
        own.return_value = 0

    def settle_shared() -> None:
        shared.return_value = 1

    return await timed_fanin(owns, task, settle_own, settle_shared)


FANIN_NOTES = {
    "trio_promise": "await wait_any([shared, own])",
    FLOOR: "one 'either' Event per task, set by its producer or by the shared "
    "one's (a set of listeners)",
    "aioresult": "aioresult.wait_any([shared, own]) (a task per future)",
    "anyio": "first of anyio.as_completed(shared, own) (a task per future; "
    "anyio has no wait_any over futures)",
}


def fanin_variants(*, peers: bool = True) -> tuple[Variant, ...]:
    """The variants; without the peers at the largest k (see _cases)."""
    variants = (
        Variant("trio_promise", on_trio(fanin_ours), note=FANIN_NOTES["trio_promise"]),
        Variant(FLOOR, on_trio(fanin_floor), note=FANIN_NOTES[FLOOR]),
    )
    if not peers:
        return variants
    return (
        *variants,
        Variant("aioresult", on_trio(fanin_aioresult), note=FANIN_NOTES["aioresult"]),
        Variant("anyio", on_trio(fanin_anyio), note=FANIN_NOTES["anyio"]),
    )


def per_task(main: Callable[[int], Awaitable[float]], k: int) -> Callable[[int], float]:
    """A runner of ``main`` with ``k`` tasks that returns the time per task."""

    def run(_: int) -> float:
        return trio.run(main, k) / k

    return run


def flat_variants(
    sizes: Sequence[int], *, collector_paused: bool = False
) -> tuple[Variant, ...]:
    """trio_promise's fan-in at every k in the same rounds, each divided by
    the smallest k round by round (as the joins' "flat" cases); with
    ``collector_paused``, the garbage collector is off in each timed window
    (see ``_common.collector_paused``)."""
    ordered = sorted(sizes)
    base = f"n={ordered[0]:,}"
    wrap = _common.collector_paused if collector_paused else _unchanged
    return tuple(
        Variant(
            f"n={k:,}",
            wrap(per_task(fanin_ours, k)),
            baseline=base,
            note=f"trio_promise wait_any([shared, own]): time per task / at {base}",
        )
        for k in ordered
    )


def _unchanged(run: Callable[[int], float]) -> Callable[[int], float]:
    return run
