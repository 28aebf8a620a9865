"""RateLimiter: the token bucket of API.md section 5a, as a user sees it.

Everything runs on trio's MockClock (the ``autojump_clock`` fixture, or
``trio.run(..., clock=MockClock(autojump_threshold=0))`` inside hypothesis),
so the bounds below are checked on exact virtual times in no real time.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_promise import RateLimiter, RateLimiterStatistics

# Virtual times are floats; comparisons allow for their rounding, nothing more.
EPS = 1e-6


# -- helpers -----------------------------------------------------------------


def check_upper_bound(times: list[float], rate: float, burst: int) -> None:
    """Over any window of t seconds at most burst + rate * t acquisitions."""
    times = sorted(times)
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            count = j - i + 1
            assert count <= burst + rate * (times[j] - start) + EPS, (i, j)


def count_in(times: list[float], start: float, stop: float) -> int:
    """Acquisitions at times in the closed window [start, stop]."""
    return bisect.bisect_right(times, stop + EPS) - bisect.bisect_left(
        times, start - EPS
    )


def check_lower_bound(times: list[float], rate: float) -> None:
    """While demand lasts, any window of t seconds has >= rate * t - 1."""
    times = sorted(times)
    first, last = times[0], times[-1]
    # Window edges on a grid that does not line up with the token times.
    step = 1 / (7.3 * rate)
    points = [first + k * step for k in range(int((last - first) / step) + 1)]
    for i, start in enumerate(points):
        for stop in points[i:]:
            assert count_in(times, start, stop) >= rate * (stop - start) - 1 - EPS


def model(arrivals: list[float], rate: float, burst: int) -> list[float]:
    """When an ideal FIFO token bucket serves requests arriving at these times."""
    served: list[float] = []
    tokens = float(burst)
    last = arrivals[0] if arrivals else 0.0
    previous = -math.inf
    for arrival in arrivals:
        now = max(arrival, previous)
        tokens = min(burst, tokens + (now - last) * rate)
        last = now
        if tokens < 1:
            now += (1 - tokens) / rate
            tokens, last = 1.0, now
        tokens -= 1
        served.append(now)
        previous = now
    return served


async def acquire_and_record(rate: RateLimiter, into: list[float]) -> None:
    await rate.acquire()
    into.append(trio.current_time())


# -- arguments -----------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", [0, 0.0, -1, -0.5, math.inf, -math.inf, math.nan, 10**400]
)
def test_rate_must_be_positive_and_finite(bad: float) -> None:
    with pytest.raises(
        ValueError,
        match=r"^RateLimiter\(\): rate must be a positive, finite number of "
        r"acquisitions per second, got .+; for no rate limit, pass no RateLimiter$",
    ):
        RateLimiter(bad)


@pytest.mark.parametrize("bad", ["10", None, True, False, [10], 10j])
def test_rate_must_be_a_number(bad: Any) -> None:
    with pytest.raises(
        TypeError,
        match=r"^RateLimiter\(\): rate must be a number of acquisitions per "
        r"second \(an int or a float\), got \w+ ",
    ):
        RateLimiter(bad)


@pytest.mark.parametrize("bad", [0, -1, -100])
def test_burst_must_be_at_least_one(bad: int) -> None:
    with pytest.raises(
        ValueError,
        match=r"^RateLimiter\(\): burst must be >= 1 \(the most acquisitions "
        r"allowed back to back\), got -?\d+$",
    ):
        RateLimiter(1, burst=bad)


@pytest.mark.parametrize("bad", [1.0, 2.5, math.inf, "2", None, True])
def test_burst_must_be_an_int(bad: Any) -> None:
    with pytest.raises(
        TypeError,
        match=r"^RateLimiter\(\): burst must be an int \(the most acquisitions "
        r"allowed back to back\), got \w+ ",
    ):
        RateLimiter(1, burst=bad)


def test_burst_is_keyword_only() -> None:
    with pytest.raises(TypeError, match=r"takes 2 positional arguments but 3"):
        RateLimiter(1, 2)  # type: ignore[call-arg]


def test_argument_errors_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match=r"got -3$"):
        RateLimiter(1, burst=-3)
    with pytest.raises(ValueError, match=r"got nan;"):
        RateLimiter(math.nan)


def test_accepts_int_and_float_rates() -> None:
    RateLimiter(1)
    RateLimiter(0.001, burst=1000)
    RateLimiter(1e9)


# -- construction, statistics, repr -------------------------------------------

MODULE_LEVEL = RateLimiter(2, burst=3)


def test_constructed_outside_trio_run() -> None:
    rate = RateLimiter(10, burst=5)
    assert rate.statistics() == RateLimiterStatistics(tasks_waiting=0, tokens=5.0)
    assert repr(rate) == (
        "<trio_promise.RateLimiter rate=10.0/s burst=5, 5 tokens, 0 waiting>"
    )


async def test_module_level_limiter_starts_full_at_first_use(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Created at import time; the virtual clock has run on since. The bucket
    # is full (3 tokens, not more) at its first use, and refills from then.
    await trio.sleep(1000)
    start = trio.current_time()
    times: list[float] = []
    for _ in range(5):
        await acquire_and_record(MODULE_LEVEL, times)
    assert times == pytest.approx([start, start, start, start + 0.5, start + 1.0])


def test_statistics_is_frozen_with_slots() -> None:
    stats = RateLimiter(1).statistics()
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.tokens = 3.0  # type: ignore[misc]
    assert not hasattr(stats, "__dict__")
    assert not hasattr(RateLimiter(1), "__dict__")


async def test_statistics_follow_the_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(2, burst=3)
    for _ in range(3):
        rate.acquire_nowait()
    assert rate.statistics() == RateLimiterStatistics(tasks_waiting=0, tokens=0.0)
    await trio.sleep(0.25)
    assert rate.statistics().tokens == pytest.approx(0.5)
    await trio.sleep(1)
    assert rate.statistics().tokens == pytest.approx(2.5)
    await trio.sleep(100)
    assert rate.statistics().tokens == 3.0  # capped at burst
    # statistics() only looks: it takes nothing and moves nothing.
    assert rate.statistics().tokens == 3.0


async def test_statistics_count_waiters_and_repr(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(1)
    rate.acquire_nowait()
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(rate.acquire)
        await trio.testing.wait_all_tasks_blocked()
        stats = rate.statistics()
        assert stats.tasks_waiting == 3
        assert stats.tokens == 0.0
        assert repr(rate) == (
            "<trio_promise.RateLimiter rate=1.0/s burst=1, 0 tokens, 3 waiting>"
        )
        await trio.sleep(0.5)
        assert rate.statistics().tokens == pytest.approx(0.5)
    assert rate.statistics() == RateLimiterStatistics(tasks_waiting=0, tokens=0.0)


def test_statistics_outside_run_after_use() -> None:
    rate = RateLimiter(1, burst=4)

    async def main() -> None:
        await rate.acquire()
        await rate.acquire()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    # Outside a run there is no clock: the tokens as of the last use.
    assert rate.statistics() == RateLimiterStatistics(tasks_waiting=0, tokens=2.0)


# -- checkpoints and the async with protocol -------------------------------------


async def test_acquire_is_a_checkpoint_with_a_token_there(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(1, burst=2)
    with trio.testing.assert_checkpoints():
        await rate.acquire()
    with trio.testing.assert_checkpoints():
        async with rate:
            pass


async def test_acquire_is_a_checkpoint_when_waiting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(1)
    rate.acquire_nowait()
    with trio.testing.assert_checkpoints():
        await rate.acquire()
    with trio.testing.assert_checkpoints():
        async with rate:
            pass


async def test_acquire_nowait_is_not_a_checkpoint(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(1)
    with trio.testing.assert_no_checkpoints():
        rate.acquire_nowait()
    with trio.testing.assert_no_checkpoints(), pytest.raises(trio.WouldBlock):
        rate.acquire_nowait()
    # The failed attempt did not count: the next token is due 1 s after the
    # first one.
    start = trio.current_time()
    await rate.acquire()
    assert trio.current_time() == pytest.approx(start + 1)


async def test_exiting_gives_nothing_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(1, burst=2)
    async with rate as entered:
        assert entered is None
        assert rate.statistics().tokens == 1.0
    assert rate.statistics().tokens == 1.0
    await rate.__aexit__(None, None, None)
    assert rate.statistics().tokens == 1.0


async def test_exceptions_pass_through_async_with() -> None:
    rate = RateLimiter(1)
    with pytest.raises(KeyError, match=r"^'inside'$"):
        async with rate:
            raise KeyError("inside")
    # The token was spent when the block was entered.
    assert rate.statistics().tokens < 1


async def test_acquire_nowait_takes_until_empty(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(4, burst=3)
    for _ in range(3):
        rate.acquire_nowait()
    with pytest.raises(trio.WouldBlock):
        rate.acquire_nowait()
    await trio.sleep(0.2)  # 0.8 tokens: not a whole one
    with pytest.raises(trio.WouldBlock):
        rate.acquire_nowait()
    assert rate.statistics().tokens == pytest.approx(0.8)
    await trio.sleep(0.05)
    rate.acquire_nowait()
    assert rate.statistics().tokens == pytest.approx(0.0)


# -- the bound -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate_value", "burst"), [(10, 5), (10, 1), (3, 7), (0.5, 2), (1000, 1), (7.3, 4)]
)
async def test_exact_schedule_under_full_demand(
    autojump_clock: trio.testing.MockClock, rate_value: float, burst: int
) -> None:
    rate = RateLimiter(rate_value, burst=burst)
    times: list[float] = []
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(60):
            nursery.start_soon(acquire_and_record, rate, times)
    # burst at once, then one every 1/rate seconds, on the dot.
    expected = [start] * burst + [
        start + k / rate_value for k in range(1, 60 - burst + 1)
    ]
    assert times == pytest.approx(expected, abs=EPS)
    check_upper_bound(times, rate_value, burst)
    check_lower_bound(times, rate_value)


async def test_one_task_in_a_loop_keeps_the_rate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(10, burst=5)
    start = trio.current_time()
    times: list[float] = []
    for _ in range(205):
        await acquire_and_record(rate, times)
    assert times[-1] - start == pytest.approx(20.0)
    check_upper_bound(times, 10, 5)
    check_lower_bound(times, 10)


async def test_no_drift_over_a_long_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # 10,000 starts at 10 per second, burst 5: the last one is at exactly
    # (10,000 - 5) / 10 seconds, whatever rounding happened on the way.
    rate = RateLimiter(10, burst=5)
    start = trio.current_time()
    times: list[float] = []

    async def worker() -> None:
        for _ in range(100):
            await acquire_and_record(rate, times)

    async with trio.open_nursery() as nursery:
        for _ in range(100):
            nursery.start_soon(worker)
    assert len(times) == 10_000
    assert times[-1] - start == pytest.approx(999.5, abs=EPS)
    # Every window of one second (the edges off the token times): 10 starts.
    for k in range(999):
        window_start = start + 0.5 + k + 0.05
        assert count_in(times, window_start, window_start + 0.99) == 10


@pytest.mark.parametrize(("burst", "last_start"), [(5, 2.5), (1, 2.9 + 0.25)])
async def test_a_stalled_run_loop_is_caught_up_within_burst(
    autojump_clock: trio.testing.MockClock, burst: int, last_start: float
) -> None:
    # A task that holds the run loop for 0.3 s (as a CPU-bound task, or timer
    # slop, would) makes the waiting head wake 0.25 s late. Tokens come from
    # the clock, not from counting sleeps, so the time is not lost: with
    # burst=5 the three tokens that accrued meanwhile go out at once and the
    # schedule ends exactly as without the stall ((30 - 5) / 10 s). With
    # burst=1 the bucket cannot hold them (a start 1/rate after the previous
    # one is the promise), so the stall delays the rest by 0.25 s, once.
    rate = RateLimiter(10, burst=burst)
    times: list[float] = []
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(30):
            nursery.start_soon(acquire_and_record, rate, times)
        await trio.sleep(0.95)
        autojump_clock.jump(0.3)
    assert times[-1] - start == pytest.approx(last_start)
    check_upper_bound(times, 10, burst)


async def test_burst_after_idle_is_capped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(5, burst=3)
    for _ in range(3):
        await rate.acquire()
    await trio.sleep(3600)
    start = trio.current_time()
    times: list[float] = []
    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(acquire_and_record, rate, times)
    assert times == pytest.approx([start] * 3 + [start + 0.2, start + 0.4])


# -- first come, first served --------------------------------------------------


async def test_waiters_are_served_in_arrival_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(3, burst=2)
    order: list[int] = []

    async def waiter(i: int) -> None:
        await rate.acquire()
        order.append(i)

    async with trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(waiter, i)
            await trio.testing.wait_all_tasks_blocked()
    assert order == list(range(20))


async def test_acquire_nowait_does_not_jump_the_queue(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(1)
    rate.acquire_nowait()
    times: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(acquire_and_record, rate, times)
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        # The waiter's deadline passes while this task holds the run loop: a
        # whole token is in the bucket, but it belongs to the waiter.
        autojump_clock.jump(1)
        assert rate.statistics() == RateLimiterStatistics(tasks_waiting=1, tokens=1.0)
        with pytest.raises(trio.WouldBlock):
            rate.acquire_nowait()
        # Nor does a new acquire(): it waits behind.
        nursery.start_soon(acquire_and_record, rate, times)
    assert times == pytest.approx([start + 1, start + 2])


async def test_late_arrival_waits_behind_even_when_a_token_accrued(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(1, burst=2)
    order: list[str] = []

    async def waiter(name: str) -> None:
        await rate.acquire()
        order.append(name)

    rate.acquire_nowait()
    rate.acquire_nowait()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter, "first")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(waiter, "second")
        await trio.testing.wait_all_tasks_blocked()
        autojump_clock.jump(5)  # two tokens: both belong to the waiters
        nursery.start_soon(waiter, "third")
        await trio.testing.wait_all_tasks_blocked()
        assert order == ["first", "second"]
    assert order == ["first", "second", "third"]


# -- cancellation ----------------------------------------------------------------


async def test_cancelled_at_the_fast_path_takes_nothing() -> None:
    rate = RateLimiter(1, burst=2)
    with trio.CancelScope() as scope:
        scope.cancel()
        await rate.acquire()
    assert scope.cancelled_caught
    assert rate.statistics() == RateLimiterStatistics(tasks_waiting=0, tokens=2.0)


async def test_cancelled_on_the_way_in_takes_nothing() -> None:
    rate = RateLimiter(1)
    rate.acquire_nowait()
    with trio.CancelScope() as scope:
        scope.cancel()
        async with rate:
            raise AssertionError("never entered")  # pragma: no cover
    assert scope.cancelled_caught
    assert rate.statistics().tasks_waiting == 0


async def test_cancelled_waiter_loses_no_token(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(1)
    rate.acquire_nowait()
    times: list[float] = []
    cancelled: list[str] = []

    async def cancellable(name: str, scope: trio.CancelScope) -> None:
        with scope:
            await rate.acquire()
            times.append(trio.current_time())
        if scope.cancelled_caught:
            cancelled.append(name)

    start = trio.current_time()
    scopes = [trio.CancelScope() for _ in range(4)]
    async with trio.open_nursery() as nursery:
        for i, scope in enumerate(scopes):
            nursery.start_soon(cancellable, f"w{i}", scope)
            await trio.testing.wait_all_tasks_blocked()
        assert rate.statistics().tasks_waiting == 4
        await trio.sleep(0.5)
        scopes[0].cancel()  # the head, half way to its token
        scopes[2].cancel()  # one parked in the middle
        await trio.testing.wait_all_tasks_blocked()
        assert rate.statistics().tasks_waiting == 2
        assert rate.statistics().tokens == pytest.approx(0.5)
    assert sorted(cancelled) == ["w0", "w2"]
    # w1 took over the head's deadline: nothing was lost or pushed back.
    assert times == pytest.approx([start + 1, start + 2])
    assert rate.statistics().tasks_waiting == 0


async def test_every_waiter_cancelled_leaves_no_trace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(2, burst=2)
    rate.acquire_nowait()
    rate.acquire_nowait()
    start = trio.current_time()
    with trio.move_on_after(0.3):
        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(rate.acquire)
    assert rate.statistics().tasks_waiting == 0
    assert rate.statistics().tokens == pytest.approx(0.6)
    # The next acquisition comes exactly when one token has accrued.
    await rate.acquire()
    assert trio.current_time() == pytest.approx(start + 0.5)


async def test_cancelled_head_hands_a_token_accrued_meanwhile(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(1)
    rate.acquire_nowait()
    times: list[float] = []
    async with trio.open_nursery() as nursery:
        head = trio.CancelScope()

        async def first() -> None:
            with head:
                await rate.acquire()
            times.append(-1.0)  # cancelled: records a marker only

        nursery.start_soon(first)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(acquire_and_record, rate, times)
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        head.cancel()
        autojump_clock.jump(5)  # the head leaves late; a token is waiting
    assert head.cancelled_caught
    assert times == pytest.approx([-1.0, start + 5])


# -- several runs ----------------------------------------------------------------


# Module constants, as the docs suggest: each is used by several runs below.
ACROSS_RUNS = RateLimiter(0.2)
ACROSS_RUNS_BURST = RateLimiter(0.5, burst=3)


def mock_clock_starting_at(start: float) -> trio.testing.MockClock:
    clock = trio.testing.MockClock(autojump_threshold=0)
    clock.jump(start)
    return clock


# Where each run's clock starts: earlier, much later, a little later (less
# than a refill: the case time alone would not make up for), the same.
STARTS = [0.0, 1000.0, 5.0, 7.0, 0.0, 1e6, 1e6 + 2]


@pytest.mark.parametrize("first_use", ["acquire", "acquire_nowait", "async with"])
def test_each_run_starts_with_a_full_bucket(first_use: str) -> None:
    # API.md section 5a: a RateLimiter made at import time and used in
    # several trio.run calls in turn starts each run full, whatever the new
    # clock reads compared with the last one. Each run drains both limiters
    # (interleaved: the run check is per run, not per limiter), then waits
    # exactly one refill for the next token.
    limiters = [ACROSS_RUNS, ACROSS_RUNS_BURST]
    log: list[tuple[float, list[float], list[float]]] = []

    async def take(rate: RateLimiter) -> None:
        if first_use == "acquire":
            await rate.acquire()
        elif first_use == "acquire_nowait":
            rate.acquire_nowait()
        else:
            async with rate:
                pass

    async def main() -> None:
        start = trio.current_time()
        # Not used yet in this run: statistics() already shows it full.
        full = [rate.statistics().tokens for rate in limiters]
        for _ in range(3):
            for rate in limiters:
                if rate.statistics().tokens >= 1:
                    await take(rate)
        assert [rate.statistics().tokens for rate in limiters] == [0.0, 0.0]
        for rate in limiters:
            with pytest.raises(trio.WouldBlock):
                rate.acquire_nowait()
        waits: list[float] = []
        for rate in limiters:
            before = trio.current_time()
            await rate.acquire()
            waits.append(trio.current_time() - before)
        log.append((trio.current_time() - start, full, waits))

    for start in STARTS:
        trio.run(main, clock=mock_clock_starting_at(start))
        # Outside a run: the tokens as of the last use (the second limiter
        # refilled 2.5 tokens while the first waited 5 s, then gave one);
        # the next run starts full whatever this shows.
        assert [rate.statistics().tokens for rate in limiters] == pytest.approx(
            [0.0, 1.5]
        )
    for elapsed, full, waits in log:
        assert full == [1.0, 3.0]
        # The draining took no time; then 1 / rate for the next token each
        # (the second limiter's refill overlaps the first's wait).
        assert waits == pytest.approx([5.0, 0.0])
        assert elapsed == pytest.approx(5.0)


def test_each_run_starts_full_on_trios_real_clock() -> None:
    # trio's own clock starts each run at a random offset: the bucket is
    # full at the first use of each run, so draining it never blocks.
    rate = RateLimiter(0.01, burst=4)

    async def main() -> None:
        for _ in range(4):
            rate.acquire_nowait()
        with pytest.raises(trio.WouldBlock):
            rate.acquire_nowait()

    for _ in range(5):
        trio.run(main)


def test_acquire_nowait_outside_a_run_takes_nothing() -> None:
    rate = RateLimiter(1, burst=2)
    before = rate.statistics()

    async def main() -> None:
        rate.acquire_nowait()

    for _ in range(2):
        with pytest.raises(RuntimeError):
            rate.acquire_nowait()
        assert rate.statistics() == before
        trio.run(main, clock=mock_clock_starting_at(10))
        before = RateLimiterStatistics(tasks_waiting=0, tokens=1.0)
        assert rate.statistics() == before


def test_a_run_that_ends_with_tasks_waiting_leaves_none() -> None:
    # Waiters cancelled by the end of their run leave the queue, so the next
    # run finds nobody ahead of it.
    rate = RateLimiter(0.1)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(rate.acquire)
            await trio.testing.wait_all_tasks_blocked()
            assert rate.statistics().tasks_waiting == 2
            nursery.cancel_scope.cancel()
        assert rate.statistics() == RateLimiterStatistics(tasks_waiting=0, tokens=0.0)

    async def next_run() -> None:
        assert rate.statistics() == RateLimiterStatistics(tasks_waiting=0, tokens=1.0)
        rate.acquire_nowait()

    trio.run(main, clock=mock_clock_starting_at(0))
    trio.run(next_run, clock=mock_clock_starting_at(0))


# -- properties ------------------------------------------------------------------

rates = st.floats(min_value=0.1, max_value=100, allow_nan=False)
bursts = st.integers(min_value=1, max_value=8)
# (delay before arriving, give up after this long or never)
arrivals = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=3, allow_nan=False),
        st.one_of(st.none(), st.floats(min_value=0.001, max_value=3)),
    ),
    min_size=1,
    max_size=40,
)


def run_pattern(
    rate_value: float, burst: int, pattern: list[tuple[float, float | None]]
) -> tuple[list[float], list[float]]:
    """Run the arrivals; return (arrival times, service times) of served tasks."""
    served_at: dict[int, float] = {}
    arrived_at: list[float] = []

    async def main() -> None:
        rate = RateLimiter(rate_value, burst=burst)

        async def client(delay: float, patience: float | None) -> None:
            await trio.sleep(delay)
            with trio.move_on_after(math.inf if patience is None else patience):
                # No checkpoint between here and joining the queue, so this
                # records the order of arrival.
                ticket = len(arrived_at)
                arrived_at.append(trio.current_time())
                await rate.acquire()
                served_at[ticket] = trio.current_time()

        async with trio.open_nursery() as nursery:
            for delay, patience in pattern:
                nursery.start_soon(client, delay, patience)
        assert rate.statistics().tasks_waiting == 0

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    tickets = sorted(served_at)
    return [arrived_at[t] for t in tickets], [served_at[t] for t in tickets]


@settings(max_examples=80, deadline=None)
@given(rate_value=rates, burst=bursts, pattern=arrivals)
def test_any_pattern_is_an_ideal_fifo_bucket(
    rate_value: float, burst: int, pattern: list[tuple[float, float | None]]
) -> None:
    arrived, served = run_pattern(rate_value, burst, pattern)
    # Served in arrival order, each at the earliest moment an ideal bucket
    # allows. Cancelled waiters are not in the list, and the served ones were
    # not held up by them: a waiter that gives up takes nothing with it.
    assert served == sorted(served)
    assert served == pytest.approx(model(arrived, rate_value, burst), abs=EPS)
    check_upper_bound(served, rate_value, burst)


@settings(max_examples=40, deadline=None)
@given(rate_value=rates, burst=bursts, demand=st.integers(min_value=1, max_value=60))
def test_bounds_under_full_demand(rate_value: float, burst: int, demand: int) -> None:
    _, served = run_pattern(rate_value, burst, [(0.0, None)] * demand)
    check_upper_bound(served, rate_value, burst)
    check_lower_bound(served, rate_value)


def test_subclassing_is_refused() -> None:
    with pytest.raises(
        TypeError, match=r"^trio_promise\.RateLimiter does not support subclassing$"
    ):

        class Mine(RateLimiter):  # type: ignore[misc]
            pass
