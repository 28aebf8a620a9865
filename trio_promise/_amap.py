"""amap(): a streaming map with bounded memory.

``async with amap(fn, items, limit=n) as results: async for item, result in
results:`` runs ``fn(item)`` for each item in a nursery of its own and hands
the pairs to the loop as they finish (or, with ``ordered=True``, in input
order).

The invariant that bounds memory: an item is *in hand* from the moment it is
read until the loop takes its pair, and at most ``limit`` items are in hand.
The reader of ``items`` takes a slot before it reads an item; the loop gives
the slot back when it takes the pair. So a slow loop body stops new starts
(backpressure), and the pairs waiting for the loop are at most ``limit``: the
state is O(limit) whatever the number of items, and every item costs O(1)
bookkeeping (a deque append and popleft, a counter, one wake-up).

Three kinds of task share the state, with no lock, since trio switches tasks
only at ``await``: the feeder (reads ``items``, starts a task per item), the
calls (one task each, named after ``async_fn``), and the consumer (the loop).
Each change of the state that must happen as a unit (start an item, finish
it, take a pair, end the input) is one synchronous, KI-protected method.

A failure (of a call, or of the input) is told to the consumer through the
state (``failed``, and a wake-up), not only through the nursery's
cancellation: the loop may run inside a shielded scope, which that
cancellation never reaches (trio's memory channels end such a loop too).
"""

from __future__ import annotations

import math
import sys
from collections import deque
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    NoReturn,
    TypeVar,
    cast,
    final,
    overload,
)

import trio

