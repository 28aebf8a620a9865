# pyright: reportPrivateUsage=false
# (a Future's slots, read and written in line on the hot paths; their layout
# is described at the top of _future.py.)
"""Joins: one task waits on many futures, without owning anything.

A join costs O(n) for n futures and never polls: it puts one hook on each
pending future (``add_hook`` in ``_future``; one object per join, shared by
all its futures, stored directly in each future so that watching costs no
allocation per future), parks its task once with
``trio.lowlevel.wait_task_rescheduled``, and is woken exactly once by the hook
that completes the join. On every way out (woken, cancelled, failed) it takes
its hook back from the futures that are still pending, so an abandoned join
leaves nothing behind.

Invariant of every join object below: ``task`` is the parked task while it is
parked and nobody has woken it yet, otherwise ``None``. Whoever sets it to
``None`` (the waking hook, or the abort callback on cancellation) is the only
one who may let the task go, so it is rescheduled exactly once.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, final

import trio

from ._future import _PENDING, Future, add_hook, cancelled_now, has_failed, remove_hook

if TYPE_CHECKING:
    from collections.abc import Iterable

    from outcome import Outcome

__all__ = ["AsCompleted", "as_completed", "wait_all", "wait_any", "wait_settled"]

T = TypeVar("T")


def _future_list(futures: Iterable[Future[T]], caller: str) -> list[Future[T]]:
    """Read ``futures`` into a list, or raise ``TypeError`` before any change."""
    # A lone Future is not iterable; say what to do instead of "not iterable".
    if isinstance(cast("object", futures), Future):
        raise TypeError(
            f"{caller}() takes an iterable of futures, got a single Future; "
            f"wrap it in a list: {caller}([fut])"
        )
    try:
        iterator = iter(futures)
    except TypeError:
        raise TypeError(
            f"{caller}() takes an iterable of futures, got {_type_name(futures)}"
        ) from None
    futs = list(iterator)
    # Checked at C speed (Future cannot be subclassed, so its type says
    # all); only a wrong item costs a second pass, to name it.
    if not set(map(type, futs)) <= {Future}:
        index, item = next(
            (index, item)
            for index, item in enumerate(cast("list[object]", futs))
            if type(item) is not Future
        )
        raise TypeError(
            f"{caller}() takes only trio_promise.Future items, got "
            f"{_type_name(item)} at index {index}; start a task "
            f"into a Future with spawn(nursery, async_fn, ...)"
        )
    return futs


def _type_name(obj: object) -> str:
    # Another library's Future must not read as ours: qualify its name.
    kind = type(obj)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


class _Parked:
    """The one task a join parks, and the invariant of the module docstring.

    ``park()`` parks the current task; ``wake()`` lets it go, at most once;
    ``abort`` is the cancellation callback. Whoever sets ``task`` to ``None``
    is the only one who may let the task go.
    """

    __slots__ = ("task",)

    def __init__(self) -> None:
        self.task: trio.lowlevel.Task | None = None

    async def park(self) -> None:
        self.task = trio.lowlevel.current_task()
        await trio.lowlevel.wait_task_rescheduled(self.abort)

    def wake(self) -> None:
        task = self.task
        if task is not None:
            self.task = None
            trio.lowlevel.reschedule(task)

    def abort(self, raise_cancel: object) -> trio.lowlevel.Abort:
        self.task = None
        return trio.lowlevel.Abort.SUCCEEDED


@final
class _AllJoin(_Parked):
    """The hook of one ``wait_all`` / ``wait_settled`` call.

    ``cursor`` only moves forward, over futures that are settled, so checking
    "is everything settled?" costs O(n) over the whole join, however the
    futures settle (in order, in reverse, the same one twice in the list).
    """

    __slots__ = ("cursor", "fail_fast", "failed", "futures")

    def __init__(self, futures: list[Future[Any]], fail_fast: bool) -> None:
        super().__init__()
        self.futures = futures
        self.fail_fast = fail_fast
        self.cursor = 0
        self.failed: Future[Any] | None = None

    def on_settled(self, fut: Future[Any]) -> None:
        # Called synchronously from another task's set_*(): must never raise.
        if self.task is None:
            return
        # done() and has_failed(), written out: this runs once per future.
        if self.fail_fast and fut._exc is not None:
            self.failed = fut
            self.wake()
            return
        futures = self.futures
        cursor = self.cursor
        count = len(futures)
        while cursor < count and futures[cursor]._value is not _PENDING:
            cursor += 1
        self.cursor = cursor
        if cursor == count:
            self.wake()


@trio.lowlevel.enable_ki_protection
async def _wait_all(futs: list[Future[T]], fail_fast: bool) -> Future[T] | None:
    """Park until every future is settled, or (fail-fast) one has failed.

    Returns the failed future that ends a fail-fast join early, else ``None``.
    Always a checkpoint; on any way out, no hook of this join is left behind.
    KI-protected, as trio's own waits are: hooks go on and come off as a
    unit, so an interrupt never leaves one behind.
    """
    join = _AllJoin(futs, fail_fast)
    hook = join.on_settled
    first_pending = -1
    failed: Future[T] | None = None
    try:
        for index, fut in enumerate(futs):
            if fut._value is _PENDING:
                # Before the hook goes on, so that the finally takes it back.
                if first_pending < 0:
                    first_pending = index
                # add_hook()'s common case, written out.
                if fut._hooks is None:
                    fut._hooks = hook
                else:
                    add_hook(fut, hook)
            # Already-settled failures win, in input order: they settled
            # before anything we could wait for.
            elif fail_fast and has_failed(fut):
                failed = fut
                break
        if failed is not None or first_pending < 0:
            await trio.lowlevel.checkpoint()
            return failed
        join.cursor = first_pending
        await join.park()
        failed = join.failed
        if failed is not None and cancelled_now():
            # Cancellation wins over a stored failure, as in Future.get():
            # only the failure path pays for the check.
            await trio.lowlevel.checkpoint_if_cancelled()
        return failed
    finally:
        if first_pending >= 0:
            for fut in futs[join.cursor :]:
                if not fut.done():
                    remove_hook(fut, hook)


async def wait_all(futures: Iterable[Future[T]]) -> list[T]:
    """Wait until every future has a value, and return the values in order.

    Fails fast: as soon as one future fails, its stored exception is raised,
    even while futures before it in the list are still pending. Futures that
    were already failed when ``wait_all`` was called come first, in input
    order; then the first one to fail while waiting. The other futures are
    left alone (nothing is cancelled: a join owns no tasks).

    A future may appear more than once; the result then holds its value at
    each position. The iterable is read at once, in full.

    Always a checkpoint, also on empty or already-settled input. Cancelling
    the waiting task raises ``trio.Cancelled`` as usual and leaves the futures
    untouched. Costs O(n) for n futures: no task per future, no polling.
    Cancellation wins over a stored failure (as in :meth:`Future.get`): a
    join woken by a failure, whose task has been cancelled by the time it
    resumes, raises ``trio.Cancelled``, not the failure.

    Example::

        async with trio.open_nursery() as nursery:
            pages = [spawn(nursery, fetch, url) for url in urls]
            bodies = await wait_all(pages)

    Args:
        futures: any iterable of :class:`Future` (a list, a generator, ...).

    Returns:
        The values, one per input position.

    Raises:
        Exception: the stored exception of the first future to fail (the
            object itself, shared with that future's other waiters).
        TypeError: an item is not a :class:`Future`, or ``futures`` is a
            single future (raised at once, before any checkpoint).
    """
    futs = _future_list(futures, "wait_all")
    del futures
    failed = await _wait_all(futs, fail_fast=True)
    try:
        if failed is not None:
            # Raise this one's exception, not the first failure in input
            # order: another future may have failed since the join was woken.
            failed.get_nowait()
        # Every future has a value now (no failure ended the join, and a
        # settled future never changes): read them without a call each.
        return [fut._value for fut in futs]
    finally:
        # This frame is in the traceback of what it raises: holding the
        # futures here would be a reference cycle through the exception
        # (trio#1770).
        del futs, failed


async def wait_settled(futures: Iterable[Future[T]]) -> list[Outcome[T]]:
    """Wait until every future is settled; return their outcomes in order.

    Never raises the futures' failures: each position gets a *fresh*
    ``outcome.Value`` or ``outcome.Error`` (so each may be unwrapped once,
    by whoever receives it). A future may appear more than once; each of its
    positions gets its own fresh outcome. The iterable is read at once.

    Always a checkpoint, also on empty or already-settled input. Cancelling
    the waiting task raises ``trio.Cancelled`` as usual and leaves the futures
    untouched. Costs O(n) for n futures: no task per future, no polling.

    Example::

        for result in await wait_settled(pages):
            if isinstance(result, outcome.Error):
                log.warning("failed: %r", result.error)

    Args:
        futures: any iterable of :class:`Future`.

    Returns:
        One outcome per input position.

    Raises:
        TypeError: an item is not a :class:`Future`, or ``futures`` is a
            single future (raised at once, before any checkpoint).
    """
    futs = _future_list(futures, "wait_settled")
    await _wait_all(futs, fail_fast=False)
    return [fut.outcome_nowait() for fut in futs]


@final
class _AnyJoin(_Parked):
    """The hook of one ``wait_any`` call: remembers the first future to settle."""

    __slots__ = ("first",)

    def __init__(self) -> None:
        super().__init__()
        self.first: Future[Any] | None = None

    def on_settled(self, fut: Future[Any]) -> None:
        # Called synchronously from another task's set_*(): must never raise.
        if self.task is not None:
            self.first = fut
            self.wake()


async def wait_any(futures: Iterable[Future[T]]) -> Future[T]:
    """Wait until one of the futures is settled, and return that future.

    Success and failure count alike: the returned future may hold an
    exception (read it with ``get_nowait()`` or ``outcome_nowait()``). If
    several are already settled, the first of them in input order wins. The
    other futures are left alone (nothing is cancelled: a join owns no
    tasks).

    Always a checkpoint, also when a future is already settled. Cancelling
    the waiting task raises ``trio.Cancelled`` as usual and leaves the futures
    untouched. Costs O(n) for n futures: no task per future, no polling.

    Example::

        first = await wait_any([primary, fallback])
        reply = first.get_nowait()

    Args:
        futures: any non-empty iterable of :class:`Future`.

    Returns:
        The first future to settle (one of the inputs, not a copy).

    Raises:
        ValueError: ``futures`` is empty (nothing could ever settle); raised
            at once, before any checkpoint.
        TypeError: an item is not a :class:`Future`, or ``futures`` is a
            single future; raised at once, before any checkpoint.
    """
    futs = _future_list(futures, "wait_any")
    if not futs:
        raise ValueError(
            "wait_any() needs at least one future, got an empty iterable; "
            "with nothing to wait for it would wait forever"
        )
    return await _wait_any(futs)


@trio.lowlevel.enable_ki_protection
async def _wait_any(futs: list[Future[T]]) -> Future[T]:
    # KI-protected, as trio's own waits are: hooks go on and come off as a
    # unit, so an interrupt never leaves one behind.
    for fut in futs:
        if fut.done():
            await trio.lowlevel.checkpoint()
            return fut
    join = _AnyJoin()
    hook = join.on_settled
    for fut in futs:
        add_hook(fut, hook)
    try:
        await join.park()
    finally:
        for fut in futs:
            if not fut.done():
                remove_hook(fut, hook)
    first = join.first
    assert first is not None
    return first


@final
class _Completion(_Parked, Generic[T]):
    """What an ``as_completed`` iterator's hooks point at.

    ``pending`` holds the futures not yet settled (as dict keys: O(1) to
    drop one), ``ready`` the settled ones not yet returned, in the order
    they settled. While the hooks are on, the hook moves a future from one
    to the other as it settles.

    Kept apart from the iterator on purpose: the pending futures hold the
    hook, the hook holds this object, and nothing here points back at the
    iterator, so a dropped iterator is freed at once and can take its hooks
    back (see ``AsCompleted.__del__``).
    """

    __slots__ = ("hooked", "pending", "ready")

    def __init__(self, futures: list[Future[T]]) -> None:
        super().__init__()
        self.ready: deque[Future[T]] = deque()
        self.pending: dict[Future[T], None] = dict.fromkeys(futures)
        self.hooked = False
        self.hook()

    def on_settled(self, fut: Future[T]) -> None:
        # Called synchronously from another task's set_*(): must never raise.
        del self.pending[fut]
        self.ready.append(fut)
        self.wake()

    def hook(self) -> None:
        """Watch the pending futures; those settled meanwhile become ready.

        Futures that settled while unhooked are found in input order.
        """
        on_settled = self.on_settled
        pending = self.pending
        for fut in list(pending):
            if fut.done():
                del pending[fut]
                self.ready.append(fut)
            else:
                add_hook(fut, on_settled)
        self.hooked = True

    def unhook(self) -> None:
        """Take the hooks back from every pending future."""
        on_settled = self.on_settled
        for fut in self.pending:
            remove_hook(fut, on_settled)
        self.hooked = False


@final
class AsCompleted(Generic[T]):
    """The async iterator that :func:`as_completed` returns.

    Iterate it with ``async for``, from one task at a time. It has an
    :meth:`aclose` method, so ``contextlib.aclosing(as_completed(futs))``
    works and type-checks.
    """

    __slots__ = ("_busy", "_completion")

    def __init_subclass__(cls, **kwargs: object) -> None:
        raise TypeError("trio_promise.AsCompleted does not support subclassing")

    def __init__(self, futures: list[Future[T]]) -> None:
        self._completion = _Completion(futures)
        self._busy = False

    @trio.lowlevel.enable_ki_protection
    def __aiter__(self) -> AsCompleted[T]:
        """Return the iterator itself (not a checkpoint)."""
        return self

    @trio.lowlevel.enable_ki_protection
    async def __anext__(self) -> Future[T]:
        """Wait for the next future to settle and return it.

        Always a checkpoint. If cancelled, the iterator takes its hooks back
        from the futures at once (``statistics()`` of each is back to what
        it was), and nothing is lost: a later step picks up where this one
        stopped (futures that settled in between come in input order).

        Raises:
            StopAsyncIteration: every future was returned, or the iterator
                was closed.
            RuntimeError: another task is in ``__anext__`` of this iterator.
        """
        if self._busy:
            raise RuntimeError(
                "as_completed(): another task is already waiting on this "
                "iterator; iterate it from one task at a time"
            )
        completion = self._completion
        if not completion.hooked:
            completion.hook()
        if not completion.ready and not completion.pending:
            await trio.lowlevel.checkpoint()
            raise StopAsyncIteration
        self._busy = True
        try:
            if completion.ready:
                await trio.lowlevel.checkpoint()
            else:
                await completion.park()
        except BaseException:
            # Cancelled (or interrupted) while waiting: leave nothing on the
            # futures; the next step hooks them again.
            completion.unhook()
            raise
        finally:
            self._busy = False
        return completion.ready.popleft()

    @trio.lowlevel.enable_ki_protection
    async def aclose(self) -> None:
        """Stop watching the futures; later steps raise ``StopAsyncIteration``.

        Takes this iterator's hooks back from the futures still pending (the
        futures themselves are untouched). Dropping the iterator does the
        same; ``aclose()`` is for code that keeps a reference, or for
        ``contextlib.aclosing``. Idempotent. A checkpoint, after the closing,
        so a cancelled ``aclose()`` still closes.

        Raises:
            RuntimeError: another task is in ``__anext__`` of this iterator.
        """
        if self._busy:
            raise RuntimeError(
                "as_completed(): cannot close the iterator while another task "
                "is waiting on it"
            )
        self._close()
        await trio.lowlevel.checkpoint()

    def _close(self) -> None:
        completion = self._completion
        completion.unhook()
        completion.pending.clear()
        completion.ready.clear()
        # Nothing is pending, so a later step's hook() finds nothing to do
        # and the iteration ends.

    def __del__(self) -> None:
        # A 'break' out of 'async for' drops the iterator without closing
        # it; without this, its hooks would stay on futures that may never
        # settle.
        self._close()


@trio.lowlevel.enable_ki_protection
def as_completed(futures: Iterable[Future[T]]) -> AsCompleted[T]:
    """Iterate over the futures as they settle, each one once.

    Futures already settled when ``as_completed`` is called come first, in
    input order; then each other future as soon as it settles (success or
    failure alike; read it with ``get_nowait()``). A future given more than
    once is yielded once.

    ``as_completed`` itself is a plain function: it checks its argument at
    once and starts watching the futures. Each step of the iteration
    (``__anext__``) is a checkpoint, also when a future is ready and also for
    the final ``StopAsyncIteration``. Cancelling a step raises
    ``trio.Cancelled`` as usual and loses nothing: a later step returns the
    same future. The futures are left alone; a join owns no tasks.

    Leaving the loop early (``break``, an exception) is fine. The iterator
    (an :class:`AsCompleted`) is a small object, not an async generator, on
    purpose: when it is dropped it takes its hooks back from the futures
    still pending at once, so futures that never settle do not collect dead
    watchers, and there is no abandoned-generator warning. A cancelled step
    takes them back too, at once, without waiting for the iterator to be
    dropped. It also has an ``aclose()`` method that closes it explicitly
    (``contextlib.aclosing`` works). Iterate it from one task at a time.

    Costs O(n) for n futures over the whole iteration: no task per future,
    no polling.

    Example::

        async with trio.open_nursery() as nursery:
            pages = [spawn(nursery, fetch, url) for url in urls]
            async for page in as_completed(pages):
                print(page.get_nowait())

    Args:
        futures: any iterable of :class:`Future`, read at once.

    Returns:
        An async iterator of the futures, in the order they settle.

    Raises:
        TypeError: an item is not a :class:`Future`, or ``futures`` is a
            single future (raised at once).
    """
    return AsCompleted(_future_list(futures, "as_completed"))
