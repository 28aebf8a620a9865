"""Correlator: the request/response contract of API.md section 6.

Everything here is deterministic: direct calls, trio.testing memory streams,
``wait_all_tasks_blocked()`` and the autojump clock; no real time.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import pickle
import sys
import traceback
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, cast

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_promise import (
    BrokenPromiseError,
    Correlator,
    CorrelatorStatistics,
    Future,
    wait_any,
)
from trio_promise._future import add_hook

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

log = logging.getLogger("test_correlator")


# -- the happy path, directly ------------------------------------------------


async def test_expect_then_resolve_hands_over_the_value() -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(7) as fut:
        assert isinstance(fut, Future)
        assert 7 in replies
        assert len(replies) == 1
        assert replies.resolve(7, "seven")
        # The reply is in: the key is free at once, while the block goes on.
        assert 7 not in replies
        assert len(replies) == 0
        assert await fut.get() == "seven"
    assert 7 not in replies
    assert len(replies) == 0


async def test_fail_raises_the_exception_itself() -> None:
    replies: Correlator[int, str] = Correlator()
    error = KeyError("no such method")
    with replies.expect(1) as fut:
        assert replies.fail(1, error)
        with pytest.raises(KeyError) as info:
            await fut.get()
        assert info.value is error
    assert len(replies) == 0


def test_resolve_and_fail_are_false_for_unknown_gone_or_settled_keys() -> None:
    replies: Correlator[int, str] = Correlator()
    assert not replies.resolve(1, "unknown")
    assert not replies.fail(1, ValueError("unknown"))
    with replies.expect(1) as fut:
        assert replies.resolve(1, "first")
        assert not replies.resolve(1, "second")
        assert not replies.fail(1, ValueError("late"))
        assert fut.get_nowait() == "first"
    assert not replies.resolve(1, "gone")
    assert not replies.fail(1, ValueError("gone"))


async def test_a_join_watching_a_request_is_woken_by_its_reply() -> None:
    replies: Correlator[int, str] = Correlator()
    got: list[Future[str]] = []
    with replies.expect(1) as fut:

        async def join() -> None:
            got.append(await wait_any([fut]))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(join)
            await trio.testing.wait_all_tasks_blocked()
            assert fut.statistics().tasks_waiting == 1
            assert replies.resolve(1, "one")
    assert got == [fut]
    assert fut.get_nowait() == "one"


def test_fail_settles_before_a_later_resolve() -> None:
    replies: Correlator[str, int] = Correlator()
    with replies.expect("a") as fut:
        assert replies.fail("a", ValueError("first"))
        assert not replies.resolve("a", 1)
        with pytest.raises(ValueError, match=r"^first$"):
            fut.get_nowait()


def test_a_reply_before_anybody_waits_is_kept() -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(3) as fut:
        assert not fut.done()
        replies.resolve(3, "early")
        assert fut.get_nowait() == "early"


def test_keys_can_be_any_hashable() -> None:
    replies: Correlator[Any, int] = Correlator()
    with replies.expect(None) as a, replies.expect(("x", 1)) as b:
        assert replies.resolve(None, 1)
        assert replies.resolve(("x", 1), 2)
        assert (a.get_nowait(), b.get_nowait()) == (1, 2)


def test_equal_keys_are_the_same_key() -> None:
    replies: Correlator[float, str] = Correlator()
    with replies.expect(1) as fut:
        assert 1.0 in replies
        assert replies.resolve(1.0, "one")
        assert fut.get_nowait() == "one"


# -- key rules -----------------------------------------------------------------


def test_a_key_in_flight_is_refused() -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(7) as fut:
        with (
            pytest.raises(
                ValueError,
                match=r"^key 7 is already in flight; ids must not be reused while a "
                r"request is pending$",
            ),
            replies.expect(7),
        ):
            pytest.fail("the block of a refused key must not run")  # pragma: no cover
        # The refused block registered nothing and removed nothing.
        assert len(replies) == 1
        assert not fut.done()
        assert replies.resolve(7, "x")
    assert fut.get_nowait() == "x"


def test_a_resolved_key_can_be_expected_again_inside_the_first_block() -> None:
    # resolve() frees the key at once: another request may reuse the id
    # while the first caller is still in its block, and neither exit touches
    # the other's entry.
    replies: Correlator[int, str] = Correlator()
    with replies.expect(7) as first:
        assert replies.resolve(7, "a")
        with replies.expect(7) as second:
            assert 7 in replies
            assert not second.done()
            assert replies.resolve(7, "b")
            assert second.get_nowait() == "b"
        assert 7 not in replies
    assert first.get_nowait() == "a"
    assert replies.statistics().unknown_replies == 0


def test_a_key_is_free_again_once_its_block_exits() -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(1) as first:
        replies.resolve(1, "a")
    with replies.expect(1) as second:
        assert second is not first
        assert not second.done()
        replies.resolve(1, "b")
    assert first.get_nowait() == "a"
    assert second.get_nowait() == "b"


def test_unhashable_key_in_expect_is_a_type_error() -> None:
    replies: Correlator[Any, str] = Correlator()
    with (
        pytest.raises(
            TypeError,
            match=r"^correlator keys must be hashable \(use the request id\), got list$",
        ) as info,
        replies.expect([1]),
    ):
        pytest.fail("an unhashable key must not be registered")  # pragma: no cover
    # The dict's own message is kept as the cause: it names the inner culprit.
    assert isinstance(info.value.__cause__, TypeError)
    assert len(replies) == 0


def test_unhashable_key_in_expect_is_refused_before_the_closed_check() -> None:
    replies: Correlator[Any, str] = Correlator()
    replies.close()
    with (
        pytest.raises(TypeError, match=r"^correlator keys must be hashable"),
        replies.expect({}),
    ):
        pytest.fail("an unhashable key must not be registered")  # pragma: no cover


def test_unhashable_key_in_resolve_or_fail_is_just_unknown() -> None:
    # Keys come from the wire: a reader must not die of a peer's bad id.
    replies: Correlator[Any, str] = Correlator()
    with replies.expect(1):
        assert not replies.resolve([1], "x")
        assert not replies.fail({"id": 1}, ValueError())
        assert len(replies) == 1


def test_unhashable_key_in_contains_is_a_type_error_as_for_a_dict() -> None:
    replies: Correlator[Any, str] = Correlator()
    with pytest.raises(TypeError, match=r"^unhashable type: 'list'$"):
        _ = [1] in replies


@pytest.mark.parametrize(
    ("exc", "match"),
    [
        (
            ValueError,
            r"^fail\(\) needs an exception instance, got the class "
            r"ValueError; did you mean ValueError\(\)\?$",
        ),
        (
            KeyboardInterrupt(),
            r"^fail\(\) refuses KeyboardInterrupt: only "
            r"Exception instances can be stored",
        ),
        ("boom", r"^fail\(\) needs an Exception instance, got str$"),
    ],
)
def test_fail_with_a_bad_exception_is_a_type_error_whatever_the_key(
    exc: Any, match: str
) -> None:
    replies: Correlator[int, str] = Correlator()
    with pytest.raises(TypeError, match=match):
        replies.fail(99, exc)
    with replies.expect(1) as fut:
        with pytest.raises(TypeError, match=match):
            replies.fail(1, exc)
        assert not fut.done()
        replies.resolve(1, "still works")
    with pytest.raises(TypeError, match=match):
        replies.fail(1, exc)


async def test_fail_refuses_a_real_cancelled() -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(1) as fut, trio.CancelScope() as scope:
        scope.cancel()
        try:
            await trio.lowlevel.checkpoint()
        except trio.Cancelled as cancelled:
            with pytest.raises(TypeError, match=r"^fail\(\) refuses Cancelled: "):
                replies.fail(1, cancelled)  # type: ignore[arg-type]
            raise
    # Nothing was stored: the future was failed only by the block's exit.
    with pytest.raises(BrokenPromiseError, match=r"^the correlator stopped waiting"):
        fut.get_nowait()


# -- leaving the block ---------------------------------------------------------


async def test_a_cancelled_caller_removes_its_entry_at_once() -> None:
    replies: Correlator[int, str] = Correlator()
    with trio.move_on_after(0) as scope, replies.expect(5) as fut:
        await fut.get()
    assert scope.cancelled_caught
    assert 5 not in replies
    assert len(replies) == 0
    # The late reply finds nobody.
    assert not replies.resolve(5, "late")
    # The key can be used again.
    with replies.expect(5) as again:
        replies.resolve(5, "fresh")
        assert await again.get() == "fresh"


async def test_an_unanswered_future_fails_when_its_block_exits() -> None:
    # Somebody else holding the future must not wait for a reply that the
    # correlator will no longer deliver.
    replies: Correlator[int, str] = Correlator()
    with replies.expect(4) as fut:
        pass
    with pytest.raises(
        BrokenPromiseError,
        match=r"^the correlator stopped waiting for key 4: its 'with expect\(\)' "
        r"block exited before the reply came; wait on the future inside the block$",
    ):
        await fut.get()
    assert not replies.resolve(4, "late")


def test_an_exception_in_the_block_propagates_and_removes_the_entry() -> None:
    replies: Correlator[int, str] = Correlator()
    with pytest.raises(OSError, match=r"^send failed$"), replies.expect(1):
        raise OSError("send failed")
    assert len(replies) == 0


def test_exit_is_idempotent_and_never_removes_a_reused_key() -> None:
    replies: Correlator[int, str] = Correlator()
    first = replies.expect(1)
    with first as fut:
        replies.resolve(1, "a")
    second = replies.expect(1)
    with second:
        # A stray second exit of the old expectation must not remove the new one.
        first.__exit__(None, None, None)
        assert 1 in replies
        assert replies.resolve(1, "b")
    assert len(replies) == 0
    second.__exit__(None, None, None)
    assert len(replies) == 0
    assert fut.get_nowait() == "a"


def test_expect_without_with_registers_nothing() -> None:
    replies: Correlator[int, str] = Correlator()
    expectation = replies.expect(2)
    assert 2 not in replies
    assert len(replies) == 0
    assert not replies.resolve(2, "too early")
    # Nothing was registered, so the key is not "already in flight".
    with replies.expect(2) as fut:
        assert 2 in replies
        assert replies.resolve(2, "two")
    assert fut.get_nowait() == "two"
    # An exit without an enter does nothing either.
    expectation.__exit__(None, None, None)
    assert len(replies) == 0
    assert replies.statistics().quarantined == 0


def test_the_key_is_registered_when_the_block_is_entered() -> None:
    replies: Correlator[int, str] = Correlator()
    expectation = replies.expect(2)
    with expectation as fut:
        assert 2 in replies
        assert replies.resolve(2, "two")
    assert fut.get_nowait() == "two"
    assert len(replies) == 0


def test_an_expectation_can_be_entered_again_after_it_exited() -> None:
    replies: Correlator[int, str] = Correlator()
    expectation = replies.expect(2)
    with expectation as first:
        replies.resolve(2, "a")
    with expectation as second:
        assert second is not first
        assert 2 in replies
    with pytest.raises(BrokenPromiseError, match=r"^the correlator stopped waiting"):
        second.get_nowait()
    assert first.get_nowait() == "a"


def test_expectation_repr() -> None:
    replies: Correlator[int, str] = Correlator()
    expectation = replies.expect(4)
    assert repr(expectation) == "<expectation of key 4: not entered>"
    with expectation:
        assert repr(expectation) == (
            "<expectation of key 4: <trio_promise.Future pending, 0 waiting>>"
        )


# -- close -----------------------------------------------------------------------


async def test_close_fails_every_pending_caller_and_drops_every_entry() -> None:
    replies: Correlator[int, str] = Correlator()
    cause = ConnectionResetError("peer went away")
    errors: dict[int, BaseException] = {}

    async def caller(key: int) -> None:
        with replies.expect(key) as fut:
            try:
                await fut.get()
            except BrokenPromiseError as exc:
                errors[key] = exc

    async with trio.open_nursery() as nursery:
        for key in (1, 2, 3):
            nursery.start_soon(caller, key)
        await trio.testing.wait_all_tasks_blocked()
        assert len(replies) == 3
        replies.close(cause)
        assert len(replies) == 0
        assert replies.closed
        assert 1 not in replies
    assert sorted(errors) == [1, 2, 3]
    for key, exc in errors.items():
        assert str(exc) == (
            f"the correlator was closed with 3 requests in flight, so no reply "
            f"will come for key {key}"
        )
        assert exc.__cause__ is cause
    # Each caller gets its own error object (tracebacks are not shared).
    assert len({id(exc) for exc in errors.values()}) == 3


def test_close_leaves_settled_futures_alone() -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(1) as done, replies.expect(2) as pending:
        replies.resolve(1, "answered")
        replies.close()
        assert len(replies) == 0
        assert done.get_nowait() == "answered"
        with pytest.raises(
            BrokenPromiseError,
            match=r"^the correlator was closed with 1 request in flight, so no "
            r"reply will come for key 2$",
        ) as info:
            pending.get_nowait()
        assert info.value.__cause__ is None
    # The exits after close() find nothing to remove and do no harm.
    assert len(replies) == 0


def test_after_close_expect_refuses_and_resolve_is_false() -> None:
    replies: Correlator[int, str] = Correlator()
    replies.close()
    assert replies.closed
    with (
        pytest.raises(
            BrokenPromiseError,
            match=r"^the correlator is closed, so no reply can come for key 1; open "
            r"a new connection and a new correlator$",
        ),
        replies.expect(1),
    ):
        pytest.fail("a closed correlator registers nothing")  # pragma: no cover
    assert len(replies) == 0
    assert not replies.resolve(1, "x")
    assert not replies.fail(1, ValueError())


def test_close_is_idempotent_and_keeps_the_first_cause() -> None:
    replies: Correlator[int, str] = Correlator()
    first = OSError("first")
    with replies.expect(1) as fut:
        replies.close(first)
        replies.close(ValueError("second"))
        replies.close()
    with pytest.raises(BrokenPromiseError) as info:
        fut.get_nowait()
    assert info.value.__cause__ is first


@pytest.mark.parametrize(
    ("cause", "match"),
    [
        (
            ValueError,
            r"^close\(\) needs an exception instance or None as the cause, "
            r"got <class 'ValueError'>; did you mean ValueError\(\)\?$",
        ),
        (
            "reader ended",
            r"^close\(\) needs an exception instance or None as the "
            r"cause, got 'reader ended'$",
        ),
    ],
)
def test_close_with_a_bad_cause_is_a_type_error_and_changes_nothing(
    cause: Any, match: str
) -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(1) as fut:
        with pytest.raises(TypeError, match=match):
            replies.close(cause)
        assert not replies.closed
        assert 1 in replies
        assert not fut.done()


def test_close_keeps_a_base_exception_cause() -> None:
    replies: Correlator[int, str] = Correlator()
    interrupt = KeyboardInterrupt()
    with replies.expect(1) as fut:
        replies.close(interrupt)
        with pytest.raises(BrokenPromiseError) as info:
            fut.get_nowait()
    assert info.value.__cause__ is interrupt


async def test_close_never_keeps_cancelled_as_the_cause() -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(1) as fut:
        with trio.CancelScope() as scope:
            scope.cancel()
            try:
                await trio.lowlevel.checkpoint()
            except trio.Cancelled as cancelled:
                replies.close(cancelled)
                raise
        with pytest.raises(BrokenPromiseError) as info:
            fut.get_nowait()
    assert info.value.__cause__ is None


async def test_close_keeps_only_the_non_cancelled_part_of_a_group() -> None:
    replies: Correlator[int, str] = Correlator()
    error = ValueError("reader crashed")
    with replies.expect(1) as mixed, trio.CancelScope() as scope:
        scope.cancel()
        try:
            await trio.lowlevel.checkpoint()
        except trio.Cancelled as cancelled:
            replies.close(BaseExceptionGroup("reader", [cancelled, error]))
            raise
    with pytest.raises(BrokenPromiseError) as info:
        mixed.get_nowait()
    cause = info.value.__cause__
    assert isinstance(cause, BaseExceptionGroup)
    assert cast("BaseExceptionGroup[BaseException]", cause).exceptions == (error,)

    only_cancelled: Correlator[int, str] = Correlator()
    with only_cancelled.expect(1) as fut, trio.CancelScope() as scope:
        scope.cancel()
        try:
            await trio.lowlevel.checkpoint()
        except trio.Cancelled as cancelled:
            only_cancelled.close(BaseExceptionGroup("reader", [cancelled]))
            raise
    with pytest.raises(BrokenPromiseError) as info:
        fut.get_nowait()
    assert info.value.__cause__ is None


def test_close_keeps_a_group_without_cancelled_as_it_is() -> None:
    replies: Correlator[int, str] = Correlator()
    group = ExceptionGroup("reader", [ValueError("a"), KeyError("b")])
    with replies.expect(1) as fut:
        replies.close(group)
    with pytest.raises(BrokenPromiseError) as info:
        fut.get_nowait()
    assert info.value.__cause__ is group


def test_close_empties_the_map_before_anybody_is_woken() -> None:
    # Settling runs join hooks synchronously; they must see the correlator
    # closed and empty, and whatever they call must behave as after close().
    replies: Correlator[int, str] = Correlator()
    seen: list[tuple[bool, int, bool]] = []

    def hook(fut: Future[Any]) -> None:
        seen.append((replies.closed, len(replies), replies.resolve(2, "x")))

    with replies.expect(1) as one, replies.expect(2):
        add_hook(one, hook)
        replies.close()
    assert seen == [(True, 0, False)]


# -- close(error=): the protocol's own exception -----------------------------------


class ConnectionClosed(Exception):
    """A protocol library's own 'connection closed' error."""


