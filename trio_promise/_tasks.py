"""Task helpers: gather, gather_map, race.

Each one opens a nursery of its own and returns only when every task it
started has finished, so no task outlives the call, whichever way it ends
(result, failure, or cancellation from outside). Tasks are named after the
user's function.

Every helper is a cancel point on every path: a nursery's exit is only a
schedule point (it waits for the children, and a child that never awaits
never sees a cancellation), so each helper checks for cancellation itself,
once, before it starts anything. A cancelled call then starts no task and
runs none of the user's code (its coroutine objects are closed).

Like ``nursery.start_soon``, the helpers call the user's functions at once to
get their coroutines, so that a function missing ``async`` is a plain
``TypeError`` before any task starts (``gather`` and ``race`` check every
callable, ``gather_map`` the first item's call).

The helpers and their task bodies are KI-protected, as trio's own nursery
manager is; only the user's calls (``call_unprotected``) and the reads of
the input (``next_or_nothing``, ``anext_or_nothing``) run unprotected. So a KeyboardInterrupt
cannot land between a limiter's exit and its slot's return, nor cut a
nursery's exit in two (which would leave trio's nursery stack corrupt).

An async generator given as input and not read to its end is closed by the
helper that read it, in its own task, before the helper returns
(``close_input``): left to trio's finalizer, it would be closed later in a
cancelled scope, and an ``await`` in its ``finally`` would be cut short.
"""

from __future__ import annotations

import sys
from collections.abc import Coroutine
from types import AsyncGeneratorType
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Generic,
    Literal,
    TypeVar,
    cast,
    final,
    overload,
)

import outcome
import trio

from ._future import short_repr
from ._limit import check_limiters, run_limited
from ._spawn import call_async_fn, check_async_fn, close_all, describe

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

if TYPE_CHECKING:
    from collections.abc import (
        AsyncIterable,
        AsyncIterator,
        Awaitable,
        Callable,
        Iterable,
        Iterator,
        Sequence,
    )

    from ._limit import Limiter, LimiterArg

__all__ = [
    "NOTHING",
    "anext_or_nothing",
    "call_unprotected",
    "capture",
    "check_limit",
    "close_input",
    "gather",
    "gather_map",
    "next_or_nothing",
    "open_items",
    "race",
    "run_call",
]

T = TypeVar("T")
A = TypeVar("A")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
T6 = TypeVar("T6")

# What a read of an exhausted iterator returns (no item can be this object).
NOTHING: Final[Any] = object()

# -- shared by gather, gather_map, race and amap ----------------------------


@trio.lowlevel.disable_ki_protection
async def call_unprotected(awaitable: Awaitable[T]) -> T:
    """Await the user's call where a KeyboardInterrupt is delivered as usual.

    The task bodies around it are KI-protected, so that taking and giving
    back a limiter's slot, and the helpers' own bookkeeping, happen as units
    (a KeyboardInterrupt at a limiter's exit must not lose the slot).
    """
    return await awaitable


