"""Futures for trio: hand one task's result to any number of others.

A :class:`Future` is a write-once result: a producer settles it once with a
synchronous call, and any number of tasks ``await fut.get()`` it, all getting
the same answer. Around it:

* :func:`spawn` runs a task into a future;
* :func:`wait_all`, :func:`wait_settled`, :func:`wait_any` and
  :func:`as_completed` wait on many futures from one task;
* :func:`gather`, :func:`gather_map` and :func:`race` run async callables
  concurrently in a nursery of their own, and :func:`amap` streams the
  results of a map over many items, with bounded memory;
* :class:`RateLimiter` and ``limiter=`` compose limits with every helper
  that starts tasks (:func:`spawn`, :func:`gather`, :func:`gather_map`,
  :func:`race`, :func:`amap`);
* :class:`Correlator` matches replies to requests in protocol code.

Everything is importable from here: ``from trio_promise import Future``.
"""

from ._amap import AmapIterator as AmapIterator
from ._amap import amap as amap
from ._correlator import Correlator as Correlator
from ._correlator import CorrelatorStatistics as CorrelatorStatistics
from ._exceptions import AlreadySetError as AlreadySetError
from ._exceptions import BrokenPromiseError as BrokenPromiseError
from ._future import Future as Future
from ._future import FutureStatistics as FutureStatistics
from ._join import AsCompleted as AsCompleted
from ._join import as_completed as as_completed
from ._join import wait_all as wait_all
from ._join import wait_any as wait_any
from ._join import wait_settled as wait_settled
from ._ratelimit import RateLimiter as RateLimiter
from ._ratelimit import RateLimiterStatistics as RateLimiterStatistics
from ._spawn import spawn as spawn
from ._tasks import gather as gather
from ._tasks import gather_map as gather_map
from ._tasks import race as race
from ._version import __version__ as __version__

__all__ = [
    "AlreadySetError",
    "AmapIterator",
    "AsCompleted",
    "BrokenPromiseError",
    "Correlator",
    "CorrelatorStatistics",
    "Future",
    "FutureStatistics",
    "RateLimiter",
    "RateLimiterStatistics",
    "amap",
    "as_completed",
    "gather",
    "gather_map",
    "race",
    "spawn",
    "wait_all",
    "wait_any",
    "wait_settled",
]


def _fixup_module_metadata() -> None:
    # Reprs, tracebacks and the docs should say trio_promise.Future, not
    # trio_promise._future.Future (the same fix as outcome's and trio's).
    for name in __all__:
        obj = globals()[name]
        obj.__module__ = __name__
        for attr in vars(obj).values() if isinstance(obj, type) else ():
            if getattr(attr, "__module__", "").startswith("trio_promise."):
                attr.__module__ = __name__


_fixup_module_metadata()
del _fixup_module_metadata
