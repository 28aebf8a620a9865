"""Reliability: a stateful hypothesis test that attacks futures and joins.

A ``RuleBasedStateMachine`` drives a live trio run. The run lives in a thread
of its own (see ``_TrioDriver``); each rule is one synchronous step that the
machine hands to that run with ``trio.from_thread.run``. The step does one
thing (settle a future, start or cancel a waiter, start or cancel a join,
peek with ``get_nowait``), then waits until every task of the run is blocked
again (``trio.testing.wait_all_tasks_blocked``), and then checks every
invariant against a model, inside the run, before the next step:

* a future is settled at most once, and keeps its first answer: a losing
  ``set_*`` raises ``AlreadySetError``, a losing ``try_set_*`` returns False;
* every waiter (``get()``, ``outcome()``) that completed saw the settled value,
  or the very exception object that was stored;
* no waiter hangs: a waiter of a settled future has finished; a cancelled one
  ends inside its own cancel scope and never leaks ``Cancelled``;
* every join (``wait_all``, ``wait_any``, ``wait_settled``, ``as_completed``)
  over a random subset (repeats allowed) answers what the model says, as soon
  as the model says it can;
* ``statistics().tasks_waiting`` equals the number of parked waiters: the
  tasks parked in ``get()`` / ``outcome()`` plus one per parked join that
  watches the future (that is how ``FutureStatistics`` counts).

The steps and distinct model states explored are counted in ``_EXPLORED`` and
printed by ``test_future_state_machine`` (``pytest -s`` shows them).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import outcome
import pytest
import trio
import trio.testing
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from trio_promise import (
    AlreadySetError,
    Future,
    as_completed,
    wait_all,
    wait_any,
    wait_settled,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

T = TypeVar("T")

# Each example starts a trio run in a thread; this bounds how long a broken
# step may hang before the machine gives up (it is a safety net: a healthy
# step takes well under a millisecond, and the test never sleeps).
_THREAD_JOIN_TIMEOUT = 30.0

_JOINS_READY = False  # TEMP
_EXPLORED: dict[str, Any] = {"examples": 0, "steps": 0, "states": set()}


class _TrioDriver:
    """A trio run in a thread of its own, advanced one synchronous step at a time.

    The run's main task opens a nursery (where waiters and joins are started)
    and sleeps; the machine's thread calls :meth:`step`, which runs a sync
    function inside the run (in a system task, via ``trio.from_thread.run``),
    waits until every task is blocked, then runs the invariant check there.
    """

    def __init__(self, check: Callable[[], None]) -> None:
        self._check = check
        self._ready = threading.Event()
        self._result: outcome.Outcome[None] | None = None
        self.nursery: trio.Nursery | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._thread = threading.Thread(target=self._run, name="trio-driver")
        self._thread.start()
        assert self._ready.wait(_THREAD_JOIN_TIMEOUT), "trio run did not start"

    def _run(self) -> None:
        self._result = outcome.capture(trio.run, self._main)
        self._ready.set()  # unblock __init__ if the run failed to start

    async def _main(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            self._token = trio.lowlevel.current_trio_token()
            self._ready.set()
            await trio.sleep_forever()

    async def _step(self, fn: Callable[[], T]) -> outcome.Outcome[T]:
        result = outcome.capture(fn)
        await trio.testing.wait_all_tasks_blocked()
        self._check()
        return result

    def step(self, fn: Callable[[], T]) -> outcome.Outcome[T]:
        """Run ``fn()`` in the trio run, let the run settle, check invariants."""
        return trio.from_thread.run(self._step, fn, trio_token=self._token)

    def start(self, async_fn: Callable[[], Awaitable[None]]) -> None:
        """Start ``async_fn()`` in the run's nursery (call from inside a step)."""
        assert self.nursery is not None
        self.nursery.start_soon(async_fn)

    def close(self) -> None:
        """Cancel everything still running, end the run, re-raise its failure."""
        if self.nursery is not None and self._thread.is_alive():
            trio.from_thread.run_sync(
                self.nursery.cancel_scope.cancel, trio_token=self._token
            )
        self._thread.join(_THREAD_JOIN_TIMEOUT)
        assert not self._thread.is_alive(), "trio run did not end when cancelled"
        assert self._result is not None
        self._result.unwrap()


# -- the model ---------------------------------------------------------------


@dataclass(eq=False)
class _FutModel:
    fut: Future[int]
    index: int
    answer: outcome.Outcome[int] | None = None  # the one settle, once it happened
    settles: int = 0  # successful set_* / try_set_* calls: must stay <= 1


