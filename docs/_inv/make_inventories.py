"""Write the small intersphinx inventories vendored next to this script.

The docs are built offline (CI machines reach package registries only), so
intersphinx cannot download ``objects.inv`` from docs.python.org,
trio.readthedocs.io and outcome.readthedocs.io. Instead, this script writes
one inventory per project covering exactly the names our pages and docstrings
refer to, with the addresses those names have in the real documentation.

When the docs start referring to a new external name, the nitpicky build
fails with "py:class reference target not found: ..."; add the name to the
table below and run::

    python docs/_inv/make_inventories.py

The output is deterministic, so regenerating without changes gives identical
files.
"""

from __future__ import annotations

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (name, domain:role, relative uri); "$" at the end of a uri stands for the
# name, as in real Sphinx inventories.
PYTHON: list[tuple[str, str, str]] = [
    # built-in types and constants
    *(
        (name, "py:class", "library/functions.html#$")
        for name in ("bool", "float", "int", "object", "type")
    ),
    *(
        (name, "py:class", "library/stdtypes.html#$")
        for name in ("dict", "list", "set", "str", "tuple")
    ),
    *(
        (name, "py:function", "library/functions.html#$")
        for name in ("id", "isinstance", "len", "next", "repr")
    ),
    ("None", "py:data", "library/constants.html#$"),
    ("True", "py:data", "library/constants.html#$"),
    ("False", "py:data", "library/constants.html#$"),
    # exceptions
    *(
        (name, "py:exception", "library/exceptions.html#$")
        for name in (
            "BaseException",
            "BaseExceptionGroup",
            "Exception",
            "ExceptionGroup",
            "GeneratorExit",
            "KeyError",
            "KeyboardInterrupt",
            "RuntimeError",
            "StopAsyncIteration",
            "SystemExit",
            "TypeError",
            "ValueError",
        )
    ),
    ("BaseException.__cause__", "py:attribute", "library/exceptions.html#$"),
    ("BaseException.__context__", "py:attribute", "library/exceptions.html#$"),
    ("BaseException.__traceback__", "py:attribute", "library/exceptions.html#$"),
    ("BaseException.with_traceback", "py:method", "library/exceptions.html#$"),
    # collections.abc, typing, contextlib, functools
    *(
        (f"collections.abc.{name}", "py:class", "library/collections.abc.html#$")
        for name in (
            "AsyncIterable",
            "AsyncIterator",
            "Awaitable",
            "Callable",
            "Hashable",
            "Iterable",
            "Iterator",
        )
    ),
    *(
        (f"typing.{name}", "py:data", "library/typing.html#$")
        for name in ("Any", "Unpack")
    ),
    *(
        (f"typing.{name}", "py:class", "library/typing.html#$")
        for name in ("Generic", "TypeVar", "TypeVarTuple")
    ),
    ("typing.final", "py:function", "library/typing.html#$"),
    ("typing.assert_type", "py:function", "library/typing.html#$"),
    *(
        (f"contextlib.{name}", "py:class", "library/contextlib.html#$")
        for name in ("AbstractAsyncContextManager", "AbstractContextManager")
    ),
    ("contextlib.aclosing", "py:function", "library/contextlib.html#$"),
    ("functools.partial", "py:function", "library/functools.html#$"),
    ("tracemalloc", "py:module", "library/tracemalloc.html#module-tracemalloc"),
    ("types.TracebackType", "py:class", "library/types.html#$"),
    ("dataclasses.dataclass", "py:function", "library/dataclasses.html#$"),
    # asyncio, for the comparison page
    *(
        (f"asyncio.{name}", "py:class", "library/asyncio-future.html#$")
        for name in ("Future",)
    ),
    *(
        (f"asyncio.Future.{name}", "py:method", "library/asyncio-future.html#$")
        for name in (
            "add_done_callback",
            "cancel",
            "done",
            "exception",
            "result",
            "set_exception",
            "set_result",
        )
    ),
    *(
        (f"asyncio.{name}", "py:function", "library/asyncio-task.html#$")
        for name in (
            "as_completed",
            "create_task",
            "gather",
            "shield",
            "timeout",
            "wait",
            "wait_for",
        )
    ),
    *(
        (f"asyncio.{name}", "py:class", "library/asyncio-task.html#$")
        for name in ("Task", "TaskGroup")
    ),
    ("asyncio.TaskGroup.create_task", "py:method", "library/asyncio-task.html#$"),
    *(
        (f"asyncio.{name}", "py:class", "library/asyncio-sync.html#$")
        for name in ("Event", "Semaphore")
    ),
    *(
        (f"asyncio.{name}", "py:exception", "library/asyncio-exceptions.html#$")
        for name in ("CancelledError", "InvalidStateError")
    ),
    (
        "asyncio.loop.call_soon_threadsafe",
        "py:method",
        "library/asyncio-eventloop.html#$",
    ),
    ("asyncio.run", "py:function", "library/asyncio-runner.html#$"),
    # glossary
    ("hashable", "std:term", "glossary.html#term-hashable"),
    ("awaitable", "std:term", "glossary.html#term-awaitable"),
]

