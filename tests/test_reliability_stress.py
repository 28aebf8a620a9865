"""Reliability: many waiters, many futures, many requests, at once.

Every test is bounded by ``trio.fail_after`` on the autojump clock: if a task
hangs, the clock jumps to the deadline and the test fails with TooSlowError
instead of hanging the suite. Randomness is seeded; trio may still order the
tasks of one scheduling round differently from run to run (it shuffles them
under pytest-trio), and no assertion depends on that order.
"""

from __future__ import annotations

import random

import outcome
import trio
import trio.testing

from trio_promise import (
    BrokenPromiseError,
    Correlator,
    Future,
    as_completed,
    wait_all,
    wait_any,
    wait_settled,
)

WAITERS = 100_000
# The variants (a shared exception, cancellations) test what happens to each
# waiter, not the scale; 20,000 keeps the file fast.
SOME_WAITERS = 20_000
FUTURES = 100_000
REQUESTS = 10_000

# Virtual seconds (autojump clock): only reached if something hangs.
DEADLINE = 1_000


async def test_100k_waiters_on_one_future(autojump_clock: trio.abc.Clock) -> None:
    fut: Future[object] = Future()
    token = object()
    got: list[object] = []

    async def by_get() -> None:
        got.append(await fut.get())

    async def by_outcome() -> None:
        got.append((await fut.outcome()).unwrap())

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            for i in range(WAITERS):
                nursery.start_soon(by_outcome if i % 2 else by_get)
            await trio.testing.wait_all_tasks_blocked()
            assert fut.statistics().tasks_waiting == WAITERS
            assert repr(fut) == f"<trio_promise.Future pending, {WAITERS} waiting>"
            fut.set_result(token)
            assert fut.statistics().tasks_waiting == 0
    assert len(got) == WAITERS
    assert all(each is token for each in got)


async def test_20k_waiters_share_one_exception(autojump_clock: trio.abc.Clock) -> None:
    fut: Future[int] = Future()
    boom = ValueError("boom")
    seen: list[BaseException] = []

    async def waiter() -> None:
        try:
            await fut.get()
        except ValueError as exc:
            seen.append(exc)

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            for _ in range(SOME_WAITERS):
                nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            fut.set_exception(boom)
    assert len(seen) == SOME_WAITERS
    assert all(each is boom for each in seen)
    # The traceback does not grow from one waiter to the next.
    assert boom.__context__ is None
    depth = 0
    tb = boom.__traceback__
    while tb is not None:
        depth += 1
        tb = tb.tb_next
    assert depth < 10