@dataclass(eq=False)
class _WaiterModel:
    fm: _FutModel
    use_outcome: bool  # await fut.outcome() instead of await fut.get()
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    cancel_requested_while_pending: bool = False
    finished: bool = False
    got: outcome.Outcome[int] | None = None

    @property
    def parked(self) -> bool:
        return not self.finished


@dataclass(eq=False)
class _JoinModel:
    kind: str  # "wait_all", "wait_any", "wait_settled" or "as_completed"
    fms: list[_FutModel]
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    finished: bool = False
    cancelled: bool = False
    got: outcome.Outcome[Any] | None = None
    yielded: list[Future[int]] = field(default_factory=list)  # as_completed only
    # What the model expects; None while the join must still be parked.
    expected: Any = None
    # wait_all: failures that were already there when the join started; any
    # one of them is a correct answer ("first failure to settle" cannot tell
    # them apart from the caller's side).
    acceptable_failures: list[BaseException] = field(default_factory=list)
    expected_order: list[Future[int]] = field(default_factory=list)  # as_completed


def _same_answer(got: outcome.Outcome[Any], want: outcome.Outcome[Any]) -> bool:
    if isinstance(want, outcome.Value):
        return isinstance(got, outcome.Value) and got.value == want.value
    assert isinstance(want, outcome.Error)
    return isinstance(got, outcome.Error) and got.error is want.error


