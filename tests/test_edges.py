"""Edges that hold everywhere (API.md section 1 and 4): repr, statistics, scale.

Each test here sweeps a kind of defect, not one instance of it:

* every message or repr that shows a user's value stays short and never
  raises, whatever the value (huge, or with a ``__repr__`` that raises);
* every statistics object is frozen, comparable, copyable and picklable;
* joins that share one future cost O(1) each to park and leave, so k of
  them cost O(k) in all: 8 times the joins take about 8 times as long (a
  ratio of two runs in one process, never an absolute time).
"""

from __future__ import annotations

import copy
import pickle
import sys
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
import trio
import trio.testing

import trio_promise
from trio_promise import (
    AlreadySetError,
    AsCompleted,
    BrokenPromiseError,
    Correlator,
    Future,
    FutureStatistics,
    RateLimiter,
    RateLimiterStatistics,
    as_completed,
    spawn,
    wait_all,
    wait_any,
    wait_settled,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import FrameType


class BadRepr:
    """A value whose own repr raises."""

    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


class CountingRepr:
    """A value that counts how often its repr is built."""

    calls = 0

    def __repr__(self) -> str:
        CountingRepr.calls += 1
        return "<counted>"


HUGE_STR = "x" * 20_000_000
HUGE_BYTES = b"y" * 20_000_000
VALUES: dict[str, object] = {
    "raising repr": BadRepr(),
    "20 MB str": HUGE_STR,
    "20 MB bytes": HUGE_BYTES,
    "20 MB bytearray": bytearray(HUGE_BYTES),
    "list of a million": list(range(1_000_000)),
    "list holding a raising repr": [BadRepr()],
    "dict holding a raising repr": {"k": BadRepr()},
    "int too long to print": 10**5000,
}


@pytest.mark.parametrize("name", list(VALUES))
def test_repr_of_a_future_is_short_and_never_raises(name: str) -> None:
    value = VALUES[name]
    fut: Future[object] = Future()
    fut.set_result(value)
    text = repr(fut)
    assert text.startswith("<trio_promise.Future result=")
    assert len(text) <= 100
    # set_result on a settled future is still an AlreadySetError, naming it.
    with pytest.raises(
        AlreadySetError,
        match=r"^<trio_promise\.Future result=.{1,60}> is already settled; consider try_set_result\(\) if several tasks may settle it$",
    ):
        fut.set_result(value)


@pytest.mark.parametrize("name", list(VALUES))
def test_repr_of_a_failed_future_is_short_and_never_raises(name: str) -> None:
    fut: Future[object] = Future()
    fut.set_exception(ValueError(VALUES[name]))
    text = repr(fut)
    assert text.startswith("<trio_promise.Future exception=")
    assert "ValueError" in text
    assert len(text) <= 100
    with pytest.raises(AlreadySetError, match=r"^<trio_promise\.Future exception="):
        fut.set_exception(KeyError())


def test_huge_repr_is_cheap() -> None:
    # A 20 MB value costs a slice, not a 20 MB repr (tens of ms and 20 MB):
    # what is shown is its head, cut before the repr is built.
    fut: Future[bytes] = Future()
    fut.set_result(HUGE_BYTES)
    assert repr(fut) == "<trio_promise.Future result=b'" + "y" * 55 + "...>"
    fut2: Future[str] = Future()
    fut2.set_result(HUGE_STR)
    assert repr(fut2) == "<trio_promise.Future result='" + "x" * 56 + "...>"


def test_repr_is_built_once_per_message() -> None:
    fut: Future[CountingRepr] = Future()
    fut.set_result(CountingRepr())
    before = CountingRepr.calls
    repr(fut)
    assert CountingRepr.calls == before + 1


@pytest.mark.parametrize("name", list(VALUES))
async def test_correlator_messages_are_short_and_never_raise(name: str) -> None:
    # Keys must be hashable: a container becomes a tuple holding the same.
    value = VALUES[name]
    key: Any = value
    if isinstance(value, list):
        key = tuple(cast("list[object]", value))
    elif isinstance(value, bytearray):
        key = bytes(value)
    elif isinstance(value, dict):
        key = ("k", cast("dict[str, object]", value)["k"])
    replies: Correlator[Any, int] = Correlator(quarantine=60)
    with replies.expect(key) as fut:
        with (
            pytest.raises(
                ValueError,
                match=r"^key .{1,60} is already in flight; ids must not be reused while a request is pending$",
            ),
            replies.expect(key),
        ):
            pytest.fail("refused")  # pragma: no cover
        assert len(repr(replies)) < 100
    with pytest.raises(
        BrokenPromiseError,
        match=r"^the correlator stopped waiting for key .{1,60}: its 'with expect\(\)' block exited before the reply came; wait on the future inside the block$",
    ):
        fut.get_nowait()
    with (
        pytest.raises(
            ValueError,
            match=r"^key .{1,60} is quarantined: a request with this id was abandoned without a reply less than 60 seconds ago, and its reply may still come; take ids from next_key\(\), which skips it$",
        ),
        replies.expect(key),
    ):
        pytest.fail("refused")  # pragma: no cover
    replies.close()
    with (
        pytest.raises(
            BrokenPromiseError,
            match=r"^the correlator is closed, so no reply can come for key .{1,60}; open a new connection and a new correlator$",
        ),
        replies.expect(key),
    ):
        pytest.fail("refused")  # pragma: no cover


async def test_spawn_message_for_a_sync_function_is_short() -> None:
    def not_async() -> bytes:
        return HUGE_BYTES

    async with trio.open_nursery() as nursery:
        with pytest.raises(
            TypeError,
            match=r"^spawn\(\) needs an async function, but .* returned bytes b'y{55}\.\.\.; is it missing 'async def'\?$",
        ):
            spawn(nursery, not_async)  # type: ignore[arg-type]


def test_expect_without_with_says_to_use_with() -> None:
    replies: Correlator[int, str] = Correlator()
    fut: Any = replies.expect(1)
    with pytest.raises(
        AttributeError,
        match=r"^Correlator\.expect\(\) returns a context manager, not a future, so it has no attribute 'get'; use 'with correlator\.expect\(key\) as fut:' and wait with 'await fut\.get\(\)' inside the block$",
    ):
        fut.get()
    with pytest.raises(AttributeError, match=r"^__await__$"):
        fut.__await__  # noqa: B018
    with fut as real:
        assert isinstance(real, Future)


@pytest.mark.parametrize("burst", [10**400, 2**1024], ids=["10**400", "2**1024"])
def test_rate_limiter_huge_burst_is_a_value_error(burst: int) -> None:
    with pytest.raises(
        ValueError,
        match=r"^RateLimiter\(\): burst is too large to count tokens with, got an int of \d+ bits; any burst above the number of acquisitions you expect in all is the same as no burst limit$",
    ):
        RateLimiter(1, burst=burst)


@pytest.mark.parametrize("rate", [10**400, 10**5000], ids=["10**400", "10**5000"])
def test_rate_limiter_huge_rate_is_a_value_error(rate: int) -> None:
    with pytest.raises(
        ValueError,
        match=r"^RateLimiter\(\): rate must be a positive, finite number of acquisitions per second, got .{1,60}; for no rate limit, pass no RateLimiter$",
    ):
        RateLimiter(rate)


STATISTICS: list[Any] = [
    FutureStatistics(tasks_waiting=3),
    RateLimiterStatistics(tasks_waiting=1, tokens=0.5),
    trio.Event().statistics(),  # the model
]


@pytest.mark.parametrize("stats", STATISTICS, ids=lambda s: type(s).__name__)
def test_statistics_are_frozen_comparable_copyable_picklable(stats: Any) -> None:
    for twin in (
        copy.copy(stats),
        copy.deepcopy(stats),
        pickle.loads(pickle.dumps(stats)),
    ):
        assert twin == stats
        assert type(twin) is type(stats)
    with pytest.raises(AttributeError):
        stats.tasks_waiting = 99
    assert hash(stats) == hash(copy.copy(stats))


async def test_rate_limiter_statistics_outside_a_run_and_after_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rate = RateLimiter(10, burst=2)
    assert rate.statistics() == RateLimiterStatistics(tasks_waiting=0, tokens=2.0)
    await rate.acquire()
    inside = rate.statistics()
    assert inside.tokens == pytest.approx(1.0)
    outside: list[RateLimiterStatistics] = []
    await trio.to_thread.run_sync(lambda: outside.append(rate.statistics()))
    # From a thread (no run there), it shows the bucket as of the last use.
    assert outside[0].tokens == pytest.approx(1.0)


def test_as_completed_iterator_refuses_subclassing() -> None:
    with pytest.raises(
        TypeError, match=r"^trio_promise\.AsCompleted does not support subclassing$"
    ):

        class Sub(AsCompleted):  # type: ignore[misc,type-arg]
            pass


async def test_as_completed_works_with_aclosing() -> None:
    never: Future[int] = Future()
    done: Future[int] = Future()
    done.set_result(1)
    async with aclosing(as_completed([done, never])) as iterator:
        async for fut in iterator:
            assert fut is done
            break
    assert never.statistics().tasks_waiting == 0


# -- scale: k joins on one shared future ---------------------------------------


def _count_library_lines() -> tuple[list[int], Callable[[FrameType, str, object], Any]]:
    """A trace function that counts line events in trio_promise's own frames."""
    count = [0]
    package = str(Path(trio_promise.__file__).parent)

    def local(frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            count[0] += 1
        return local

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        # Other code (trio, the test) is not traced line by line.
        return local if frame.f_code.co_filename.startswith(package) else None

    return count, tracer


async def _park_and_leave(
    k: int, join: Callable[[list[Future[int]]], Awaitable[object]]
) -> int:
    """Park k joins on one shared future, then cancel them all.

    Returns the number of lines the library executed meanwhile: a count,
    not a time, so the result is the same on an idle and on a loaded
    machine.
    """
    stop: Future[int] = Future()
    own = [Future[int]() for _ in range(k)]

    async def one(index: int) -> None:
        await join([stop, own[index]])

    count, tracer = _count_library_lines()
    previous = sys.gettrace()  # coverage's, when it measures this run
    async with trio.open_nursery() as nursery:
        sys.settrace(tracer)
        try:
            for index in range(k):
                nursery.start_soon(one, index)
            await trio.testing.wait_all_tasks_blocked()
            # Every join's hook sits in one dict: O(1) to add and to remove
            # (a list here made k joins cost O(k**2)).
            assert stop.statistics().tasks_waiting == k
            hooks: object = stop._hooks  # pyright: ignore[reportPrivateUsage]
            assert type(hooks) is dict
            assert len(cast("dict[object, None]", hooks)) == k
            nursery.cancel_scope.cancel()  # every join leaves: k removals
        finally:
            sys.settrace(previous)
    assert stop._hooks is None  # pyright: ignore[reportPrivateUsage]
    assert stop.statistics().tasks_waiting == 0
    return count[0]


async def _wait_any(futs: list[Future[int]]) -> object:
    return await wait_any(futs)


async def _wait_all(futs: list[Future[int]]) -> object:
    return await wait_all(futs)


async def _wait_settled(futs: list[Future[int]]) -> object:
    return await wait_settled(futs)


async def _as_completed(futs: list[Future[int]]) -> object:
    async for fut in as_completed(futs):
        return fut
    return None  # pragma: no cover


JOINS = {
    "wait_any": _wait_any,
    "wait_all": _wait_all,
    "wait_settled": _wait_settled,
    "as_completed": _as_completed,
}


@pytest.mark.parametrize("name", list(JOINS))
async def test_joins_sharing_one_future_scale_linearly(name: str) -> None:
    # Linear in the number of joins (API.md section 4): 8 times the joins
    # make the library run 8 times the lines, give or take a constant. The
    # lines are counted, not timed, and trio's own work is not counted. The
    # hook table's type is checked above: C-level scans (list.remove) would
    # not show up as lines.
    join = JOINS[name]
    small = await _park_and_leave(500, join)
    large = await _park_and_leave(4_000, join)
    assert large <= 8 * small + 100, f"{name}: {small} -> {large} lines for 8 times the joins"
    assert large >= 8 * small - 100
