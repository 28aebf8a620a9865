"""Limits that compose: ``limiter=`` in every helper that starts tasks.

spawn(), gather(), gather_map(), race() and amap() take it.

A limiter is any object usable as ``async with limiter:`` by many tasks at
once: ``trio.CapacityLimiter``, ``trio.Semaphore``, ``trio_promise.RateLimiter``,
or a tuple of them, entered in the given order. The helpers do not build
limits in; they take them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractAsyncContextManager
    from typing import TypeAlias

__all__ = ["Limiter", "LimiterArg", "check_limiters", "run_limited"]

T = TypeVar("T")

Limiter: TypeAlias = "AbstractAsyncContextManager[Any]"
LimiterArg: TypeAlias = "Limiter | tuple[Limiter, ...] | None"


def check_limiters(limiter: object, caller: str) -> tuple[Limiter, ...]:
    """Return ``limiter`` as a tuple, or raise ``TypeError`` at once."""
    if limiter is None:
        return ()
    limiters: tuple[object, ...]
    if isinstance(limiter, tuple):
        limiters = cast("tuple[object, ...]", limiter)
    else:
        limiters = (limiter,)
    for each in limiters:
        kind = type(each)
        if not (hasattr(kind, "__aenter__") and hasattr(kind, "__aexit__")):
            raise TypeError(
                f"{caller}(): limiter must be usable as 'async with limiter:' "
                f"(a trio.CapacityLimiter, trio.Semaphore, RateLimiter, ...) or a "
                f"tuple of them, got {each!r}"
            )
    return cast("tuple[Limiter, ...]", limiters)


async def run_limited(
    limiters: tuple[Limiter, ...],
    async_fn: Callable[..., Awaitable[T]],
    *args: object,
) -> T:
    """Enter every limiter in order, run ``async_fn(*args)``, exit in reverse.

    Keeps no reference to ``args`` as it leaves: this frame is in the
    traceback of whatever ``async_fn`` raises, and ``args`` may hold the
    future that stores it (a reference cycle otherwise; trio#1770).
    """
    try:
        if not limiters:
            return await async_fn(*args)
        async with limiters[0]:
            return await run_limited(limiters[1:], async_fn, *args)
    finally:
        del args