async def test_close_error_is_what_every_pending_caller_gets() -> None:
    replies: Correlator[int, str] = Correlator()
    error = ConnectionClosed("peer went away")
    cause = OSError("stream broke")
    got: dict[int, BaseException] = {}

    async def caller(key: int) -> None:
        with replies.expect(key) as fut:
            try:
                await fut.get()
            except ConnectionClosed as exc:
                got[key] = exc

    async with trio.open_nursery() as nursery:
        for key in (1, 2, 3):
            nursery.start_soon(caller, key)
        await trio.testing.wait_all_tasks_blocked()
        replies.close(cause, error=error)
        assert len(replies) == 0
    # One object, shared as a future's failure is shared by its waiters.
    assert got == {1: error, 2: error, 3: error}
    assert error.__cause__ is cause
    assert error.__context__ is None


async def test_close_error_is_what_every_later_caller_gets() -> None:
    replies: Correlator[int, str] = Correlator(keys=range(1, 10))
    error = ConnectionClosed("peer went away")
    replies.close(error=error)
    for key in (1, 2):
        with pytest.raises(ConnectionClosed) as info, replies.expect(key):
            pytest.fail("a closed correlator registers nothing")  # pragma: no cover
        assert info.value is error
    with pytest.raises(ConnectionClosed) as info:
        replies.next_key()
    assert info.value is error
    assert error.__cause__ is None
    assert len(replies) == 0


