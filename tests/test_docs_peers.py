"""What the README ("Which one to use") and docs/coming-from.rst say about the peers.

The claims were read in the sources of aioresult 1.3 and anyio 4.16; these
tests hold the installed peers (the ``bench`` extra, so this file runs in
``.venv`` only) to them. When a peer's version changes, the first test fails:
read its changes, update the README and docs/coming-from.rst, then the
versions here.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import aioresult
import anyio
import pytest
import trio
import trio.testing

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMING_FROM = (ROOT / "docs" / "coming-from.rst").read_text(encoding="utf-8")


def test_the_docs_name_the_versions_installed() -> None:
    for name in ("aioresult", "anyio"):
        major_minor = ".".join(importlib.metadata.version(name).split(".")[:2])
        for where, text in (("README.md", README), ("coming-from.rst", COMING_FROM)):
            assert re.search(rf"\b{name} {re.escape(major_minor)}\b", text), (
                f"{where} was checked against another {name} than {major_minor}")


def test_aioresult_future_many_waiters_and_set_again() -> None:
    async def main() -> None:
        fut: aioresult.Future[int] = aioresult.Future()
        got: list[int] = []

        async def reader() -> None:
            await fut.wait_done()
            got.append(fut.result())

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            fut.set_result(7)
        assert got == [7, 7, 7]
        with pytest.raises(aioresult.FutureSetAgainException):
            fut.set_result(8)

    trio.run(main)


def test_aioresult_wraps_failures_and_stores_base_exceptions() -> None:
    fut: aioresult.Future[int] = aioresult.Future()
    fut.set_exception(KeyboardInterrupt())  # any BaseException is accepted
    with pytest.raises(aioresult.TaskFailedException) as info:
        fut.result()
    assert isinstance(info.value.__cause__, KeyboardInterrupt)
    assert not hasattr(fut, "try_set_result")
    assert callable(aioresult.ResultCapture.start_soon)
    assert callable(aioresult.wait_any)
    assert callable(aioresult.results_to_channel)


def test_anyio_future_many_waiters_set_again_and_cancel() -> None:
    async def main() -> None:
        fut: anyio.Future[int] = anyio.Future()
        got: list[int] = []

        async def reader() -> None:
            got.append(await fut)

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            fut.return_value = 7
        assert got == [7, 7, 7]
        with pytest.raises(anyio.FutureAlreadyFinished):
            fut.return_value = 8

        failed: anyio.Future[int] = anyio.Future()
        failed.exception = ValueError("boom")
        with pytest.raises(anyio.FutureFailed) as info:
            await failed
        assert isinstance(info.value.__cause__, ValueError)

        cancelled: anyio.Future[int] = anyio.Future()
        cancelled.cancel()  # for every reader
        assert cancelled.status is anyio.Future.Status.CANCELLED

    trio.run(main)


def test_anyio_has_the_helpers_named_and_no_try_set() -> None:
    for name in ("gather", "amap", "as_completed", "TaskHandle", "CapacityLimiter"):
        assert hasattr(anyio, name), name
    assert not hasattr(anyio.Future, "try_set_result")
    assert "cancel" in vars(anyio.TaskHandle)