class FutureMachine(RuleBasedStateMachine):
    """Random settles, waiters, cancellations and joins over a few futures."""

    futures = Bundle("futures")
    waiters = Bundle("waiters")
    joins = Bundle("joins")

    def __init__(self) -> None:
        super().__init__()
        self.fms: list[_FutModel] = []
        self.waiter_models: list[_WaiterModel] = []
        self.join_models: list[_JoinModel] = []
        self.counter = 0
        self.driver = _TrioDriver(self._check_invariants)
        _EXPLORED["examples"] += 1

    def teardown(self) -> None:
        self.driver.close()
        # The run is over: every task has ended, cancelled by the teardown or
        # finished before; nothing may be left watching any future.
        for fm in self.fms:
            assert fm.fut.statistics().tasks_waiting == 0

    # -- helpers ---------------------------------------------------------

    def _fresh(self) -> int:
        self.counter += 1
        return self.counter

    def _record_settle(self, fm: _FutModel, answer: outcome.Outcome[int]) -> None:
        """Update the model after a successful settle of ``fm``."""
        assert fm.answer is None, "a second settle succeeded"
        fm.answer = answer
        fm.settles += 1
        for jm in self.join_models:
            if jm.expected is None and not jm.cancelled and fm in jm.fms:
                self._update_join_expectation(jm, settled_now=fm)

    def _update_join_expectation(
        self, jm: _JoinModel, settled_now: _FutModel | None
    ) -> None:
        answers = [fm.answer for fm in jm.fms]
        if jm.kind == "wait_all":
            if settled_now is None:
                failures = [a.error for a in answers if isinstance(a, outcome.Error)]
                if failures:
                    jm.acceptable_failures = failures
                    jm.expected = "failure"
                    return
            elif isinstance(settled_now.answer, outcome.Error):
                jm.acceptable_failures = [settled_now.answer.error]
                jm.expected = "failure"
                return
            if all(a is not None for a in answers):
                jm.expected = outcome.Value(
                    [a.value for a in answers if isinstance(a, outcome.Value)]
                )
        elif jm.kind == "wait_settled":
            if all(a is not None for a in answers):
                jm.expected = answers
        elif jm.kind == "wait_any":
            if settled_now is None:
                for fm in jm.fms:
                    if fm.answer is not None:
                        jm.expected = fm.fut
                        return
            else:
                jm.expected = settled_now.fut
        else:
            assert jm.kind == "as_completed"
            if settled_now is None:
                for fm in jm.fms:
                    if fm.answer is not None and fm.fut not in jm.expected_order:
                        jm.expected_order.append(fm.fut)
            elif settled_now.fut not in jm.expected_order:
                jm.expected_order.append(settled_now.fut)
            if all(a is not None for a in answers):
                jm.expected = "all yielded"

    def _join_watches(self, jm: _JoinModel, fm: _FutModel) -> bool:
        """Whether the parked join ``jm`` should be counted in fm's statistics."""
        return (
            not jm.finished and jm.expected is None and fm.answer is None and fm in jm.fms
        )

    # -- invariants, checked inside the run after every step ---------------

    def _check_invariants(self) -> None:
        _EXPLORED["steps"] += 1
        state: list[tuple[Any, ...]] = []
        for fm in self.fms:
            fut = fm.fut
            assert fm.settles <= 1
            assert fut.done() == (fm.answer is not None)
            parked = sum(
                1 for w in self.waiter_models if w.fm is fm and w.parked
            ) + sum(1 for jm in self.join_models if self._join_watches(jm, fm))
            assert fut.statistics().tasks_waiting == parked, (fut, parked)
            if fm.answer is None:
                assert repr(fut) == f"<trio_promise.Future pending, {parked} waiting>"
                with pytest.raises(trio.WouldBlock):
                    fut.get_nowait()
            else:
                assert _same_answer(fut.outcome_nowait(), fm.answer)
                assert parked == 0
            state.append(
                (type(fm.answer).__name__, parked)
            )
        for w in self.waiter_models:
            if w.fm.answer is not None and not w.cancel_requested_while_pending:
                # Settled and not cancelled first: it must have woken up with
                # the one answer (no hang, no Cancelled).
                assert w.finished
                assert w.got is not None
                assert _same_answer(w.got, w.fm.answer)
            if w.cancel_requested_while_pending:
                assert w.finished
                assert w.got is None
                assert w.scope.cancelled_caught
            if not w.finished:
                assert w.fm.answer is None
        for jm in self.join_models:
            self._check_join(jm)
        _EXPLORED["states"].add(
            (
                tuple(state),
                sum(1 for w in self.waiter_models if w.parked),
                sum(1 for j in self.join_models if not j.finished),
            )
        )

    def _check_join(self, jm: _JoinModel) -> None:
        if jm.cancelled:
            assert jm.finished
            assert jm.got is None
            assert jm.scope.cancelled_caught
            return
        if jm.expected is None:
            assert not jm.finished, f"{jm.kind} returned early: {jm.got!r}"
            if jm.kind == "as_completed":
                assert jm.yielded == jm.expected_order
            return
        assert jm.finished, f"{jm.kind} hangs although the model says it is done"
        got = jm.got
        assert got is not None
        if jm.kind == "wait_all":
            if jm.expected == "failure":
                assert isinstance(got, outcome.Error)
                assert any(got.error is e for e in jm.acceptable_failures)
            else:
                assert isinstance(got, outcome.Value)
                assert got.value == jm.expected.value
        elif jm.kind == "wait_settled":
            assert isinstance(got, outcome.Value)
            assert len(got.value) == len(jm.expected)
            for each, want in zip(got.value, jm.expected):
                assert _same_answer(each, want)
        elif jm.kind == "wait_any":
            assert isinstance(got, outcome.Value)
            assert got.value is jm.expected
        else:
            assert isinstance(got, outcome.Value)
            assert jm.yielded == jm.expected_order
            assert len(jm.yielded) == len({id(fm.fut) for fm in jm.fms})

    # -- rules -----------------------------------------------------------

    @initialize(target=futures)
    def first_future(self) -> _FutModel:
        return self.new_future()

    @rule(target=futures)
    def new_future(self) -> _FutModel:
        fm = _FutModel(Future(), len(self.fms))
        self.fms.append(fm)
        self.driver.step(lambda: None)
        return fm

    def _setter_step(
        self, fm: _FutModel, call: Callable[[], Any], answer: outcome.Outcome[int]
    ) -> outcome.Outcome[Any]:
        was_pending = fm.answer is None

        def op() -> Any:
            try:
                result = call()
            except AlreadySetError:
                assert not was_pending
                raise
            if result is not False:
                assert was_pending
                self._record_settle(fm, answer)
            else:
                assert not was_pending
            return result

        return self.driver.step(op)

    @rule(fm=futures, value=st.integers(-3, 3))
    def set_result(self, fm: _FutModel, value: int) -> None:
        before = fm.answer
        result = self._setter_step(
            fm, lambda: fm.fut.set_result(value), outcome.Value(value)
        )
        if before is None:
            result.unwrap()
        else:
            with pytest.raises(AlreadySetError, match=r"^<trio_promise\.Future "):
                result.unwrap()
            assert fm.answer is before

    @rule(fm=futures)
    def set_exception(self, fm: _FutModel) -> None:
        before = fm.answer
        exc = ValueError(self._fresh())
        result = self._setter_step(
            fm, lambda: fm.fut.set_exception(exc), outcome.Error(exc)
        )
        if before is None:
            result.unwrap()
        else:
            with pytest.raises(AlreadySetError, match=r"^<trio_promise\.Future "):
                result.unwrap()

    @rule(fm=futures, value=st.integers(-3, 3), as_error=st.booleans())
    def set_outcome(self, fm: _FutModel, value: int, as_error: bool) -> None:
        before = fm.answer
        answer: outcome.Outcome[int] = (
            outcome.Error(KeyError(self._fresh())) if as_error else outcome.Value(value)
        )
        result = self._setter_step(fm, lambda: fm.fut.set_outcome(answer), answer)
        if before is None:
            result.unwrap()
        else:
            with pytest.raises(AlreadySetError):
                result.unwrap()

    @rule(fm=futures, value=st.integers(-3, 3))
    def try_set_result(self, fm: _FutModel, value: int) -> None:
        before = fm.answer
        result = self._setter_step(
            fm, lambda: fm.fut.try_set_result(value), outcome.Value(value)
        )
        assert result.unwrap() is (before is None)

    @rule(fm=futures)
    def try_set_exception(self, fm: _FutModel) -> None:
        before = fm.answer
        exc = RuntimeError(self._fresh())
        result = self._setter_step(
            fm, lambda: fm.fut.try_set_exception(exc), outcome.Error(exc)
        )
        assert result.unwrap() is (before is None)

    @rule(fm=futures)
    def get_nowait(self, fm: _FutModel) -> None:
        result = self.driver.step(fm.fut.get_nowait)
        if fm.answer is None:
            assert isinstance(result, outcome.Error)
            assert isinstance(result.error, trio.WouldBlock)
        else:
            assert _same_answer(result, fm.answer)

    @rule(target=waiters, fm=futures, use_outcome=st.booleans())
    def add_waiter(self, fm: _FutModel, use_outcome: bool) -> _WaiterModel:
        wm = _WaiterModel(fm, use_outcome)
        self.waiter_models.append(wm)

        async def waiter() -> None:
            with wm.scope:
                try:
                    if wm.use_outcome:
                        wm.got = await fm.fut.outcome()
                    else:
                        wm.got = outcome.Value(await fm.fut.get())
                except Exception as exc:  # the stored exception: keep it
                    wm.got = outcome.Error(exc)
            wm.finished = True

        self.driver.step(lambda: self.driver.start(waiter)).unwrap()
        return wm

    @rule(wm=waiters)
    def cancel_waiter(self, wm: _WaiterModel) -> None:
        def op() -> None:
            if not wm.finished:
                wm.cancel_requested_while_pending = True
            wm.scope.cancel()

        self.driver.step(op).unwrap()

    @precondition(lambda self: _JOINS_READY)
    @rule(
        target=joins,
        kind=st.sampled_from(["wait_all", "wait_any", "wait_settled", "as_completed"]),
        data=st.data(),
    )
    def add_join(self, kind: str, data: st.DataObject) -> _JoinModel:
        indices = data.draw(
            st.lists(st.integers(0, len(self.fms) - 1), min_size=1, max_size=4),
            label="futures of the join",
        )
        jm = _JoinModel(kind, [self.fms[i] for i in indices])
        futs = [fm.fut for fm in jm.fms]
        self.join_models.append(jm)

        async def join() -> None:
            with jm.scope:
                if jm.kind == "as_completed":
                    async for fut in as_completed(futs):
                        jm.yielded.append(fut)
                    jm.got = outcome.Value(None)
                else:
                    fn = {
                        "wait_all": wait_all,
                        "wait_any": wait_any,
                        "wait_settled": wait_settled,
                    }[jm.kind]
                    try:
                        jm.got = outcome.Value(await fn(futs))
                    except Exception as exc:  # wait_all's failure
                        jm.got = outcome.Error(exc)
            jm.finished = True

        def op() -> None:
            self._update_join_expectation(jm, settled_now=None)
            self.driver.start(join)

        self.driver.step(op).unwrap()
        return jm

    @precondition(lambda self: bool(self.join_models))
    @rule(jm=joins)
    def cancel_join(self, jm: _JoinModel) -> None:
        def op() -> None:
            if not jm.finished:
                jm.cancelled = True
            jm.scope.cancel()

        self.driver.step(op).unwrap()


def test_future_state_machine() -> None:
    before = _EXPLORED["steps"]
    run_state_machine_as_test(
        FutureMachine,
        settings=settings(max_examples=150, stateful_step_count=40, deadline=None),
    )
    steps = _EXPLORED["steps"] - before
    print(
        f"\nfuture state machine: {_EXPLORED['examples']} runs, {steps} checked steps, "
        f"{len(_EXPLORED['states'])} distinct model states"
    )
    assert steps > 1000
