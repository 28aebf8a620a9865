# pyright: reportPrivateUsage=false
# (an expectation reads its correlator's slots, and a closed correlator
# raises its shared error with _future's _raise_stored.)
"""Correlator: match replies to requests in protocol code.

The pattern: a caller takes an id (``next_key()``), registers it *before*
sending its request (``with expect(key) as fut:``), waits on the future and
leaves; one reader task reads the connection and hands each reply to the
caller that waits for its id (``resolve()``). The reader never blocks on a
caller, and when it ends (the peer went away, the stream broke) it closes the
correlator so that no caller waits forever.

Invariants (checked by tests/test_correlator.py):

* ``_pending`` maps a key in flight to the one pending ``Future`` of its
  request. An entry is added by ``_Expectation.__enter__`` and removed by
  ``resolve()``/``fail()`` (the reply is in: the key is free at once), by the
  expectation's ``__exit__`` (no reply came) or by ``close()``; nothing else
  removes or replaces one, so a key is never in flight twice.
* An expectation removes its entry only if the map still holds *its* future
  (by identity): the key may have been answered and reused since, and a
  second ``__exit__`` must not remove somebody else's request.
* ``_until`` maps each quarantined key to the time (``trio.current_time()``)
  its quarantine ends; ``_order`` holds the same ``(expiry, key)`` pairs in
  the order they were added. Every quarantine lasts ``_quarantine`` seconds
  and time only moves forward within a run, so ``_order`` is sorted by
  expiry and expired keys are purged from its front: O(1) amortised per key,
  and the memory follows the window. A key is added only when its entry
  leaves without a reply, and an entry exists only for a key that was not
  quarantined, so a key is in ``_order`` at most once.
* A key is never both in flight and quarantined.
* Once ``_closed`` is set, ``_pending``, ``_until`` and ``_order`` are empty
  and stay empty.

Cost per request: the :class:`Future` and one ``_Expectation`` (three
slots), which is the context manager that ``expect()`` returns. The map
holds the future itself, so a reply costs one ``dict.pop``.
"""

from __future__ import annotations

import numbers
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, cast, final, overload

import trio

from ._exceptions import BrokenPromiseError, broken_promise_cause
from ._future import _PENDING, Future, _raise_stored, check_exception, short_repr

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from types import TracebackType

__all__ = ["Correlator", "CorrelatorStatistics"]

_new = object.__new__
_current_task = trio.lowlevel.current_task

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


def _check_error(error: object) -> None:
    """Refuse a bad ``close(error=...)`` with a ``TypeError``."""
    if error is not None:
        check_exception(error, "close", " as error=", "given to callers")


def _check_keys(keys: object) -> range | None:
    if keys is None:
        return None
    if not isinstance(keys, range):
        raise TypeError(
            f"keys must be a range of ids, such as range(1, 2**16), got "
            f"{type(keys).__qualname__}"
        )
    if not keys:
        raise ValueError(f"keys must not be empty, got {keys!r}")
    return keys


def _check_quarantine(quarantine: object) -> float:
    if isinstance(quarantine, bool) or not isinstance(quarantine, numbers.Real):
        raise TypeError(
            f"quarantine must be a number of seconds, got {type(quarantine).__qualname__}"
        )
    try:
        seconds = float(quarantine)
    except OverflowError:
        raise ValueError(
            f"quarantine is too large to represent in seconds, got "
            f"{short_repr(quarantine)}"
        ) from None
    if not seconds >= 0:  # also catches NaN
        raise ValueError(
            f"quarantine must be a number of seconds >= 0, got {short_repr(quarantine)}"
        )
    return seconds


def _now() -> float | None:
    """``trio.current_time()``, or ``None`` outside ``trio.run``."""
    try:
        return trio.current_time()
    except RuntimeError:
        return None


@final
@dataclass(frozen=True, slots=True)
class CorrelatorStatistics:
    """Debugging information about a :class:`Correlator`, from ``statistics()``.

    Attributes:
        in_flight: requests awaiting a reply (``len(correlator)``).
        quarantined: keys whose quarantine has not ended yet: requests
            abandoned without a reply within the last ``quarantine`` seconds.
        late_replies: replies that came for a quarantined key (and were
            dropped, never handed to another request), since the correlator
            was created.
        unknown_replies: replies that matched nothing else: an unknown or
            unhashable key, a second reply for a key already answered, a
            reply after :meth:`Correlator.close`.

    Frozen, and can be compared, copied and pickled, like trio's own
    statistics objects.
    """

    in_flight: int
    quarantined: int
    late_replies: int
    unknown_replies: int