async def test_close_error_raised_many_times_keeps_its_context_and_traceback() -> None:
    # Each raise starts from the traceback and __context__ it had at the
    # close (Future's rule), also inside the callers' own except blocks.
    replies: Correlator[int, str] = Correlator(keys=range(1, 10))
    error = ConnectionClosed("peer went away")
    replies.close(error=error)
    lengths: list[int] = []
    for _ in range(3):
        try:
            raise KeyError("the caller's own")
        except KeyError:
            try:
                replies.next_key()
            except ConnectionClosed as exc:
                assert exc.__context__ is None  # noqa: PT017
                lengths.append(len(traceback.extract_tb(exc.__traceback__)))
    assert lengths[0] == lengths[1] == lengths[2]


def test_close_error_keeps_a_cause_of_its_own() -> None:
    replies: Correlator[int, str] = Correlator()
    own = TimeoutError("no pong")
    try:
        raise ConnectionClosed("gone") from own
    except ConnectionClosed as exc:
        error = exc
    replies.close(OSError("reader ended"), error=error)
    assert error.__cause__ is own


def test_close_error_never_gets_itself_as_its_cause() -> None:
    replies: Correlator[int, str] = Correlator()
    error = ConnectionClosed("gone")
    replies.close(error, error=error)
    assert error.__cause__ is None


