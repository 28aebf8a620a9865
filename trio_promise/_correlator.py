"""Correlator: match replies to requests in protocol code.

The pattern: a caller registers the id of its request *before* sending it,
waits on the future it got back, and leaves; one reader task reads the
connection and hands each reply to the caller that waits for its id. The
reader never blocks on a caller, and when it ends (the peer went away, the
stream broke) it closes the correlator so that no caller waits forever.

Invariants (checked by tests/test_correlator.py):

* ``_pending`` maps a key to the one ``_Expectation`` in flight for it. An
  entry is added by ``expect()`` and removed by the expectation's
  ``__exit__`` or by ``close()``; nothing else removes or replaces one, so a
  key is never in flight twice.
* An expectation removes its entry only if the map still holds *that* entry
  (by identity): the key may have been reused after the entry left, and a
  second ``__exit__`` must not remove somebody else's request.
* Once ``_closed`` is set the map is empty and stays empty.

Cost per request: the :class:`Future` and one ``_Expectation`` (three
slots). The expectation is at once the context manager that ``expect()``
returns and the value stored in the map, so a request allocates nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar, final

import trio

from ._exceptions import BrokenPromiseError, broken_promise_cause
from ._future import Future, check_exception, short_repr

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from types import TracebackType

__all__ = ["Correlator"]

# Both invariant: keys and replies are written into the correlator and read
# out of it, so a Correlator[int, bool] is neither a Correlator[int, object]
# (somebody could resolve it with a str) nor the other way round.
K = TypeVar("K")
T = TypeVar("T")


def _check_cause(exc: object) -> None:
    """Refuse a bad cause in ``close()`` with a ``TypeError``."""
    if exc is None or isinstance(exc, BaseException):
        return
    hint = ""
    if isinstance(exc, type) and issubclass(exc, BaseException):
        hint = f"; did you mean {exc.__qualname__}()?"
    raise TypeError(
        f"close() needs an exception instance or None as the cause, got {exc!r}{hint}"
    )


@final
class _Expectation(Generic[K, T]):
    """One request in flight: the map's value and ``expect()``'s context manager.

    ``__enter__`` hands out the future; ``__exit__`` removes the entry from
    the map if the map still holds this very entry, and, if nobody settled the
    future, fails it with ``BrokenPromiseError`` so that a task that got the
    future from the caller does not wait for a reply that can no longer come.
    """

    __slots__ = ("future", "key", "pending")

    def __init__(
        self, pending: dict[K, _Expectation[K, T]], key: K, future: Future[T]
    ) -> None:
        self.pending = pending
        self.key = key
        self.future = future

    @trio.lowlevel.enable_ki_protection
    def __enter__(self) -> Future[T]:
        return self.future

    def __getattr__(self, name: str) -> object:
        # Only reached for attributes that do not exist: the common mistake
        # is 'fut = c.expect(key)' without 'with', then 'await fut.get()'.
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"Correlator.expect() returns a context manager, not a future, so "
            f"it has no attribute {name!r}; use 'with correlator.expect(key) "
            f"as fut:' and wait with 'await fut.get()' inside the block"
        )

    @trio.lowlevel.enable_ki_protection
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pending = self.pending
        key = self.key
        if pending.get(key) is self:
            del pending[key]
        future = self.future
        if not future.done():
            future.try_set_exception(
                BrokenPromiseError(
                    f"the correlator stopped waiting for key {short_repr(key)}: its "
                    f"'with expect()' block exited before the reply came; wait "
                    f"on the future inside the block"
                )
            )

    def __repr__(self) -> str:
        return f"<expectation of key {short_repr(self.key)}: {self.future!r}>"


@final
class Correlator(Generic[K, T]):
    """Match replies to requests by key, for protocol clients and servers.

    A caller registers the key (the request id) with :meth:`expect` *before*
    it sends the request, then waits on the :class:`Future` it gets; the
    reader task hands each reply to :meth:`resolve` (or a failure to
    :meth:`fail`), which never blocks. When the reader ends, for whatever
    reason, it calls :meth:`close`, and every caller still waiting gets
    :exc:`BrokenPromiseError` instead of hanging::

        replies: Correlator[int, dict] = Correlator()

        # caller task
        with replies.expect(msg_id) as fut:     # register before sending
            await send(request(msg_id))
            reply = await fut.get()             # cancellable

        # reader task
        try:
            async for msg in stream:
                if not replies.resolve(msg["id"], msg):  # never blocks
                    log.warning("late or unknown reply %r", msg["id"])
        finally:
            replies.close()     # every pending caller gets BrokenPromiseError

    No method of a correlator is async and none is a checkpoint: the waiting
    happens in ``await fut.get()``, which is always a checkpoint. A caller
    cancelled while it waits leaves the ``with`` block, and that removes its
    entry at once; the reply, when it comes, finds nobody and ``resolve``
    returns ``False`` (log it as a late reply). A key is in flight from
    :meth:`expect` until its ``with`` block exits or :meth:`close` drops it,
    and while it is in flight it cannot be expected again.

    ``with Correlator() as replies:`` closes it when the block exits, with
    the exiting exception (if any) as the cause.

    Not thread-safe, like the rest of trio: call it from tasks of one run
    (from a thread, through ``trio.from_thread.run_sync``).
    """

    __slots__ = ("_closed", "_pending")

    _pending: dict[K, _Expectation[K, T]]
    _closed: bool

    def __init_subclass__(cls, **kwargs: object) -> None:
        raise TypeError("trio_promise.Correlator does not support subclassing")

    def __init__(self) -> None:
        self._pending = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called (then :meth:`expect` refuses)."""
        return self._closed

    def __len__(self) -> int:
        """Return the number of keys in flight, resolved or not."""
        return len(self._pending)

    def __contains__(self, key: object) -> bool:
        """Return whether ``key`` is in flight (like ``key in dict``)."""
        return key in self._pending

    @trio.lowlevel.enable_ki_protection
    def expect(self, key: K) -> AbstractContextManager[Future[T], None]:
        """Register ``key`` and return a context manager for its future.

        Call it *before* sending the request, so that no reply can come back
        before its future exists, and use the result in a ``with`` statement
        right away: the entry is in flight from this call until the ``with``
        block exits, however it exits (a reply, an error, a cancellation), or
        until :meth:`close` drops it. Leaving the block removes the entry, also
        after ``close()``, and leaving it twice does no harm. If the future is
        still pending when the block exits, it is failed with
        :exc:`BrokenPromiseError`, so any other task given the future does
        not wait for a reply that can no longer come.

        ::

            with replies.expect(msg_id) as fut:
                await send(request(msg_id))
                reply = await fut.get()

        Not a checkpoint and never blocks. Cancelling a caller in
        ``await fut.get()`` just ends its ``with`` block: the key is free
        again at once.

        Args:
            key: a hashable key that identifies the reply, typically the
                request's id.

        Returns:
            A context manager whose ``__enter__`` returns the :class:`Future`
            that :meth:`resolve` or :meth:`fail` will settle.

        Raises:
            TypeError: ``key`` is not hashable.
            ValueError: ``key`` is already in flight; ids must not be reused
                while a request with that id is pending.
            BrokenPromiseError: the correlator is closed (its reader ended);
                nothing is registered.
        """
        pending = self._pending
        try:
            in_flight = key in pending
        except TypeError as exc:
            raise TypeError(
                f"correlator keys must be hashable (use the request id), got "
                f"{type(key).__qualname__}"
            ) from exc
        if in_flight:
            raise ValueError(
                f"key {short_repr(key)} is already in flight; ids must not be reused "
                f"while a request is pending"
            )
        if self._closed:
            raise BrokenPromiseError(
                f"the correlator is closed, so no reply can come for key "
                f"{short_repr(key)}; open a new connection and a new correlator"
            )
        entry: _Expectation[K, T] = _Expectation(pending, key, Future())
        pending[key] = entry
        return entry

    def _lookup(self, key: K) -> _Expectation[K, T] | None:
        # Keys come from the wire: an unhashable one cannot be in flight, so
        # it is unknown, not a reason for the reader task to die.
        try:
            return self._pending.get(key)
        except TypeError:
            return None

    def resolve(self, key: K, value: T) -> bool:
        """Settle the future waiting for ``key`` with ``value``.

        Synchronous: never blocks, is not a checkpoint. It wakes the caller;
        the entry itself stays until the caller's ``with`` block exits.

        Args:
            key: the reply's key. An unknown key is not an error: the caller
                may have been cancelled, or the peer may be wrong. A key that
                is not hashable cannot be in flight, so it is unknown too
                (keys come from the wire; the reader should not die of one).
            value: the reply.

        Returns:
            ``True`` if this call settled the future; ``False`` if the key is
            unknown, gone (its caller left) or already settled. Then nothing
            changes: log it as a late or unknown reply.
        """
        entry = self._lookup(key)
        return entry is not None and entry.future.try_set_result(value)

    def fail(self, key: K, exc: Exception) -> bool:
        """Settle the future waiting for ``key`` with a failure.

        Like :meth:`resolve`: synchronous, never blocks, not a checkpoint;
        the caller's ``await fut.get()`` raises ``exc``.

        Args:
            key: the reply's key; unknown, gone or unhashable keys are not an
                error (see :meth:`resolve`).
            exc: an *instance* of ``Exception`` (an error reply, for
                example); ``trio.Cancelled`` and other ``BaseException`` are
                refused, as by :meth:`Future.set_exception`.

        Returns:
            ``True`` if this call settled the future; ``False`` if the key is
            unknown, gone or already settled.

        Raises:
            TypeError: ``exc`` is not an ``Exception`` instance. That is a bug,
                not a race, so it is raised whatever the key.
        """
        check_exception(exc, "fail")
        entry = self._lookup(key)
        return entry is not None and entry.future.try_set_exception(exc)

    @trio.lowlevel.enable_ki_protection
    def close(self, exc: BaseException | None = None) -> None:
        """Fail every pending caller with ``BrokenPromiseError`` and refuse new ones.

        Call it in the reader's ``finally:``: whatever ends the reader, no
        caller is left waiting for a reply that cannot come. Every entry is
        dropped at once (``len(c) == 0`` right after); each future still
        pending gets its own ``BrokenPromiseError`` with ``__cause__`` set to
        ``exc``. A ``trio.Cancelled`` is never kept as the cause (it belongs
        to the cancelled scope, not to the callers): then the cause is
        ``None``, and from an exception group only the parts that are not
        ``Cancelled`` are kept. Later :meth:`expect` calls raise
        ``BrokenPromiseError``; :meth:`resolve` and :meth:`fail` return
        ``False``.

        Synchronous, never blocks, not a checkpoint. Idempotent: closing a
        closed correlator does nothing (the first cause stays).

        Args:
            exc: why the replies stopped (the reader's exception), or
                ``None``.

        Raises:
            TypeError: ``exc`` is neither ``None`` nor an exception instance;
                nothing changes.
        """
        _check_cause(exc)
        if self._closed:
            return
        self._closed = True
        entries = list(self._pending.values())
        # Empty the map before settling anything: settling runs join hooks
        # synchronously, and whatever they do must already see it closed.
        self._pending.clear()
        cause = broken_promise_cause(exc)
        count = len(entries)
        for entry in entries:
            future = entry.future
            if future.done():
                continue
            error = BrokenPromiseError(
                f"the correlator was closed with {count} requests in flight, "
                f"so no reply will come for key {short_repr(entry.key)}"
            )
            error.__cause__ = cause
            future.try_set_exception(error)

    def __enter__(self) -> Correlator[K, T]:
        """Return the correlator itself, to be closed when the block exits."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the correlator, with the exiting exception (if any) as the cause.

        The exception is not swallowed. A ``trio.Cancelled`` is not kept as
        the cause (see :meth:`close`).
        """
        self.close(exc_value)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<trio_promise.Correlator {state}, {len(self._pending)} in flight>"