@final
class _Expectation(Generic[K, T]):
    """``expect()``'s context manager: one request, from ``with`` to its end.

    ``__enter__`` registers the key and hands out a fresh future;
    ``__exit__`` removes the entry if the map still holds this request's
    future (no reply came: the future fails with ``BrokenPromiseError`` and
    the key goes into quarantine), so a task that got the future from the
    caller does not wait for a reply that can no longer come.
    """

    __slots__ = ("_correlator", "_future", "_key")

    # Made by Correlator.expect() without an __init__ call (see there).
    _correlator: Correlator[K, T]
    _key: K
    _future: Future[T] | None

    @trio.lowlevel.enable_ki_protection
    def __enter__(self) -> Future[T]:
        correlator = self._correlator
        key = self._key
        pending = correlator._pending
        try:
            in_flight = key in pending
        except TypeError as exc:
            raise TypeError(
                f"correlator keys must be hashable (use the request id), got "
                f"{type(key).__qualname__}"
            ) from exc
        if correlator._closed:
            try:
                return correlator._raise_closed(key)
            finally:
                # This frame is in the traceback of a shared close error that
                # the correlator keeps: holding the correlator here would be
                # a reference cycle (trio#1770).
                del self, correlator
        if in_flight:
            raise ValueError(
                f"key {short_repr(key)} is already in flight; ids must not be "
                f"reused while a request is pending"
            )
        if correlator._quarantine:
            # The quarantine needs trio's clock when the request is
            # abandoned: outside trio.run, register nothing that could not
            # be quarantined then. current_task() is the cheapest check.
            try:
                _current_task()
            except RuntimeError:
                raise RuntimeError(
                    "a correlator with a quarantine reads trio's clock, so its "
                    "requests need a running trio: enter expect() inside trio.run"
                ) from None
            if key in correlator._until:
                correlator._refuse_if_quarantined(key)
        # Future(), written out (no __init__ call): this is every request's
        # hot path, and the layout is _future's (see its top).
        future: Future[T] = _new(Future)  # pyright: ignore[reportUnknownVariableType]
        future._value = _PENDING
        future._exc = future._event = future._hooks = None
        self._future = pending[key] = future
        return future

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
        future = self._future
        if future is None:
            return  # never entered (or its enter raised): nothing registered
        correlator = self._correlator
        pending = correlator._pending
        key = self._key
        if pending.get(key) is future:
            # No reply came (resolve() and fail() take the entry out), and
            # the correlator is open (close() empties the map): the reply may
            # still come, so the id must not go to the next request at once.
            del pending[key]
            if correlator._quarantine:
                correlator._add_to_quarantine(key)
        if future._value is _PENDING:  # done(), written out
            future.try_set_exception(
                BrokenPromiseError(
                    f"the correlator stopped waiting for key {short_repr(key)}: its "
                    f"'with expect()' block exited before the reply came; wait "
                    f"on the future inside the block"
                )
            )

    def __repr__(self) -> str:
        future = self._future
        state = "not entered" if future is None else repr(future)
        return f"<expectation of key {short_repr(self._key)}: {state}>"