async def test_close_error_never_gets_cancelled_as_its_cause() -> None:
    replies: Correlator[int, str] = Correlator()
    error = ConnectionClosed("gone")
    with trio.CancelScope() as scope:
        scope.cancel()
        try:
            await trio.lowlevel.checkpoint()
        except trio.Cancelled as cancelled:
            replies.close(cancelled, error=error)
            raise
    assert replies.closed
    assert error.__cause__ is None


def test_the_first_close_error_stands() -> None:
    replies: Correlator[int, str] = Correlator()
    first = ConnectionClosed("first")
    replies.close(error=first)
    replies.close(OSError("later"), error=ConnectionClosed("second"))
    replies.close()
    with pytest.raises(ConnectionClosed, match=r"^first$"), replies.expect(1):
        pytest.fail("a closed correlator registers nothing")  # pragma: no cover
    assert first.__cause__ is None


def test_a_close_without_error_after_one_with_error_changes_nothing() -> None:
    replies: Correlator[int, str] = Correlator()
    replies.close()
    replies.close(error=ConnectionClosed("too late"))
    with pytest.raises(BrokenPromiseError), replies.expect(1):
        pytest.fail("a closed correlator registers nothing")  # pragma: no cover


def test_close_without_error_gives_later_callers_the_cause_too() -> None:
    replies: Correlator[int, str] = Correlator(keys=range(1, 10))
    cause = OSError("stream broke")
    replies.close(cause)
    with pytest.raises(BrokenPromiseError) as info, replies.expect(1):
        pytest.fail("a closed correlator registers nothing")  # pragma: no cover
    assert info.value.__cause__ is cause
    with pytest.raises(
        BrokenPromiseError,
        match=r"^the correlator is closed, so it hands out no more ids; open a new "
        r"connection and a new correlator$",
    ) as info:
        replies.next_key()
    assert info.value.__cause__ is cause


def test_a_bad_close_error_changes_nothing() -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(1) as fut:
        with pytest.raises(TypeError, match=r"^close\(\) needs an exception instance"):
            replies.close(error=ConnectionClosed)  # type: ignore[arg-type]
        assert not replies.closed
        assert 1 in replies
        assert not fut.done()
    # A bad error on a closed correlator is still refused (a bug, not a race).
    replies.close()
    with pytest.raises(TypeError, match=r"^close\(\) refuses KeyboardInterrupt"):
        replies.close(error=KeyboardInterrupt())  # type: ignore[arg-type]


@pytest.mark.parametrize("error", [False, True])
async def test_a_reader_crash_is_reported_once(error: bool) -> None:
    # The documented pattern: the reader closes the correlator as the last
    # statement of its finally, and the callers live in the same nursery.
    # The crash cancels the callers, and cancellation wins over the close
    # error: the nursery's group holds the crash alone.
    replies: Correlator[int, str] = Correlator(keys=range(1, 100))
    seen: list[BaseException] = []

    async def caller() -> None:
        with replies.expect(replies.next_key()) as fut:
            try:
                await fut.get()
            except BaseException as exc:
                seen.append(exc)
                raise

    async def reader() -> None:
        try:
            await trio.testing.wait_all_tasks_blocked()
            raise ValueError("garbage on the wire")
        finally:
            if error:
                replies.close(error=ConnectionClosed("reader died"))
            else:
                replies.close()

    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match=r"^garbage on the wire$")):
        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(caller)
            nursery.start_soon(reader)
    assert len(seen) == 10
    assert all(isinstance(exc, trio.Cancelled) for exc in seen)
    assert len(replies) == 0


# -- ids: keys= and next_key() -----------------------------------------------------


def test_next_key_hands_out_the_keys_in_order_and_wraps_around() -> None:
    replies: Correlator[int, str] = Correlator(keys=range(1, 4))
    assert [replies.next_key() for _ in range(7)] == [1, 2, 3, 1, 2, 3, 1]


def test_next_key_follows_the_range_step() -> None:
    replies: Correlator[int, str] = Correlator(keys=range(10, 0, -3))
    assert [replies.next_key() for _ in range(5)] == [10, 7, 4, 1, 10]


def test_next_key_skips_keys_in_flight() -> None:
    replies: Correlator[int, str] = Correlator(keys=range(1, 5))
    with replies.expect(2), replies.expect(3):
        assert [replies.next_key() for _ in range(3)] == [1, 4, 1]


def test_next_key_goes_on_after_the_last_key_it_handed_out() -> None:
    # Even when that key is free again: an id comes back as late as it can.
    replies: Correlator[int, str] = Correlator(keys=range(1, 4))
    key = replies.next_key()
    with replies.expect(key):
        replies.resolve(key, "answered")
    assert replies.next_key() == 2


def test_next_key_when_every_key_is_busy_is_would_block() -> None:
    replies: Correlator[int, str] = Correlator(keys=range(1, 3))
    with replies.expect(replies.next_key()), replies.expect(replies.next_key()):
        with pytest.raises(trio.WouldBlock):
            replies.next_key()
        assert len(replies) == 2
    assert replies.next_key() == 1


async def test_next_key_when_every_key_is_in_flight_or_quarantined(
    autojump_clock: trio.abc.Clock,
) -> None:
    replies: Correlator[int, str] = Correlator(keys=range(1, 4), quarantine=10)
    with replies.expect(replies.next_key()):
        pass  # abandoned: key 1 is quarantined
    with (
        replies.expect(replies.next_key()),
        replies.expect(replies.next_key()),
        pytest.raises(trio.WouldBlock),
    ):
        replies.next_key()
    # Keys 2 and 3 were abandoned too; time runs out for key 1 first.
    await trio.sleep(10)
    assert replies.statistics().quarantined == 0
    assert [replies.next_key() for _ in range(3)] == [1, 2, 3]


def test_next_key_and_expect_ignore_keys_outside_the_range() -> None:
    # Ids of your own may live beside the range's (an own id for a
    # notification, say); next_key() never hands them out.
    replies: Correlator[Any, str] = Correlator(keys=range(1, 3))
    with replies.expect("hello"):
        assert [replies.next_key() for _ in range(3)] == [1, 2, 1]