from ._limit import check_limiters
from ._spawn import call_async_fn, check_async_fn, close_all
from ._tasks import (
    NOTHING,
    anext_or_nothing,
    call_unprotected,
    capture,
    check_limit,
    close_input,
    next_or_nothing,
    open_items,
    run_call,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from collections.abc import (
        AsyncIterable,
        AsyncIterator,
        Awaitable,
        Callable,
        Iterable,
        Iterator,
    )
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    import outcome

    from ._limit import Limiter, LimiterArg

__all__ = ["AmapIterator", "amap"]

T = TypeVar("T")
A = TypeVar("A")
# Covariant: an iterator of (str, bytes) pairs is an iterator of objects.
P_co = TypeVar("P_co", covariant=True)


@final
class _Slot:
    """One item in hand, from its start until the loop takes its pair."""

    __slots__ = ("done", "item", "result")

    def __init__(self, item: object) -> None:
        self.item = item
        self.done = False
        self.result: object = None


@final
class _Amap:
    """The state of one ``amap(...)`` call."""

    __slots__ = (
        "async_fn",
        "async_items",
        "busy",
        "closed",
        "failed",
        "feeding",
        "first",
        "limiters",
        "lot",
        "nursery",
        "ordered",
        "owner",
        "plain",
        "queue",
        "running",
        "settled",
        "slots",
        "sync_items",
    )

    def __init__(
        self,
        async_fn: Callable[[Any], Awaitable[Any]],
        sync_items: Iterator[Any] | None,
        async_items: AsyncIterator[Any] | None,
        limit: int | None,
        limiters: tuple[Limiter, ...],
        ordered: bool,
        settled: bool,
    ) -> None:
        self.async_fn = async_fn
        self.sync_items = sync_items
        self.async_items = async_items
        self.limiters = limiters
        self.ordered = ordered
        self.settled = settled
        # One slot per item in hand (None: no limit).
        self.slots = None if limit is None else trio.Semaphore(limit)
        # The items in hand whose pair the loop may take next: ordered, every
        # item in hand in input order (the head is taken once it is done);
        # unordered, the finished ones in finishing order.
        self.queue: deque[_Slot] = deque()
        self.running = 0  # calls started and not finished
        self.feeding = True  # the feeder may still start items
        # A call or the input failed: the run is over, and the loop must
        # learn it without being cancelled (it may run in a shielded scope).
        self.failed = False
        self.first = True  # no item's call has been made yet
        # What the first item's call raised (a function missing async): it
        # comes out of the 'async with' by itself, as gather_map raises it.
        self.plain: BaseException | None = None
        self.lot = trio.lowlevel.ParkingLot()  # the consumer, waiting
        self.closed = False
        self.busy = False  # a task is inside __anext__
        self.owner: trio.lowlevel.Task | None = None
        self.nursery: trio.Nursery | None = None

    # -- the feeder task -------------------------------------------------------

    async def feed(self) -> None:
        """Read items while slots are free; start a call for each.

        However the reading stops, an async generator given as input is
        closed here, before the task ends (so before the 'async with' of
        amap returns).
        """
        slots = self.slots
        sync_items = self.sync_items
        try:
            while True:
                if slots is not None:
                    # A slot first, then the item: nothing is read ahead.
                    await slots.acquire()
                else:
                    await trio.lowlevel.checkpoint()
                if trio.current_effective_deadline() == -math.inf:
                    # Cancelled (leaving early, a failure) while the acquire
                    # was being scheduled, which is past its cancel point:
                    # read no further item. (A cheap test: no coroutine.)
                    return
                if sync_items is not None:
                    item = next_or_nothing(sync_items)
                else:
                    item = await anext_or_nothing(
                        cast("AsyncIterator[Any]", self.async_items)
                    )
                if item is NOTHING:
                    return
                self.start(item)
        except BaseException:
            self.fail()
            raise
        finally:
            self.fed()
            # Shielded inside: the await is the generator's clean-up.
            await close_input(self.async_items)  # noqa: ASYNC102

    @trio.lowlevel.enable_ki_protection
    def start(self, item: object) -> None:
        # async_fn(item) is called here, as start_soon does (a function
        # missing async is a TypeError of the feeder, raised into the
        # nursery), and under the same KI protection as the rest: a
        # KeyboardInterrupt cannot leave a coroutine that nobody awaits.
        if self.first:
            self.first = False
            try:
                awaitable = call_async_fn(self.async_fn, (item,), "amap")
            except Exception as exc:
                self.plain = exc
                raise
        else:
            awaitable = call_async_fn(self.async_fn, (item,), "amap")
        slot = _Slot(item)
        if self.ordered:
            self.queue.append(slot)
        self.running += 1
        cast("trio.Nursery", self.nursery).start_soon(
            self.work, slot, awaitable, name=self.async_fn
        )

    @trio.lowlevel.enable_ki_protection
    def fed(self) -> None:
        self.feeding = False
        self.lot.unpark()  # the loop may be waiting for the end

    @trio.lowlevel.enable_ki_protection
    def fail(self) -> None:
        self.failed = True
        self.lot.unpark()  # the loop ends now, also inside a shield

    # -- a call's task ---------------------------------------------------------

    @trio.lowlevel.enable_ki_protection
    async def work(self, slot: _Slot, awaitable: Awaitable[object]) -> None:
        """Run one call; hand its result (or outcome) to the loop.

        KI-protected, the call itself excepted (it runs in
        call_unprotected): a KeyboardInterrupt cannot land between a
        limiter's exit and the slot's return, nor in the bookkeeping.
        """
        result: object
        try:
            if self.settled:
                # capture() catches in a frame of its own, which holds
                # nothing that leads back to the outcome (no reference cycle).
                result = await capture(self.limiters, awaitable)
            elif self.limiters:
                result = await run_call(self.limiters, awaitable)
            else:
                result = await call_unprotected(awaitable)
        except BaseException:
            # A KeyboardInterrupt (or a cancellation) before the call began:
            # close it, or Python warns that it was never awaited. (After it
            # ran, close() does nothing.)
            close_all((awaitable,))
            self.fail()
            raise
        self.finish(slot, result)
        # capture()'s frame, in the stored failure's traceback, links back to
        # this one (its f_back, from Python 3.12 on): holding the state that
        # holds the outcome here would be a reference cycle.
        del self, slot, result

    @trio.lowlevel.enable_ki_protection
    def finish(self, slot: _Slot, result: object) -> None:
        slot.result = result
        slot.done = True
        self.running -= 1
        if self.ordered:
            # Only the head can be taken; a finished result behind it waits,
            # keeping its slot.
            if self.queue[0] is not slot:
                return
        else:
            self.queue.append(slot)
        self.lot.unpark()

    # -- the consumer (AmapIterator.__anext__) ---------------------------------

    def enter_loop(self) -> None:
        """Refuse to iterate where the results cannot be handed over safely."""
        if self.closed:
            raise RuntimeError(
                "amap(): the results were iterated after their 'async with "
                "amap(...)' block ended; iterate inside the block"
            )
        if self.busy:
            raise RuntimeError(
                "amap(): two tasks are iterating the same results at once; "
                "iterate in one task and hand the pairs on (a memory channel)"
            )
        task = trio.lowlevel.current_task()
        if task is not self.owner and not self.inside(task):
            raise RuntimeError(
                "amap(): the results were iterated outside their 'async with "
                "amap(...)' block, in a task that did not enter it; iterate "
                "in that task or in one it starts inside the block"
            )
        self.busy = True

    def inside(self, task: trio.lowlevel.Task) -> bool:
        """Was ``task`` started inside the block (so cancelled with the calls)?

        It was if its line of parents reaches the owner through a nursery
        that the owner opened inside the block: amap's own, or one opened
        after it (the owner's open nurseries are a stack).
        """
        nursery = task.parent_nursery
        while nursery is not None and nursery.parent_task is not self.owner:
            nursery = nursery.parent_task.parent_nursery
        if nursery is None:
            return False
        opened = nursery.parent_task.child_nurseries
        return nursery in opened[opened.index(cast("trio.Nursery", self.nursery)) :]

    def can_take(self) -> bool:
        queue = self.queue
        return bool(queue) and queue[0].done and not self.failed

    def ended(self) -> bool:
        return self.failed or not (self.feeding or self.running or self.queue)

    @trio.lowlevel.enable_ki_protection
    def take(self) -> tuple[object, object]:
        slot = self.queue.popleft()
        if self.slots is not None:
            self.slots.release()  # the item is out of hand
        return slot.item, slot.result


@final
class _Session:
    """What ``async with amap(...)`` does: the nursery, the feeder, the exit.

    A class, not an ``asynccontextmanager``: from Python 3.12 on, a
    generator-based context manager around a nursery that raises leaves
    reference cycles through the generator's frames (measured: a bare
    ``asynccontextmanager`` + ``open_nursery`` with a failing task makes
    ~47 cyclic objects per use on 3.12, none on 3.11), and amap promises
    none (API.md section 1).

    Both halves are KI-protected, as trio's own nursery manager is:
    entering (the nursery opened, the feeder started) and leaving (cancel,
    wait, clean up) are units. The loop body runs in the user's frames,
    unprotected.
    """

    __slots__ = ("_manager", "_state")

    def __init__(self, state: _Amap) -> None:
        self._state = state
        self._manager: AbstractAsyncContextManager[trio.Nursery] | None = None

    def __aiter__(self) -> NoReturn:
        # The slip 'async for x in amap(...)': say what to write instead of
        # Python's error, which would name this private class.
        raise TypeError(
            "amap() returns an async context manager, not the results: write "
            "'async with amap(...) as results:', then 'async for item, result "
            "in results:' inside the block"
        )

    @trio.lowlevel.enable_ki_protection
    async def __aenter__(self) -> AmapIterator[object]:
        if self._manager is not None or self._state.closed:
            raise RuntimeError(
                "amap(): this 'async with' was already entered; call amap() "
                "again for a new run"
            )
        state = self._state
        state.owner = trio.lowlevel.current_task()
        manager = trio.open_nursery()
        nursery = await manager.__aenter__()
        self._manager = manager
        state.nursery = nursery
        nursery.start_soon(state.feed, name=f"amap({_name(state.async_fn)}) input")
        return AmapIterator(state)

    @trio.lowlevel.enable_ki_protection
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        state = self._state
        manager = self._manager
        assert manager is not None
        assert state.nursery is not None
        try:
            state.closed = True
            # Leaving, however it happens (the end of the results, a break,
            # an exception in the body, a cancellation): stop what still
            # runs and read no further item. The nursery's exit waits for
            # every task.
            state.nursery.cancel_scope.cancel()
            # The nursery's own exit: it must wait for the tasks, as any
            # nursery does (not shielded: a cancel reaches the tasks).
            try:
                return bool(await manager.__aexit__(exc_type, exc, traceback))  # noqa: ASYNC102
            except BaseExceptionGroup as group:
                # The body's own exception (or the first call's, made before
                # any other), alone apart from cancellations, comes out as
                # itself, as trio.as_safe_channel does; the calls' failures
                # stay in the group.
                _raise_own(group, exc, state.plain)
                raise
        finally:
            # Pairs never taken go now. And nothing that a failed call's
            # traceback reaches (its task's frame holds the state) may keep
            # the nursery or the task; nor may this frame keep the exception
            # it passes on (trio#1770).
            state.queue.clear()
            state.nursery = state.owner = state.plain = None
            self._manager = None
            del exc_type, exc, traceback, manager, state


def _raise_own(
    group: BaseExceptionGroup[BaseException],
    body: BaseException | None,
    first_call: BaseException | None,
) -> None:
    """Raise the lone exception of ``group``, if it is ``body`` or ``first_call``.

    Lone: the only one that is not a ``trio.Cancelled``. Returns otherwise.
    """
    found = [each for each in group.exceptions if not isinstance(each, trio.Cancelled)]
    lone = found[0] if len(found) == 1 else None
    if lone is None:
        return
    if lone is not first_call:
        if body is None or _leaves(lone) != _leaves(body):
            return
        # A group raised by the body comes back as a copy (trio's cancel
        # scopes split groups): the same exceptions, so raise the original.
        lone = body
    # Raised here, from the 'except' block of the caller, it would get the
    # group as its __context__ (misleading, and a cycle): keep its own.
    context = lone.__context__
    try:
        raise lone
    finally:
        lone.__context__ = context
        # This frame is in lone's traceback: keep nothing (trio#1770).
        del group, body, first_call, found, lone, context


def _leaves(exc: BaseException) -> list[int]:
    """The identities of the exceptions in ``exc``, groups flattened."""
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)
        return [leaf for each in group.exceptions for leaf in _leaves(each)]
    return [id(exc)]


