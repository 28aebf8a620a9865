"""Static type tests for Correlator: checked by mypy and pyright, never run.

Each ``assert_type`` pins an inferred type. Each line ending in
``# type: ignore[code]`` must fail to type-check.
"""

from __future__ import annotations

from typing_extensions import assert_type

from trio_promise import Correlator, Future


async def correlator_checks() -> None:
    replies: Correlator[int, str] = Correlator()
    with replies.expect(1) as fut:
        assert_type(fut, Future[str])
        assert_type(await fut.get(), str)
    replies.expect("one")  # type: ignore[arg-type]
    assert_type(replies.resolve(1, "x"), bool)
    replies.resolve(1, 2)  # type: ignore[arg-type]
    replies.resolve("1", "x")  # type: ignore[arg-type]
    assert_type(replies.fail(1, ValueError()), bool)
    replies.fail(1, ValueError)  # type: ignore[arg-type]
    replies.fail(1, KeyboardInterrupt())  # type: ignore[arg-type]
    replies.close()
    replies.close(OSError("gone"))
    replies.close(KeyboardInterrupt())
    replies.close("gone")  # type: ignore[arg-type]
    assert_type(replies.closed, bool)
    replies.closed = True  # type: ignore[misc]
    assert_type(len(replies), int)
    assert_type(1 in replies, bool)
    with Correlator[str, bytes]() as other:
        assert_type(other, Correlator[str, bytes])
    await replies.expect(2)  # type: ignore[misc]
    replies.cancel()  # type: ignore[attr-defined]

    # Invariant in both parameters.
    as_object: Correlator[int, object] = replies  # type: ignore[assignment]
    narrow: Correlator[bool, str] = replies  # type: ignore[assignment]
    del as_object, narrow
