"""Task helpers: gather, gather_map, race.

Each one opens a nursery of its own and returns only when every task it
started has finished, so no task outlives the call, whichever way it ends
(result, failure, or cancellation from outside). Tasks are named after the
user's function.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, final, overload

import trio

from ._limit import check_limiters, run_limited
from ._spawn import check_async_fn

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator

    from ._limit import Limiter, LimiterArg

__all__ = ["gather", "gather_map", "race"]

T = TypeVar("T")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
T6 = TypeVar("T6")

# -- gather -----------------------------------------------------------------


async def _gather_one(
    results: list[Any], index: int, async_fn: Callable[[], Awaitable[Any]]
) -> None:
    results[index] = await async_fn()


@overload
async def gather() -> tuple[()]: ...
@overload
async def gather(fn1: Callable[[], Awaitable[T1]], /) -> tuple[T1]: ...
@overload
async def gather(
    fn1: Callable[[], Awaitable[T1]], fn2: Callable[[], Awaitable[T2]], /
) -> tuple[T1, T2]: ...
@overload
async def gather(
    fn1: Callable[[], Awaitable[T1]],
    fn2: Callable[[], Awaitable[T2]],
    fn3: Callable[[], Awaitable[T3]],
    /,
) -> tuple[T1, T2, T3]: ...
@overload
async def gather(
    fn1: Callable[[], Awaitable[T1]],
    fn2: Callable[[], Awaitable[T2]],
    fn3: Callable[[], Awaitable[T3]],
    fn4: Callable[[], Awaitable[T4]],
    /,
) -> tuple[T1, T2, T3, T4]: ...
@overload
async def gather(
    fn1: Callable[[], Awaitable[T1]],
    fn2: Callable[[], Awaitable[T2]],
    fn3: Callable[[], Awaitable[T3]],
    fn4: Callable[[], Awaitable[T4]],
    fn5: Callable[[], Awaitable[T5]],
    /,
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
) -> tuple[T1, T2, T3, T4, T5, T6]: ...
@overload
async def gather(*async_fns: Callable[[], Awaitable[T]]) -> tuple[T, ...]: ...


async def gather(*async_fns: Callable[[], Awaitable[Any]]) -> tuple[Any, ...]:
    """Run zero-argument async callables concurrently; return all results.

    Each callable runs in its own task (named after it) in a nursery that
    ``gather`` opens, and the results come back as a tuple in argument order,
    typed per position (``await gather(fetch_user, fetch_posts)`` is a
    ``tuple[User, list[Post]]``). Use ``functools.partial`` or a lambda to
    pass arguments.

    If a callable raises, the nursery cancels the others and its
    ``ExceptionGroup`` is raised unchanged (one exception per failed task;
    catch it with ``except*``). Cancelling ``gather`` from outside cancels
    every task; ``gather`` returns (or raises) only once all of them have
    finished. Always a checkpoint, also for ``gather()``, which returns
    ``()``.

    Example::

        user, posts = await gather(
            partial(fetch_user, uid), partial(fetch_posts, uid)
        )

    Args:
        *async_fns: async callables taking no arguments.

    Returns:
        The results, one per callable, in argument order.

    Raises:
        ExceptionGroup: one or more callables failed (the nursery's group).
        TypeError: an argument is not callable (raised at once, before any
            task starts and before any checkpoint).
    """
    for async_fn in async_fns:
        check_async_fn(async_fn, "gather")
    if not async_fns:
        await trio.lowlevel.checkpoint()
        return ()
    results: list[Any] = [None] * len(async_fns)
    async with trio.open_nursery() as nursery:
        for index, async_fn in enumerate(async_fns):
            nursery.start_soon(_gather_one, results, index, async_fn, name=async_fn)
    return tuple(results)


# -- gather_map ---------------------------------------------------------------


async def _map_one(
    results: list[Any],
    index: int,
    limiters: tuple[Limiter, ...],
    async_fn: Callable[[Any], Awaitable[Any]],
    item: object,
    slots: trio.Semaphore | None,
) -> None:
    try:
        if limiters:
            results[index] = await run_limited(limiters, async_fn, item)
        else:
            results[index] = await async_fn(item)
    finally:
        if slots is not None:
            slots.release()


async def gather_map(
    async_fn: Callable[[T1], Awaitable[T]],
    iterable: Iterable[T1],
    *,
    limit: int | None = None,
    limiter: LimiterArg = None,
) -> list[T]:
    """Call ``async_fn(item)`` for each item concurrently; results in order.

    Each call runs in its own task (named after ``async_fn``) in a nursery
    that ``gather_map`` opens; ``results[i]`` is the result for the ``i``-th
    item, whatever order the calls finish in.

    With ``limit``, at most ``limit`` calls run at once, and the iterable is
    read lazily: the next item is taken only when a slot is free, so a huge
    (or endless, until it stops) generator never sits in memory, and an
    error raised by the iterable arrives in the nursery's ``ExceptionGroup``
    after cancelling the running calls. Without ``limit`` the iterable is
    read in full first (an error from it propagates as is, before anything
    starts) and every call starts at once.

    ``limiter`` composes further limits (a ``trio.CapacityLimiter`` shared
    with other code, a :class:`RateLimiter`, a tuple of them): each task
    enters it, in order, around its call; ``limit`` counts tasks holding or
    waiting for it.

    If a call raises, the nursery cancels the others and its
    ``ExceptionGroup`` is raised unchanged. Cancelling ``gather_map`` from
    outside cancels every task, and it raises only once all have finished.
    Always a checkpoint, also on empty input (which returns ``[]``).

    Example::

        pages = await gather_map(fetch, urls, limit=10)

    Args:
        async_fn: an async function of one argument.
        iterable: the arguments, one call each.
        limit: the most calls running at once (an ``int`` >= 1), or ``None``
            for no limit.
        limiter: an ``async with`` limiter or a tuple of them, as for
            :func:`spawn`.

    Returns:
        The results, in the order of ``iterable``.

    Raises:
        ExceptionGroup: one or more calls (or, with ``limit``, the iterable)
            failed (the nursery's group).
        TypeError: ``async_fn`` is not callable, ``iterable`` is not
            iterable, ``limit`` is not an ``int``, or ``limiter`` is not
            usable with ``async with``; raised at once, before any call
            starts and before any checkpoint.
        ValueError: ``limit`` is less than 1; raised at once, like the
            ``TypeError``.
    """
    check_async_fn(async_fn, "gather_map")
    try:
        items: Iterator[T1] = iter(iterable)
    except TypeError:
        raise TypeError(
            f"gather_map() needs an iterable of arguments, got "
            f"{type(iterable).__qualname__}; to call async_fn once, use "
            f"gather_map(async_fn, [arg])"
        ) from None
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(cast("object", limit), int):
            raise TypeError(
                f"gather_map(): limit must be an int >= 1 or None, got "
                f"{type(limit).__qualname__} {limit!r}"
            )
        if limit < 1:
            raise ValueError(
                f"gather_map(): limit must be >= 1 (the most calls running at "
                f"once), got "
                f"{limit}; use limit=None for no limit"
            )
    limiters = check_limiters(limiter, "gather_map")
    if limit is None:
        return await _map_all(async_fn, list(items), limiters)
    return await _map_limited(async_fn, items, limit, limiters)


async def _map_all(
    async_fn: Callable[[Any], Awaitable[T]],
    items: list[Any],
    limiters: tuple[Limiter, ...],
) -> list[T]:
    if not items:
        # An empty nursery is not a checkpoint (trio 0.35).
        await trio.lowlevel.checkpoint()
        return []
    results: list[Any] = [None] * len(items)
    async with trio.open_nursery() as nursery:
        for index, item in enumerate(items):
            nursery.start_soon(
                _map_one, results, index, limiters, async_fn, item, None, name=async_fn
            )
    return results


async def _map_limited(
    async_fn: Callable[[Any], Awaitable[T]],
    items: Iterator[Any],
    limit: int,
    limiters: tuple[Limiter, ...],
) -> list[T]:
    results: list[Any] = []
    slots = trio.Semaphore(limit)
    async with trio.open_nursery() as nursery:
        while True:
            # A slot first, then the item: an item is read only when a call
            # can start with it, however long the iterable is. The acquire
            # is also this path's checkpoint when the iterable is empty.
            await slots.acquire()
            if nursery.cancel_scope.cancel_called:
                # A call failed (the nursery is cancelling the rest): start
                # no more, and leave the rest of the iterable unread.
                break
            try:
                item = next(items)
            except StopIteration:
                break
            results.append(None)
            nursery.start_soon(
                _map_one,
                results,
                len(results) - 1,
                limiters,
                async_fn,
                item,
                slots,
                name=async_fn,
            )
    return results


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

    async def run(self, index: int, async_fn: Callable[[], Awaitable[T]]) -> None:
        try:
            value = await async_fn()
        except Exception as exc:
            self.failures[index] = exc
        else:
            # Several may return before the losers see the cancellation:
            # the first one wins, the later ones are dropped.
            if not self.won:
                self.won = True
                self.winner = value
                self.scope.cancel()
            return
        # Out of the race. Only for the linter's "every path of an async
        # function checkpoints" (ASYNC910): free unless this task is being
        # cancelled, and then it ends the task as it would end anyway.
        await trio.lowlevel.checkpoint_if_cancelled()


@overload
async def race(async_fn: Callable[[], Awaitable[T]], /) -> T: ...
@overload
async def race(
    async_fn: Callable[[], Awaitable[T]], /, *async_fns: Callable[[], Awaitable[T]]
) -> T: ...


async def race(*async_fns: Callable[[], Awaitable[T]]) -> T:
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
    Always a checkpoint.

    Example::

        body = await race(partial(fetch, MIRROR_A), partial(fetch, MIRROR_B))

    Args:
        *async_fns: async callables taking no arguments; at least one.

    Returns:
        The result of the first callable to return.

    Raises:
        ExceptionGroup: every callable failed; its exceptions are the
            failures, in argument order.
        ValueError: no callable given; raised at once, before any task starts
            and before any checkpoint.
        TypeError: an argument is not callable; raised at once, like the
            ``ValueError``.
    """
    if not async_fns:
        raise ValueError(
            "race() needs at least one async callable; with none there is "
            "no winner to wait for"
        )
    for async_fn in async_fns:
        check_async_fn(async_fn, "race")
    async with trio.open_nursery() as nursery:
        state: _Race[T] = _Race(len(async_fns), nursery.cancel_scope)
        for index, async_fn in enumerate(async_fns):
            nursery.start_soon(state.run, index, async_fn, name=async_fn)
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
