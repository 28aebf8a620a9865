"""Bad input: every public call given wrong types, wrong values and misuse.

One table, ``ERRORS``: each row is a call, the exception it must raise, and an
anchored regex for the whole message. Each row runs against a fresh
``_World`` (a pending, a settled and a failed future, a correlator with a key
in flight, a closed one, a drained RateLimiter, a nursery, a lazy generator,
an async function that records being called) and checks that:

* the call raises that exception with that message;
* an async call raises it before any checkpoint (``assert_no_checkpoints``),
  as trio does for ``trio.sleep(-1)``;
* nothing changed: every object of the world looks as before (futures keep
  their state, answer and waiters; correlators their entries; no task was
  started, no item pulled from the generator, no token taken).

A second table, ``NOT_ERRORS``, holds misuse that the API answers without
raising (``try_set_*`` on a settled future, ``resolve`` of an unhashable key,
a second ``close()``): it must return what the API says, and change nothing.

The bad arguments go through ``_bad()`` (typed ``Any``), so that the type
checkers, which would refuse most of these calls, let the table run them.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import re
import sys
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import outcome
import pytest
import trio
import trio.testing

from trio_promise import (
    AlreadySetError,
    BrokenPromiseError,
    Correlator,
    Future,
    RateLimiter,
    as_completed,
    gather,
    gather_map,
    race,
    spawn,
    wait_all,
    wait_any,
    wait_settled,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
    from contextlib import AbstractContextManager


def _bad(value: object) -> Any:
    """Hand a wrong value to a typed call (the point of this file)."""
    return value


@dataclass
class _World:
    """Everything a bad call could damage, and a snapshot of its state."""

    nursery: trio.Nursery
    closed_nursery: trio.Nursery
    pending: Future[int] = field(default_factory=Future[int])
    value: Future[int] = field(default_factory=Future[int])
    failed: Future[int] = field(default_factory=Future[int])
    stored: ValueError = field(default_factory=lambda: ValueError("stored"))
    corr: Correlator[Any, str] = field(default_factory=Correlator[Any, str])
    closed_corr: Correlator[Any, str] = field(default_factory=Correlator[Any, str])
    rate: RateLimiter = field(default_factory=lambda: RateLimiter(1, burst=1))
    calls: list[object] = field(default_factory=list[object])
    pulled: list[int] = field(default_factory=list[int])
    entry: AbstractContextManager[Future[str], None] | None = None
    # Coroutines handed to a call as the wrong argument: it must close them.
    coroutines: list[Coroutine[Any, Any, object]] = field(
        default_factory=list["Coroutine[Any, Any, object]"]
    )
    in_flight: Future[str] | None = None

    def __post_init__(self) -> None:
        self.value.set_result(1)
        self.failed.set_exception(self.stored)
        self.entry = self.corr.expect(1)
        self.in_flight = self.entry.__enter__()
        self.closed_corr.close()

    def start(self) -> None:
        """The parts that need a running trio (the limiter reads the clock)."""
        self.rate.acquire_nowait()  # drained: the next token is 1 s away

    async def probe(self, arg: object = None) -> int:
        """A good async function: records that it ran (it must not)."""
        self.calls.append(arg)
        await trio.lowlevel.checkpoint()
        return 0

    def items(self) -> Iterator[int]:
        """A lazy iterable: records every item pulled (none must be)."""
        for i in range(3):
            self.pulled.append(i)
            yield i

    def snapshot(self) -> tuple[object, ...]:
        def fut_state(fut: Future[Any] | None) -> tuple[object, ...]:
            assert fut is not None
            if not fut.done():
                return ("pending", fut.statistics().tasks_waiting, repr(fut))
            answer = fut.outcome_nowait()
            if isinstance(answer, outcome.Error):
                return ("error", id(answer.error), repr(fut))
            return ("value", answer.unwrap(), repr(fut))

        rate = self.rate.statistics()
        return (
            fut_state(self.pending),
            fut_state(self.value),
            fut_state(self.failed),
            self.stored.__context__,
            (self.corr.closed, len(self.corr), 1 in self.corr, repr(self.corr)),
            # Not the reply counters: a reply that matches nothing is
            # counted (that is its documented answer).
            self.corr.statistics().quarantined,
            fut_state(self.in_flight),
            (
                self.closed_corr.closed,
                len(self.closed_corr),
                self.closed_corr.statistics().quarantined,
            ),
            (rate.tasks_waiting, rate.tokens),
            len(self.nursery.child_tasks),
            tuple(self.calls),
            tuple(self.pulled),
        )

    def clean_up(self) -> None:
        for coro in self.coroutines:
            assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
        assert self.entry is not None
        self.entry.__exit__(None, None, None)


@dataclass(frozen=True)
class _Row:
    name: str
    call: Callable[[_World], object]  # may return an awaitable to await
    exc: type[BaseException]
    match: str

    def __str__(self) -> str:
        return self.name


def _refuses(method: str, kind: str) -> str:
    return (
        rf"^{method}\(\) refuses {kind}: only Exception instances can be stored, "
        rf"a BaseException belongs to the task it was raised in$"
    )


def _needs_instance(method: str, cls: str) -> str:
    return (
        rf"^{method}\(\) needs an exception instance, got the class {cls}; "
        rf"did you mean {cls}\(\)\?$"
    )


def _already(state: str, hint: str) -> str:
    return (
        rf"^<trio_promise\.Future {state}> is already settled; consider "
        rf"{hint}\(\) if several tasks may settle it$"
    )


def _not_a_future(caller: str, kind: str, index: int) -> str:
    return (
        rf"^{caller}\(\) takes only trio_promise\.Future items, got {kind} at "
        rf"index {index}; start a task into a Future with spawn\(nursery, "
        rf"async_fn, \.\.\.\)$"
    )


def _single_future(caller: str) -> str:
    return (
        rf"^{caller}\(\) takes an iterable of futures, got a single Future; wrap "
        rf"it in a list: {caller}\(\[fut\]\)$"
    )


def _not_async_fn(caller: str, rest: str) -> str:
    return rf"^{caller}\(\) needs an async function, got {rest}$"


def _coroutine_given(caller: str) -> str:
    return (
        rf"^{caller}\(\) needs an async function, got the coroutine object "
        rf"<coroutine object _World\.probe at 0x[0-9a-f]+>; pass the function "
        rf"itself, not the result of calling it \(fn, not fn\(\)\)$"
    )


def _async_generator_fn(caller: str) -> str:
    return (
        rf"^{caller}\(\) needs an async function, but <function _ticks at "
        rf"0x[0-9a-f]+> is an async generator function \(it returned <async_generator "
        rf"object _ticks at 0x[0-9a-f]+>\); iterate it with 'async for', or remove "
        rf"'yield' from its body$"
    )


async def _ticks(arg: object = None) -> AsyncIterator[int]:  # pragma: no cover
    # An async generator function where an async function is wanted.
    yield 1


def _gather_map_over_a_coroutine(w: _World) -> object:
    coro = w.probe(1)
    w.coroutines.append(coro)
    return gather_map(w.probe, _bad(coro))


def _bad_limiter(caller: str, got: str) -> str:
    return (
        rf"^{caller}\(\): limiter must be usable as 'async with limiter:' \(a "
        rf"trio\.CapacityLimiter, trio\.Semaphore, RateLimiter, \.\.\.\) or a "
        rf"tuple of them, got {got}$"
    )


_BAD_RATE_TYPE = (
    r"^RateLimiter\(\): rate must be a number of acquisitions per second \(an "
    r"int or a float\), got {}$"
)
_BAD_RATE_VALUE = (
    r"^RateLimiter\(\): rate must be a positive, finite number of acquisitions "
    r"per second, got {}; for no rate limit, pass no RateLimiter$"
)
_BAD_BURST_TYPE = (
    r"^RateLimiter\(\): burst must be an int \(the most acquisitions allowed "
    r"back to back\), got {}$"
)
_BAD_BURST_VALUE = (
    r"^RateLimiter\(\): burst must be >= 1 \(the most acquisitions allowed back "
    r"to back\), got {}$"
)
_BAD_LIMIT_VALUE = (
    r"^gather_map\(\): limit must be >= 1 \(the most calls running at once\), got {}; use "
    r"limit=None for no limit$"
)


# Row builders: each returns ``call(world)`` (partial() binds the row's own
# arguments; lambdas in a comprehension would all share the last ones).


def _method(attr: str, method: str, arg: object, w: _World) -> object:
    return getattr(getattr(w, attr), method)(arg)


def _method_made(
    attr: str, method: str, make: Callable[[], object], w: _World
) -> object:
    return getattr(getattr(w, attr), method)(make())


def _apply(fn: Callable[[Any], object], arg: object, w: _World) -> object:
    return fn(arg)


def _apply_made(
    fn: Callable[[Any], object], make: Callable[[], object], w: _World
) -> object:
    return fn(make())


def _join_single(join: Callable[[Any], object], w: _World) -> object:
    return join(w.pending)


def _join_with(
    join: Callable[[Any], object], make: Callable[[], object], w: _World
) -> object:
    return join([w.pending, w.value, make()])


def _gather_map_limit(limit: object, w: _World) -> object:
    return gather_map(w.probe, w.items(), limit=_bad(limit))


def _rate_burst(burst: object, w: _World) -> object:
    return RateLimiter(1, burst=_bad(burst))


def _expect_made(make: Callable[[], object], w: _World) -> object:
    return w.corr.expect(make()).__enter__()


def _close_error(attr: str, error: object, w: _World) -> object:
    correlator: Correlator[Any, str] = getattr(w, attr)
    return correlator.close(ValueError("cause"), error=_bad(error))


def _correlator_keys(keys: object, w: _World) -> object:
    return Correlator[int, str](keys=_bad(keys))


def _correlator_quarantine(quarantine: object, w: _World) -> object:
    return Correlator[int, str](quarantine=_bad(quarantine))


def _fail_made(key: object, make: Callable[[], object], w: _World) -> object:
    return w.corr.fail(key, _bad(make()))


def _subclass(base: type) -> None:
    type("Sub", (base,), {})


ERRORS: list[_Row] = [
    # -- Future: setting twice ------------------------------------------------
    _Row(
        "set_result twice",
        lambda w: w.value.set_result(2),
        AlreadySetError,
        _already("result=1", "try_set_result"),
    ),
    _Row(
        "set_result on a failed future",
        lambda w: w.failed.set_result(2),
        AlreadySetError,
        _already(r"exception=ValueError\('stored'\)", "try_set_result"),
    ),
    _Row(
        "set_exception on a settled future",
        lambda w: w.value.set_exception(KeyError("late")),
        AlreadySetError,
        _already("result=1", "try_set_exception"),
    ),
    _Row(
        "set_exception twice",
        lambda w: w.failed.set_exception(KeyError("late")),
        AlreadySetError,
        _already(r"exception=ValueError\('stored'\)", "try_set_exception"),
    ),
    _Row(
        "set_outcome(Value) on a settled future",
        lambda w: w.value.set_outcome(outcome.Value(2)),
        AlreadySetError,
        _already("result=1", "try_set_result"),
    ),
    _Row(
        "set_outcome(Error) on a settled future",
        lambda w: w.failed.set_outcome(outcome.Error(KeyError("late"))),
        AlreadySetError,
        _already(r"exception=ValueError\('stored'\)", "try_set_exception"),
    ),
    # -- Future: wrong exceptions (a TypeError even on a settled future) -------
    *(
        _Row(
            f"{method} of the class ValueError on a {state} future",
            partial(_method, state, method, ValueError),
            TypeError,
            _needs_instance(method, "ValueError"),
        )
        for method in ("set_exception", "try_set_exception")
        for state in ("pending", "value")
    ),
    *(
        _Row(
            f"{method} of a {kind}",
            partial(_method, "pending", method, bad),
            TypeError,
            rf"^{method}\(\) needs an Exception instance, got {kind}$",
        )
        for method in ("set_exception", "try_set_exception")
        for kind, bad in (("str", "boom"), ("NoneType", None), ("int", 3))
    ),
    *(
        _Row(
            f"{method} of {kind} on a {state} future",
            partial(_method_made, state, method, make),
            TypeError,
            _refuses(method, kind),
        )
        for method in ("set_exception", "try_set_exception")
        for state in ("pending", "failed")
        for kind, make in (
            ("KeyboardInterrupt", KeyboardInterrupt),
            ("SystemExit", SystemExit),
            ("GeneratorExit", GeneratorExit),
            (
                "BaseExceptionGroup",
                lambda: BaseExceptionGroup("mixed", [ValueError(), SystemExit()]),
            ),
        )
    ),
    _Row(
        "set_outcome of a non-outcome",
        lambda w: w.pending.set_outcome(_bad(5)),
        TypeError,
        r"^set_outcome\(\) needs an outcome\.Value or outcome\.Error, got int$",
    ),
    _Row(
        "set_outcome of an Error holding a KeyboardInterrupt",
        lambda w: w.pending.set_outcome(outcome.Error(KeyboardInterrupt())),
        TypeError,
        _refuses("set_outcome", "KeyboardInterrupt"),
    ),
    # -- Future: reading too early, constructing wrongly ----------------------
    _Row(
        "get_nowait on a pending future",
        lambda w: w.pending.get_nowait(),
        trio.WouldBlock,
        r"^$",
    ),
    _Row(
        "outcome_nowait on a pending future",
        lambda w: w.pending.outcome_nowait(),
        trio.WouldBlock,
        r"^$",
    ),
    _Row(
        "Future with an argument",
        lambda w: _bad(Future)(1),
        TypeError,
        r"^(Future\.)?__init__\(\) takes 1 positional argument but 2 were given$",
    ),
    _Row(
        "subclassing Future",
        lambda w: _subclass(Future),
        TypeError,
        r"^trio_promise\.Future does not support subclassing$",
    ),
    # -- spawn ----------------------------------------------------------------
    _Row(
        "spawn of a str",
        lambda w: spawn(w.nursery, _bad("fetch")),
        TypeError,
        _not_async_fn("spawn", "str 'fetch'"),
    ),
    _Row(
        "spawn of a coroutine object",
        lambda w: spawn(w.nursery, _bad(w.probe(1))),
        TypeError,
        _coroutine_given("spawn"),
    ),
    _Row(
        "spawn with limiter=5",
        lambda w: spawn(w.nursery, w.probe, limiter=_bad(5)),
        TypeError,
        _bad_limiter("spawn", "5"),
    ),
    _Row(
        "spawn with a bad limiter in the tuple",
        lambda w: spawn(w.nursery, w.probe, limiter=(trio.CapacityLimiter(1), _bad(5))),
        TypeError,
        _bad_limiter("spawn", "5"),
    ),
    _Row(
        "spawn with limiter=[...] (a list, not a tuple)",
        lambda w: spawn(w.nursery, w.probe, limiter=_bad([])),
        TypeError,
        _bad_limiter("spawn", r"\[\]"),
    ),
    _Row(
        "spawn into a closed nursery",
        lambda w: spawn(w.closed_nursery, w.probe),
        RuntimeError,
        r"^Nursery is closed to new arrivals$",
    ),
    _Row(
        "spawn with the nursery's own cancel_scope (already entered)",
        lambda w: spawn(w.nursery, w.probe, cancel_scope=w.nursery.cancel_scope),
        RuntimeError,
        r"^spawn\(\): this cancel_scope was already entered by a 'with' block ",
    ),
    _Row(
        "spawn with cancel_scope=trio.fail_after(5)",
        lambda w: spawn(w.nursery, w.probe, cancel_scope=_bad(trio.fail_after(5))),
        TypeError,
        r"^spawn\(\): cancel_scope must be a trio\.CancelScope or None, got "
        r"_GeneratorContextManager .*; trio\.fail_after\(\) makes a context manager "
        r"around a scope, not a scope: pass trio\.CancelScope\(deadline=\.\.\.\) ",
    ),
    _Row(
        "spawn of a function returning a Future (lambda: fut)",
        lambda w: spawn(w.nursery, _bad(lambda: w.value)),
        TypeError,
        r"^spawn\(\) needs an async function, but .* returned Future .*; a Future "
        r"is not awaitable, pass its get method instead \(fut\.get, not lambda: fut\)$",
    ),
    _Row(
        "await fut without .get()",
        lambda w: w.pending,
        TypeError,
        r"^trio_promise\.Future is not awaitable; use 'await fut\.get\(\)' to wait "
        r"for its result$",
    ),
    # -- joins: non-futures, single futures, empty input ----------------------
    *(
        _Row(
            f"{name} of a single Future",
            partial(_join_single, join),
            TypeError,
            _single_future(name),
        )
        for name, join in (
            ("wait_all", wait_all),
            ("wait_settled", wait_settled),
            ("wait_any", wait_any),
            ("as_completed", as_completed),
        )
    ),
    *(
        _Row(
            f"{name} with a {kind} item",
            partial(_join_with, join, make),
            TypeError,
            _not_a_future(name, kind, 2),
        )
        for name, join in (
            ("wait_all", wait_all),
            ("wait_settled", wait_settled),
            ("wait_any", wait_any),
            ("as_completed", as_completed),
        )
        for kind, make in (
            ("int", lambda: 1),
            ("NoneType", lambda: None),
            # Another library's future is not a trio_promise one.
            (r"concurrent\.futures\._base\.Future", concurrent.futures.Future),
        )
    ),
    *(
        _Row(
            f"{name} of an int",
            partial(_apply, join, 5),
            TypeError,
            rf"^{name}\(\) takes an iterable of futures, got int$",
        )
        for name, join in (
            ("wait_all", wait_all),
            ("wait_settled", wait_settled),
            ("wait_any", wait_any),
            ("as_completed", as_completed),
        )
    ),
    *(
        _Row(
            f"wait_any of {kind}",
            partial(_apply_made, wait_any, make),
            ValueError,
            r"^wait_any\(\) needs at least one future, got an empty iterable; with "
            r"nothing to wait for it would wait forever$",
        )
        for kind, make in (
            ("[]", list[Future[int]]),
            ("an empty generator", lambda: (f for f in [Future[int]()][:0])),
        )
    ),
    # -- gather and race --------------------------------------------------------
    _Row(
        "gather of an int",
        lambda w: gather(w.probe, _bad(1)),
        TypeError,
        _not_async_fn("gather", "int 1"),
    ),
    _Row(
        "gather of a coroutine object",
        lambda w: gather(w.probe, _bad(w.probe(1))),
        TypeError,
        _coroutine_given("gather"),
    ),
    _Row(
        "gather of an async generator function",
        lambda w: gather(w.probe, _bad(_ticks)),
        TypeError,
        _async_generator_fn("gather"),
    ),
    _Row(
        "gather with limiter=5",
        lambda w: gather(w.probe, limiter=_bad(5)),
        TypeError,
        _bad_limiter("gather", "5"),
    ),
    _Row(
        "race with no callables",
        lambda w: _bad(race)(),
        ValueError,
        r"^race\(\) needs at least one async callable; with none there is no "
        r"winner to wait for$",
    ),
    _Row(
        "race of None",
        lambda w: race(w.probe, _bad(None)),
        TypeError,
        _not_async_fn("race", "NoneType None"),
    ),
    _Row(
        "race of a coroutine object",
        lambda w: race(_bad(w.probe(1))),
        TypeError,
        _coroutine_given("race"),
    ),
    _Row(
        "race of an async generator function",
        lambda w: race(_bad(_ticks), w.probe),
        TypeError,
        _async_generator_fn("race"),
    ),
    _Row(
        "race with limiter=5",
        lambda w: race(w.probe, limiter=_bad(5)),
        TypeError,
        _bad_limiter("race", "5"),
    ),
    # -- gather_map ---------------------------------------------------------------
    _Row(
        "gather_map over a coroutine (a missing await)",
        _gather_map_over_a_coroutine,
        TypeError,
        r"^gather_map\(\) needs an iterable or async iterable of arguments, got the "
        r"coroutine object <coroutine object _World\.probe at 0x[0-9a-f]+>; is an "
        r"'await' missing where it was made\?$",
    ),
    _Row(
        "gather_map of an async generator function",
        # (The first item is read to make the call that shows the slip.)
        lambda w: gather_map(_bad(_ticks), [1]),
        TypeError,
        _async_generator_fn("gather_map"),
    ),
    _Row(
        "gather_map of a str function",
        lambda w: gather_map(_bad("fetch"), w.items()),
        TypeError,
        _not_async_fn("gather_map", "str 'fetch'"),
    ),
    _Row(
        "gather_map over an int",
        lambda w: gather_map(w.probe, _bad(5)),
        TypeError,
        r"^gather_map\(\) needs an iterable or async iterable of arguments, got int; "
        r"to call "
        r"async_fn once, use gather_map\(async_fn, \[arg\]\)$",
    ),
    *(
        _Row(
            f"gather_map with limit={limit!r}",
            partial(_gather_map_limit, limit),
            ValueError,
            _BAD_LIMIT_VALUE.format(re.escape(str(limit))),
        )
        for limit in (0, -1, -(10**20))
    ),
    *(
        _Row(
            f"gather_map with limit={limit!r}",
            partial(_gather_map_limit, limit),
            TypeError,
            rf"^gather_map\(\): limit must be an int >= 1 or None, got {re.escape(got)}$",
        )
        for limit, got in (
            (1.5, "float 1.5"),
            (True, "bool True"),
            ("2", "str '2'"),
        )
    ),
    _Row(
        "gather_map with limiter=5",
        lambda w: gather_map(w.probe, w.items(), limiter=_bad(5)),
        TypeError,
        _bad_limiter("gather_map", "5"),
    ),
    # -- RateLimiter --------------------------------------------------------------
    *(
        _Row(
            f"RateLimiter(rate={name})",
            partial(_apply, RateLimiter, rate),
            ValueError,
            _BAD_RATE_VALUE.format(re.escape(shown)),
        )
        for name, rate, shown in (
            ("0", 0, "0"),
            ("-1", -1, "-1"),
            ("0.0", 0.0, "0.0"),
            ("-0.5", -0.5, "-0.5"),
            ("inf", float("inf"), "inf"),
            ("nan", float("nan"), "nan"),
            # an int too big for a float, shown cut short
            ("10**400", 10**400, "1" + "0" * 17 + "..." + "0" * 19),
        )
    ),
    *(
        _Row(
            f"RateLimiter(rate={rate!r})",
            partial(_apply, RateLimiter, rate),
            TypeError,
            _BAD_RATE_TYPE.format(re.escape(got)),
        )
        for rate, got in (
            ("10", "str '10'"),
            (None, "NoneType None"),
            (True, "bool True"),
            (1j, "complex 1j"),
        )
    ),
    *(
        _Row(
            f"RateLimiter(1, burst={burst!r})",
            partial(_rate_burst, burst),
            ValueError,
            _BAD_BURST_VALUE.format(re.escape(repr(burst))),
        )
        for burst in (0, -3)
    ),
    *(
        _Row(
            f"RateLimiter(1, burst={burst!r})",
            partial(_rate_burst, burst),
            TypeError,
            _BAD_BURST_TYPE.format(re.escape(got)),
        )
        for burst, got in (
            (1.5, "float 1.5"),
            (2.0, "float 2.0"),
            (True, "bool True"),
            (None, "NoneType None"),
        )
    ),
    _Row(
        "RateLimiter with burst given by position",
        lambda w: _bad(RateLimiter)(1, 2),
        TypeError,
        r"^(RateLimiter\.)?__init__\(\) takes 2 positional arguments but 3 were "
        r"given$",
    ),
    _Row(
        "acquire_nowait on a drained RateLimiter",
        lambda w: w.rate.acquire_nowait(),
        trio.WouldBlock,
        r"^$",
    ),
    # -- Correlator -----------------------------------------------------------
    _Row(
        "expect of a key in flight",
        lambda w: w.corr.expect(1).__enter__(),
        ValueError,
        r"^key 1 is already in flight; ids must not be reused while a request is "
        r"pending$",
    ),
    *(
        _Row(
            f"expect of an unhashable {kind}",
            partial(_expect_made, make),
            TypeError,
            rf"^correlator keys must be hashable \(use the request id\), got {kind}$",
        )
        for kind, make in (
            ("list", lambda: [1]),
            ("dict", lambda: {"id": 1}),
            ("set", lambda: {1}),
        )
    ),
    _Row(
        "expect on a closed correlator",
        lambda w: w.closed_corr.expect(1).__enter__(),
        BrokenPromiseError,
        r"^the correlator is closed, so no reply can come for key 1; open a new "
        r"connection and a new correlator$",
    ),
    _Row(
        "expect of an unhashable key on a closed correlator",
        lambda w: w.closed_corr.expect([1]).__enter__(),
        TypeError,
        r"^correlator keys must be hashable \(use the request id\), got list$",
    ),
    _Row(
        "next_key without keys=",
        lambda w: w.corr.next_key(),
        RuntimeError,
        r"^next_key\(\) needs an id space: create the correlator with keys=, such "
        r"as Correlator\(keys=range\(1, 2\*\*16\)\)$",
    ),
    *(
        _Row(
            f"Correlator(keys={keys!r})",
            partial(_correlator_keys, keys),
            TypeError,
            rf"^keys must be a range of ids, such as range\(1, 2\*\*16\), got {kind}$",
        )
        for keys, kind in (([1, 2], "list"), (16, "int"), ("ab", "str"))
    ),
    _Row(
        "Correlator(keys=range(3, 3))",
        partial(_correlator_keys, range(3, 3)),
        ValueError,
        r"^keys must not be empty, got range\(3, 3\)$",
    ),
    *(
        _Row(
            f"Correlator(quarantine={quarantine!r})",
            partial(_correlator_quarantine, quarantine),
            TypeError,
            rf"^quarantine must be a number of seconds, got {kind}$",
        )
        for quarantine, kind in (("60", "str"), (None, "NoneType"), (True, "bool"))
    ),
    *(
        _Row(
            f"Correlator(quarantine={quarantine!r})",
            partial(_correlator_quarantine, quarantine),
            ValueError,
            rf"^quarantine must be a number of seconds >= 0, got {text}$",
        )
        for quarantine, text in ((-1, "-1"), (-0.5, r"-0\.5"), (float("nan"), "nan"))
    ),
    _Row(
        "Correlator(quarantine=10**400)",
        partial(_correlator_quarantine, 10**400),
        ValueError,
        r"^quarantine is too large to represent in seconds, got 10+\.\.\.0+$",
    ),
    *(
        _Row(
            f"close(error={bad!r}) on {which}",
            partial(_close_error, which, bad),
            TypeError,
            match,
        )
        for which in ("corr", "closed_corr")
        for bad, match in (
            (
                ConnectionError,
                r"^close\(\) needs an exception instance as error=, got the class "
                r"ConnectionError; did you mean ConnectionError\(\)\?$",
            ),
            (
                KeyboardInterrupt(),
                r"^close\(\) refuses KeyboardInterrupt as error=: only Exception "
                r"instances can be given to callers, a BaseException belongs to the "
                r"task it was raised in$",
            ),
            (
                "closed",
                r"^close\(\) needs an Exception instance as error=, got str$",
            ),
        )
    ),
    *(
        _Row(
            f"fail of {kind} for key {key!r}",
            partial(_fail_made, key, make),
            TypeError,
            _refuses("fail", kind),
        )
        for key in (1, 2, [3])  # in flight, unknown, unhashable: always a bug
        for kind, make in (
            ("KeyboardInterrupt", KeyboardInterrupt),
            ("SystemExit", SystemExit),
        )
    ),
    _Row(
        "fail of the class ValueError",
        lambda w: w.corr.fail(1, _bad(ValueError)),
        TypeError,
        _needs_instance("fail", "ValueError"),
    ),
    _Row(
        "fail of a str",
        lambda w: w.corr.fail(1, _bad("boom")),
        TypeError,
        r"^fail\(\) needs an Exception instance, got str$",
    ),
    *(
        _Row(
            f"close({bad!r}) on {which}",
            partial(_method, which, "close", bad),
            TypeError,
            rf"^close\(\) needs an exception instance or None as the cause, got "
            rf"{re.escape(repr(bad))}{hint}$",
        )
        for which in ("corr", "closed_corr")
        for bad, hint in (
            ("boom", ""),
            (3, ""),
            (ValueError, r"; did you mean ValueError\(\)\?"),
        )
    ),
    _Row(
        "Correlator with an argument",
        lambda w: _bad(Correlator)(1),
        TypeError,
        r"^(Correlator\.)?__init__\(\) takes 1 positional argument but 2 were given$",
    ),
    _Row(
        # Like 'key in dict' (resolve and fail, which take keys from the wire,
        # answer False instead).
        "an unhashable key in a correlator",
        lambda w: [1] in w.corr,
        TypeError,
        r"^unhashable type: 'list'$",
    ),
    _Row(
        "subclassing Correlator",
        lambda w: _subclass(Correlator),
        TypeError,
        r"^trio_promise\.Correlator does not support subclassing$",
    ),
]


async def _in_world(
    body: Callable[[_World], Any],
) -> None:
    """Run ``body(world)`` in a fresh world; check that nothing changed."""
    async with trio.open_nursery() as closed_nursery:
        pass
    async with trio.open_nursery() as nursery:
        world = _World(nursery, closed_nursery)
        world.start()
        before = world.snapshot()
        await body(world)
        # Give anything that was (wrongly) started the chance to run.
        await trio.testing.wait_all_tasks_blocked()
        assert world.snapshot() == before
        world.clean_up()


@pytest.mark.parametrize("row", ERRORS, ids=str)
async def test_bad_input_is_refused_and_changes_nothing(
    row: _Row, autojump_clock: trio.abc.Clock
) -> None:
    async def call_at_once(world: _World) -> None:
        with trio.testing.assert_no_checkpoints():
            result = row.call(world)
            if inspect.isawaitable(result):
                # An argument error comes at once, before any checkpoint.
                await result

    async def body(world: _World) -> None:
        with pytest.raises(row.exc, match=row.match):
            await call_at_once(world)

    await _in_world(body)


def test_every_public_call_is_in_the_table() -> None:
    """The table covers every public name that takes arguments."""
    names = " ".join(row.name for row in ERRORS)
    for public in (
        "set_result",
        "set_exception",
        "set_outcome",
        "try_set_exception",
        "get_nowait",
        "outcome_nowait",
        "spawn",
        "wait_all",
        "wait_settled",
        "wait_any",
        "as_completed",
        "gather ",
        "gather_map",
        "race",
        "RateLimiter(",
        "acquire_nowait",
        "expect",
        "next_key",
        "Correlator(keys",
        "Correlator(quarantine",
        "close(error",
        "fail",
        "close",
        "subclassing Future",
        "subclassing Correlator",
    ):
        assert public in names, public


# -- misuse that is not an error: the documented answer, and no change ---------


@dataclass(frozen=True)
class _Quiet:
    name: str
    call: Callable[[_World], object]
    returns: object

    def __str__(self) -> str:
        return self.name


NOT_ERRORS: list[_Quiet] = [
    _Quiet(
        "try_set_result on a settled future", lambda w: w.value.try_set_result(2), False
    ),
    _Quiet(
        "try_set_result on a failed future", lambda w: w.failed.try_set_result(2), False
    ),
    _Quiet(
        "try_set_exception on a settled future",
        lambda w: w.value.try_set_exception(KeyError()),
        False,
    ),
    _Quiet("resolve of an unknown key", lambda w: w.corr.resolve(2, "x"), False),
    _Quiet("resolve of an unhashable key", lambda w: w.corr.resolve([1], "x"), False),
    _Quiet(
        "resolve on a closed correlator", lambda w: w.closed_corr.resolve(1, "x"), False
    ),
    _Quiet("fail of an unknown key", lambda w: w.corr.fail(2, KeyError()), False),
    _Quiet("fail of an unhashable key", lambda w: w.corr.fail({}, KeyError()), False),
    _Quiet(
        "close of a closed correlator", lambda w: w.closed_corr.close(KeyError()), None
    ),
]


@pytest.mark.parametrize("row", NOT_ERRORS, ids=str)
async def test_quiet_misuse_answers_and_changes_nothing(
    row: _Quiet, autojump_clock: trio.abc.Clock
) -> None:
    async def body(world: _World) -> None:
        assert row.call(world) == row.returns
        await trio.lowlevel.checkpoint()

    await _in_world(body)