def test_next_key_over_a_huge_range_costs_nothing_up_front() -> None:
    replies: Correlator[int, str] = Correlator(keys=range(1, 2**63))
    assert replies.next_key() == 1
    assert replies.next_key() == 2


def test_next_key_without_keys_is_a_runtime_error() -> None:
    replies: Correlator[int, str] = Correlator()
    with pytest.raises(RuntimeError, match=r"^next_key\(\) needs an id space"):
        replies.next_key()


async def test_next_key_is_not_a_checkpoint() -> None:
    replies: Correlator[int, str] = Correlator(keys=range(3), quarantine=1)
    with trio.testing.assert_no_checkpoints():
        replies.next_key()


# -- quarantine ----------------------------------------------------------------------


async def test_an_abandoned_key_is_quarantined_then_free_again(
    autojump_clock: trio.abc.Clock,
) -> None:
    replies: Correlator[int, str] = Correlator(quarantine=30)
    with trio.move_on_after(5), replies.expect(7) as fut:
        await fut.get()
    assert replies.statistics().quarantined == 1
    assert 7 not in replies  # quarantined is not in flight
    with (
        pytest.raises(
            ValueError,
            match=r"^key 7 is quarantined: a request with this id was abandoned "
            r"without a reply less than 30 seconds ago, and its reply may still "
            r"come; take ids from next_key\(\), which skips it$",
        ),
        replies.expect(7),
    ):
        pytest.fail("a quarantined key is not registered")  # pragma: no cover
    await trio.sleep(29.5)
    with pytest.raises(ValueError, match=r"^key 7 is quarantined"), replies.expect(7):
        pytest.fail("a quarantined key is not registered")  # pragma: no cover
    await trio.sleep(0.5)
    assert replies.statistics().quarantined == 0
    with replies.expect(7) as again:
        assert replies.resolve(7, "fresh")
    assert again.get_nowait() == "fresh"


async def test_a_late_reply_is_dropped_and_counted(
    autojump_clock: trio.abc.Clock,
) -> None:
    replies: Correlator[int, str] = Correlator(keys=range(1, 3), quarantine=60)
    with trio.move_on_after(1):
        with replies.expect(replies.next_key()) as fut:
            await fut.get()
    with replies.expect(replies.next_key()) as other:
        # Key 1's late reply: never handed to another request.
        assert not replies.resolve(1, "late")
        assert not replies.fail(1, ValueError("late error"))
        assert not other.done()
        # Nothing changed but the count: key 1 is still quarantined.
        assert replies.statistics() == CorrelatorStatistics(
            in_flight=1, quarantined=1, late_replies=2, unknown_replies=0
        )
        with pytest.raises(trio.WouldBlock):
            replies.next_key()
        assert replies.resolve(2, "mine")
    assert other.get_nowait() == "mine"


async def test_a_key_that_got_its_reply_is_never_quarantined() -> None:
    replies: Correlator[int, str] = Correlator(quarantine=60)
    with replies.expect(1):
        replies.resolve(1, "answered")
    with replies.expect(2):
        replies.fail(2, ValueError("an error reply"))
    assert replies.statistics().quarantined == 0
    with replies.expect(1), replies.expect(2):
        pass


async def test_a_request_whose_future_was_settled_by_hand_is_quarantined() -> None:
    # Its reply has not come (nothing took the entry out): it may still come.
    replies: Correlator[int, str] = Correlator(quarantine=60)
    with replies.expect(1) as fut:
        fut.set_result("settled by hand")
    assert replies.statistics().quarantined == 1
    assert fut.get_nowait() == "settled by hand"


async def test_an_exit_after_close_quarantines_nothing() -> None:
    replies: Correlator[int, str] = Correlator(quarantine=60)
    with replies.expect(1):
        replies.close()
    assert replies.statistics().quarantined == 0


async def test_close_drops_the_quarantine() -> None:
    replies: Correlator[int, str] = Correlator(quarantine=60)
    for key in range(3):
        with replies.expect(key):
            pass
    assert replies.statistics().quarantined == 3
    replies.close()
    assert replies.statistics() == CorrelatorStatistics(
        in_flight=0, quarantined=0, late_replies=0, unknown_replies=0
    )
    assert not replies.resolve(1, "after the close")
    assert replies.statistics().unknown_replies == 1


def test_without_quarantine_an_abandoned_key_is_free_at_once() -> None:
    replies: Correlator[int, str] = Correlator(keys=range(1, 3))
    with replies.expect(1):
        pass
    assert replies.statistics().quarantined == 0
    assert not replies.resolve(1, "late")
    assert replies.statistics().unknown_replies == 1
    with replies.expect(1):
        assert replies.next_key() == 2


async def test_quarantine_memory_follows_the_window(
    autojump_clock: trio.abc.Clock,
) -> None:
    # One request abandoned per second with a 10 s quarantine, ids never
    # reused: the quarantine holds the last 10, not all 1,000.
    replies: Correlator[int, str] = Correlator(keys=range(2**32), quarantine=10)
    peak = 0
    for _ in range(1000):
        with trio.move_on_after(1), replies.expect(replies.next_key()) as fut:
            await fut.get()
        peak = max(peak, len(replies._order), len(replies._until))  # pyright: ignore[reportPrivateUsage]
    assert peak == 10
    assert replies.statistics().quarantined == 10


async def test_quarantine_purges_only_what_has_ended(
    autojump_clock: trio.abc.Clock,
) -> None:
    replies: Correlator[int, str] = Correlator(keys=range(1, 5), quarantine=10)
    for _ in range(3):  # keys 1, 2, 3 abandoned at t = 0, 4, 8
        with replies.expect(replies.next_key()):
            pass
        await trio.sleep(4)
    # t = 12: key 1 is free again, keys 2 and 3 are not.
    assert replies.statistics().quarantined == 2
    assert replies.next_key() == 4
    assert replies.next_key() == 1
    assert not replies.resolve(2, "late")
    assert replies.statistics().late_replies == 1


async def test_next_key_skips_a_run_of_quarantined_keys(
    autojump_clock: trio.abc.Clock,
) -> None:
    replies: Correlator[int, str] = Correlator(keys=range(1, 5), quarantine=10)
    for _ in range(3):
        with replies.expect(replies.next_key()):
            pass  # keys 1, 2, 3 quarantined
    assert replies.next_key() == 4
    assert replies.next_key() == 4  # wrapped around past 1, 2 and 3