@final
class Correlator(Generic[K, T]):
    """Match replies to requests by key, for protocol clients and servers.

    A caller takes an id with :meth:`next_key`, registers it with
    :meth:`expect` *before* it sends the request, then waits on the
    :class:`Future` it gets; the reader task hands each reply to
    :meth:`resolve` (or a failure to :meth:`fail`), which never blocks. When
    the reader ends, for whatever reason, it calls :meth:`close`, and every
    caller still waiting gets the close error instead of hanging::

        replies: Correlator[int, dict] = Correlator(
            keys=range(1, 2**31), quarantine=60.0
        )

        # caller task
        msg_id = replies.next_key()             # neither in flight nor quarantined
        with replies.expect(msg_id) as fut:     # register before sending
            await send(request(msg_id))
            reply = await fut.get()             # cancellable

        # reader task
        try:
            async for msg in stream:
                replies.resolve(msg["id"], msg)   # never blocks
        finally:
            replies.close(error=ConnectionClosed("peer went away"))

    No method of a correlator is async and none is a checkpoint: the waiting
    happens in ``await fut.get()``, which is always a checkpoint. A key is in
    flight from the moment its ``with`` block is entered until its reply is
    in (:meth:`resolve` and :meth:`fail` free it at once), its block exits,
    or :meth:`close` drops it; while in flight it cannot be expected again.

    **Quarantine.** A caller cancelled while it waits (a timeout, say) leaves
    its ``with`` block, and that removes its entry at once; its reply may
    still come. With ``quarantine=`` seconds, the key of a request abandoned
    without a reply stays unusable for that long: :meth:`next_key` skips it,
    :meth:`expect` refuses it, and a late reply for it is dropped and counted
    (``statistics().late_replies``), so it never reaches the next request
    that would have reused the id. A key that got its reply is never
    quarantined. The quarantine reads trio's clock
    (``trio.current_time()``), so it follows a mock clock in tests, and a
    correlator with a quarantine needs a running trio to register requests.

    **A crash is reported once.** When the reader dies and closes the
    correlator in its ``finally``, the callers in the same nursery are
    cancelled by that crash: each caller's ``await fut.get()`` then raises
    ``trio.Cancelled`` rather than the close error (cancellation wins over a
    stored failure, see :meth:`Future.get`), so the nursery's group holds the
    reader's crash alone. Callers outside that nursery get the close error.

    ``with Correlator() as replies:`` closes it when the block exits, with
    the exiting exception (if any) as the cause.

    Not thread-safe, like the rest of trio: call it from tasks of one run
    (from a thread, through ``trio.from_thread.run_sync``). Use one
    correlator per connection, inside one ``trio.run``: quarantine times are
    read from the clock of the run that is going on.

    Args:
        keys: the id space that :meth:`next_key` draws from, for example
            ``range(1, 2**16)`` for a 16-bit id. Without it, the correlator
            hands out no ids (bring your own, any hashable).
        quarantine: how many seconds of ``trio.current_time()`` the key of a
            request abandoned without a reply stays unusable. ``0`` (the
            default) quarantines nothing.

    Raises:
        TypeError: ``keys`` is not a ``range``, or ``quarantine`` is not a
            real number.
        ValueError: ``keys`` is empty, or ``quarantine`` is negative, NaN or
            too large to represent.
    """

    __slots__ = (
        "_broken",
        "_cause",
        "_closed",
        "_cursor",
        "_keys",
        "_late_replies",
        "_order",
        "_pending",
        "_quarantine",
        "_unknown_replies",
        "_until",
    )

    _pending: dict[K, Future[T]]
    _closed: bool
    # After close(error=...): a failed future holding the shared error,
    # raised with _future's _raise_stored() so that every raise starts from
    # the traceback and __context__ the error had at the close (Future's
    # rules, API.md section 1).
    _broken: Future[Any] | None
    _cause: BaseException | None
    _keys: range | None
    _cursor: int
    _quarantine: float
    _until: dict[K, float]
    _order: deque[tuple[float, K]]
    _late_replies: int
    _unknown_replies: int

    def __init_subclass__(cls, **kwargs: object) -> None:
        raise TypeError("trio_promise.Correlator does not support subclassing")

    # With keys=, the keys are the range's ints: a Correlator[str, T] given
    # keys= is refused by type checkers.
    @overload
    def __init__(
        self: Correlator[int, Any], *, keys: range, quarantine: float = 0.0
    ) -> None: ...
    @overload
    def __init__(self, *, keys: None = None, quarantine: float = 0.0) -> None: ...
    def __init__(self, *, keys: range | None = None, quarantine: float = 0.0) -> None:
        self._keys = _check_keys(keys)
        self._quarantine = _check_quarantine(quarantine)
        self._pending = {}
        self._closed = False
        self._broken = None
        self._cause = None
        self._cursor = 0
        self._until = {}
        self._order = deque()
        self._late_replies = 0
        self._unknown_replies = 0

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called (then :meth:`expect` refuses)."""
        return self._closed

    def __len__(self) -> int:
        """Return the number of requests awaiting a reply."""
        return len(self._pending)

    def __contains__(self, key: object) -> bool:
        """Return whether ``key`` is awaiting a reply (like ``key in dict``).

        ``False`` once its reply is in, even while its caller's ``with`` block
        goes on; ``False`` for a quarantined key.
        """
        return key in self._pending

    # -- ids -----------------------------------------------------------------

    @trio.lowlevel.enable_ki_protection
    def next_key(self) -> K:
        """Return the next id of ``keys`` that is neither in flight nor quarantined.

        Ids are handed out in the order of ``keys``, starting after the last
        one handed out and wrapping around at the end, so an id comes back as
        late as the id space allows. Ids in flight and quarantined ids are
        skipped: O(1) amortised while few ids are busy.

        ``next_key()`` reserves nothing: register the id with :meth:`expect`
        before the next checkpoint (as in ``with c.expect(c.next_key()) as
        fut:``). To bound the requests in flight so that an id is always
        free, take a slot of a ``trio.CapacityLimiter`` smaller than the id
        space around each request.

        Synchronous: never blocks, is not a checkpoint.

        Returns:
            an id of ``keys``.

        Raises:
            trio.WouldBlock: every id is in flight or quarantined.
            RuntimeError: the correlator was created without ``keys=``.
            Exception: on a closed correlator, what :meth:`expect` raises
                (the ``error`` given to :meth:`close`, or
                :exc:`BrokenPromiseError`).
        """
        keys = self._keys
        if keys is None:
            raise RuntimeError(
                "next_key() needs an id space: create the correlator with "
                "keys=, such as Correlator(keys=range(1, 2**16))"
            )
        if self._closed:
            try:
                return self._raise_closed(None)
            finally:
                del self  # no cycle through this frame (see __enter__)
        pending = self._pending
        until = self._until
        size = len(keys)
        index = self._cursor
        purged = False
        # At most one pass over the id space; each step past the first skips
        # a busy id, so a call costs O(1 + ids skipped).
        for _ in range(size):
            key = cast("K", keys[index])
            index += 1
            if index == size:
                index = 0
            if key in pending:
                continue
            if key in until:
                # Quarantined, or its quarantine has ended but is not purged
                # yet: purge once per call, from the front.
                if purged:
                    continue
                self._purge()
                purged = True
                if key in until:
                    continue
            self._cursor = index
            return key
        raise trio.WouldBlock

    # -- requests --------------------------------------------------------------

    def expect(self, key: K) -> AbstractContextManager[Future[T], None]:
        """Return a context manager that registers ``key`` for one request.

        Enter it, in a ``with`` statement, *before* sending the request, so
        that no reply can come back before its future exists::

            with replies.expect(msg_id) as fut:
                await send(request(msg_id))
                reply = await fut.get()

        The key is registered when the block is **entered** (``expect(key)``
        alone registers nothing and leaks nothing), and stays in flight until
        its reply is in (:meth:`resolve` / :meth:`fail` free it at once, while
        the block goes on), the block exits, or :meth:`close` drops it. If
        the block exits before a reply came (an error, a cancellation, a
        timeout), the entry is removed at once, the future fails with
        :exc:`BrokenPromiseError` (so any other task given it does not wait
        forever) and, with ``quarantine > 0``, the key goes into quarantine.
        Leaving the block twice does no harm.

        Not a checkpoint and never blocks. Cancelling a caller in
        ``await fut.get()`` just ends its ``with`` block.

        Args:
            key: a hashable key that identifies the reply, typically the
                request's id (from :meth:`next_key`, or your own).

        Returns:
            A context manager whose ``__enter__`` registers the key and
            returns the :class:`Future` that :meth:`resolve` or :meth:`fail`
            will settle.

        Raises:
            TypeError: ``key`` is not hashable (when the block is entered).
            ValueError: ``key`` is in flight, or quarantined (when the block
                is entered); nothing is registered.
            Exception: the correlator is closed (when the block is entered):
                the ``error`` given to :meth:`close`, or
                :exc:`BrokenPromiseError` with the close's cause; nothing is
                registered.
            RuntimeError: with ``quarantine > 0``, entered outside
                ``trio.run`` (the quarantine needs trio's clock).
        """
        # _Expectation(self, key), without an __init__ call: every request
        # makes one.
        entry: _Expectation[K, T] = _new(_Expectation)  # pyright: ignore[reportUnknownVariableType]
        entry._correlator = self
        entry._key = key
        entry._future = None
        return entry

    def _refuse_if_quarantined(self, key: K) -> None:
        # The key is in the quarantine: its quarantine may have ended since
        # the last purge.
        self._purge()
        if key in self._until:
            raise ValueError(
                f"key {short_repr(key)} is quarantined: a request with this id "
                f"was abandoned without a reply less than {self._quarantine:g} "
                f"seconds ago, and its reply may still come; take ids from "
                f"next_key(), which skips it"
            )

    def _add_to_quarantine(self, key: K) -> None:
        now = trio.current_time()  # enter checked that trio is running
        # Drop the ones that have ended first, so that the memory follows
        # the window even if no id is ever reused.
        self._purge_until(now)
        expiry = now + self._quarantine
        self._order.append((expiry, key))
        self._until[key] = expiry

    def _purge(self) -> None:
        now = _now()
        if now is not None:  # outside trio.run, trio's clock does not move
            self._purge_until(now)

    def _purge_until(self, now: float) -> None:
        order = self._order
        until = self._until
        while order and order[0][0] <= now:
            del until[order.popleft()[1]]

    # -- replies -----------------------------------------------------------------

    @trio.lowlevel.enable_ki_protection
    def resolve(self, key: K, value: T) -> bool:
        """Settle the future waiting for ``key`` with ``value``; free the key.

        The key is free at once: ``key in c`` is false right after, the id
        can be expected again, and a second reply for it returns ``False``.
        The caller is woken and reads ``value`` from ``await fut.get()``.

        Synchronous: never blocks, is not a checkpoint, never raises for a
        reply that matches nothing.

        Args:
            key: the reply's key. An unknown key is not an error: the caller
                may have been cancelled, or the peer may be wrong. A key that
                is not hashable cannot be in flight, so it is unknown too
                (keys come from the wire; the reader should not die of one).
            value: the reply.

        Returns:
            ``True`` if this call settled the request's future. ``False``,
            with nothing changed but a counter of :meth:`statistics`, if the
            key is quarantined (a late reply: dropped, never misrouted;
            ``late_replies``), or unknown, unhashable or already answered
            (``unknown_replies``).
        """
        try:
            future = self._pending.pop(key, None)
        except TypeError:
            future = None
        if future is not None and future._value is _PENDING:
            # try_set_result(), written out: every reply goes through here.
            future._value = value
            event = future._event
            if event is not None:
                event.set()
            if future._hooks is not None:
                future._run_hooks()
            return True
        return self._unmatched(key)

    @trio.lowlevel.enable_ki_protection
    def fail(self, key: K, exc: Exception) -> bool:
        """Settle the future waiting for ``key`` with a failure; free the key.

        Like :meth:`resolve`: synchronous, never blocks, not a checkpoint;
        the caller's ``await fut.get()`` raises ``exc``.

        Args:
            key: the reply's key; unknown, quarantined or unhashable keys are
                not an error (see :meth:`resolve`).
            exc: an *instance* of ``Exception`` (an error reply, for
                example); ``trio.Cancelled`` and other ``BaseException`` are
                refused, as by :meth:`Future.set_exception`.

        Returns:
            ``True`` if this call settled the future; ``False`` (and a
            counter of :meth:`statistics` goes up) as for :meth:`resolve`.

        Raises:
            TypeError: ``exc`` is not an ``Exception`` instance. That is a bug,
                not a race, so it is raised whatever the key.
        """
        check_exception(exc, "fail")
        try:
            future = self._pending.pop(key, None)
        except TypeError:
            future = None
        if future is not None and future.try_set_exception(exc):
            return True
        return self._unmatched(key)

    def _unmatched(self, key: K) -> bool:
        # A reply that settles nothing: late if its key is quarantined
        # (checked only when the quarantine holds anything), else unknown.
        until = self._until
        if until:
            try:
                quarantined = key in until
            except TypeError:
                quarantined = False
            if quarantined:
                self._purge()
                if key in until:
                    self._late_replies += 1
                    return False
        self._unknown_replies += 1
        return False

    # -- the end -------------------------------------------------------------------

    @trio.lowlevel.enable_ki_protection
    def close(
        self, exc: BaseException | None = None, *, error: Exception | None = None
    ) -> None:
        """Fail every pending caller, refuse new ones, drop the quarantine.

        Call it as the *last* statement of the reader's ``finally:``:
        whatever ends the reader, no caller is left waiting for a reply that
        cannot come. Every entry is dropped at once (``len(c) == 0`` right
        after), and so is the quarantine. Each future still pending fails,
        and every later :meth:`expect` (when its block is entered) and
        :meth:`next_key` raises:

        * with ``error`` when it is given: the protocol's own exception
          (``ConnectionClosed(...)``), one object shared by every caller, as
          a future's failure is shared by its waiters (each raise starts from
          the traceback and ``__context__`` it had at the close). ``exc``,
          when given, becomes its ``__cause__``, unless it has one already;
        * else with :exc:`BrokenPromiseError` (one per pending caller, a
          fresh one per later call) whose ``__cause__`` is ``exc``.

        A ``trio.Cancelled`` is never kept as a cause (it belongs to the
        cancelled scope, not to the callers): then the cause is ``None``, and
        from an exception group only the parts that are not ``Cancelled`` are
        kept. After the close, :meth:`resolve` and :meth:`fail` return
        ``False``.

        Synchronous, never blocks, not a checkpoint. Idempotent: closing a
        closed correlator does nothing (the first close's error and cause
        stay).

        Args:
            exc: why the replies stopped (the reader's exception), or
                ``None``.
            error: the exception every caller gets, or ``None`` for
                :exc:`BrokenPromiseError`.

        Raises:
            TypeError: ``exc`` is neither ``None`` nor an exception instance,
                or ``error`` is neither ``None`` nor an ``Exception``
                instance; nothing changes.
        """
        _check_cause(exc)
        _check_error(error)
        if self._closed:
            return
        self._closed = True
        cause = broken_promise_cause(exc)
        if error is not None:
            if cause is not None and cause is not error and error.__cause__ is None:
                error.__cause__ = cause
            broken: Future[Any] = Future()
            broken.set_exception(error)
            self._broken = broken
        else:
            self._cause = cause
        entries = list(self._pending.items())
        # Empty the map before settling anything: settling runs join hooks
        # synchronously, and whatever they do must already see it closed.
        self._pending.clear()
        self._until.clear()
        self._order.clear()
        count = len(entries)
        for key, future in entries:
            if error is not None:
                future.try_set_exception(error)
            elif not future.done():
                broken_promise = BrokenPromiseError(
                    f"the correlator was closed with {count} "
                    f"request{'s' if count != 1 else ''} in flight, so no reply "
                    f"will come for key {short_repr(key)}"
                )
                broken_promise.__cause__ = cause
                future.try_set_exception(broken_promise)

    def _raise_closed(self, key: object) -> NoReturn:
        broken = self._broken
        cause = self._cause
        # This frame ends up in the traceback of the shared error: holding
        # the correlator or its future here would be a reference cycle (see
        # __enter__).
        del self
        if broken is None:
            if key is None:
                what = "it hands out no more ids"
            else:
                what = f"no reply can come for key {short_repr(key)}"
            raise BrokenPromiseError(
                f"the correlator is closed, so {what}; open a new connection and "
                f"a new correlator"
            ) from cause
        try:
            _raise_stored(broken)  # the shared error, as Future.get() raises it
        finally:
            del broken

    @trio.lowlevel.enable_ki_protection
    def statistics(self) -> CorrelatorStatistics:
        """Return debugging information (a frozen :class:`CorrelatorStatistics`).

        Not a checkpoint. Quarantines that have ended by ``trio.current_time()``
        are not counted (outside ``trio.run``, trio's clock does not move).
        """
        if self._order:
            self._purge()
        return CorrelatorStatistics(
            in_flight=len(self._pending),
            quarantined=len(self._until),
            late_replies=self._late_replies,
            unknown_replies=self._unknown_replies,
        )

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
