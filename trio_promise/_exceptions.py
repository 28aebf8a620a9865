"""The two errors of trio_promise.

Both are ordinary ``Exception`` subclasses, so that a future can hold them and
an ``except Exception:`` around ``await fut.get()`` sees them.
"""

from __future__ import annotations

import sys
from typing import cast, final

import trio

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["AlreadySetError", "BrokenPromiseError", "broken_promise_cause"]


@final
class AlreadySetError(RuntimeError):
    """A ``set_*`` method was called on a future that is already settled.

    A :class:`~trio_promise.Future` is write-once: the first ``set_result()``,
    ``set_exception()`` or ``set_outcome()`` settles it for good, and every
    waiter sees that answer. A second call is a bug in the producer, so it
    raises this error and changes nothing. When several tasks legitimately
    race to settle one future (first reply wins, timeouts against results),
    use ``try_set_result()`` / ``try_set_exception()``, which return ``False``
    instead of raising.

    The message names the future, for example::

        AlreadySetError: <trio_promise.Future result=42> is already settled;
        consider try_set_result() if several tasks may settle it
    """


@final
class BrokenPromiseError(Exception):
    """The producer of a future went away without settling it.

    Raised to the waiters of a future whose producer can no longer answer:

    * a task started with :func:`~trio_promise.spawn` was cancelled, or died
      of a ``BaseException`` (``KeyboardInterrupt``, ``SystemExit``, a
      ``BaseExceptionGroup``);
    * a :class:`~trio_promise.Correlator` was closed while the request was
      in flight (typically because the connection's reader task ended).

    The reason is chained as ``__cause__`` where there is one. A
    ``trio.Cancelled`` is never kept there: cancellation belongs to the scope
    that was cancelled, and a waiter outside that scope must not see it, so in
    that case ``__cause__`` is ``None``.
    """


def broken_promise_cause(exc: BaseException | None) -> BaseException | None:
    """What a ``BrokenPromiseError`` may chain to: never a ``trio.Cancelled``.

    Cancellation belongs to the scope that was cancelled; a waiter outside it
    that saw ``Cancelled`` as the cause might take it for its own. From a
    group only the parts that are not ``Cancelled`` are kept (``None`` if
    nothing is left); a group without any is kept as it is.
    """
    if isinstance(exc, trio.Cancelled):
        return None
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)
        cancelled, rest = group.split(trio.Cancelled)
        # split() copies even when nothing matches: keep the original group.
        return group if cancelled is None else rest
    return exc