TRIO: list[tuple[str, str, str]] = [
    *(
        (f"trio.{name}", "py:function", "reference-core.html#$")
        for name in (
            "current_time",
            "fail_after",
            "fail_at",
            "move_on_after",
            "move_on_at",
            "open_memory_channel",
            "open_nursery",
            "run",
            "sleep",
            "sleep_forever",
        )
    ),
    *(
        (f"trio.{name}", "py:class", "reference-core.html#$")
        for name in (
            "CancelScope",
            "CapacityLimiter",
            "Event",
            "Lock",
            "MemoryReceiveChannel",
            "MemorySendChannel",
            "Nursery",
            "Semaphore",
        )
    ),
    *(
        (f"trio.{name}", "py:exception", "reference-core.html#$")
        for name in (
            "BrokenResourceError",
            "BusyResourceError",
            "Cancelled",
            "ClosedResourceError",
            "EndOfChannel",
            "TooSlowError",
            "WouldBlock",
        )
    ),
    *(
        (f"trio.Nursery.{name}", "py:method", "reference-core.html#$")
        for name in ("start", "start_soon")
    ),
    ("trio.Nursery.cancel_scope", "py:attribute", "reference-core.html#$"),
    ("trio.CancelScope.cancel", "py:method", "reference-core.html#$"),
    ("trio.CancelScope.cancelled_caught", "py:attribute", "reference-core.html#$"),
    ("trio.Event.set", "py:method", "reference-core.html#$"),
    ("trio.Event.wait", "py:method", "reference-core.html#$"),
    ("trio.Event.statistics", "py:method", "reference-core.html#$"),
    ("trio.CapacityLimiter.statistics", "py:method", "reference-core.html#$"),
    ("trio.from_thread.run_sync", "py:function", "reference-core.html#$"),
    ("trio.from_thread.run", "py:function", "reference-core.html#$"),
    ("trio.to_thread.run_sync", "py:function", "reference-core.html#$"),
    ("trio.lowlevel.checkpoint", "py:function", "reference-lowlevel.html#$"),
    ("trio.as_safe_channel", "py:function", "reference-core.html#$"),
    ("trio.testing.MockClock", "py:class", "reference-testing.html#$"),
    *(
        (f"trio.testing.{name}", "py:function", "reference-testing.html#$")
        for name in ("assert_checkpoints", "wait_all_tasks_blocked")
    ),
    ("trio.abc.Stream", "py:class", "reference-io.html#$"),
    ("trio.abc.ReceiveStream", "py:class", "reference-io.html#$"),
    ("trio.abc.SendStream", "py:class", "reference-io.html#$"),
    # section labels (the fourth field of a label is its title)
    ("checkpoints", "std:label", "reference-core.html#checkpoints"),
    ("cancellation", "std:label", "reference-core.html#cancellation"),
]

OUTCOME: list[tuple[str, str, str]] = [
    ("outcome.Outcome", "py:class", "api.html#$"),
    ("outcome.Value", "py:class", "api.html#$"),
    ("outcome.Error", "py:class", "api.html#$"),
    ("outcome.Outcome.unwrap", "py:method", "api.html#$"),
    ("outcome.Value.value", "py:attribute", "api.html#$"),
    ("outcome.Error.error", "py:attribute", "api.html#$"),
    ("outcome.capture", "py:function", "api.html#$"),
    ("outcome.acapture", "py:function", "api.html#$"),
    ("outcome.AlreadyUsedError", "py:exception", "api.html#$"),
]

LABEL_TITLES = {
    "checkpoints": "Checkpoints",
    "cancellation": "Cancellation and timeouts",
}


def write(
    path: Path, project: str, version: str, rows: list[tuple[str, str, str]]
) -> None:
    """Write one inventory in Sphinx's format (version 2, zlib body)."""
    lines = []
    for name, role, uri in sorted(set(rows)):
        if role == "std:label":
            # Labels carry priority -1 and their section title, as Sphinx
            # writes them.
            lines.append(f"{name} {role} -1 {uri} {LABEL_TITLES[name]}")
        else:
            lines.append(f"{name} {role} 1 {uri} -")
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = zlib.compress(("\n".join(lines) + "\n").encode(), 9)
    path.write_bytes(header.encode() + body)


def main(out_dir: Path = HERE) -> None:
    """Write python.inv, trio.inv and outcome.inv into ``out_dir``."""
    write(out_dir / "python.inv", "Python", "3", PYTHON)
    write(out_dir / "trio.inv", "Trio", "0.35", TRIO)
    write(out_dir / "outcome.inv", "outcome", "1.3", OUTCOME)


if __name__ == "__main__":
    main()