def _name(async_fn: object) -> str:
    return getattr(async_fn, "__qualname__", None) or type(async_fn).__qualname__


@final
class AmapIterator(Generic[P_co]):
    """The results of :func:`amap`: an async iterator of ``(item, result)`` pairs.

    Returned by ``async with amap(...) as results:``; iterate it with
    ``async for item, result in results:`` inside that block. The pairs come
    in completion order, or in input order with ``ordered=True``; with
    ``settled=True`` the result is an ``outcome.Outcome``.

    Each step is a checkpoint (a cancel point and a schedule point), also
    when a pair is ready at once; a step that is cancelled takes no pair.
    Taking a pair frees its item's slot (see ``limit`` in :func:`amap`).
    Once a call (without ``settled=True``) or ``items`` has failed, the
    iterator hands over no further pair and ends, also inside a shielded
    scope; the failure comes out of the ``async with``.

    Use it in the task that entered the ``async with`` block, or in a task
    started inside the block, one task at a time; anything else, and
    iterating after the block has ended, is a ``RuntimeError``.
    """

    __slots__ = ("_amap",)

    def __init__(self, state: object) -> None:
        # Made by amap() only; typed object so that the docs show no
        # private class.
        self._amap = cast("_Amap", state)

    def __aiter__(self) -> AmapIterator[P_co]:
        """Return the iterator itself."""
        return self

    async def __anext__(self) -> P_co:
        """Wait for the next pair and return it; a checkpoint.

        Raises:
            StopAsyncIteration: every item has been read, run and taken, or
                a call or ``items`` failed (the ``async with`` raises it).
            RuntimeError: used after its ``async with`` block, from two tasks
                at once, or from a task outside the block.
        """
        state = self._amap
        state.enter_loop()
        try:
            if state.can_take() or state.ended():
                await trio.lowlevel.checkpoint()
            else:
                while True:
                    await state.lot.park()
                    if state.can_take() or state.ended():
                        break
            # Only this task takes pairs, so what was there is still there.
            if state.can_take():
                return cast("P_co", state.take())
            raise StopAsyncIteration
        finally:
            state.busy = False