async def test_a_quarantine_that_has_ended_frees_the_key_for_every_call(
    autojump_clock: trio.abc.Clock,
) -> None:
    # Ended but not purged yet (nothing read the clock since): each call
    # that meets the key purges first and finds it free.
    async def abandoned(keys: range) -> Correlator[Any, str]:
        replies: Correlator[Any, str] = Correlator(keys=keys, quarantine=10)
        with replies.expect(replies.next_key()):
            pass
        await trio.sleep(10)
        return replies

    replies = await abandoned(range(1, 2))
    assert replies.next_key() == 1

    replies = await abandoned(range(1, 2))
    with replies.expect(1) as fut:
        assert replies.resolve(1, "fresh")
    assert fut.get_nowait() == "fresh"

    replies = await abandoned(range(1, 2))
    assert not replies.resolve([1], "unhashable")
    assert not replies.resolve(1, "too late even for the quarantine")
    assert replies.statistics() == CorrelatorStatistics(
        in_flight=0, quarantined=0, late_replies=0, unknown_replies=2
    )


def test_close_leaves_a_future_settled_by_hand_alone() -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(1) as fut:
        fut.set_result("by hand")
        replies.close()
    assert fut.get_nowait() == "by hand"


@pytest.mark.parametrize(
    "quarantine", [0, 0.0, 1, 2.5, Fraction(1, 3), math.inf], ids=repr
)
def test_quarantine_takes_any_real_number(quarantine: float) -> None:
    replies: Correlator[int, str] = Correlator(quarantine=quarantine)
    assert not replies.closed


def test_quarantine_outside_trio_run_refuses_to_register() -> None:
    # The quarantine reads trio's clock: a request it could not quarantine
    # later is not registered at all.
    replies: Correlator[int, str] = Correlator(keys=range(3), quarantine=1)
    with (
        pytest.raises(
            RuntimeError,
            match=r"^a correlator with a quarantine reads trio's clock, so its "
            r"requests need a running trio: enter expect\(\) inside trio.run$",
        ),
        replies.expect(replies.next_key()),
    ):
        pytest.fail("nothing is registered")  # pragma: no cover
    assert len(replies) == 0


def test_a_quarantine_outlives_its_run_frozen() -> None:
    # After trio.run, trio's clock does not move: what was quarantined stays
    # quarantined, and reading it never raises.
    replies: Correlator[int, str] = Correlator(keys=range(1, 3), quarantine=1)

    async def abandon() -> None:
        with replies.expect(replies.next_key()):
            pass

    trio.run(abandon)
    assert replies.statistics().quarantined == 1
    assert not replies.resolve(1, "late")
    assert replies.statistics().late_replies == 1
    assert replies.next_key() == 2
    assert replies.next_key() == 2


# -- statistics ----------------------------------------------------------------------


def test_statistics_counts_unknown_replies() -> None:
    replies: Correlator[Any, str] = Correlator()
    assert not replies.resolve(1, "unknown")
    assert not replies.fail([1], ValueError("unhashable"))
    with replies.expect(1):
        assert replies.resolve(1, "first")
        assert not replies.resolve(1, "a duplicate")
    assert replies.statistics() == CorrelatorStatistics(
        in_flight=0, quarantined=0, late_replies=0, unknown_replies=3
    )


def test_a_reply_for_a_future_settled_by_hand_frees_the_key() -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(1) as fut:
        fut.set_result("by hand")
        assert not replies.resolve(1, "the reply")
        assert 1 not in replies
        assert not replies.fail(1, ValueError("late"))
    assert replies.statistics().unknown_replies == 2


def test_statistics_is_frozen_comparable_copyable_and_picklable() -> None:
    stats = CorrelatorStatistics(
        in_flight=1, quarantined=2, late_replies=3, unknown_replies=4
    )
    with pytest.raises(AttributeError):
        stats.in_flight = 5  # type: ignore[misc]
    assert copy.copy(stats) == stats
    assert pickle.loads(pickle.dumps(stats)) == stats
    assert stats != CorrelatorStatistics(
        in_flight=1, quarantined=2, late_replies=3, unknown_replies=5
    )
    assert repr(stats).startswith("CorrelatorStatistics(in_flight=1, ")
    assert type(stats).__module__ == "trio_promise"


# -- as a context manager ----------------------------------------------------------


def test_with_correlator_closes_on_exit() -> None:
    with Correlator[int, str]() as replies:
        expectation = replies.expect(1)
        fut = expectation.__enter__()
    assert replies.closed
    assert len(replies) == 0
    with pytest.raises(BrokenPromiseError) as info:
        fut.get_nowait()
    assert info.value.__cause__ is None
    expectation.__exit__(None, None, None)


def test_with_correlator_chains_the_exiting_exception_and_lets_it_through() -> None:
    error = OSError("stream broke")
    replies: Correlator[int, str] = Correlator()
    expectation = replies.expect(1)
    fut = expectation.__enter__()

    def reader() -> None:
        with replies:
            raise error

    with pytest.raises(OSError, match=r"^stream broke$"):
        reader()
    with pytest.raises(BrokenPromiseError) as info:
        fut.get_nowait()
    assert info.value.__cause__ is error
    expectation.__exit__(None, None, None)


async def test_with_correlator_cancelled_leaves_no_cancelled_cause() -> None:
    replies: Correlator[int, str] = Correlator()
    expectation = replies.expect(1)
    fut = expectation.__enter__()
    with trio.move_on_after(0), replies:
        await trio.lowlevel.checkpoint()
    assert replies.closed
    with pytest.raises(BrokenPromiseError) as info:
        fut.get_nowait()
    assert info.value.__cause__ is None
    expectation.__exit__(None, None, None)


# -- the class itself ---------------------------------------------------------------


def test_repr() -> None:
    replies: Correlator[int, str] = Correlator()
    assert repr(replies) == "<trio_promise.Correlator open, 0 in flight>"
    with replies.expect(1), replies.expect(2):
        assert repr(replies) == "<trio_promise.Correlator open, 2 in flight>"
        replies.close()
        assert repr(replies) == "<trio_promise.Correlator closed, 0 in flight>"


def test_no_subclassing_and_no_new_attributes() -> None:
    with pytest.raises(
        TypeError, match=r"^trio_promise.Correlator does not support subclassing$"
    ):

        class Mine(Correlator[int, int]):  # type: ignore[misc]
            pass

    replies: Correlator[int, int] = Correlator()
    with pytest.raises(AttributeError):
        replies.extra = 1  # type: ignore[attr-defined]


def test_constructed_outside_trio_run_and_every_method_is_sync() -> None:
    replies: Correlator[int, int] = Correlator()
    with replies.expect(1) as fut:
        assert replies.resolve(1, 1)
        assert fut.get_nowait() == 1
    replies.close()


# -- over a stream: a tiny line protocol --------------------------------------------
#
# Requests are b"<id> <text>\n"; replies are b"<id> <text>\n", or
# b"<id> !<text>\n" for an error. The client is the pattern of the README.


