"""``limiter=``: limits composed with spawn(), gather(), gather_map() and race()
(API.md 3, 5, 5a).

What a user sees: how many calls run at once, and when they start. All on the
autojump clock, so the start times are exact virtual times.
"""

from __future__ import annotations

import bisect
import random
import threading
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

from trio_promise import (
    BrokenPromiseError,
    RateLimiter,
    gather,
    gather_map,
    race,
    spawn,
)

EPS = 1e-6


# -- helpers -----------------------------------------------------------------


def check_upper_bound(times: list[float], rate: float, burst: int) -> None:
    """Over any window of t seconds at most burst + rate * t starts."""
    times = sorted(times)
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            assert j - i + 1 <= burst + rate * (times[j] - start) + EPS, (i, j)


def check_lower_bound(times: list[float], rate: float) -> None:
    """While demand lasts, any window of t seconds has >= rate * t - 1 starts."""
    times = sorted(times)
    step = 1 / (7.3 * rate)
    points = [times[0] + k * step for k in range(int((times[-1] - times[0]) / step))]
    for i, start in enumerate(points):
        for stop in points[i:]:
            count = bisect.bisect_right(times, stop + EPS) - bisect.bisect_left(
                times, start - EPS
            )
            assert count >= rate * (stop - start) - 1 - EPS


class Probe:
    """A fake fetch that records when calls start and how many run at once."""

    def __init__(self, durations: list[float]) -> None:
        self.durations = durations
        self.starts: list[float] = []
        self.running = 0
        self.peak = 0

    async def fetch(self, index: int) -> int:
        self.starts.append(trio.current_time())
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await trio.sleep(self.durations[index])
        finally:
            self.running -= 1
        return index * 2