@overload
def amap(
    async_fn: Callable[[A], Awaitable[T]],
    items: Iterable[A] | AsyncIterable[A],
    *,
    limit: int | None = None,
    limiter: LimiterArg = None,
    ordered: bool = False,
    settled: Literal[False] = False,
) -> AbstractAsyncContextManager[AmapIterator[tuple[A, T]]]: ...
@overload
def amap(
    async_fn: Callable[[A], Awaitable[T]],
    items: Iterable[A] | AsyncIterable[A],
    *,
    limit: int | None = None,
    limiter: LimiterArg = None,
    ordered: bool = False,
    settled: Literal[True],
) -> AbstractAsyncContextManager[AmapIterator[tuple[A, outcome.Outcome[T]]]]: ...
@overload
def amap(
    async_fn: Callable[[A], Awaitable[T]],
    items: Iterable[A] | AsyncIterable[A],
    *,
    limit: int | None = None,
    limiter: LimiterArg = None,
    ordered: bool = False,
    settled: bool,
) -> AbstractAsyncContextManager[
    AmapIterator[tuple[A, T] | tuple[A, outcome.Outcome[T]]]
]: ...


def amap(
    async_fn: Callable[[A], Awaitable[T]],
    items: Iterable[A] | AsyncIterable[A],
    *,
    limit: int | None = None,
    limiter: LimiterArg = None,
    ordered: bool = False,
    settled: bool = False,
) -> AbstractAsyncContextManager[AmapIterator[Any]]:
    """Call ``async_fn(item)`` for each item; hand over the results as they come.

    ``amap`` returns an async context manager. Entering it opens a nursery
    and starts reading ``items`` in a task of its own; each item gets a task
    (named after ``async_fn``) that runs ``async_fn(item)``. The block gets
    an :class:`AmapIterator` of ``(item, result)`` pairs::

        async with amap(fetch, urls, limit=10) as results:
            async for url, page in results:          # completion order
                print(url, len(page))

    **Memory and backpressure.** With ``limit``, at most ``limit`` items are
    *in hand* at once: running, or finished with their pair not yet taken by
    the loop. ``items`` (an iterable or an async iterable: a generator, a
    ``trio.MemoryReceiveChannel``) is read only when a slot is free, so a
    slow loop body stops new starts, and memory stays O(limit) however many
    items there are. Without ``limit``, every item starts as soon as it is
    read. ``limiter`` (a ``trio.CapacityLimiter``, a :class:`RateLimiter`, a
    tuple of them, as for :func:`spawn`) is entered in each task around its
    call; ``limit`` counts the tasks waiting for it too.

    **Order.** Pairs come in completion order; with ``ordered=True``, in
    input order: a finished result waits for the ones before it, and keeps
    its slot meanwhile.

    **Where exceptions go.** By default the first call to fail cancels the
    others, the loop stops yielding and ends, and the ``async with`` raises
    the nursery's ``ExceptionGroup``, unchanged. The loop learns that the
    run is over without being cancelled, so a loop inside a shielded scope
    ends too. With ``settled=True`` every item runs and each ``Exception``
    comes as a fresh ``outcome.Error`` in its pair, in place of the result
    (a ``BaseException`` such as ``KeyboardInterrupt`` still propagates). An
    exception raised by ``items`` itself cancels the calls, ends the loop
    and arrives in the group. A lone exception raised by the loop body (or a
    ``trio.fail_after`` around the loop or the block: ``TooSlowError``)
    comes out of the ``async with`` as itself, not wrapped, as
    ``trio.as_safe_channel`` does; together with a failure of a call, both
    come in the group. A function missing ``async`` (or an async generator
    function) is a plain ``TypeError`` too, raised by the ``async with``
    before any call starts: ``async_fn(item)`` is called when the item's
    task is started, as ``start_soon`` does, and the first item's call
    shows the slip (a later item's, in the group).

    **Cancellation and leaving early.** Each step of the loop is a
    checkpoint. When the block is left before the end (``break``, an
    exception, a cancellation from outside), the calls still running are
    cancelled, no further item is read, and the ``async with`` returns only
    when every task has ended. An async generator given as ``items`` that
    ``amap`` stops reading is closed (``aclose()``) before the ``async
    with`` returns, in ``amap``'s own task and in a shielded scope, so that
    an ``await`` in its ``finally`` runs to the end. Other async iterables
    (a memory channel) and plain iterators are not closed: like a ``for``
    loop, ``amap`` leaves the rest of them to their owner.

    ``async for`` directly over ``amap(...)`` (without ``async with``) is a
    ``TypeError`` that says to write ``async with amap(...) as results:``.

    Args:
        async_fn: an async function of one argument.
        items: the arguments, one call each: an iterable or an async
            iterable, read lazily.
        limit: the most items in hand at once (an ``int`` >= 1), or ``None``
            for no limit.
        limiter: an ``async with`` limiter or a tuple of them, as for
            :func:`spawn`.
        ordered: hand the pairs over in input order instead of completion
            order.
        settled: pair each item with an ``outcome.Outcome`` and never fail
            fast on a call's ``Exception``.

    Returns:
        An async context manager that yields the :class:`AmapIterator`. It
        can be entered once.

    Raises:
        TypeError: ``async_fn`` is not callable, ``items`` is neither an
            iterable nor an async iterable (or is a coroutine: a missing
            ``await``), ``limit`` is not an ``int``, or ``limiter`` is not
            usable with ``async with``; raised by the ``amap(...)`` call
            itself, before any checkpoint. A ``TypeError`` raised by the
            iterable's own ``__iter__`` propagates unchanged.
        ValueError: ``limit`` is less than 1; raised like the ``TypeError``.
    """
    check_async_fn(async_fn, "amap")
    sync_items, async_items = open_items(
        items,
        "amap",
        f"amap() needs an iterable or async iterable of arguments, got "
        f"{type(items).__qualname__}; to call async_fn once, use "
        f"amap(async_fn, [arg])",
    )
    checked_limit = check_limit(limit, "amap", "the most items in hand at once")
    limiters = check_limiters(limiter, "amap")
    return _Session(
        _Amap(
            async_fn, sync_items, async_items, checked_limit, limiters, ordered, settled
        )
    )
