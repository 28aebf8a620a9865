# pyright: reportPrivateUsage=false
# (add_hook and remove_hook below belong to this module.)
"""Future: a write-once result that any number of tasks can wait for.

Why write-once: a future answers one question ("what did the producer get?").
If it could be set twice, two waiters could see two different answers and the
value a task read would depend on scheduling. So the first ``set_*`` wins for
good, a second one is a bug (``AlreadySetError``), and ``try_set_*`` exists for
the producers that legitimately race.

What ``get()`` guarantees:

* it is always a checkpoint (a schedule point and a cancel point), also on a
  settled future, like ``trio.Event.wait()``;
* every waiter, before or after the set, sees the same value or the same
  exception object;
* a waiter that is cancelled leaves nothing behind: no entry, no Event, and
  the future itself is untouched;
* cancellation wins over a stored failure: a waiter cancelled by the time it
  resumes raises ``trio.Cancelled``, not the stored exception, so one crash
  that fails a future and cancels its waiters is reported once (a value is
  still returned: a completed read is not undone).

Layout, chosen for the hot paths (see benchmarks/): four slots keep a pending
future at 64 bytes.

``_value``
    ``_PENDING`` while pending; the value once set with a result; once set
    with an exception, a ``(traceback, context)`` pair saved at that moment.
``_exc``
    ``None``, or the stored exception.
``_event``
    ``None`` until the first task waits (most futures in a correlation map
    are settled before anybody waits, or are waited on once); then the
    ``trio.Event`` that waiters park on. It is dropped again when the last
    waiter is cancelled while the future is pending.
``_hooks``
    ``None``, one hook, or a dict whose keys are the hooks: how a join
    (``wait_all``, ``wait_any``, ``as_completed``) waits on many futures from
    one task without a helper task per future. A hook is called once,
    synchronously, when the future settles, and is then forgotten. Storing a
    single hook directly (no dict) saves one allocation per watched future;
    a dict (insertion-ordered, so hooks run in the order they were added)
    makes adding and removing a hook O(1), so k joins sharing one future
    cost O(k) in all, not O(k**2).

Raising a stored exception (``_raise_stored``) must neither grow its
traceback from one waiter to the next, nor let a waiter's ``except`` block
become its ``__context__``, nor leave a reference cycle through our frames:
see that function.
"""

from __future__ import annotations

import contextlib
import reprlib
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, cast, final

import trio
from outcome import Error, Outcome, Value

from ._exceptions import AlreadySetError

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import TypeAlias

__all__ = [
    "Future",
    "FutureStatistics",
    "add_hook",
    "cancelled_now",
    "check_exception",
    "has_failed",
    "remove_hook",
    "short_repr",
]

# Invariant on purpose: a Future[int] can be set, so it is not a Future[object]
# (someone could set a str into it), and it can be read, so it is not a
# Future[bool] either.
T = TypeVar("T")

Hook: TypeAlias = "Callable[[Future[Any]], None]"


# The one value of Future._value that means "not settled yet".
_PENDING: Any = object()

# The exception that the calling code is handling, if any: sys.exception()
# from Python 3.11 on (no tuple per call).
if sys.version_info >= (3, 11):
    _handled_exception = sys.exception
else:  # pragma: no cover (run by the suite on CPython 3.10, not measured)

    def _handled_exception() -> BaseException | None:
        return sys.exc_info()[1]


_current_task = trio.lowlevel.current_task

# How much of a result's repr a Future's repr shows.
_REPR_LIMIT = 60


class _ShortRepr(reprlib.Repr):
    """``reprlib`` that cuts strings and bytes to their head.

    ``reprlib`` limits containers and falls back to ``<Type instance at
    0x...>`` when an object's own ``repr`` raises, but would build the repr
    of a whole ``bytes`` value, and elides strings in the middle; we show
    the head of both, then ``...``, as for everything else.
    """

    def _head(self, x: str | bytes | bytearray) -> str:
        return repr(x[: self.maxstring]) + ("..." if len(x) > self.maxstring else "")

    def repr_str(self, x: str, level: int) -> str:
        return self._head(x)

    def repr_bytes(self, x: bytes, level: int) -> str:
        return self._head(x)

    def repr_bytearray(self, x: bytearray, level: int) -> str:
        return self._head(x)