class Recorder:
    """A limiter that logs when it is entered and exited, and by which task."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def __aenter__(self) -> None:
        await trio.lowlevel.checkpoint()
        self.log.append(f"enter {self.name} {trio.lowlevel.current_task().name}")

    async def __aexit__(self, *exc_info: object) -> None:
        self.log.append(f"exit {self.name} {trio.lowlevel.current_task().name}")


class Phased(Probe):
    """The first ``n`` calls to start all end at ``until``; later ones are short."""

    def __init__(self, n: int, until: float) -> None:
        super().__init__([])
        self.n = n
        self.until = until

    async def fetch(self, index: int) -> int:
        first = len(self.starts) < self.n
        self.starts.append(trio.current_time())
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            if first:
                await trio.sleep_until(self.until)
            else:
                await trio.sleep(0.1)
        finally:
            self.running -= 1
        return index * 2


def seeded_durations(n: int, low: float, high: float, seed: int = 8) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(low, high) for _ in range(n)]


# -- rate and capacity together ------------------------------------------------


async def test_gather_map_limit_and_rate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # "at most 10 starts a second, at most 20 at once". Calls of 1 to 4 s
    # would need up to 40 at once at that rate, so both limits bind in turn.
    probe = Probe(seeded_durations(300, 1, 4))
    rate = RateLimiter(10, burst=5)
    results = await gather_map(probe.fetch, range(300), limit=20, limiter=rate)
    assert results == [i * 2 for i in range(300)]
    assert probe.peak == 20
    check_upper_bound(probe.starts, 10, 5)
    assert rate.statistics().tasks_waiting == 0


async def test_gather_map_rate_alone_keeps_the_rate_exactly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Short calls: the capacity never binds, so the rate is met from both
    # sides, and the run takes exactly as long as the tokens do.
    probe = Probe(seeded_durations(200, 0.1, 1.0))
    rate = RateLimiter(10, burst=2)
    start = trio.current_time()
    await gather_map(probe.fetch, range(200), limit=20, limiter=rate)
    check_upper_bound(probe.starts, 10, 2)
    check_lower_bound(probe.starts, 10)
    assert max(probe.starts) - start == pytest.approx((200 - 2) / 10)
    assert probe.peak <= 12


@pytest.mark.parametrize("order", ["capacity first", "rate first"])
async def test_gather_map_tuple_of_limiters(
    autojump_clock: trio.testing.MockClock, order: str
) -> None:
    probe = Probe([2.5] * 200)
    rate = RateLimiter(10, burst=5)
    capacity = trio.CapacityLimiter(20)
    limiters = (capacity, rate) if order == "capacity first" else (rate, capacity)
    results = await gather_map(probe.fetch, range(200), limiter=limiters)
    assert results == [i * 2 for i in range(200)]
    assert probe.peak == 20
    check_upper_bound(probe.starts, 10, 5)
    assert capacity.borrowed_tokens == 0
    assert rate.statistics().tasks_waiting == 0


async def test_gather_map_limit_and_a_tuple(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe(seeded_durations(150, 0.5, 5))
    rate = RateLimiter(10, burst=3)
    capacity = trio.CapacityLimiter(15)
    await gather_map(probe.fetch, range(150), limit=25, limiter=(capacity, rate))
    assert probe.peak == 15
    check_upper_bound(probe.starts, 10, 3)


async def test_spawn_rate_and_capacity(autojump_clock: trio.testing.MockClock) -> None:
    probe = Probe([2.5] * 200)
    rate = RateLimiter(10, burst=5)
    capacity = trio.CapacityLimiter(20)
    async with trio.open_nursery() as nursery:
        futures = [
            spawn(nursery, probe.fetch, i, limiter=(rate, capacity)) for i in range(200)
        ]
    assert [fut.get_nowait() for fut in futures] == [i * 2 for i in range(200)]
    assert probe.peak == 20
    check_upper_bound(probe.starts, 10, 5)


async def test_spawn_rate_alone(autojump_clock: trio.testing.MockClock) -> None:
    probe = Probe([0.4] * 100)
    rate = RateLimiter(4, burst=1)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for i in range(100):
            spawn(nursery, probe.fetch, i, limiter=rate)
    assert sorted(probe.starts) == pytest.approx(
        [start + k / 4 for k in range(100)], abs=EPS
    )
    assert probe.peak == 2


async def test_capacity_first_bounds_starts_whatever_the_durations(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A task takes a capacity slot, then waits for its token, then starts:
    # starts are the token times, so the rate bound holds for them exactly,
    # however the calls' durations free the slots.
    probe = Phased(20, until=trio.current_time() + 5)
    rate = RateLimiter(10, burst=5)
    capacity = trio.CapacityLimiter(20)
    async with trio.open_nursery() as nursery:
        for i in range(120):
            spawn(nursery, probe.fetch, i, limiter=(capacity, rate))
    assert probe.peak == 20
    check_upper_bound(probe.starts, 10, 5)


async def test_rate_first_bounds_tokens_not_starts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The other order is also honoured as given: a task takes its token, then
    # waits for a capacity slot. The rate then bounds the tokens taken (and
    # so the starts counted from the first one), but tasks that got their
    # tokens while all slots were busy start together when slots free up
    # together. To bound every window of starts, put the rate limiter last,
    # or use gather_map(limit=...).
    start = trio.current_time()
    probe = Phased(20, until=start + 5)
    rate = RateLimiter(10, burst=5)
    capacity = trio.CapacityLimiter(20)
    async with trio.open_nursery() as nursery:
        for i in range(120):
            spawn(nursery, probe.fetch, i, limiter=(rate, capacity))
    assert probe.peak == 20
    # 20 long calls end at the same moment; the 20 tasks that took tokens
    # meanwhile start at that moment, more than burst=5.
    assert probe.starts.count(probe.starts[20]) == 20
    # Counted from the first start, never more than the tokens.
    for k, started in enumerate(sorted(probe.starts)):
        assert k + 1 <= 5 + 10 * (started - start) + EPS


# -- order, exit, other limiters -------------------------------------------------


async def test_limiters_are_entered_in_order_and_exited_when_the_task_ends() -> None:
    log: list[str] = []

    async def work(x: int) -> int:
        log.append(f"run {trio.lowlevel.current_task().name}")
        await trio.lowlevel.checkpoint()
        log.append(f"done {trio.lowlevel.current_task().name}")
        return x

    first, second = Recorder("first", log), Recorder("second", log)
    async with trio.open_nursery() as nursery:
        fut = spawn(nursery, work, 1, limiter=(first, second), name="task")
    assert fut.get_nowait() == 1
    assert log == [
        "enter first task",
        "enter second task",
        "run task",
        "done task",
        "exit second task",
        "exit first task",
    ]


async def test_gather_map_enters_limiters_in_order_per_task() -> None:
    log: list[str] = []

    async def work(x: int) -> int:
        await trio.lowlevel.checkpoint()
        log.append("run")
        return x

    first, second = Recorder("first", log), Recorder("second", log)
    assert await gather_map(work, [7], limiter=(first, second)) == [7]
    assert [entry.split()[:2] for entry in log] == [
        ["enter", "first"],
        ["enter", "second"],
        ["run"],
        ["exit", "second"],
        ["exit", "first"],
    ]


async def test_limiters_are_exited_when_the_call_fails() -> None:
    log: list[str] = []
    capacity = trio.CapacityLimiter(1)

    async def fail(x: int) -> int:
        await trio.lowlevel.checkpoint()
        raise ValueError(x)

    async with trio.open_nursery() as nursery:
        fut = spawn(
            nursery, fail, 3, limiter=(Recorder("r", log), capacity), propagate=False
        )
    with pytest.raises(ValueError, match=r"^3$"):
        fut.get_nowait()
    assert [entry.split()[0] for entry in log] == ["enter", "exit"]
    assert capacity.borrowed_tokens == 0

    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match=r"^4$")):
        await gather_map(fail, [4], limiter=capacity)
    assert capacity.borrowed_tokens == 0


async def test_cancelled_while_waiting_for_a_token(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(1)
    probe = Probe([0.0] * 5)
    async with trio.open_nursery() as nursery:
        nursery.cancel_scope.deadline = trio.current_time() + 2.5
        futures = [spawn(nursery, probe.fetch, i, limiter=rate) for i in range(5)]
    # Three started (t = 0, 1, 2); two were still waiting for a token.
    assert len(probe.starts) == 3
    broken = 0
    for fut in futures:
        try:
            fut.get_nowait()
        except BrokenPromiseError:
            broken += 1
    assert broken == 2
    # The waiters left no trace: the next token comes on time.
    assert rate.statistics().tasks_waiting == 0
    start = trio.current_time()
    await rate.acquire()
    assert trio.current_time() == pytest.approx(start + 0.5)


async def test_gather_map_cancelled_leaves_the_limiters_clean(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(2, burst=2)
    capacity = trio.CapacityLimiter(3)
    probe = Probe([10.0] * 50)
    with trio.move_on_after(5):
        await gather_map(probe.fetch, range(50), limit=10, limiter=(capacity, rate))
    assert capacity.borrowed_tokens == 0
    assert capacity.statistics().tasks_waiting == 0
    assert rate.statistics().tasks_waiting == 0
    assert len(probe.starts) == 3


async def test_a_semaphore_works_too(autojump_clock: trio.testing.MockClock) -> None:
    probe = Probe(seeded_durations(40, 0.1, 2))
    semaphore = trio.Semaphore(3)
    assert await gather_map(probe.fetch, range(40), limiter=semaphore) == [
        i * 2 for i in range(40)
    ]
    assert probe.peak == 3
    assert semaphore.value == 3

    probe = Probe([1.0] * 10)
    async with trio.open_nursery() as nursery:
        for i in range(10):
            spawn(nursery, probe.fetch, i, limiter=(semaphore, RateLimiter(100)))
    assert probe.peak == 3


async def test_the_same_rate_limiter_shared_by_two_helpers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # One RateLimiter is one budget, however many helpers use it.
    rate = RateLimiter(10, burst=1)
    probe = Probe([0.0] * 100)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for i in range(50):
            spawn(nursery, probe.fetch, i, limiter=rate)
        nursery.start_soon(
            partial(gather_map, probe.fetch, range(50, 100), limiter=rate)
        )
    check_upper_bound(probe.starts, 10, 1)
    assert max(probe.starts) - start == pytest.approx(9.9)


# -- bad limiters ----------------------------------------------------------------

BAD_LIMITERS: list[Any] = [
    5,
    "capacity",
    trio.CapacityLimiter,  # the class, not an instance
    threading.Lock(),  # a sync context manager
    [trio.CapacityLimiter(1)],  # a list, not a tuple
    (trio.CapacityLimiter(1), 5),
    (RateLimiter(1), None),
]


async def _never(x: int) -> None:  # pragma: no cover
    await trio.lowlevel.checkpoint()
    raise AssertionError("never started")


@pytest.mark.parametrize("bad", BAD_LIMITERS)
async def test_spawn_refuses_a_bad_limiter_at_once(bad: Any) -> None:
    async with trio.open_nursery() as nursery:
        with pytest.raises(
            TypeError,
            match=r"^spawn\(\): limiter must be usable as 'async with limiter:' "
            r"\(a trio.CapacityLimiter, trio.Semaphore, RateLimiter, \.\.\.\) or "
            r"a tuple of them, got ",
        ):
            spawn(nursery, _never, 1, limiter=bad)
        assert nursery.child_tasks == frozenset()


@pytest.mark.parametrize("bad", BAD_LIMITERS)
async def test_gather_map_refuses_a_bad_limiter_at_once(bad: Any) -> None:
    with (
        trio.testing.assert_no_checkpoints(),
        pytest.raises(
            TypeError,
            match=r"^gather_map\(\): limiter must be usable as 'async with limiter:' "
            r"\(a trio.CapacityLimiter, trio.Semaphore, RateLimiter, \.\.\.\) or "
            r"a tuple of them, got ",
        ),
    ):
        await gather_map(_never, [1, 2], limiter=bad)
    with trio.testing.assert_no_checkpoints(), pytest.raises(TypeError):
        await gather_map(_never, [1, 2], limit=1, limiter=bad)


async def test_the_bad_limiter_is_named() -> None:
    with pytest.raises(TypeError, match=r"got 'capacity'$"):
        await gather_map(_never, [1], limiter=(trio.CapacityLimiter(1), "capacity"))  # type: ignore[arg-type]


async def test_no_limiter_and_an_empty_tuple_mean_no_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe([1.0] * 30)
    await gather_map(probe.fetch, range(15), limiter=None)
    await gather_map(probe.fetch, range(15, 30), limiter=())
    assert probe.peak == 15


# -- gather and race -----------------------------------------------------------------


async def test_gather_respects_the_limiter(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe([1.0] * 6)
    capacity = trio.CapacityLimiter(2)
    results = await gather(*(partial(probe.fetch, i) for i in range(6)), limiter=capacity)
    assert results == tuple(i * 2 for i in range(6))
    assert probe.peak == 2
    assert trio.current_time() == 3
    assert capacity.borrowed_tokens == 0


async def test_gather_with_a_rate_and_a_capacity(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe([5.0] * 4)
    rate = RateLimiter(2, burst=1)
    capacity = trio.CapacityLimiter(3)
    await gather(*(partial(probe.fetch, i) for i in range(4)), limiter=(capacity, rate))
    # A slot, then a token: starts 0.5 s apart, at most 3 running.
    assert probe.starts == [0, 0.5, 1.0, 5.0]
    assert probe.peak == 3
    assert capacity.borrowed_tokens == 0


async def test_gather_gives_the_slots_back_on_failure_and_cancel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    capacity = trio.CapacityLimiter(1)

    async def fails() -> int:
        await trio.sleep(1)
        raise ValueError("failed")

    probe = Probe([10.0] * 3)
    with pytest.RaisesGroup(ValueError):
        await gather(fails, partial(probe.fetch, 0), partial(probe.fetch, 1), limiter=capacity)
    assert capacity.borrowed_tokens == 0
    assert capacity.statistics().tasks_waiting == 0
    with trio.move_on_after(3):
        await gather(partial(probe.fetch, 0), partial(probe.fetch, 1), limiter=capacity)
    assert capacity.borrowed_tokens == 0
    assert capacity.statistics().tasks_waiting == 0


async def test_race_respects_the_limiter(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe([3.0, 1.0, 1.0])
    capacity = trio.CapacityLimiter(1)
    # One at a time: the first to get the slot wins, however slow it is;
    # the others, still waiting for the limiter, are cancelled.
    winner = await race(*(partial(probe.fetch, i) for i in range(3)), limiter=capacity)
    assert probe.peak == 1
    assert len(probe.starts) == 1
    assert trio.current_time() == probe.durations[winner // 2]
    assert capacity.borrowed_tokens == 0
    assert capacity.statistics().tasks_waiting == 0


async def test_race_losers_give_their_slots_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe([5.0, 1.0, 5.0])
    capacity = trio.CapacityLimiter(3)
    assert await race(*(partial(probe.fetch, i) for i in range(3)), limiter=capacity) == 2
    assert probe.peak == 3
    assert trio.current_time() == 1
    assert capacity.borrowed_tokens == 0


@pytest.mark.parametrize("bad", BAD_LIMITERS)
async def test_gather_and_race_refuse_a_bad_limiter_at_once(bad: Any) -> None:
    probe = Probe([0.0])
    for helper in (gather, race):
        with (
            trio.testing.assert_no_checkpoints(),
            pytest.raises(
                TypeError,
                match=rf"^{helper.__name__}\(\): limiter must be usable as 'async with "
                r"limiter:' \(a trio.CapacityLimiter, trio.Semaphore, RateLimiter, "
                r"\.\.\.\) or a tuple of them, got ",
            ),
        ):
            await helper(partial(probe.fetch, 0), limiter=bad)
    assert probe.starts == []