class LineClient:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.replies: Correlator[int, str] = Correlator()
        self.ids = itertools.count()
        self.send_lock = trio.Lock()
        self.late: list[int] = []

    async def request(self, text: str) -> str:
        msg_id = next(self.ids)
        with self.replies.expect(msg_id) as fut:
            async with self.send_lock:
                await self.stream.send_all(f"{msg_id} {text}\n".encode())
            return await fut.get()

    async def reader(self) -> None:
        try:
            await self._read_replies()
        except BaseException as exc:
            self.replies.close(exc)
            raise
        self.replies.close(ConnectionError("the server closed the connection"))

    async def _read_replies(self) -> None:
        buffer = b""
        while data := await self.stream.receive_some():
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                id_text, _, body = line.decode().partition(" ")
                msg_id = int(id_text)
                if body.startswith("!"):
                    ok = self.replies.fail(msg_id, LookupError(body[1:]))
                else:
                    ok = self.replies.resolve(msg_id, body)
                if not ok:
                    self.late.append(msg_id)
                    log.warning("late or unknown reply %r", msg_id)


class LineServer:
    """Collects requests; the test decides when and how to answer."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.requests: dict[int, str] = {}
        self.scope = trio.CancelScope()

    async def serve(self) -> None:
        buffer = b""
        with self.scope:
            while data := await self.stream.receive_some():
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    id_text, _, text = line.decode().partition(" ")
                    self.requests[int(id_text)] = text

    async def hang_up(self) -> None:
        self.scope.cancel()
        await self.stream.aclose()

    async def reply(self, msg_id: int, text: str) -> None:
        await self.stream.send_all(f"{msg_id} {text}\n".encode())


@dataclass
class Calls:
    results: dict[str, str] = field(default_factory=dict[str, str])
    errors: dict[str, BaseException] = field(default_factory=dict[str, BaseException])
    cancelled: list[str] = field(default_factory=list[str])

    async def call(self, client: LineClient, text: str) -> None:
        try:
            self.results[text] = await client.request(text)
        except (BrokenPromiseError, LookupError) as exc:
            self.errors[text] = exc


async def test_replies_out_of_order_reach_their_own_callers() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    client, server = LineClient(client_stream), LineServer(server_stream)
    calls = Calls()
    words = [f"word{i}" for i in range(20)]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.reader)
        nursery.start_soon(server.serve)
        async with trio.open_nursery() as callers:
            for word in words:
                callers.start_soon(calls.call, client, word)
            await trio.testing.wait_all_tasks_blocked()
            assert len(server.requests) == 20
            assert len(client.replies) == 20
            for msg_id in sorted(server.requests, reverse=True):
                text = server.requests[msg_id]
                if text == "word3":
                    await server.reply(msg_id, "!no such word")
                else:
                    await server.reply(msg_id, text.upper())
        assert len(client.replies) == 0
        await server.hang_up()
    assert calls.results == {w: w.upper() for w in words if w != "word3"}
    assert isinstance(calls.errors.pop("word3"), LookupError)
    assert calls.errors == {}
    assert client.late == []
    assert client.replies.closed


async def test_a_cancelled_caller_late_reply_is_dropped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    client, server = LineClient(client_stream), LineServer(server_stream)
    calls = Calls()
    impatient = trio.CancelScope()

    async def impatient_call() -> None:
        with impatient:
            await calls.call(client, "slow")
        calls.cancelled.append("slow")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.reader)
        nursery.start_soon(server.serve)
        async with trio.open_nursery() as callers:
            callers.start_soon(impatient_call)
            callers.start_soon(calls.call, client, "fast")
            await trio.testing.wait_all_tasks_blocked()
            ids = {text: msg_id for msg_id, text in server.requests.items()}
            assert sorted(ids) == ["fast", "slow"]
            # The first caller gives up while its request is in flight.
            impatient.cancel()
            await trio.testing.wait_all_tasks_blocked()
            assert ids["slow"] not in client.replies
            assert len(client.replies) == 1
            with caplog.at_level(logging.WARNING, logger="test_correlator"):
                await server.reply(ids["slow"], "SLOW")
                await server.reply(ids["fast"], "FAST")
                await trio.testing.wait_all_tasks_blocked()
        assert len(client.replies) == 0
        await server.hang_up()
    assert calls.results == {"fast": "FAST"}
    assert calls.cancelled == ["slow"]
    assert client.late == [ids["slow"]]
    assert [r.getMessage() for r in caplog.records] == [
        f"late or unknown reply {ids['slow']}"
    ]
    assert len(client.replies) == 0


async def test_the_server_going_away_breaks_every_pending_caller() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    client, server = LineClient(client_stream), LineServer(server_stream)
    calls = Calls()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.reader)
        nursery.start_soon(server.serve)
        for word in ("a", "b", "c"):
            nursery.start_soon(calls.call, client, word)
        await trio.testing.wait_all_tasks_blocked()
        (b_id,) = [i for i, text in server.requests.items() if text == "b"]
        await server.reply(b_id, "B")
        await trio.testing.wait_all_tasks_blocked()
        await server.hang_up()
    assert calls.results == {"b": "B"}
    assert sorted(calls.errors) == ["a", "c"]
    for exc in calls.errors.values():
        assert isinstance(exc, BrokenPromiseError)
        assert str(exc).startswith("the correlator was closed with 2 requests")
        assert isinstance(exc.__cause__, ConnectionError)
    assert len(client.replies) == 0
    with pytest.raises(BrokenPromiseError, match=r"^the correlator is closed"):
        await client.request("too late")


async def test_a_reader_that_crashes_breaks_the_callers_with_its_error() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    client, server = LineClient(client_stream), LineServer(server_stream)
    calls = Calls()
    async with trio.open_nursery() as elsewhere:
        # The crash alone, once: the caller in the reader's nursery is
        # cancelled by it (cancellation wins over the close error).
        with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match=r"invalid literal")):
            async with trio.open_nursery() as connection:
                connection.start_soon(client.reader)
                connection.start_soon(server.serve)
                connection.start_soon(calls.call, client, "inside")
                elsewhere.start_soon(calls.call, client, "outside")
                await trio.testing.wait_all_tasks_blocked()
                await server_stream.send_all(b"garbage\n")
    # The caller outside the reader's nursery gets the close error, with the
    # crash as its cause.
    assert sorted(calls.errors) == ["outside"]
    error = calls.errors["outside"]
    assert isinstance(error, BrokenPromiseError)
    assert isinstance(error.__cause__, ValueError)
    assert calls.results == {}
    assert len(client.replies) == 0


async def test_a_cancelled_reader_breaks_callers_outside_its_scope() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    client, server = LineClient(client_stream), LineServer(server_stream)
    calls = Calls()
    async with trio.open_nursery() as callers, trio.open_nursery() as connection:
        connection.start_soon(client.reader)
        connection.start_soon(server.serve)
        callers.start_soon(calls.call, client, "x")
        await trio.testing.wait_all_tasks_blocked()
        connection.cancel_scope.cancel()
    error = calls.errors["x"]
    assert isinstance(error, BrokenPromiseError)
    assert error.__cause__ is None
    assert len(client.replies) == 0


async def test_many_waiters_on_one_future_and_a_cancelled_one(
    autojump_clock: trio.abc.Clock,
) -> None:
    replies: Correlator[int, str] = Correlator()
    got: list[str] = []

    async def watch(fut: Future[str]) -> None:
        got.append(await fut.get())

    with replies.expect(1) as fut:
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(watch, fut)
            # One more waiter gives up; the others do not notice.
            with trio.move_on_after(1):
                await fut.get()
            await trio.testing.wait_all_tasks_blocked()
            assert fut.statistics().tasks_waiting == 3
            replies.resolve(1, "all")
    assert got == ["all"] * 3


# -- random interleavings ---------------------------------------------------------


@dataclass
class Caller:
    key: int
    hold: bool
    release: trio.Event = field(default_factory=trio.Event)
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    # What the caller saw, and what the model says it must see.
    seen: tuple[Any, ...] | None = None
    expected: tuple[Any, ...] | None = None


KEYS = st.integers(min_value=0, max_value=3)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("expect"), KEYS, st.booleans()),
        st.tuples(st.just("resolve"), KEYS),
        st.tuples(st.just("fail"), KEYS),
        st.tuples(st.just("cancel"), KEYS),
        st.tuples(st.just("release"), KEYS),
        st.tuples(st.just("sleep")),
        st.tuples(st.just("close")),
    ),
    max_size=40,
)
QUARANTINE = 1.0
CAUSE = OSError("connection lost")


class Closed(Exception):
    """The protocol's own 'connection closed' error, for close(error=)."""


