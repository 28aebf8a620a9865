"""Reliability: waiting and giving up, many times over, leaves nothing behind.

Each test repeats one cycle (wait then get cancelled, expect then give up,
...) and checks that memory stays flat, two ways:

* ``CYCLES`` (100,000) cycles at full speed, counting the interpreter's
  allocated memory blocks (``sys.getallocatedblocks()``) and the objects the
  garbage collector tracks, after a ``gc.collect()``, before and after: one
  leaked object per cycle would show as 100,000 more;
* then ``TRACED_CYCLES`` (10,000) more under ``tracemalloc``, which gives the
  growth in bytes: one leaked 16-byte object per cycle would be 160 kB, ten
  times ``SLACK``. (tracemalloc makes each cycle 3-4 times slower, which is
  why it watches 10,000 cycles rather than all of them.)

The two cycles the reliability issue names (wait-then-cancel on a pending
future, expect-then-cancel on a Correlator) run ``CYCLES`` untraced cycles;
the extra ones (beside a parked waiter, joins, the successful correlator
path) run ``EXTRA_CYCLES``, to keep the file fast.

Each phase starts after a warm-up, so that free lists, caches and trio's own
structures have reached their steady size. The figures are printed (run
``pytest -s``) and kept in ``FIGURES``.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from typing import TYPE_CHECKING

import trio
import trio.testing

from trio_promise import Correlator, Future, as_completed, wait_all, wait_any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

CYCLES = 100_000
TRACED_CYCLES = 10_000
EXTRA_CYCLES = 10_000
WARMUP = 1_000
# Observed: a few dozen bytes and a handful of blocks, whatever the cycle.
SLACK = 16 * 1024  # bytes, under tracemalloc
BLOCK_SLACK = 500  # memory blocks (and gc-tracked objects) after CYCLES

FIGURES: dict[str, dict[str, tuple[int, int]]] = {}


def _counts() -> tuple[int, int, int]:
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
    return sys.getallocatedblocks(), len(gc.get_objects()), traced


async def _check_flat(
    name: str, cycle: Callable[[], Awaitable[None]], cycles: int = CYCLES
) -> None:
    """Run ``cycle`` many times; fail if memory grows (see the module doc)."""
    for _ in range(WARMUP):
        await cycle()
    blocks_before, objects_before, _ = _counts()
    for _ in range(cycles):
        await cycle()
    blocks_after, objects_after, _ = _counts()

    tracemalloc.start()
    try:
        for _ in range(WARMUP):
            await cycle()
        _, _, bytes_before = _counts()
        for _ in range(TRACED_CYCLES):
            await cycle()
        _, _, bytes_after = _counts()
    finally:
        tracemalloc.stop()

    FIGURES[name] = {
        "blocks": (blocks_before, blocks_after),
        "objects": (objects_before, objects_after),
        "traced bytes": (bytes_before, bytes_after),
    }
    print(
        f"\n{name}: {cycles} cycles: blocks {blocks_before} -> {blocks_after}, "
        f"gc objects {objects_before} -> {objects_after}; {TRACED_CYCLES} cycles "
        f"under tracemalloc: {bytes_before} -> {bytes_after} bytes"
    )
    assert blocks_after - blocks_before < BLOCK_SLACK
    assert objects_after - objects_before < BLOCK_SLACK
    assert bytes_after - bytes_before < SLACK


def _holds_an_event(fut: Future[object]) -> bool:
    # The future's slots, seen from outside: no trio.Event (or anything else
    # made for a waiter) may stay once the last waiter has gone.
    return any(isinstance(ref, trio.Event) for ref in gc.get_referents(fut))


async def test_wait_then_cancel_on_one_pending_future(
    autojump_clock: trio.abc.Clock,
) -> None:
    fut: Future[object] = Future()

    async def cycle() -> None:
        # Parks for real: the deadline fires only once every task is blocked
        # (the autojump clock jumps to it), so each cycle is a parked waiter
        # cancelled from outside.
        with trio.move_on_after(1) as scope:
            await fut.get()
        assert scope.cancelled_caught

    await _check_flat("future wait/cancel", cycle)
    assert fut.statistics().tasks_waiting == 0
    assert not fut.done()
    assert not _holds_an_event(fut)
    assert repr(fut) == "<trio_promise.Future pending, 0 waiting>"


async def test_wait_then_cancel_with_a_second_waiter_staying(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Cancelled waiters beside one that stays parked: only it remains."""
    fut: Future[object] = Future()
    token = object()
    got: list[object] = []

    async def stayer() -> None:
        got.append(await fut.get())

    async def cycle() -> None:
        with trio.move_on_after(1):
            await fut.get()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stayer)
        await trio.testing.wait_all_tasks_blocked()
        assert _holds_an_event(fut)  # the check below is not vacuous
        await _check_flat(
            "future wait/cancel beside a parked waiter", cycle, cycles=EXTRA_CYCLES
        )
        assert fut.statistics().tasks_waiting == 1
        fut.set_result(token)
    assert got == [token]


async def test_join_then_cancel_on_pending_futures(
    autojump_clock: trio.abc.Clock,
) -> None:
    """wait_any / wait_all / as_completed given up on: every hook comes off."""
    futures: list[Future[int]] = [Future() for _ in range(3)]
    turn = 0

    async def cycle() -> None:
        nonlocal turn
        turn += 1
        with trio.move_on_after(1):
            if turn % 3 == 0:
                await wait_any(futures)
            elif turn % 3 == 1:
                await wait_all(futures)
            else:
                async for _ in as_completed(futures):
                    raise AssertionError("nothing settles")

    await _check_flat(
        "wait_any/wait_all/as_completed then cancel", cycle, cycles=EXTRA_CYCLES
    )
    assert all(f.statistics().tasks_waiting == 0 for f in futures)
    assert not any(f.done() for f in futures)


async def test_expect_then_cancel_on_a_correlator(
    autojump_clock: trio.abc.Clock,
) -> None:
    replies: Correlator[int, str] = Correlator()
    next_id = 0

    async def cycle() -> None:
        nonlocal next_id
        next_id += 1
        with trio.move_on_after(1) as scope, replies.expect(next_id) as fut:
            assert len(replies) == 1
            await fut.get()
        assert scope.cancelled_caught
        assert next_id not in replies

    await _check_flat("correlator expect/cancel", cycle)
    assert len(replies) == 0
    assert not replies.closed


async def test_expect_resolve_on_a_correlator(autojump_clock: trio.abc.Clock) -> None:
    """The successful path leaves nothing behind either (ids are reused)."""
    replies: Correlator[int, int] = Correlator()

    async def cycle() -> None:
        with replies.expect(1) as fut:
            assert replies.resolve(1, 2)
            assert await fut.get() == 2
        assert not replies.resolve(1, 3)

    await _check_flat("correlator expect/resolve", cycle, cycles=EXTRA_CYCLES)
    assert len(replies) == 0
