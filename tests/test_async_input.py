"""An async generator given as ``items`` is closed by the helper that stops
reading it (API.md section 5, STYLE.md rule 11).

When ``gather_map`` or ``amap`` stops reading early (a call failed, a
``break``, a cancellation, an exception in the loop body), the generator is
closed with ``aclose()`` in the helper's own task, before the helper returns,
so that an ``await`` in its ``finally`` (think ``await cursor.close()``) runs
to the end. Left to trio's garbage-collection finalizer, it would be closed
later, inside an already cancelled scope, and that ``await`` would be cut
short. Other async iterables (a memory channel, an object with
``__anext__``) belong to the caller and are left open.

One test per helper and per way of stopping; time is trio's MockClock.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from trio_promise import amap, gather_map

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable


class Cursor:
    """An async generator source whose clean-up awaits, and what it saw."""

    def __init__(self) -> None:
        self.pulled = 0
        self.cleaned_up = False
        self.closed_in: trio.lowlevel.Task | None = None

    async def rows(self) -> AsyncIterator[int]:
        try:
            for row in itertools.count():
                await trio.lowlevel.checkpoint()
                self.pulled += 1
                yield row
        finally:
            self.closed_in = trio.lowlevel.current_task()
            await trio.sleep(1)  # await cursor.close(): it must not be cut short
            self.cleaned_up = True


async def work(row: int) -> int:
    await trio.sleep(10)
    if row == 3:
        raise KeyError("call")
    return row


async def quick(row: int) -> int:
    await trio.sleep(1)
    return row


# -- gather_map ----------------------------------------------------------------------


async def _gather_map_call_fails(cursor: Cursor, limit: int | None) -> None:
    with pytest.RaisesGroup(KeyError):
        await gather_map(work, cursor.rows(), limit=limit)


async def _gather_map_cancelled(cursor: Cursor, limit: int | None) -> None:
    with trio.move_on_after(5) as scope:
        await gather_map(work, cursor.rows(), limit=limit)
    assert scope.cancelled_caught


GATHER_MAP_STOPS: dict[str, Callable[[Cursor, int | None], Awaitable[None]]] = {
    "a call failed": _gather_map_call_fails,
    "cancelled": _gather_map_cancelled,
}


@pytest.mark.parametrize("limit", [2, 5])
@pytest.mark.parametrize("how", GATHER_MAP_STOPS)
async def test_gather_map_closes_the_generator_it_stops_reading(
    how: str, limit: int, autojump_clock: trio.testing.MockClock
) -> None:
    cursor = Cursor()
    await GATHER_MAP_STOPS[how](cursor, limit)
    # Closed before gather_map returned, in its own task, to the end.
    assert cursor.cleaned_up
    assert cursor.closed_in is trio.lowlevel.current_task()
    assert 0 < cursor.pulled < 10  # it stopped early


async def test_gather_map_reads_a_generator_to_its_end_as_before() -> None:
    async def three() -> AsyncIterator[int]:
        for row in range(3):
            await trio.lowlevel.checkpoint()
            yield row

    assert await gather_map(quick, three(), limit=2) == [0, 1, 2]


# -- amap ----------------------------------------------------------------------------


async def _amap_call_fails(cursor: Cursor) -> None:
    with pytest.RaisesGroup(KeyError):
        async with amap(work, cursor.rows(), limit=4) as results:
            async for _ in results:
                pass  # pragma: no cover


async def _amap_break(cursor: Cursor) -> None:
    async with amap(quick, cursor.rows(), limit=4) as results:
        async for _ in results:
            break


async def _amap_cancelled(cursor: Cursor) -> None:
    with trio.move_on_after(5) as scope:
        async with amap(work, cursor.rows(), limit=4) as results:
            async for _ in results:
                pass  # pragma: no cover
    assert scope.cancelled_caught


async def _amap_body_raises(cursor: Cursor) -> None:
    async def run() -> None:
        async with amap(quick, cursor.rows(), limit=4) as results:
            async for _ in results:
                raise KeyError("body")

    with pytest.raises(KeyError, match=r"^'body'$"):
        await run()


AMAP_STOPS: dict[str, Callable[[Cursor], Awaitable[None]]] = {
    "a call failed": _amap_call_fails,
    "break": _amap_break,
    "cancelled": _amap_cancelled,
    "the body raised": _amap_body_raises,
}


@pytest.mark.parametrize("how", AMAP_STOPS)
async def test_amap_closes_the_generator_it_stops_reading(
    how: str, autojump_clock: trio.testing.MockClock
) -> None:
    cursor = Cursor()
    await AMAP_STOPS[how](cursor)
    # Closed before the 'async with' returned, to the end, in amap's own
    # task that reads the input (not trio's finalizer, later).
    assert cursor.cleaned_up
    assert cursor.closed_in is not None
    assert cursor.closed_in.name.endswith(" input")
    assert cursor.closed_in.parent_nursery is not None
    assert cursor.closed_in.parent_nursery.parent_task is trio.lowlevel.current_task()
    assert 0 < cursor.pulled < 10  # it stopped early


# -- other async iterables are left open ----------------------------------------------


class Rows:
    """An async iterator that is not an async generator: the caller's to close."""

    def __init__(self) -> None:
        self.closed = False

    def __aiter__(self) -> Rows:
        return self

    async def __anext__(self) -> int:
        await trio.lowlevel.checkpoint()
        return 1

    async def aclose(self) -> None:  # pragma: no cover (must not be called)
        self.closed = True
        await trio.lowlevel.checkpoint()


async def test_other_async_iterables_are_left_open(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rows = Rows()
    with pytest.RaisesGroup(KeyError):
        await gather_map(work, _with_failure(rows), limit=4)
    async with amap(quick, rows, limit=4) as results:
        async for _ in results:
            break
    assert not rows.closed
    send, receive = trio.open_memory_channel[int](10)
    for row in range(10):
        send.send_nowait(row)
    with pytest.RaisesGroup(KeyError):
        await gather_map(work, receive, limit=4)
    async with amap(quick, receive, limit=2) as results:
        async for _ in results:
            break
    # Still open at both ends: the caller goes on with it.
    send.send_nowait(99)
    assert receive.receive_nowait() is not None


def _with_failure(rows: Rows) -> Any:
    # work() fails on row 3: make the rows count up.
    class Counting:
        def __init__(self) -> None:
            self.row = -1

        def __aiter__(self) -> Counting:
            return self

        async def __anext__(self) -> int:
            await rows.__anext__()
            self.row += 1
            return self.row

        async def aclose(self) -> None:  # pragma: no cover (must not be called)
            await rows.aclose()

    return Counting()