async def run_call(limiters: tuple[Limiter, ...], awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` inside ``limiters``; close it if it never ran."""
    if not limiters:
        return await call_unprotected(awaitable)
    try:
        # (The cast: pyright cannot solve the T through run_limited.)
        return cast("T", await run_limited(limiters, call_unprotected, awaitable))
    except BaseException:
        # Failed or cancelled while entering a limiter: the coroutine never
        # ran. (After it ran, close() does nothing.)
        close_all((awaitable,))
        raise


async def capture(
    limiters: tuple[Limiter, ...], awaitable: Awaitable[T]
) -> outcome.Outcome[T]:
    """Run the call; an ``Exception`` becomes an ``outcome.Error``.

    A ``BaseException`` (``trio.Cancelled``, ``KeyboardInterrupt``)
    propagates. This frame is the one that catches, so it is the top of the
    stored traceback: it must hold nothing that leads back to the outcome
    (no reference cycle, trio#1770), and it holds only the call.
    """
    try:
        return outcome.Value(await run_call(limiters, awaitable))
    except Exception as exc:
        # No checkpoint of our own on this path: this is a step of a task
        # body (nobody awaits it for one), and adding one would need a local
        # holding the Error, a reference cycle through this frame.
        return outcome.Error(exc)  # noqa: ASYNC910


def check_limit(limit: object, caller: str, meaning: str) -> int | None:
    """Return ``limit`` if it is ``None`` or an ``int`` >= 1; else raise at once."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(
            f"{caller}(): limit must be an int >= 1 or None, got {describe(limit)}"
        )
    if limit < 1:
        raise ValueError(
            f"{caller}(): limit must be >= 1 ({meaning}), got {limit}; use "
            f"limit=None for no limit"
        )
    return limit


def open_items(
    items: Iterable[A] | AsyncIterable[A], caller: str, refusal: str
) -> tuple[Iterator[A], None] | tuple[None, AsyncIterator[A]]:
    """Get the iterator of ``items`` (an async one first), without reading.

    Raises:
        TypeError: ``items`` is neither (``refusal`` is the message), or is
            a coroutine (a missing ``await``: it is closed, so Python does
            not also warn that it was never awaited). A ``TypeError`` raised
            by the iterable's own ``__iter__`` propagates unchanged.
    """
    kind = type(items)
    if hasattr(kind, "__aiter__"):
        return None, cast("AsyncIterable[A]", items).__aiter__()
    if isinstance(items, Coroutine):
        items.close()
        raise TypeError(
            f"{caller}() needs an iterable or async iterable of arguments, got "
            f"the coroutine object {short_repr(items)}; is an 'await' missing "
            f"where it was made?"
        )
    # None: the way a class says that it is not iterable (as iter() reads it).
    if getattr(kind, "__iter__", None) is None and not hasattr(kind, "__getitem__"):
        raise TypeError(refusal)
    return iter(cast("Iterable[A]", items)), None


# Not a checkpoint unless it closes something (ASYNC910): a clean-up step,
# run where the callers have checkpointed already.
async def close_input(items: AsyncIterator[object] | None) -> None:  # noqa: ASYNC910
    """Close an async generator that was given as input, in this task.

    Called when the reading stops, however it stops (the end, a failure, a
    break, a cancellation). Only an async generator is closed: the helper
    made it run, and nobody else can finish it properly (trio's finalizer
    would close it later, inside a cancelled scope, cutting short an
    ``await`` in its ``finally``). Shielded, so that its ``finally`` runs to
    the end also when the reading stopped because of a cancellation. Other
    async iterables (a memory channel) belong to the caller and stay open.
    """
    if type(items) is AsyncGeneratorType:
        with trio.CancelScope(shield=True):
            await cast("AsyncGeneratorType[object, None]", items).aclose()


async def _cancel_point(awaitables: Sequence[object]) -> None:
    # The nursery's exit is only a schedule point: this is the cancel point
    # (cheap, and nothing has started yet, so nothing runs in vain).
    try:
        await trio.lowlevel.checkpoint_if_cancelled()
    except BaseException:
        close_all(awaitables)
        raise


def _awaitables(
    async_fns: Sequence[Callable[[], Awaitable[Any]]], caller: str
) -> list[Awaitable[Any]]:
    """Check every callable, then call each one; all or nothing."""
    for async_fn in async_fns:
        check_async_fn(async_fn, caller)
    awaitables: list[Awaitable[Any]] = []
    try:
        for async_fn in async_fns:
            awaitables.append(call_async_fn(async_fn, (), caller))
    except BaseException:
        close_all(awaitables)
        raise
    return awaitables


# -- gather -----------------------------------------------------------------


@trio.lowlevel.enable_ki_protection
async def _gather_one(
    results: list[object],
    index: int,
    awaitable: Awaitable[object],
    limiters: tuple[Limiter, ...],
) -> None:
    # KI-protected, the call itself excepted (run_call): a KeyboardInterrupt
    # cannot land between a limiter's exit and the slot's return.
    results[index] = await run_call(limiters, awaitable)


@overload
async def gather(*, limiter: LimiterArg = None) -> tuple[()]: ...
@overload
async def gather(
    fn1: Callable[[], Awaitable[T1]], /, *, limiter: LimiterArg = None
) -> tuple[T1]: ...
@overload
async def gather(
    fn1: Callable[[], Awaitable[T1]],
    fn2: Callable[[], Awaitable[T2]],
    /,
    *,
    limiter: LimiterArg = None,
) -> tuple[T1, T2]: ...
@overload
async def gather(
    fn1: Callable[[], Awaitable[T1]],
    fn2: Callable[[], Awaitable[T2]],
    fn3: Callable[[], Awaitable[T3]],
    /,
    *,
    limiter: LimiterArg = None,
) -> tuple[T1, T2, T3]: ...
@overload
async def gather(
    fn1: Callable[[], Awaitable[T1]],
    fn2: Callable[[], Awaitable[T2]],
    fn3: Callable[[], Awaitable[T3]],
    fn4: Callable[[], Awaitable[T4]],
    /,
    *,
    limiter: LimiterArg = None,
) -> tuple[T1, T2, T3, T4]: ...
@overload
async def gather(
    fn1: Callable[[], Awaitable[T1]],
    fn2: Callable[[], Awaitable[T2]],
    fn3: Callable[[], Awaitable[T3]],
    fn4: Callable[[], Awaitable[T4]],
    fn5: Callable[[], Awaitable[T5]],
    /,
    *,
    limiter: LimiterArg = None,
) -> tuple[T1, T2, T3, T4, T5]: ...
@overload
async def gather(
    fn1: Callable[[], Awaitable[T1]],
    fn2: Callable[[], Awaitable[T2]],
    fn3: Callable[[], Awaitable[T3]],
    fn4: Callable[[], Awaitable[T4]],
    fn5: Callable[[], Awaitable[T5]],
    fn6: Callable[[], Awaitable[T6]],
    /,
    *,
    limiter: LimiterArg = None,
) -> tuple[T1, T2, T3, T4, T5, T6]: ...
@overload
async def gather(
    *async_fns: Callable[[], Awaitable[T]], limiter: LimiterArg = None
) -> tuple[T, ...]: ...


@trio.lowlevel.enable_ki_protection
async def gather(
    *async_fns: Callable[[], Awaitable[object]], limiter: LimiterArg = None
) -> tuple[object, ...]:
    """Run zero-argument async callables concurrently; return all results.

    Each callable runs in its own task (named after it) in a nursery that
    ``gather`` opens, and the results come back as a tuple in argument order,
    typed per position (``await gather(fetch_user, fetch_posts)`` is a
    ``tuple[User, list[Post]]``): overloads type up to 6 callables each in its
    own position; with 7 or more, the result is a ``tuple[T, ...]`` of one
    type ``T`` common to all (give mixed callables a common type, or split
    the call). Use ``functools.partial`` or
    a lambda to pass arguments.

    ``limiter`` composes limits (a ``trio.CapacityLimiter`` shared with other
    code, a :class:`RateLimiter`, a tuple of them), as for :func:`spawn`:
    each task enters it, in order, around its call, and gives it back when
    the call ends, however it ends.

    If a callable raises, the nursery cancels the others and its
    ``ExceptionGroup`` is raised unchanged (one exception per failed task;
    catch it with ``except*``). Cancelling ``gather`` from outside cancels
    every task; ``gather`` returns (or raises) only once all of them have
    finished. Always a checkpoint (a cancel point and a schedule point),
    also for ``gather()``, which returns ``()``, and when no callable ever
    awaits: a loop around ``gather`` stops at a cancellation like a loop
    around ``trio.sleep(0)``. A call that is cancelled before it starts runs
    none of the callables' code.

    Like ``nursery.start_soon``, ``gather`` calls every callable at once to
    get its coroutine (the bodies run in the tasks), so a function missing
    ``async`` is a plain ``TypeError`` before any task starts.

    Example::

        user, posts = await gather(
            partial(fetch_user, uid), partial(fetch_posts, uid)
        )

    Args:
        *async_fns: async callables taking no arguments.
        limiter: an ``async with`` limiter or a tuple of them, as for
            :func:`spawn`, entered by each task around its call.

    Returns:
        The results, one per callable, in argument order.

    Raises:
        ExceptionGroup: one or more callables failed (the nursery's group).
        TypeError: an argument is not callable, or does not return an
            awaitable (``def`` instead of ``async def``, or an async
            generator function), or ``limiter`` is not usable with ``async
            with``; raised at once, before any task starts and before any
            checkpoint.
    """
    limiters = check_limiters(limiter, "gather")
    awaitables = _awaitables(async_fns, "gather")
    if not awaitables:
        await trio.lowlevel.checkpoint()
        return ()
    await _cancel_point(awaitables)
    results: list[Any] = [None] * len(awaitables)
    async with trio.open_nursery() as nursery:
        for index, awaitable in enumerate(awaitables):
            nursery.start_soon(
                _gather_one,
                results,
                index,
                awaitable,
                limiters,
                name=async_fns[index],
            )
    return tuple(results)


# -- gather_map ---------------------------------------------------------------


@trio.lowlevel.enable_ki_protection
async def _map_one(
    results: list[object],
    index: int,
    awaitable: Awaitable[object],
    limiters: tuple[Limiter, ...],
    settled: bool,
    slots: trio.Semaphore | None,
) -> None:
    try:
        if settled:
            results[index] = await capture(limiters, awaitable)
        else:
            results[index] = await run_call(limiters, awaitable)
    finally:
        # capture()'s frame, in the stored failure's traceback, links back to
        # this one (its f_back, from Python 3.12 on): keeping the results
        # that hold the outcome here would be a reference cycle.
        del results
        if slots is not None:
            slots.release()


@overload
async def gather_map(
    async_fn: Callable[[A], Awaitable[T]],
    items: Iterable[A] | AsyncIterable[A],
    *,
    limit: int | None = None,
    limiter: LimiterArg = None,
    settled: Literal[False] = False,
) -> list[T]: ...
@overload
async def gather_map(
    async_fn: Callable[[A], Awaitable[T]],
    items: Iterable[A] | AsyncIterable[A],
    *,
    limit: int | None = None,
    limiter: LimiterArg = None,
    settled: Literal[True],
) -> list[outcome.Outcome[T]]: ...
@overload
async def gather_map(
    async_fn: Callable[[A], Awaitable[T]],
    items: Iterable[A] | AsyncIterable[A],
    *,
    limit: int | None = None,
    limiter: LimiterArg = None,
    settled: bool,
) -> list[T] | list[outcome.Outcome[T]]: ...


@trio.lowlevel.enable_ki_protection
async def gather_map(
    async_fn: Callable[[A], Awaitable[T]],
    items: Iterable[A] | AsyncIterable[A],
    *,
    limit: int | None = None,
    limiter: LimiterArg = None,
    settled: bool = False,
) -> list[T] | list[outcome.Outcome[T]]:
    """Call ``async_fn(item)`` for each item concurrently; results in order.

    Each call runs in its own task (named after ``async_fn``) in a nursery
    that ``gather_map`` opens; ``results[i]`` is the result for the ``i``-th
    item, whatever order the calls finish in. :func:`amap` is the streaming
    twin: the same limits and laziness, results as they come.

    ``items`` is an iterable or an async iterable (an async generator, a
    ``trio.MemoryReceiveChannel``). With ``limit``, at most ``limit`` calls
    run at once, and ``items`` is read lazily: the next item is taken only
    when a slot is free, so a huge (or endless, until it stops) generator
    never sits in memory. An async iterable is always read lazily, each item
    starting as soon as it is read (and a slot is free). A plain iterable
    without ``limit`` is read in full first, and every call starts at once.
    An async generator that ``gather_map`` stops reading early (a call
    failed, a cancellation) is closed (``aclose()``) before ``gather_map``
    returns, in a shielded scope, so that an ``await`` in its ``finally``
    runs to the end; other async iterables (a memory channel) are left open.
    A coroutine given as ``items`` (a missing ``await``) is a ``TypeError``
    that says so.

    ``limiter`` composes further limits (a ``trio.CapacityLimiter`` shared
    with other code, a :class:`RateLimiter`, a tuple of them): each task
    enters it, in order, around its call; ``limit`` counts tasks holding or
    waiting for it.

    If a call raises, the nursery cancels the others and its
    ``ExceptionGroup`` is raised unchanged. With ``settled=True`` nothing is
    cancelled: every item is run, and the result is a list of fresh
    ``outcome.Value`` / ``outcome.Error`` objects, failures in place (only
    ``Exception`` is captured; a ``BaseException`` such as
    ``KeyboardInterrupt`` propagates as usual). An exception raised by
    ``items`` itself cancels the running calls and arrives in the nursery's
    group, except one raised while reading the first item (or, for a plain
    iterable without ``limit``, while reading it in full), which propagates
    as it is, since nothing has started yet.

    Cancelling ``gather_map`` from outside cancels every task, and it raises
    only once all have finished. Always a checkpoint (a cancel point and a
    schedule point), also on empty input (which returns ``[]``) and when no
    call ever awaits; a call cancelled before it starts runs no call.

    Like ``nursery.start_soon``, ``gather_map`` calls ``async_fn(item)`` when
    it starts the item's task, to get the coroutine; the first item's call is
    made before any task starts, so a function missing ``async`` is a plain
    ``TypeError`` (for an async iterable, after its first item is read).

    Example::

        pages = await gather_map(fetch, urls, limit=10)
        outcomes = await gather_map(fetch, urls, limit=10, settled=True)
        failed = [url for url, o in zip(urls, outcomes)
                  if isinstance(o, outcome.Error)]

    Args:
        async_fn: an async function of one argument.
        items: the arguments, one call each: an iterable or an async
            iterable.
        limit: the most calls running at once (an ``int`` >= 1), or ``None``
            for no limit.
        limiter: an ``async with`` limiter or a tuple of them, as for
            :func:`spawn`.
        settled: return an ``outcome.Outcome`` per item instead of failing
            fast.

    Returns:
        The results (with ``settled=True``, the outcomes), in the order of
        ``items``.

    Raises:
        ExceptionGroup: one or more calls (or ``items``, after its first
            item) failed (the nursery's group); never with ``settled=True``
            for the failures of the calls.
        TypeError: ``async_fn`` is not callable, ``items`` is neither an
            iterable nor an async iterable (or is a coroutine), ``limit`` is
            not an ``int``, or ``limiter`` is not usable with ``async
            with``: raised at once, before any call starts and before any
            checkpoint. Also when the first item's call does not return an
            awaitable (a function missing ``async``, an async generator
            function). A ``TypeError`` raised by the iterable's own
            ``__iter__`` propagates unchanged.
        ValueError: ``limit`` is less than 1; raised at once, like the
            ``TypeError``.
    """
    check_async_fn(async_fn, "gather_map")
    sync_items, async_items = open_items(
        items,
        "gather_map",
        f"gather_map() needs an iterable or async iterable of arguments, got "
        f"{type(items).__qualname__}; to call async_fn once, use "
        f"gather_map(async_fn, [arg])",
    )
    checked_limit = check_limit(limit, "gather_map", "the most calls running at once")
    limiters = check_limiters(limiter, "gather_map")
    try:
        return await _gather_map(
            async_fn, sync_items, async_items, checked_limit, limiters, settled
        )
    finally:
        # However the reading stopped: close an async generator it left
        # (shielded inside; no timeout: the generator's clean-up is the
        # caller's code, as in any 'finally').
        await close_input(async_items)  # noqa: ASYNC102


async def _gather_map(
    async_fn: Callable[[A], Awaitable[T]],
    sync_items: Iterator[A] | None,
    async_items: AsyncIterator[A] | None,
    checked_limit: int | None,
    limiters: tuple[Limiter, ...],
    settled: bool,
) -> list[Any]:
    # KI-protected through gather_map (its caller), the user's calls
    # excepted: the nursery's exit must not be cut in two by a
    # KeyboardInterrupt (trio's nursery stack would be left corrupt).
    if sync_items is not None:
        if checked_limit is None:
            # No limit: read in full first, so that an error from the
            # iterable comes before anything starts.
            sync_items = iter(_read_all(sync_items))
        first = next_or_nothing(sync_items)
    else:
        first = await anext_or_nothing(cast("AsyncIterator[A]", async_items))
    if first is NOTHING:
        # Nothing to run: no nursery, so checkpoint here.
        await trio.lowlevel.checkpoint()
        return []
    awaitable = call_async_fn(async_fn, (first,), "gather_map")
    await _cancel_point((awaitable,))
    slots = None if checked_limit is None else trio.Semaphore(checked_limit - 1)
    results: list[Any] = [None]
    async with trio.open_nursery() as nursery:
        # The first item has its slot: the Semaphore starts one short.
        nursery.start_soon(
            _map_one, results, 0, awaitable, limiters, settled, slots, name=async_fn
        )
        while True:
            if slots is not None:
                # A slot first, then the item: an item is read only when a
                # call can start with it.
                await slots.acquire()
            # Cancelled (a call failed, or from outside), also while the
            # acquire was being scheduled: read no more.
            await trio.lowlevel.checkpoint_if_cancelled()
            if sync_items is not None:
                item = next_or_nothing(sync_items)
            else:
                item = await anext_or_nothing(cast("AsyncIterator[A]", async_items))
            if item is NOTHING:
                break
            results.append(None)
            nursery.start_soon(
                _map_one,
                results,
                len(results) - 1,
                call_async_fn(async_fn, (item,), "gather_map"),
                limiters,
                settled,
                slots,
                name=async_fn,
            )
    return results


# The reads of the user's input run unprotected, as the calls do: a slow
# (or endless) generator stays interruptible by Ctrl-C.


@trio.lowlevel.disable_ki_protection
def _read_all(items: Iterator[A]) -> list[A]:
    return list(items)


@trio.lowlevel.disable_ki_protection
def next_or_nothing(items: Iterator[A]) -> A:
    """The next item of ``items``, or ``NOTHING`` when it is exhausted."""
    return next(items, NOTHING)


@trio.lowlevel.disable_ki_protection
async def anext_or_nothing(items: AsyncIterator[A]) -> A:
    """The next item of ``items``, or ``NOTHING`` when it is exhausted."""
    try:
        return await items.__anext__()
    except StopAsyncIteration:
        # Every caller checkpoints around it (empty input, the read loops).
        return cast("A", NOTHING)  # noqa: ASYNC910


# -- race ---------------------------------------------------------------------


@final
class _Race(Generic[T]):
    """What the racers of one ``race`` call share."""

    __slots__ = ("failures", "scope", "winner", "won")

    def __init__(self, count: int, scope: trio.CancelScope) -> None:
        self.failures: list[Exception | None] = [None] * count
        self.scope = scope
        self.won = False
        self.winner: T | None = None

    @trio.lowlevel.enable_ki_protection
    async def run(
        self, index: int, awaitable: Awaitable[T], limiters: tuple[Limiter, ...]
    ) -> None:
        # KI-protected, the call itself excepted (call_unprotected): a
        # KeyboardInterrupt cannot land between a limiter's exit and the
        # slot's return, nor between a win and the losers' cancellation.
        try:
            if limiters:
                # The win is declared inside the limiters: the losers waiting
                # for a slot are cancelled before a slot is given back, so
                # none of them starts its call after the race is decided.
                await run_limited(limiters, _attempt, self, awaitable)
            else:
                await _attempt(self, awaitable)
        except Exception as exc:
            # Failed, or a limiter failed before the call began: close it,
            # or Python warns that it was never awaited. (After it ran,
            # close() does nothing.)
            close_all((awaitable,))
            self.failures[index] = exc
        except BaseException:
            close_all((awaitable,))  # e.g. cancelled waiting for a limiter
            raise
        else:
            return
        finally:
            # This frame is in the traceback of the failure it stores: keeping
            # the shared state here would be a reference cycle (trio#1770).
            del self
        # Out of the race. Only for the linter's "every path of an async
        # function checkpoints" (ASYNC910): free unless this task is being
        # cancelled, and then it ends the task as it would end anyway.
        await trio.lowlevel.checkpoint_if_cancelled()


async def _attempt(state: _Race[T], awaitable: Awaitable[T]) -> None:
    """One racer's call; the first to return wins and stops the others."""
    try:
        value = await call_unprotected(awaitable)
        # Several may return before the losers see the cancellation: the
        # first one wins, the later ones are dropped.
        if not state.won:
            state.won = True
            state.winner = value
            state.scope.cancel()
    finally:
        # In the traceback of a failure that the state stores: keeping the
        # state here would be a reference cycle (trio#1770).
        del state


@overload
async def race(
    async_fn: Callable[[], Awaitable[T]], /, *, limiter: LimiterArg = None
) -> T: ...
@overload
async def race(
    async_fn: Callable[[], Awaitable[T]],
    /,
    *async_fns: Callable[[], Awaitable[T]],
    limiter: LimiterArg = None,
) -> T: ...


@trio.lowlevel.enable_ki_protection
async def race(
    *async_fns: Callable[[], Awaitable[T]], limiter: LimiterArg = None
) -> T:
    """Run async callables concurrently; return the first success.

    Each callable runs in its own task (named after it) in a nursery that
    ``race`` opens. The first one to *return* wins: the others are cancelled,
    and ``race`` returns only once they have all finished, so no loser is
    left running. A callable that fails is just out of the race (its
    exception is kept until the end); exceptions that losers raise after the
    winner is known are dropped.

    If every callable fails, ``race`` raises an ``ExceptionGroup`` of all
    their exceptions, in argument order. A ``BaseException`` other than the
    ``trio.Cancelled`` used to stop the losers (``KeyboardInterrupt``, a
    cancellation from outside) propagates through the nursery as usual.

    ``limiter`` composes limits (a ``trio.CapacityLimiter``, a
    :class:`RateLimiter`, a tuple of them), as for :func:`spawn`: each task
    enters it, in order, around its call, and gives it back when the call
    ends (a loser waiting for the limiter is cancelled like the others).

    Always a checkpoint (a cancel point and a schedule point), also when a
    callable returns without awaiting; a call cancelled before it starts
    runs none of the callables' code. Like ``nursery.start_soon``, ``race``
    calls every callable at once to get its coroutine, so a function missing
    ``async`` is a plain ``TypeError`` before any task starts.

    Example::

        body = await race(partial(fetch, MIRROR_A), partial(fetch, MIRROR_B))

    Args:
        *async_fns: async callables taking no arguments; at least one.
        limiter: an ``async with`` limiter or a tuple of them, as for
            :func:`spawn`, entered by each task around its call.

    Returns:
        The result of the first callable to return.

    Raises:
        ExceptionGroup: every callable failed; its exceptions are the
            failures, in argument order.
        ValueError: no callable given; raised at once, before any task starts
            and before any checkpoint.
        TypeError: an argument is not callable, or does not return an
            awaitable (``def`` instead of ``async def``, or an async
            generator function), or ``limiter`` is not usable with ``async
            with``; raised at once, like the ``ValueError``.
    """
    if not async_fns:
        raise ValueError(
            "race() needs at least one async callable; with none there is "
            "no winner to wait for"
        )
    limiters = check_limiters(limiter, "race")
    awaitables = _awaitables(async_fns, "race")
    await _cancel_point(awaitables)
    async with trio.open_nursery() as nursery:
        state: _Race[T] = _Race(len(async_fns), nursery.cancel_scope)
        for index, awaitable in enumerate(awaitables):
            nursery.start_soon(
                state.run, index, awaitable, limiters, name=async_fns[index]
            )
    if state.won:
        # winner is a T once won is set (T itself may include None).
        return cast("T", state.winner)
    count = len(async_fns)
    message = (
        f"race(): all {count} callables failed"
        if count > 1
        else "race(): its only callable failed"
    )
    # Nobody won and nothing escaped the nursery: every racer failed.
    raise ExceptionGroup(message, cast("list[Exception]", state.failures))