_repr = _ShortRepr()
_repr.maxstring = _repr.maxother = _REPR_LIMIT


def short_repr(obj: object) -> str:
    """A repr for messages: short and cheap for huge values, and never raises.

    A 20 MB value costs a slice, not a 20 MB string; a value whose own
    ``__repr__`` raises is shown by its type (so an ``AlreadySetError``
    stays an ``AlreadySetError``).
    """
    try:
        text = _repr.repr(obj)
    except Exception:
        # reprlib catches a failing __repr__ of plain objects, not of the
        # items inside a container it walks.
        text = f"<{type(obj).__qualname__} object at {id(obj):#x}>"
    if len(text) > _REPR_LIMIT:
        text = text[: _REPR_LIMIT - 3] + "..."
    return text


def cancelled_now() -> bool:
    """Whether the current task would get ``Cancelled`` at its next cancel point.

    The test that ``trio.lowlevel.checkpoint_if_cancelled()`` makes, without
    the coroutine that it costs (measured: the failure fan-out, 10,000
    waiters, paid 6% for a coroutine per waiter, and 1-2% for this). A
    ``True`` here is followed by ``checkpoint_if_cancelled()``, which decides
    for itself; a trio without the attribute read here gets ``True``, so the
    public call makes the test there.
    """
    try:
        return _current_task()._cancel_status.effectively_cancelled
    except AttributeError:  # pragma: no cover (a trio that moved it)
        return True


def check_exception(
    exc: object, method: str, argument: str = "", use: str = "stored"
) -> None:
    """Refuse anything but an ``Exception`` instance, before any state change.

    ``method`` names the public call in the message (for example "fail"),
    ``argument`` the parameter when it is not the first (" as error="),
    and ``use`` what the exception is for ("stored", "given to callers").
    """
    if isinstance(exc, Exception):
        return
    kind: type[object] = type(exc)
    if isinstance(exc, type) and issubclass(cast("type[object]", exc), BaseException):
        name = cast("type[object]", exc).__qualname__
        raise TypeError(
            f"{method}() needs an exception instance{argument}, got the class "
            f"{name}; did you mean {name}()?"
        )
    if isinstance(exc, BaseException):
        # trio.Cancelled, KeyboardInterrupt, SystemExit, GeneratorExit and
        # groups holding them: these belong to the task they were raised in.
        # Stored in a future, they would reach waiters that were never
        # cancelled or interrupted, and trio would misread them.
        raise TypeError(
            f"{method}() refuses {kind.__qualname__}{argument}: only Exception "
            f"instances can be {use}, a BaseException belongs to the task "
            f"it was raised in"
        )
    raise TypeError(
        f"{method}() needs an Exception instance{argument}, got {kind.__qualname__}"
    )


@final
@dataclass(frozen=True, slots=True)
class FutureStatistics:
    """Debugging information about a :class:`Future`, from ``statistics()``.

    Attributes:
        tasks_waiting: the number of tasks blocked on the future right now:
            tasks in ``get()`` / ``outcome()``, plus one for each join
            (``wait_all``, ``wait_settled``, ``wait_any``, ``as_completed``)
            that is watching it.

    Frozen, and can be compared, copied and pickled, like trio's own
    statistics objects.
    """

    tasks_waiting: int


