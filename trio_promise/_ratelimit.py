"""RateLimiter: a token bucket that limits how often something starts.

A ``trio.CapacityLimiter`` bounds how many tasks run at once; a
:class:`RateLimiter` bounds how many *start* per second. Both are used as
``async with limiter:``, so they compose (``limiter=(capacity, rate)`` in
``spawn`` and ``gather_map``) instead of being built into each helper.

The bucket, and why it cannot drift:

* ``_tokens`` and ``_last`` are the bucket's state as of the clock reading
  ``_last``. Every look at the bucket first moves it to ``now``:
  ``tokens += (now - _last) * rate``, capped at ``burst``. Tokens are thus
  computed from elapsed time, never by counting sleeps, so a late wakeup
  (timer slop, a busy run loop) is paid back by the next one, and over any
  window of ``t`` seconds at most ``burst + rate * t`` acquisitions succeed.
* The cap at ``burst`` is what keeps the upper bound strict, and also what
  lets lateness be lost: time that would overfill the bucket is dropped, so
  with ``burst=1`` a head that wakes late delays everyone after it. We keep
  the strict bound (a rate limit usually mirrors somebody else's quota) and
  document that ``burst >= 2`` absorbs timer slop.
* The clock is ``trio.current_time()``, so the bucket follows a
  ``trio.testing.MockClock`` (tests run on the autojump clock in no real
  time).
* A ``RateLimiter`` may be created outside ``trio.run`` (at import time, as
  a module constant), where there is no clock, and used in several runs in
  turn. Each run has a clock of its own, which may read earlier or later
  than the last one did (trio's real clock starts at a random offset, a
  ``MockClock`` where it is told to), so readings from two runs cannot be
  compared. ``_run`` remembers the run of the last use (an object that
  ``_RUN`` holds for that run only); at the first use in another run the
  bucket is full again and the clock restarts from there. Time before the
  first use in a run does not count, which is what "starts full" means.

Waiting, first come first served:

* At most one waiting task, the *head*, watches the clock: it sleeps until
  the moment the bucket will hold one token, takes it and returns. Every
  other waiter is parked, in arrival order, in a ``trio.lowlevel.ParkingLot``.
  When the head leaves (with its token, or cancelled) it unparks the next
  waiter, which becomes the head and computes its own deadline from the
  bucket's state (not from its wakeup time, which would drift).
* A parked waiter that is cancelled is removed by the ``ParkingLot``; a head
  that is cancelled hands over to the next waiter. Neither has taken a token,
  so nothing is lost and ``statistics()`` shows no trace of them.
* New arrivals never jump the queue: while anybody waits, ``acquire_nowait``
  raises ``trio.WouldBlock`` and ``acquire`` parks at the back, even if a
  token has meanwhile accrued (the head is about to take it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import trio

from ._future import short_repr

__all__ = ["RateLimiter", "RateLimiterStatistics"]

# One object per trio.run, made by the first RateLimiter used in that run:
# how a limiter tells a new run from the one it was last used in, without
# keeping anything of the old run alive.
_RUN: trio.lowlevel.RunVar[object] = trio.lowlevel.RunVar("trio_promise.RateLimiter")


@final
@dataclass(frozen=True, slots=True)
class RateLimiterStatistics:
    """Debugging information about a :class:`RateLimiter`, from ``statistics()``.

    Attributes:
        tasks_waiting: the number of tasks blocked in ``acquire()`` (or
            ``async with``) right now.
        tokens: the tokens in the bucket at the moment of the call, between
            ``0`` and ``burst`` (a float: the bucket fills continuously).
            A task can start at once when it is at least ``1`` and nobody is
            waiting.

    Frozen, and can be compared, copied and pickled, like trio's own
    statistics objects.
    """

    tasks_waiting: int
    tokens: float


def _check_rate(rate: object) -> float:
    if not isinstance(rate, (int, float)) or isinstance(rate, bool):
        raise TypeError(
            f"RateLimiter(): rate must be a number of acquisitions per second "
            f"(an int or a float), got {type(rate).__qualname__} {short_repr(rate)}"
        )
    try:
        value = float(rate)
    except OverflowError:
        value = math.inf
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(
            f"RateLimiter(): rate must be a positive, finite number of "
            f"acquisitions per second, got {short_repr(rate)}; for no rate limit, pass "
            f"no RateLimiter"
        )
    return value


def _check_burst(burst: object) -> int:
    if not isinstance(burst, int) or isinstance(burst, bool):
        raise TypeError(
            f"RateLimiter(): burst must be an int (the most acquisitions "
            f"allowed back to back), got {type(burst).__qualname__} {short_repr(burst)}"
        )
    if burst < 1:
        raise ValueError(
            f"RateLimiter(): burst must be >= 1 (the most acquisitions "
            f"allowed back to back), got {short_repr(burst)}"
        )
    try:
        float(burst)
    except OverflowError:
        # The bucket counts tokens in floats.
        raise ValueError(
            f"RateLimiter(): burst is too large to count tokens with, got an "
            f"int of {burst.bit_length()} bits; any burst above the number of "
            f"acquisitions you expect in all is the same as no burst limit"
        ) from None
    return burst


@final
class RateLimiter:
    """A token bucket: at most ``rate`` acquisitions per second on average.

    Use it to limit how often something *starts*::

        rate = RateLimiter(10, burst=5)   # 10 per second, up to 5 back to back

        async with rate:                  # waits for a token, then goes on
            await fetch(url)

    or, composed with a limit on how many run at once, in the helpers::

        capacity = trio.CapacityLimiter(20)    # at most 20 running
        results = await gather_map(fetch, urls, limiter=(capacity, rate))

    The bucket holds up to ``burst`` tokens and starts full; it is refilled
    continuously at ``rate`` tokens per second of ``trio.current_time()``, so
    it follows the run's clock, also a ``trio.testing.MockClock``. Each
    acquisition takes one token. Over any window of ``t`` seconds at most
    ``burst + rate * t`` acquisitions succeed. With ``burst >= 2`` and tasks
    waiting, at least ``rate * t - 1`` do: tokens are computed from elapsed
    time, not by counting sleeps, so late wakeups (timer slop, a busy run
    loop) of up to ``(burst - 1) / rate`` seconds are caught up and do not
    add up to drift. With ``burst=1`` the bucket has no room to bank a late
    wakeup: every acquisition is at least ``1 / rate`` after the previous
    one, so each late wakeup delays all the ones after it, and on a real
    clock the achieved rate is bounded by wake-up latency (below ``rate``;
    it matters at hundreds per second, hardly at ten). On trio's
    ``MockClock`` wakeups are never late, and ``burst=1`` is exact.

    In a tuple of limiters, the order is the order they are taken. With
    ``limiter=(capacity, rate)`` (or ``gather_map(..., limit=n,
    limiter=rate)``) a task takes a slot, then a token, then starts: starts
    follow the rate exactly. With ``(rate, capacity)`` the rate bounds the
    tokens handed out, but tasks that got theirs while every slot was busy
    start together when slots free up together.

    Waiting tasks get their tokens first come, first served. Leaving the
    ``async with`` block gives nothing back: a rate limits starts, not
    concurrency (compose it with a ``trio.CapacityLimiter`` for that).

    A ``RateLimiter`` can be created outside ``trio.run`` (as a module
    constant, say) and used in several ``trio.run`` calls in turn. The
    bucket is full at its first use in each run (each run has a clock of its
    own, so time in one run says nothing about the next); time before that
    does not count. It cannot serve two runs at once (in two threads).

    Args:
        rate: tokens added per second; a positive, finite ``int`` or
            ``float`` (``0.5`` is one acquisition every two seconds).
        burst: how many tokens the bucket holds, that is how many
            acquisitions may happen back to back after an idle spell;
            an ``int`` >= 1. The default ``1`` spaces acquisitions evenly,
            ``1 / rate`` seconds apart.

    Raises:
        TypeError: ``rate`` is not an ``int`` or ``float``, or ``burst`` is
            not an ``int`` (``bool`` is refused for both).
        ValueError: ``rate`` is not positive and finite (zero, negative,
            infinite, NaN), or ``burst`` is less than 1.
    """

    __slots__ = ("_burst", "_has_head", "_last", "_lot", "_rate", "_run", "_tokens")

    # Invariants:
    # * _tokens <= _burst. It may dip a hair below 0 after rounding: the head
    #   takes its token when its deadline has come even if float arithmetic
    #   says 0.9999999999999998 (waiting again for a femtosecond would spin),
    #   and the hair is carried over, so nothing drifts.
    # * _has_head is True exactly while one waiting task, not parked in
    #   _lot, is the one that will take the next token (it is sleeping until
    #   its deadline, or has been unparked and not yet run).
    # * while _has_head is False, _lot is empty.
    # * _last is a reading of the clock of the run _run (None: never used).
    _rate: float
    _burst: int
    _tokens: float
    _last: float | None
    _run: object
    _lot: trio.lowlevel.ParkingLot
    _has_head: bool

    def __init_subclass__(cls, **kwargs: object) -> None:
        # @final only speaks to type checkers; say it at run time too, as
        # Future and Correlator do.
        raise TypeError("trio_promise.RateLimiter does not support subclassing")

    def __init__(self, rate: float, *, burst: int = 1) -> None:
        self._rate = _check_rate(rate)
        self._burst = _check_burst(burst)
        self._tokens = float(self._burst)
        self._last = None
        self._run = None
        self._lot = trio.lowlevel.ParkingLot()
        self._has_head = False

    def _refill(self) -> None:
        """Bring the bucket up to ``trio.current_time()``."""
        now = trio.current_time()
        run = _RUN.get(None)
        if run is None or run is not self._run:
            # The first use in this run: a full bucket, and the clock starts
            # here (the last run's readings mean nothing on this clock).
            if run is None:  # the first RateLimiter used in this run
                run = object()
                _RUN.set(run)
            self._run = run
            self._tokens = float(self._burst)
        else:
            last = self._last
            assert last is not None
            if now > last:
                self._tokens = min(
                    float(self._burst), self._tokens + (now - last) * self._rate
                )
        self._last = now

    @trio.lowlevel.enable_ki_protection
    def acquire_nowait(self) -> None:
        """Take a token now, or raise ``trio.WouldBlock``.

        Not a checkpoint; must be called inside ``trio.run`` (it reads
        ``trio.current_time()``). It does not jump the queue: while any task
        waits in :meth:`acquire`, it raises ``trio.WouldBlock`` even if a
        token has accrued, because that token is the first waiter's.

        Raises:
            trio.WouldBlock: no whole token is in the bucket, or tasks are
                waiting; nothing is taken.
        """
        if self._has_head:
            raise trio.WouldBlock
        self._refill()
        if self._tokens < 1:
            raise trio.WouldBlock
        self._tokens -= 1

    @trio.lowlevel.enable_ki_protection
    async def acquire(self) -> None:
        """Take a token, waiting first come, first served if none is left.

        Always a checkpoint, also when a token is there at once. If the task
        is cancelled while it waits (or at that checkpoint), ``trio.Cancelled``
        propagates and no token is taken: the bucket, the other waiters and
        ``statistics()`` are as if the task had never come. Once it returns,
        the token is spent; there is nothing to give back.
        """
        # trio's own pattern (CapacityLimiter.acquire): check for cancellation
        # before taking anything, then a schedule point that cannot be
        # cancelled, so a token once taken is never lost to a Cancelled.
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self.acquire_nowait()
        except trio.WouldBlock:
            await self._wait_for_token()
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def _wait_for_token(self) -> None:
        if self._has_head:
            # Somebody is first in line: wait for our turn. A cancellation
            # here removes us from the lot and changes nothing else. When we
            # are unparked, _has_head stays True: it is now us.
            await self._lot.park()
        else:
            self._has_head = True
        try:
            self._refill()
            assert self._last is not None
            # The deadline comes from the bucket's state, not from when we
            # woke up, so a late head does not push back the rest. It may
            # have passed already (a head unparked late, with a token
            # accrued): then this is just a checkpoint.
            await trio.sleep_until(self._last + (1 - self._tokens) / self._rate)
            self._refill()
            self._tokens -= 1
        finally:
            # Got a token, or cancelled: either way, the next in line (if
            # any) becomes the head.
            if not self._lot.unpark():
                self._has_head = False

    async def __aenter__(self) -> None:
        """Take a token, as :meth:`acquire` (always a checkpoint)."""
        await self.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        """Do nothing: a token is spent once taken (not a checkpoint)."""

    def statistics(self) -> RateLimiterStatistics:
        """Return debugging information (a frozen :class:`RateLimiterStatistics`).

        ``tokens`` is computed for the current time: in a run where the
        limiter has not been used yet, ``burst`` (the bucket starts full in
        each run). Not a checkpoint, and it changes nothing, so it may be
        called anywhere, also outside ``trio.run`` (then it shows the tokens
        as of the last use, or ``burst`` before the first; the next run
        starts full whatever it shows).
        """
        tokens = self._tokens
        try:
            run = _RUN.get(None)
            now = trio.current_time()
        except RuntimeError:
            # Outside trio.run (trio.lowlevel.in_trio_run() would say so,
            # but it only exists from trio 0.29 on): as of the last use.
            pass
        else:
            last = self._last
            if run is not self._run or last is None:
                # Not used in this run yet: full at its first use.
                tokens = float(self._burst)
            elif now > last:
                tokens = min(float(self._burst), tokens + (now - last) * self._rate)
        waiting = len(self._lot) + self._has_head
        return RateLimiterStatistics(tasks_waiting=waiting, tokens=max(0.0, tokens))

    def __repr__(self) -> str:
        stats = self.statistics()
        return (
            f"<trio_promise.RateLimiter rate={self._rate!r}/s burst={self._burst}, "
            f"{stats.tokens:.3g} tokens, {stats.tasks_waiting} waiting>"
        )