async def _caller(replies: Correlator[int, object], me: Caller) -> None:
    with me.scope:
        try:
            with replies.expect(me.key) as fut:
                try:
                    me.seen = ("value", await fut.get())
                except KeyError as exc:
                    me.seen = ("error", exc.args[0])
                except BrokenPromiseError as exc:
                    me.seen = ("broken", exc.__cause__)
                except Closed as exc:
                    me.seen = ("closed", exc.__cause__)
                if me.hold:
                    await me.release.wait()
        except (ValueError, BrokenPromiseError, Closed) as exc:
            # Raised when the block is entered: nothing was registered.
            me.seen = ("refused", type(exc).__name__)
            return
    if me.seen is None:
        assert me.scope.cancelled_caught
        me.seen = ("cancelled",)


async def _interleave(
    ops: list[tuple[Any, ...]], close_at_end: bool, quarantine: bool, error: bool
) -> None:
    replies: Correlator[int, object] = Correlator(
        quarantine=QUARANTINE if quarantine else 0
    )
    callers: list[Caller] = []
    in_flight: dict[int, Caller] = {}
    holding: list[Caller] = []
    until: dict[int, float] = {}  # quarantined key -> when it ends
    late = unknown = 0
    now = 0.0
    closed = False
    broken: tuple[Any, ...] = ("closed", CAUSE) if error else ("broken", CAUSE)

    def close() -> None:
        if error:
            replies.close(CAUSE, error=Closed("connection closed"))
        else:
            replies.close(CAUSE)

    with trio.fail_after(600):  # a hang shows up as TooSlowError (autojump)
        async with trio.open_nursery() as nursery:
            start = trio.current_time()
            for step, (op, *args) in enumerate(ops):
                for key in [k for k, end in until.items() if end <= now]:
                    del until[key]
                if op == "expect":
                    key, hold = args
                    me = Caller(key, hold)
                    callers.append(me)
                    if closed:
                        refused = "Closed" if error else "BrokenPromiseError"
                        me.expected = ("refused", refused)
                    elif key in in_flight or key in until:
                        me.expected = ("refused", "ValueError")
                    else:
                        in_flight[key] = me
                    nursery.start_soon(_caller, replies, me)
                elif op in ("resolve", "fail"):
                    (key,) = args
                    token = ("reply", step)
                    if op == "resolve":
                        ok = replies.resolve(key, token)
                        outcome: tuple[Any, ...] = ("value", token)
                    else:
                        ok = replies.fail(key, KeyError(token))
                        outcome = ("error", token)
                    me_or_none = in_flight.pop(key, None)
                    assert ok == (me_or_none is not None)
                    if me_or_none is not None:
                        me_or_none.expected = outcome
                        if me_or_none.hold:
                            holding.append(me_or_none)
                    elif key in until:
                        late += 1
                    else:
                        unknown += 1
                elif op == "cancel":
                    (key,) = args
                    me_or_none = in_flight.pop(key, None)
                    if me_or_none is not None:
                        me_or_none.scope.cancel()
                        me_or_none.expected = ("cancelled",)
                        if quarantine:
                            until[key] = now + QUARANTINE
                elif op == "release":
                    (key,) = args
                    for me in [me for me in holding if me.key == key]:
                        me.release.set()
                        holding.remove(me)
                elif op == "sleep":
                    await trio.sleep(QUARANTINE / 2)
                    now += QUARANTINE / 2
                else:
                    close()
                    if not closed:
                        for me in in_flight.values():
                            me.expected = broken
                        in_flight.clear()
                        until.clear()
                    closed = True
                await trio.testing.wait_all_tasks_blocked()
                assert trio.current_time() - start == now
                assert len(replies) == len(in_flight)
                for key in range(4):
                    assert (key in replies) == (key in in_flight)
                assert replies.closed == closed
                quarantined = sum(end > now for end in until.values())
                assert replies.statistics() == CorrelatorStatistics(
                    in_flight=len(in_flight),
                    quarantined=quarantined,
                    late_replies=late,
                    unknown_replies=unknown,
                )
            # Let everybody go: close, or cancel whoever still waits.
            for me in in_flight.values():
                if close_at_end:
                    me.expected = broken
                else:
                    me.expected = ("cancelled",)
                    me.scope.cancel()
            for me in callers:
                me.release.set()
            if close_at_end:
                close()
    assert len(replies) == 0
    for me in callers:
        assert me.seen == me.expected, me


@settings(max_examples=150, deadline=None)
@given(
    ops=OPS, close_at_end=st.booleans(), quarantine=st.booleans(), error=st.booleans()
)
def test_random_interleavings(
    ops: list[tuple[Any, ...]], close_at_end: bool, quarantine: bool, error: bool
) -> None:
    trio.run(
        _interleave,
        ops,
        close_at_end,
        quarantine,
        error,
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