@final
class Future(Generic[T]):
    """A write-once result that any number of tasks can wait for.

    One side settles the future, once, with a synchronous call that never
    blocks: :meth:`set_result`, :meth:`set_exception` or :meth:`set_outcome`
    (or their ``try_`` forms). Any number of tasks ``await`` :meth:`get`,
    before or after that, and all of them get the same value or the same
    exception object.

    A future can be created anywhere, also outside ``trio.run``. It holds no
    task and owns nothing, so dropping it is always fine. To settle it from a
    thread, hand the setter to trio: ``trio.from_thread.run_sync(fut.set_result,
    value)``.

    There is no ``cancel()`` and no ``timeout=``: cancel the *waiting* with a
    cancel scope around ``get()`` (``trio.move_on_after``, ``fail_after``);
    the future stays as it was for everybody else. A future is not itself
    awaitable: ``await fut`` is a ``TypeError`` that says to write ``await
    fut.get()`` (and type checkers reject it).

    Example::

        fut: Future[int] = Future()

        async def producer():
            fut.set_result(42)

        async def consumer():
            print(await fut.get())      # 42, in every consumer

    Exceptions: the stored exception object itself is raised to every waiter
    (so ``except ValueError:`` works), with the traceback it had when it was
    stored. All waiters share that one object, which implies:

    * each raise by :meth:`get` / :meth:`get_nowait` starts again from the
      traceback and ``__context__`` saved when it was stored, so neither
      grows or leaks from one waiter to the next, and raising it inside a
      waiter's ``except`` block does not make that block's exception its
      ``__context__`` (not for that waiter, not for anybody else);
    * its ``__traceback__`` attribute is that of the *latest* raise: read it
      in your ``except`` block, not later from another task;
    * :meth:`outcome` hands out a fresh ``outcome.Error`` with the saved
      traceback, but ``Error.unwrap()`` is outcome's code and raises the
      object as any ``raise`` does: unwrapping several outcomes of one
      failure in turn stacks their frames onto one traceback, and sets
      ``__context__`` inside an ``except`` block;
    * a waiter that mutates the exception's attributes mutates them for all.

    No frame of trio_promise keeps the future or the exception as it
    leaves, so a failed future and everything its traceback holds (a failed
    task's locals) are freed by reference counting once the last reference
    goes, without waiting for the garbage collector.
    """

    __slots__ = ("_event", "_exc", "_hooks", "_value")

    _value: T  # or _PENDING, or (traceback, context) once failed: see the top
    _exc: Exception | None
    _event: trio.Event | None
    _hooks: Any  # None, a Hook, or a dict[Hook, None] (see the top)

    def __init_subclass__(cls, **kwargs: object) -> None:
        # @final only speaks to type checkers; say it at run time too, as trio
        # does, so that nobody builds on internals that may change.
        raise TypeError("trio_promise.Future does not support subclassing")

    def __init__(self) -> None:
        self._value = _PENDING
        self._exc = None
        self._event = None
        self._hooks = None

    # -- write side: synchronous, never blocks, never checkpoints ----------

    def _settle(self) -> None:
        """Wake everybody; the slots already hold the answer."""
        event = self._event
        if event is not None:
            event.set()
        if self._hooks is not None:
            self._run_hooks()

    def _run_hooks(self) -> None:
        hooks = self._hooks
        self._hooks = None
        if type(hooks) is dict:
            for hook in cast("dict[Hook, None]", hooks):
                hook(self)
        else:
            hooks(self)

    @trio.lowlevel.enable_ki_protection
    def set_result(self, value: T) -> None:
        """Settle the future with ``value`` and wake every waiter.

        Synchronous, never blocks, is not a checkpoint; may be called from any
        task of the run (from a thread: ``trio.from_thread.run_sync``).

        Args:
            value: the result every waiter will get.

        Raises:
            AlreadySetError: the future is already settled; nothing changes.
        """
        if self._value is not _PENDING:
            raise AlreadySetError(
                f"{self!r} is already settled; consider try_set_result() if "
                f"several tasks may settle it"
            )
        self._value = value
        # _settle(), written out: this is every handoff's hot path.
        event = self._event
        if event is not None:
            event.set()
        if self._hooks is not None:
            self._run_hooks()

    @trio.lowlevel.enable_ki_protection
    def set_exception(self, exc: Exception) -> None:
        """Settle the future with a failure and wake every waiter.

        Every waiter will get ``exc`` raised. Synchronous, never blocks, is
        not a checkpoint.

        Args:
            exc: an *instance* of ``Exception``. ``trio.Cancelled``,
                ``KeyboardInterrupt``, ``SystemExit`` and ``GeneratorExit``
                are refused: they belong to the task they were raised in.

        Raises:
            TypeError: ``exc`` is not an ``Exception`` instance (checked
                first, even on a settled future); nothing is stored.
            AlreadySetError: the future is already settled; nothing changes.
        """
        self._set_exception(exc, "set_exception")

    @trio.lowlevel.enable_ki_protection
    def _set_exception(self, exc: object, method: str) -> None:
        # set_exception() and set_outcome(): the same rules, each error
        # naming the call that was made.
        check_exception(exc, method)
        if self._value is not _PENDING:
            raise AlreadySetError(
                f"{self!r} is already settled; consider try_set_exception() "
                f"if several tasks may settle it"
            )
        self._store_exception(cast("Exception", exc))

    def _store_exception(self, exc: Exception) -> None:
        # Save what raising will change, so that every waiter can start again
        # from it (see _raise_stored).
        saved: Any = (exc.__traceback__, exc.__context__)  # no cast() call
        self._value = saved
        self._exc = exc
        self._settle()

    def set_outcome(self, o: Outcome[T]) -> None:
        """Settle the future from an ``outcome.Value`` or ``outcome.Error``.

        ``Value(v)`` is ``set_result(v)``; ``Error(e)`` is ``set_exception(e)``
        with the same rules. The outcome is read, not unwrapped, so it stays
        usable. Synchronous, never blocks, is not a checkpoint.

        Args:
            o: the outcome to settle the future with.

        Raises:
            TypeError: ``o`` is not an outcome, or holds a
                ``BaseException`` that is not an ``Exception``.
            AlreadySetError: the future is already settled.
        """
        if isinstance(o, Value):
            self.set_result(o.value)
        elif isinstance(o, Error):
            self._set_exception(o.error, "set_outcome")
        else:
            raise TypeError(
                f"set_outcome() needs an outcome.Value or outcome.Error, got "
                f"{type(o).__qualname__}"
            )

    @trio.lowlevel.enable_ki_protection
    def try_set_result(self, value: T) -> bool:
        """Settle with ``value`` unless already settled.

        For producers that race (first reply wins). Synchronous, never
        blocks, is not a checkpoint.

        Returns:
            ``True`` if this call settled the future, ``False`` if it was
            already settled (then nothing changes).
        """
        if self._value is not _PENDING:
            return False
        self._value = value
        # _settle() and _run_hooks(), written out: every spawned task
        # settles through here, and a join hooks each future it waits for.
        event = self._event
        if event is not None:
            event.set()
        hooks = self._hooks
        if hooks is not None:
            self._hooks = None
            if type(hooks) is dict:
                for hook in cast("dict[Hook, None]", hooks):
                    hook(self)
            else:
                hooks(self)
        return True

    @trio.lowlevel.enable_ki_protection
    def try_set_exception(self, exc: Exception) -> bool:
        """Settle with a failure unless already settled.

        Synchronous, never blocks, is not a checkpoint.

        Returns:
            ``True`` if this call settled the future, ``False`` if it was
            already settled.

        Raises:
            TypeError: ``exc`` is not an ``Exception`` instance. That is a
                bug, not a race, so it is raised even on a settled future.
        """
        check_exception(exc, "try_set_exception")
        if self._value is not _PENDING:
            return False
        self._store_exception(exc)
        return True

    # -- read side -----------------------------------------------------------

    def done(self) -> bool:
        """Return whether the future is settled (with a value or a failure)."""
        return self._value is not _PENDING

    def _forget_event(self, event: trio.Event) -> None:
        # A waiter was cancelled while the future is pending: if it was the
        # last one, drop the Event, so that the future is as small as before
        # anybody waited and nothing is kept for the waiter that left.
        # Only the Event this waiter parked on: it may have been dropped
        # already by another leaver, and a newcomer may have parked on a
        # fresh one, which must stay (tests/test_reliability_future.py:
        # test_waiters_cancelled_around_a_new_waiter).
        if self._event is event and event.statistics().tasks_waiting == 0:
            self._event = None

    @trio.lowlevel.enable_ki_protection
    async def get(self) -> T:
        """Wait until the future is settled, then return its value.

        Always a checkpoint, also when the future is already settled. If the
        waiting task is cancelled, ``trio.Cancelled`` propagates as usual and
        the future is untouched: the other waiters and the producer see no
        difference.

        Cancellation wins over a stored failure: a waiter whose task has been
        cancelled by the time it resumes gets ``trio.Cancelled``, not the
        future's exception (which stays for everybody else). So a crash that
        both fails the futures and cancels their waiters (a reader task that
        dies and closes its :class:`Correlator` in its ``finally``, with the
        callers in the same nursery) is reported once in the nursery's group,
        not once per waiter. A *value* is returned as usual: a completed read
        is not undone.

        Returns:
            the value given to ``set_result``.

        Raises:
            Exception: the stored exception object itself, with the traceback
                and ``__context__`` it had when stored (shared by all
                waiters; see the class docstring).
        """
        if self._value is _PENDING:
            # Waiting is written out here, not in a helper coroutine: one
            # coroutine less per waiter is measurable when 100,000 tasks wake
            # at once (benchmarks/, fan-out); outcome() waits through get().
            event = self._event
            if event is None:
                event = self._event = trio.Event()
            try:
                await event.wait()
            except BaseException:
                # Cancelled (or interrupted) while pending: leave no trace.
                if self._value is _PENDING:
                    self._forget_event(event)
                raise
            if self._exc is None:
                return self._value
            # Cancellation wins over a stored failure: a task cancelled
            # between the wake-up and now (a crashed reader fails the futures
            # in its finally, then its nursery cancels their waiters) raises
            # Cancelled, so that the crash is reported once, not once per
            # waiter. Only the failure path pays for the check, written out
            # here (cancelled_now(), without a call: every waiter of a
            # failed future makes it).
            try:
                cancelled = _current_task()._cancel_status.effectively_cancelled
            except AttributeError:  # pragma: no cover (a trio that moved it)
                cancelled = True
            if cancelled:
                await trio.lowlevel.checkpoint_if_cancelled()
        else:
            # A schedule point, then a cancel point: a cancellation wins here
            # already.
            await trio.lowlevel.checkpoint()
            if self._exc is None:
                return self._value
        try:
            _raise_stored(self)
        finally:
            # This frame ends up in the exception's traceback: holding the
            # future there would be a cycle (future -> exception ->
            # traceback -> this frame -> future). trio#1770.
            del self

    def get_nowait(self) -> T:
        """Return the value now, or raise the stored exception.

        Not a checkpoint.

        Raises:
            trio.WouldBlock: the future is still pending.
            Exception: the stored exception, as for :meth:`get`.
        """
        if self._value is _PENDING:
            raise trio.WouldBlock
        if self._exc is None:
            return self._value
        try:
            _raise_stored(self)
        finally:
            del self  # no cycle through this frame, as in get()

    if not TYPE_CHECKING:  # pragma: no branch (always true at run time)
        # Run time only: to type checkers a Future stays not awaitable, so
        # they keep rejecting 'await fut'; at run time the mistake gets a
        # hint instead of Python's bare "can't be used in 'await'
        # expression". (A side effect: inspect.isawaitable(fut) is True.)
        def __await__(self):
            raise TypeError(
                "trio_promise.Future is not awaitable; use 'await fut.get()' "
                "to wait for its result"
            )

    async def outcome(self) -> Outcome[T]:
        """Wait until settled, then return the result as an outcome.

        Always a checkpoint; cancellation is as for :meth:`get` (also
        "cancellation wins over a stored failure": a waiter cancelled by the
        time it resumes gets ``trio.Cancelled``, not an ``outcome.Error``).
        Each call returns a *fresh* ``outcome.Value`` / ``outcome.Error``, so
        every caller may ``unwrap()`` its own.
        """
        # get() does the waiting, and is a checkpoint on every path (also
        # when it raises), which flake8-async cannot see through suppress().
        # A stored failure is read back as a fresh Error: outcome_nowait()
        # puts back the traceback saved at set time.
        with contextlib.suppress(Exception):
            await self.get()
        return self.outcome_nowait()  # noqa: ASYNC910

    def outcome_nowait(self) -> Outcome[T]:
        """Return the result as a fresh outcome, without waiting.

        Not a checkpoint.

        Raises:
            trio.WouldBlock: the future is still pending.
        """
        if self._value is _PENDING:
            raise trio.WouldBlock
        exc = self._exc
        if exc is not None:
            exc.__traceback__, exc.__context__ = cast("tuple[Any, Any]", self._value)
            return Error(exc)
        return Value(self._value)

    def statistics(self) -> FutureStatistics:
        """Return debugging information (a frozen :class:`FutureStatistics`)."""
        waiting = 0
        if self._event is not None:
            waiting = self._event.statistics().tasks_waiting
        hooks = self._hooks
        if isinstance(hooks, dict):
            waiting += len(cast("dict[Hook, None]", hooks))
        elif hooks is not None:
            waiting += 1
        return FutureStatistics(tasks_waiting=waiting)

    def __repr__(self) -> str:
        if self._value is _PENDING:
            state = f"pending, {self.statistics().tasks_waiting} waiting"
        elif self._exc is not None:
            state = f"exception={short_repr(self._exc)}"
        else:
            state = f"result={short_repr(self._value)}"
        return f"<trio_promise.Future {state}>"


