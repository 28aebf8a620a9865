"""The slips new users make with the helpers: each one gets a message that
says what happened and what to write instead (API.md sections 5 and 5b).

One test per slip, every helper it applies to, messages pinned with anchored
``match=``:

* a coroutine passed as ``items`` (a missing ``await``): a ``TypeError``
  that says so, and the coroutine is closed (no "never awaited" warning,
  which ``filterwarnings = error`` would turn into a failure);
* a ``TypeError`` raised by the iterable's own ``__iter__``: it propagates
  unchanged, not replaced by "needs an iterable";
* ``async for`` over ``amap(...)`` without ``async with``;
* an async *generator* function as ``async_fn``: named as such, as trio does.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pytest
import trio

from trio_promise import amap, gather, gather_map, race, spawn

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


def _bad(value: object) -> Any:
    """Hand a wrong value to a typed call (the point of this file)."""
    return value


async def fetch(item: int) -> int:
    await trio.lowlevel.checkpoint()
    return item


async def get_items() -> list[int]:  # pragma: no cover (never awaited)
    await trio.lowlevel.checkpoint()
    return [1, 2]


async def ticks(item: int = 0) -> AsyncIterator[int]:  # pragma: no cover
    # 'yield' makes it an async generator function, not an async function.
    yield item


# -- a coroutine as items -------------------------------------------------------


def _missing_await(caller: str) -> str:
    return (
        rf"^{caller}\(\) needs an iterable or async iterable of arguments, got the "
        rf"coroutine object <coroutine object get_items at 0x[0-9a-f]+>; is an "
        rf"'await' missing where it was made\?$"
    )


async def test_a_coroutine_as_items_says_await_is_missing() -> None:
    coro = get_items()
    with (
        trio.testing.assert_no_checkpoints(),
        pytest.raises(TypeError, match=_missing_await("gather_map")),
    ):
        await gather_map(fetch, _bad(coro))
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    coro = get_items()
    with pytest.raises(TypeError, match=_missing_await("amap")):
        amap(fetch, _bad(coro))
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


# -- a TypeError from the iterable's own __iter__ --------------------------------


class Picky:
    """An iterable whose ``__iter__`` itself raises ``TypeError``."""

    def __iter__(self) -> Iterator[int]:
        raise TypeError("picky: needs a session first")


async def test_a_type_error_from_iter_propagates_unchanged() -> None:
    with pytest.raises(TypeError, match=r"^picky: needs a session first$"):
        await gather_map(fetch, Picky())
    with pytest.raises(TypeError, match=r"^picky: needs a session first$"):
        amap(fetch, Picky())


async def test_old_style_sequences_are_still_iterables() -> None:
    class Squares:
        # The sequence protocol without __iter__: iter() accepts it.
        def __getitem__(self, index: int) -> int:
            if index >= 3:
                raise IndexError(index)
            return index * index

    assert await gather_map(fetch, _bad(Squares())) == [0, 1, 4]


class NotIterable:
    __iter__ = None  # how a class says that it is not iterable


async def test_a_class_marked_not_iterable_is_refused() -> None:
    with pytest.raises(
        TypeError,
        match=r"^gather_map\(\) needs an iterable or async iterable of arguments, "
        r"got NotIterable; to call async_fn once, use gather_map\(async_fn, \[arg\]\)$",
    ):
        await gather_map(fetch, _bad(NotIterable()))


# -- async for over amap(...) ------------------------------------------------------


async def test_async_for_over_amap_without_async_with() -> None:
    async def slip() -> None:
        async for _ in _bad(amap(fetch, [1, 2])):
            pytest.fail("no pair")  # pragma: no cover

    with pytest.raises(
        TypeError,
        match=r"^amap\(\) returns an async context manager, not the results: write "
        r"'async with amap\(\.\.\.\) as results:', then 'async for item, result in "
        r"results:' inside the block$",
    ):
        await slip()


# -- an async generator function as async_fn ---------------------------------------


def _async_generator(caller: str) -> str:
    return (
        rf"^{caller}\(\) needs an async function, but <function ticks at "
        rf"0x[0-9a-f]+> is an async generator function \(it returned "
        rf"<async_generator object ticks at 0x[0-9a-f]+>\); iterate it with "
        rf"'async for', or remove 'yield' from its body$"
    )


async def test_an_async_generator_function_is_named_as_such() -> None:
    with pytest.raises(TypeError, match=_async_generator("gather")):
        await gather(_bad(ticks))
    with pytest.raises(TypeError, match=_async_generator("race")):
        await race(_bad(ticks))
    with pytest.raises(TypeError, match=_async_generator("gather_map")):
        await gather_map(_bad(ticks), [1, 2])
    async with trio.open_nursery() as nursery:
        with pytest.raises(TypeError, match=_async_generator("spawn")):
            spawn(nursery, _bad(ticks))


async def test_an_async_generator_function_in_amap() -> None:
    async def run() -> None:
        async with amap(_bad(ticks), [1, 2]) as results:
            async for _ in results:
                pytest.fail("no pair")  # pragma: no cover

    # Plain, not in a group: the first item's call, as gather_map raises it.
    with pytest.raises(TypeError, match=_async_generator("amap")):
        await run()
