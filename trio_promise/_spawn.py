"""spawn(): run a task in a nursery and hand its result over as a Future.

The task is the producer of its future, so every way it can end settles the
future, and waiters never hang:

* it returns: the value;
* it raises an ``Exception``: that exception (and, unless ``propagate=False``,
  the nursery gets it too, as from any failing task);
* it is cancelled, or dies of another ``BaseException``: ``BrokenPromiseError``.
  ``trio.Cancelled`` belongs to the cancelled scope, so it is never stored or
  chained: a waiter outside that scope must not see it.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Coroutine
from types import CoroutineType
from typing import TYPE_CHECKING, Any, TypeVar, cast

import trio

from ._exceptions import BrokenPromiseError, broken_promise_cause
from ._future import Future, short_repr
from ._limit import check_limiters, run_limited

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from typing_extensions import TypeVarTuple, Unpack

    from ._limit import Limiter, LimiterArg

    PosArgT = TypeVarTuple("PosArgT")

__all__ = ["call_async_fn", "check_async_fn", "close_all", "describe", "spawn"]

T = TypeVar("T")


def check_async_fn(async_fn: object, caller: str) -> None:
    """Raise ``TypeError`` at once unless ``async_fn`` can be called.

    A coroutine object (``spawn(nursery, fetch(url))`` instead of
    ``spawn(nursery, fetch, url)``) gets a hint, and is closed so that Python
    does not also warn that it was never awaited (as trio does).
    """
    if callable(async_fn):
        return
    if isinstance(async_fn, Coroutine):
        async_fn.close()
        raise TypeError(
            f"{caller}() needs an async function, got the coroutine object "
            f"{async_fn!r}; pass the function itself, not the result of "
            f"calling it (fn, not fn())"
        )
    raise TypeError(
        f"{caller}() needs an async function, got {type(async_fn).__qualname__} "
        f"{async_fn!r}"
    )


def describe(obj: object) -> str:
    """``"int 5"``: type and short repr, for error messages; never raises."""
    return f"{type(obj).__qualname__} {short_repr(obj)}"


# Future, typed as a plain class: to type checkers an awaitable is never one
# (its __await__ exists only at run time), to call_async_fn it may be.
_FUTURE: type[object] = Future

def call_async_fn(
    async_fn: Callable[..., Awaitable[T]], args: tuple[object, ...], caller: str
) -> Awaitable[T]:
    """Call ``async_fn(*args)`` now, as ``start_soon`` does; refuse a non-awaitable.

    Raises:
        TypeError: the result is not awaitable (a function missing ``async``,
            or an async generator function); the message names the function.
    """
    awaitable = async_fn(*args)
    # isawaitable() is slow; a coroutine, the usual answer, needs no asking.
    kind = type(awaitable)
    if kind is not CoroutineType and (kind is _FUTURE or not inspect.isawaitable(awaitable)):
        # A Future is awaitable to inspect (its __await__ exists only to say
        # "use get()"), but awaiting it always fails: refuse it here, at once.
        raise _not_awaitable(async_fn, awaitable, caller)
    return awaitable


def _not_awaitable(async_fn: object, result: object, caller: str) -> TypeError:
    """The error for an ``async_fn`` whose call returned ``result``."""
    if inspect.isasyncgen(result):
        # As trio says: "yield" made it an async generator function.
        return TypeError(
            f"{caller}() needs an async function, but {short_repr(async_fn)} "
            f"is an async generator function (it returned {short_repr(result)}); "
            f"iterate it with 'async for', or remove 'yield' from its body"
        )
    if type(result) is _FUTURE:
        return TypeError(
            f"{caller}() needs an async function, but {short_repr(async_fn)} returned "
            f"{describe(result)}; a Future is not awaitable, pass its get "
            f"method instead (fut.get, not lambda: fut)"
        )
    return TypeError(
        f"{caller}() needs an async function, but {short_repr(async_fn)} returned "
        f"{describe(result)}; is it missing 'async def'?"
    )


def close_all(awaitables: Iterable[object]) -> None:
    """Close coroutines that will never run, so Python does not warn about them."""
    for awaitable in awaitables:
        if isinstance(awaitable, Coroutine):
            awaitable.close()


def _broken(task_name: str, exc: BaseException | None) -> BrokenPromiseError:
    """The error a spawned task's waiters get when it dies of ``exc``.

    ``exc`` is ``None`` when the task's own ``cancel_scope=`` caught its
    cancellation: nothing was raised out of the task.
    """
    cause = broken_promise_cause(exc)
    if exc is None:
        reason = "was cancelled through its cancel_scope"
    elif cause is None:
        reason = "was cancelled"
    else:
        reason = f"died of {type(cause).__qualname__}"
    error = BrokenPromiseError(
        f"task {task_name!r} {reason} before it produced a result"
    )
    # Setting __cause__ also sets __suppress_context__, as 'raise ... from'
    # does, so a Cancelled never shows up as the context either.
    error.__cause__ = cause
    return error


# callable() as a plain function of an object: to type checkers ``async_fn``
# is always callable, to spawn()'s callers it may not be.
_is_callable: Callable[[object], bool] = callable

# Returned by _run_scoped() when the task's cancel_scope caught its own
# cancellation before the function returned.
_CANCELLED: Any = object()

# The cancel scopes given to spawn(), so that a second spawn() with one of
# them is refused at the call, whichever task trio would start first. Weak:
# an entry goes with its scope. (A scope that a task has entered is also
# refused by the _has_been_entered test; this set covers the time between
# spawn() and the task's start.)
_scopes_given: weakref.WeakSet[trio.CancelScope] = weakref.WeakSet()

# What a scope is for, in both refusals below.
_ONE_TASK = (
    "(a trio.CancelScope serves one 'with' block, so one task); pass a fresh "
    "trio.CancelScope() to each spawn()"
)


# trio's timeout helpers that may give a context manager (fail_at and
# fail_after do: @contextmanager functions around a scope) where spawn()
# needs the scope itself.
_TIMEOUT_HELPERS = frozenset({"fail_after", "fail_at", "move_on_after", "move_on_at"})


def _timeout_hint(scope: object) -> str:
    """A hint for ``cancel_scope=trio.fail_after(5)``, else ``""``."""
    # Only contextlib's own objects are asked for their function: any other
    # object's attributes are the user's code, which may raise.
    if type(scope).__module__ != "contextlib":
        return ""
    func = getattr(scope, "func", None)
    name = getattr(func, "__name__", "")
    if name not in _TIMEOUT_HELPERS or not getattr(func, "__module__", "").startswith(
        "trio"
    ):
        return ""
    return (
        f"; trio.{name}() makes a context manager around a scope, not a scope: "
        f"pass trio.CancelScope(deadline=...) instead (when it expires, the "
        f"future gets BrokenPromiseError)"
    )


def _check_scope(scope: object) -> None:
    """Refuse, at the call, a ``cancel_scope`` that cannot serve the task."""
    if not isinstance(scope, trio.CancelScope):
        raise TypeError(
            f"spawn(): cancel_scope must be a trio.CancelScope or None, got "
            f"{describe(scope)}{_timeout_hint(scope)}"
        )
    if scope in _scopes_given:
        raise RuntimeError(
            f"spawn(): this cancel_scope was already given to another spawn() "
            f"{_ONE_TASK}"
        )
    # trio's own flag (private, present since trio 0.11): the scope's 'with'
    # block has begun, in a task of ours or in the caller's code (the
    # nursery's own cancel_scope, say). Without it, the task's 'with' fails
    # and _run_scoped says so.
    if getattr(scope, "_has_been_entered", False):
        raise RuntimeError(
            f"spawn(): this cancel_scope was already entered by a 'with' block "
            f"{_ONE_TASK}"
        )


@trio.lowlevel.disable_ki_protection
async def _call(awaitable: Awaitable[T]) -> T:
    # The user's code runs in here, where a KeyboardInterrupt is delivered as
    # usual; everything around it in _produce is protected.
    return await awaitable


async def _call_settling(fut: Future[T], awaitable: Awaitable[T]) -> T:
    # Inside the limiters: the value is stored as soon as the function
    # returns, before the limiters' exits, which may await (and so be
    # cancelled). A value returned before a cancel takes effect stays.
    try:
        value = await _call(awaitable)
        fut.try_set_result(value)
        return value
    finally:
        del fut, awaitable  # no cycle through this frame (see _produce)


def _run(
    fut: Future[T], awaitable: Awaitable[T], limiters: tuple[Limiter, ...]
) -> Awaitable[T]:
    # A plain function, not a coroutine: one frame less per task.
    if limiters:
        return cast(
            "Awaitable[T]", run_limited(limiters, _call_settling, fut, awaitable)
        )
    return _call(awaitable)


async def _run_scoped(
    fut: Future[T],
    awaitable: Awaitable[T],
    limiters: tuple[Limiter, ...],
    scope: trio.CancelScope,
) -> T:
    """Run inside ``scope``; ``_CANCELLED`` if the scope caught its cancel."""
    entered = False
    try:
        with scope:
            entered = True
            return await _run(fut, awaitable, limiters)
    except RuntimeError as exc:
        if entered:
            raise
        # trio refuses a second 'with' on one scope; say what to do instead.
        raise RuntimeError(
            f"spawn(): the cancel_scope given for task "
            f"{trio.lowlevel.current_task().name!r} was already used (a "
            f"trio.CancelScope serves one 'with' block, so one task); pass a "
            f"fresh trio.CancelScope() to each spawn()"
        ) from exc
    finally:
        del fut, awaitable  # no cycle through this frame (see _produce)
    return cast("T", _CANCELLED)


@trio.lowlevel.enable_ki_protection
async def _produce(
    fut: Future[T],
    awaitable: Awaitable[T],
    limiters: tuple[Limiter, ...] = (),
    propagate: bool = True,
    scope: trio.CancelScope | None = None,
) -> None:
    # KI-protected, as the producer of a future must be: a KeyboardInterrupt
    # may land anywhere in this frame (it is then delivered elsewhere, as
    # trio does for its own primitives), never between the function's end
    # and the future being settled. The user's code runs unprotected, in
    # _call. The defaults are the common case; spawn() then passes two
    # arguments, which is measurably cheaper per task (benchmarks/).
    # try_set_*: the caller holds the future from the start and may have
    # settled it already; that is its right, not a bug of ours.
    try:
        if scope is None:
            value = await _run(fut, awaitable, limiters)
        else:
            value = await _run_scoped(fut, awaitable, limiters, scope)
            if value is _CANCELLED:
                close_all((awaitable,))
                fut.try_set_exception(
                    _broken(trio.lowlevel.current_task().name, None)
                )
                await trio.lowlevel.checkpoint_if_cancelled()  # ASYNC910, free
                return
    except Exception as exc:
        # Failed while entering a limiter, the coroutine never ran: close
        # it, or Python warns that it was never awaited. (After it ran,
        # close() does nothing.)
        close_all((awaitable,))
        fut.try_set_exception(exc)
        if propagate:
            raise
    except BaseException as exc:
        # Likewise when cancelled while waiting for a limiter.
        close_all((awaitable,))
        fut.try_set_exception(_broken(trio.lowlevel.current_task().name, exc))
        raise
    else:
        fut.try_set_result(value)
        return
    finally:
        # This frame is in the traceback of whatever it raised: holding the
        # future (and through it the exception) here would be a reference
        # cycle, keeping the failed task's locals alive until the garbage
        # collector runs (trio#1770).
        del fut, awaitable
    # propagate=False and failed. Nobody awaits a task body, so this is only
    # for the linter's "every path of an async function checkpoints"
    # (ASYNC910); it costs nothing unless the task is being cancelled, and
    # then it ends the task as it would end anyway.
    await trio.lowlevel.checkpoint_if_cancelled()


@trio.lowlevel.enable_ki_protection
def spawn(
    nursery: trio.Nursery,
    async_fn: Callable[[Unpack[PosArgT]], Awaitable[T]],
    *args: Unpack[PosArgT],
    name: object = None,
    limiter: LimiterArg = None,
    propagate: bool = True,
    cancel_scope: trio.CancelScope | None = None,
) -> Future[T]:
    """Start ``async_fn(*args)`` in ``nursery`` and return a future of its result.

    The future is settled by the task, whichever way it ends:

    * ``async_fn`` returns: the future gets the value;
    * it raises an ``Exception``: the future gets that exception, and the
      exception is *also* raised into the nursery like from any failing task
      (so the nursery cancels its other tasks). With ``propagate=False`` the
      exception is kept only in the future and the nursery goes on; the
      task's owner then learns of the failure only through the future;
    * it is cancelled, or dies of another ``BaseException``
      (``KeyboardInterrupt``, ``SystemExit``, a ``BaseExceptionGroup``): the
      future gets :exc:`BrokenPromiseError` (so a waiter in another nursery
      never hangs), with the ``BaseException`` as ``__cause__``, except that
      a ``trio.Cancelled`` is never kept (``__cause__`` is ``None``, and from
      a group only the non-``Cancelled`` part is kept). The ``BaseException``
      itself propagates as usual.

    The future can be awaited from anywhere, also outside the nursery. The
    caller may also settle it first (a timeout, a cached answer): the task
    then finishes without overwriting it.

    ``spawn`` itself is synchronous and not a checkpoint, like
    ``nursery.start_soon``: the task starts at the nursery's next scheduling
    round.

    Example::

        async with trio.open_nursery() as nursery:
            page = spawn(nursery, fetch, "https://example.org")
            ...
            body = await page.get()

    Args:
        nursery: where the task runs.
        async_fn: an async function; ``async_fn(*args)`` is type-checked like
            a direct call.
        *args: positional arguments for ``async_fn`` (use
            ``functools.partial`` for keyword arguments).
        name: the task's name, as for ``nursery.start_soon``; by default the
            task is named after ``async_fn``.
        limiter: an ``async with`` limiter (``trio.CapacityLimiter``,
            ``trio.Semaphore``, :class:`RateLimiter`, ...) or a tuple of them,
            entered in that order in the task before ``async_fn`` starts and
            exited when it ends. A task cancelled while still waiting for a
            limiter gets the future a :exc:`BrokenPromiseError` too.
        propagate: whether an ``Exception`` from ``async_fn`` is also raised
            into the nursery (default) or only stored in the future.
        cancel_scope: a fresh ``trio.CancelScope`` (not yet entered) that the
            task runs inside, limiter waits included: the handle to cancel
            this one task (``scope.cancel()``) or give it a deadline
            (``trio.CancelScope(deadline=...)``, ``scope.deadline = ...``)
            without touching its siblings. If the scope's cancellation ends
            the task before ``async_fn`` returns, the future gets
            :exc:`BrokenPromiseError` (no ``__cause__``) and nothing is
            raised into the nursery (the scope catches its own
            cancellation). A value returned before the cancel takes effect
            stays. A scope can serve one task only: a scope already given
            to another ``spawn()``, or already entered (the nursery's own
            ``cancel_scope``, say), is refused at the call. One that the
            caller enters after ``spawn()``, before the task starts, fails
            the task with a ``RuntimeError`` that says so.

    Returns:
        A pending :class:`Future` that the task settles.

    Raises:
        TypeError: ``async_fn`` is not callable, does not accept ``args``,
            or does not return an awaitable, or ``limiter`` is not usable
            with ``async with``: raised at once and nothing is started. Like
            ``nursery.start_soon``, ``spawn`` calls ``async_fn(*args)`` right
            away to get the coroutine; its body runs in the task. Also a
            ``TypeError``: ``cancel_scope`` is not a ``trio.CancelScope``
            (``trio.fail_after(5)`` is a context manager around one: the
            message points to ``trio.CancelScope(deadline=...)``).
        RuntimeError: ``cancel_scope`` was already given to another
            ``spawn()`` or already entered (raised at once, whatever the
            order in which trio would start the tasks); or the nursery is
            closed (from ``start_soon``). Nothing is started.
    """
    if type(nursery) is not trio.Nursery:  # final in trio: no subclasses
        raise TypeError(
            f"spawn() needs a trio.Nursery first, got {type(nursery).__qualname__}; "
            f"open one with 'async with trio.open_nursery() as nursery:'"
        )
    # The checks' common cases first, without a call each: this is every
    # spawned task's path (benchmarks/, spawn + wait_all).
    if not _is_callable(async_fn):
        check_async_fn(async_fn, "spawn")  # raises
    limiters = () if limiter is None else check_limiters(limiter, "spawn")
    if cancel_scope is not None:
        _check_scope(cancel_scope)
    # Called here, as nursery.start_soon does, so that wrong arguments and
    # sync functions are a TypeError at once, not a failure of the task.
    awaitable = call_async_fn(async_fn, args, "spawn")
    # KI-protected from here to the return, as trio's start_soon is: the
    # coroutine made above is either started in a task (which then settles
    # the future, whatever happens) or closed, never dropped unawaited.
    fut: Future[T] = Future()
    task_name = async_fn if name is None else name
    try:
        if cancel_scope is None and propagate and not limiters:
            # The defaults: two arguments, measurably cheaper per task.
            nursery.start_soon(_produce, fut, awaitable, name=task_name)
        else:
            if cancel_scope is not None:
                _scopes_given.add(cancel_scope)
            nursery.start_soon(
                _produce,
                fut,
                awaitable,
                limiters,
                propagate,
                cancel_scope,
                name=task_name,
            )
    except BaseException:
        # No task took the scope: it may serve another spawn().
        if cancel_scope is not None:
            _scopes_given.discard(cancel_scope)
        close_all((awaitable,))
        raise
    return fut