def _raise_stored(future: Future[Any]) -> NoReturn:
    """Raise ``future``'s stored exception as it was when it was stored.

    * The traceback starts again from the one saved at set time, so it does
      not grow from one waiter to the next.
    * ``__context__``: a plain ``raise`` inside a waiter's ``except`` block
      would set it to the exception that block handles, for every holder of
      the shared object. Python chains nothing when the exception being
      raised is the one already being handled, so we raise it once, catch
      it, put the saved context back and re-raise it with a bare ``raise``.
      When the caller handles no exception, Python chains nothing, but the
      object may still carry the context that another holder's raise gave
      it (``outcome.Error.unwrap()`` inside an ``except KeyError:`` block):
      we put the saved one back before the single raise.
    * ``__cause__`` and ``__suppress_context__`` are never changed by a
      bare ``raise`` (only ``raise ... from`` sets them), so they need no
      saving; assigning ``__context__`` leaves them as they are.
    * No frame of ours keeps the future, the exception or the traceback as
      it leaves (``del`` in ``finally``, as ``outcome.Error.unwrap()``
      does), so no reference cycle is made (trio#1770).
    """
    exc = future._exc
    assert exc is not None
    traceback: TracebackType | None
    context: BaseException | None
    saved: Any = future._value  # (traceback, context); no cast() call
    traceback, context = saved
    try:
        if _handled_exception() is None:
            exc.__context__ = context
            raise exc.with_traceback(traceback)
        try:
            # With the saved traceback already: Python 3.10's bare 'raise'
            # below re-raises the traceback this raise made.
            raise exc.with_traceback(traceback)  # noqa: TRY301 (caught below)
        except BaseException:
            exc.__context__ = context
            exc.__traceback__ = traceback
            raise
    finally:
        del future, exc, traceback, context


# -- for the joins (trio_promise._join); not public --------------------------


def add_hook(future: Future[Any], hook: Hook) -> None:
    """Call ``hook(future)`` once, when ``future`` settles.

    The future must be pending. Adding a hook that is already there does
    nothing, so a join given the same future twice watches it once. O(1).
    """
    hooks = future._hooks
    if hooks is None:
        future._hooks = hook
    elif isinstance(hooks, dict):
        cast("dict[Hook, None]", hooks)[hook] = None
    elif hooks != hook:
        future._hooks = {hooks: None, hook: None}


def remove_hook(future: Future[Any], hook: Hook) -> None:
    """Forget ``hook`` if ``future`` still holds it (no error if not). O(1)."""
    hooks = future._hooks
    if isinstance(hooks, dict):
        hook_dict = cast("dict[Hook, None]", hooks)
        hook_dict.pop(hook, None)
        if not hook_dict:
            future._hooks = None
    elif hooks is not None and hooks == hook:
        future._hooks = None


def has_failed(future: Future[Any]) -> bool:
    """Whether ``future`` is settled with an exception.

    For joins that must tell failures apart without raising the shared
    exception or building an outcome per future.
    """
    return future._exc is not None