async def test_20k_waiters_half_cancelled(autojump_clock: trio.abc.Clock) -> None:
    """Half the waiters are cancelled while parked; the others still get it."""
    fut: Future[int] = Future()
    got: list[int] = []
    scopes: list[trio.CancelScope] = []
    cancelled = 0

    async def waiter(scope: trio.CancelScope) -> None:
        nonlocal cancelled
        with scope:
            got.append(await fut.get())
        if scope.cancelled_caught:
            cancelled += 1

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            for _ in range(SOME_WAITERS):
                scope = trio.CancelScope()
                scopes.append(scope)
                nursery.start_soon(waiter, scope)
            await trio.testing.wait_all_tasks_blocked()
            for scope in scopes[::2]:
                scope.cancel()
            await trio.testing.wait_all_tasks_blocked()
            assert cancelled == SOME_WAITERS // 2
            assert fut.statistics().tasks_waiting == SOME_WAITERS // 2
            fut.set_result(7)
    assert got == [7] * (SOME_WAITERS // 2)
    assert fut.statistics().tasks_waiting == 0


def _settled_in_random_order(futures: list[Future[int]], seed: int) -> list[int]:
    order = list(range(len(futures)))
    random.Random(seed).shuffle(order)
    return order


async def test_100k_futures_in_one_wait_all(autojump_clock: trio.abc.Clock) -> None:
    futures: list[Future[int]] = [Future() for _ in range(FUTURES)]
    # The same future twice: answered per position.
    joined = [*futures, futures[0]]
    result: list[list[int]] = []

    async def join() -> None:
        result.append(await wait_all(joined))

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(join)
            await trio.testing.wait_all_tasks_blocked()
            assert all(f.statistics().tasks_waiting == 1 for f in futures)
            for i in _settled_in_random_order(futures, seed=1):
                futures[i].set_result(i)
    assert result == [[*range(FUTURES), 0]]
    assert all(f.statistics().tasks_waiting == 0 for f in futures)


async def test_100k_futures_wait_all_fails_fast(autojump_clock: trio.abc.Clock) -> None:
    """One failure in the middle ends the join and unhooks every other future."""
    futures: list[Future[int]] = [Future() for _ in range(FUTURES)]
    boom = KeyError("boom")
    failures: list[BaseException] = []

    async def join() -> None:
        try:
            await wait_all(futures)
        except KeyError as exc:
            failures.append(exc)

    order = _settled_in_random_order(futures, seed=2)
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(join)
            await trio.testing.wait_all_tasks_blocked()
            for i in order[: FUTURES // 2]:
                futures[i].set_result(i)
            futures[order[FUTURES // 2]].set_exception(boom)
    assert failures == [boom]
    assert failures[0] is boom
    # The other half is left alone: still pending, and nobody watches it.
    for i in order[FUTURES // 2 + 1 :]:
        assert not futures[i].done()
        assert futures[i].statistics().tasks_waiting == 0


async def test_100k_futures_wait_settled(autojump_clock: trio.abc.Clock) -> None:
    futures: list[Future[int]] = [Future() for _ in range(FUTURES)]
    errors = {i: ValueError(i) for i in range(0, FUTURES, 7)}
    result: list[list[outcome.Outcome[int]]] = []

    async def join() -> None:
        result.append(await wait_settled(futures))

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(join)
            await trio.testing.wait_all_tasks_blocked()
            for i in _settled_in_random_order(futures, seed=3):
                if i in errors:
                    futures[i].set_exception(errors[i])
                else:
                    futures[i].set_result(i)
    [outcomes] = result
    assert len(outcomes) == FUTURES
    for i, each in enumerate(outcomes):
        if i in errors:
            assert isinstance(each, outcome.Error)
            assert each.error is errors[i]
        else:
            assert each == outcome.Value(i)


async def test_100k_futures_as_completed(autojump_clock: trio.abc.Clock) -> None:
    futures: list[Future[int]] = [Future() for _ in range(FUTURES)]
    # A tenth is settled before the join starts: those come first, in order.
    early = list(range(0, FUTURES, 10))
    for i in early:
        futures[i].set_result(i)
    late = [i for i in _settled_in_random_order(futures, seed=4) if i % 10]
    yielded: list[Future[int]] = []

    async def join() -> None:
        async for fut in as_completed(futures):
            yielded.append(fut)

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(join)
            await trio.testing.wait_all_tasks_blocked()
            for i in late:
                futures[i].set_result(i)
                # Now and then let the join catch up, so that it iterates
                # while futures are still settling.
                if i % 1000 == 1:
                    await trio.testing.wait_all_tasks_blocked()
    # Each once; the settled ones first, in input order, then the others in
    # the order they settled.
    assert [f.get_nowait() for f in yielded] == early + late


async def test_wait_any_over_100k_futures(autojump_clock: trio.abc.Clock) -> None:
    futures: list[Future[int]] = [Future() for _ in range(FUTURES)]
    winner: list[Future[int]] = []

    async def join() -> None:
        winner.append(await wait_any(futures))

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(join)
            await trio.testing.wait_all_tasks_blocked()
            futures[FUTURES - 1].set_result(1)
            futures[0].set_result(0)
    assert winner == [futures[FUTURES - 1]]
    assert all(f.statistics().tasks_waiting == 0 for f in futures)


# -- Correlator: 10,000 requests, random cancellations, close() midway --------


async def test_10k_correlator_requests_with_cancellations_and_close(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Nothing hangs, nothing is lost, nobody gets another caller's reply.

    Callers arrive over 20 virtual seconds; each registers its id, "sends"
    it to a fake server and waits. The server answers in random order after
    random delays (0-10 s). About 30% of the callers give up after a random
    patience (their own cancel scope). Half-way through, the reader "dies" and
    closes the correlator with its crash as the cause. Every caller must end
    with exactly one of: its own reply, BrokenPromiseError chained to the
    crash (it was in flight), BrokenPromiseError from ``expect`` (it came
    after the close), or its own cancellation. The key of a caller that gave
    up is quarantined for 5 s: the replies that come for it meanwhile are
    counted as late, the others as unknown.
    """
    rng = random.Random(5)
    replies: Correlator[int, tuple[str, int]] = Correlator(quarantine=5)
    wire_send, wire_recv = trio.open_memory_channel[int](REQUESTS)
    ends: dict[int, str] = {}
    crash = ConnectionResetError("reader died")
    close_after = REQUESTS // 2
    answered = 0
    late = 0

    async def caller(msg_id: int, patience: float | None) -> None:
        result: outcome.Outcome[tuple[str, int]] | None = None
        with trio.move_on_after(patience if patience is not None else 10 * DEADLINE):
            try:
                entry = replies.expect(msg_id)
                with entry as fut:
                    wire_send.send_nowait(msg_id)
                    result = await fut.outcome()
            except BrokenPromiseError as exc:
                # Raised when the block is entered: fut.outcome() raises nothing.
                assert str(exc).startswith("the correlator is closed, so ")  # noqa: PT017
                ends[msg_id] = "refused"
                await trio.lowlevel.checkpoint()
                return
        assert msg_id not in replies
        if result is None:
            ends[msg_id] = "gave up"
        elif isinstance(result, outcome.Error):
            assert isinstance(result.error, BrokenPromiseError)
            assert result.error.__cause__ is crash
            ends[msg_id] = "broken"
        else:
            assert isinstance(result, outcome.Value)
            assert result.value == ("reply to", msg_id)  # its own, nobody else's
            ends[msg_id] = "reply"

    async def answer(msg_id: int, delay: float) -> None:
        nonlocal answered, late
        await trio.sleep(delay)
        if replies.resolve(msg_id, ("reply to", msg_id)):
            answered += 1
        else:
            late += 1  # its caller gave up, or the reader was closed

    async def server() -> None:
        async with trio.open_nursery() as nursery:
            seen = 0
            async for msg_id in wire_recv:
                nursery.start_soon(answer, msg_id, rng.uniform(0, 10))
                seen += 1
                if seen == close_after:
                    replies.close(crash)

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server)
            async with trio.open_nursery() as callers:
                for msg_id in range(REQUESTS):
                    patience = rng.uniform(0, 10) if rng.random() < 0.3 else None
                    callers.start_soon(caller, msg_id, patience)
                    if msg_id % 100 == 99:
                        await trio.sleep(0.2)
            wire_send.close()  # every caller has ended: the server can stop
    assert len(replies) == 0
    assert replies.closed
    assert len(ends) == REQUESTS  # every caller ended, and only once
    outcomes = list(ends.values())
    counts = {kind: outcomes.count(kind) for kind in sorted(set(outcomes))}
    assert set(counts) == {"reply", "broken", "refused", "gave up"}
    assert counts["reply"] == answered
    assert answered + late == REQUESTS - counts["refused"]
    stats = replies.statistics()
    assert stats.in_flight == stats.quarantined == 0  # the close dropped them
    assert stats.late_replies + stats.unknown_replies == late
    assert stats.late_replies > 0
    print(f"\ncorrelator stress: {REQUESTS} requests -> {counts}; {late} late replies")
