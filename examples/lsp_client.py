"""A small Language Server Protocol client, on trio and trio_promise.Correlator.

Run it to talk to a real server, pylsp (``pip install python-lsp-server``)::

    python examples/lsp_client.py          # or, with 5000 hovers, 100 completions:
    python examples/lsp_client.py 5000 100

It starts ``python -m pylsp`` as a child process and speaks JSON-RPC 2.0 over
its stdin/stdout, each message framed by a ``Content-Length`` header. One
reader task reads every frame and hands each reply to the request that waits
for it, through a :class:`trio_promise.Correlator`; one writer task sends what
the callers queue. Any number of tasks can have requests in flight at once::

    async with LspClient.start() as client:
        client.open_document(uri, text)
        hover = await client.hover(uri, line=3, character=7)
        items = await client.request("textDocument/completion", {...})

What makes it robust, and what the correlator does for it:

* ids come from ``next_key()``: LSP's integer id space, never an id still in
  flight or in quarantine;
* a request's id is registered (``expect``) *before* the request is queued,
  so a reply can never come back before its future exists;
* a caller that gives up (``trio.move_on_after`` around ``client.request``)
  leaves its ``with`` block; the client tells the server with
  ``$/cancelRequest``, and the id goes into quarantine for a while, so the
  reply that may still come (pylsp's "request cancelled" error, or the
  result) is dropped and counted in ``statistics().late_replies`` instead of
  reaching a later request;
* when the server goes away (it exits, crashes or is killed), the reader
  sees the end of its output and closes the correlator with the client's own
  error, :exc:`LspConnectionClosed`: every caller still waiting gets it at
  once, and later requests fail fast with it;
* requests the server sends to the client (``window/workDoneProgress/create``,
  ``workspace/configuration``, ...) are answered, and notifications
  (diagnostics, log messages, progress) are recorded, so that the server
  never waits on the client.

The module is importable (tests/test_lsp_real.py uses it); ``main()`` is the
demo: it opens a document, runs many hover and completion requests with a
fixed number in flight, and prints what happened.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import time
from collections import Counter
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import trio

from trio_promise import Correlator

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Sequence

__all__ = [
    "DEFAULT_IDS",
    "DEFAULT_QUARANTINE",
    "DEFAULT_SETTINGS",
    "NAME_END",
    "NAME_START",
    "LspClient",
    "LspConnectionClosed",
    "LspError",
    "LspProtocolError",
    "demo",
    "main",
    "make_document",
    "use_line",
]

log = logging.getLogger("lsp_client")
# A library-style module prints nothing unless the application configures
# logging (tests capture it with caplog).
log.addHandler(logging.NullHandler())

JSON = Any

# Headers larger than this are not a language server talking.
_MAX_HEADER = 64 * 1024

# How long a server gets to exit after "exit" before it is killed.
_EXIT_GRACE = 5.0

# LSP's request ids: integers, 32-bit signed in the specification.
DEFAULT_IDS = range(1, 2**31)
# How long the id of a request given up stays unused: longer than any reply
# can take to come late.
DEFAULT_QUARANTINE = 60.0

# Given to pylsp as initializationOptions. An empty signature formatter:
# otherwise pylsp formats the signature in every hover by running black (or
# ruff) in a subprocess, which costs 100+ ms per hover.
DEFAULT_SETTINGS: JSON = {"pylsp": {"signature": {"formatter": ""}}}

# The answers the client gives to requests that the server sends it.
_CLIENT_METHODS_ANSWERED_WITH_NULL = frozenset(
    {
        "window/workDoneProgress/create",
        "client/registerCapability",
        "client/unregisterCapability",
        "window/showMessageRequest",
        "workspace/workspaceFolders",
    }
)


class LspError(Exception):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: JSON = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class LspProtocolError(Exception):
    """What the server sent is not JSON-RPC over Content-Length frames."""


class LspConnectionClosed(Exception):
    """The connection to the language server is closed (or broke).

    Raised by every request still waiting when the connection ends, and by
    every call made after that. Its ``__cause__`` is what ended the
    connection, when that was an error (a broken pipe, a protocol error).
    """

    def __init__(self) -> None:
        super().__init__("the connection to the language server is closed")


def _closed_cause(exc: BaseException | None) -> Exception | None:
    # The reader's exception, as the cause of LspConnectionClosed: an
    # Exception only (never a Cancelled or a KeyboardInterrupt).
    return exc if isinstance(exc, Exception) else None


class _FrameReader:
    """Cut a byte stream into the bodies of ``Content-Length`` frames."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def _fill(self) -> bool:
        data = await self._stream.receive_some(65536)
        self._buffer += data
        return bool(data)

    async def next_body(self) -> bytes | None:
        """Return the next frame's body, or ``None`` at a clean end of stream."""
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > _MAX_HEADER:
                raise LspProtocolError("no end of header in the first 64 KiB")
            if not await self._fill():
                if self._buffer:
                    raise LspProtocolError("the stream ended inside a header")
                return None
        header = bytes(self._buffer[:end]).decode("ascii", "replace")
        del self._buffer[: end + 4]
        length = None
        for line in header.split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise LspProtocolError(f"bad Content-Length: {value!r}") from None
        if length is None or length < 0:
            raise LspProtocolError(f"no usable Content-Length in {header!r}")
        while len(self._buffer) < length:
            if not await self._fill():
                raise LspProtocolError("the stream ended inside a message")
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body


def _markup_text(contents: JSON) -> str:
    """The text of hover contents: MarkupContent, a MarkedString, or a list."""
    if isinstance(contents, str):
        return contents
    if isinstance(contents, list):
        return "\n".join(_markup_text(part) for part in cast("list[object]", contents))
    if isinstance(contents, dict):
        return str(cast("dict[str, JSON]", contents).get("value", ""))
    return ""


def _frame(message: JSON) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


class LspClient:
    """A JSON-RPC 2.0 client for a language server, over a pair of streams.

    Use :meth:`start` to run a server process and get a connected client.
    Every public coroutine may be called from any number of tasks at once.

    Attributes:
        replies: the correlator that matches replies to requests (its
            ``len()`` is the number of requests in flight; its
            ``statistics()`` counts the late replies, to requests given up,
            and the unknown ones).
        notifications: how many notifications the server sent, by method.
        server_requests: how many requests the server sent, by method.
        diagnostics: the latest diagnostics the server published, by URI.
        process: the server process, when started by :meth:`start`.
    """

    def __init__(
        self,
        send_stream: trio.abc.SendStream,
        receive_stream: trio.abc.ReceiveStream,
        *,
        process: trio.Process | None = None,
        ids: range = DEFAULT_IDS,
        quarantine: float = DEFAULT_QUARANTINE,
    ) -> None:
        self.replies: Correlator[int, JSON] = Correlator(
            keys=ids, quarantine=quarantine
        )
        self.notifications: Counter[str] = Counter()
        self.server_requests: Counter[str] = Counter()
        self.diagnostics: dict[str, list[JSON]] = {}
        self.process = process
        self._send_stream = send_stream
        self._receive_stream = receive_stream
        self._published = trio.Event()
        # Unbounded, so that queueing is synchronous: a caller can queue its
        # request right after expect(), and a cancelled caller can still
        # queue its $/cancelRequest on the way out. The number of queued
        # messages is bounded by the number of callers.
        self._outgoing, self._to_write = trio.open_memory_channel[bytes](math.inf)

    # -- running a server ----------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def start(
        cls,
        command: Sequence[str] | None = None,
        *,
        root: Path | None = None,
        stderr: int | None = subprocess.DEVNULL,
        initialize: bool = True,
        settings: JSON = DEFAULT_SETTINGS,
        ids: range = DEFAULT_IDS,
        quarantine: float = DEFAULT_QUARANTINE,
    ) -> AsyncGenerator[LspClient, None]:
        """Start a language server process and yield a client connected to it.

        The server is ``python -m pylsp`` unless ``command`` says otherwise.
        With ``initialize`` (the default), the ``initialize`` request and the
        ``initialized`` notification are done before the client is yielded,
        with ``settings`` as the ``initializationOptions``. ``ids`` and
        ``quarantine`` are given to the client's correlator.
        When the block ends normally, the session ends politely
        (``shutdown``, then ``exit``, then the server gets a few seconds to
        exit before it is killed); when it ends with an exception, the server
        is terminated at once.
        """
        if command is None:
            command = [sys.executable, "-m", "pylsp"]
        async with trio.open_nursery() as nursery:
            process: trio.Process = await nursery.start(
                partial(
                    trio.run_process,
                    list(command),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    check=False,
                )
            )
            assert process.stdin is not None
            assert process.stdout is not None
            client = cls(
                process.stdin,
                process.stdout,
                process=process,
                ids=ids,
                quarantine=quarantine,
            )
            nursery.start_soon(client.read_messages, name="lsp reader")
            nursery.start_soon(client.write_messages, name="lsp writer")
            try:
                if initialize:
                    folder = trio.Path(root) if root else await trio.Path.cwd()
                    await client.initialize((await folder.resolve()).as_uri(), settings)
                yield client
            except BaseException:
                # run_process terminates the server when its task is cancelled.
                nursery.cancel_scope.cancel()
                raise
            await client.finish()
            with trio.move_on_after(_EXIT_GRACE):
                await process.wait()
            if process.returncode is None:
                process.kill()

    async def initialize(self, root_uri: str, settings: JSON = None) -> JSON:
        """Send ``initialize`` and ``initialized``; return the server's answer."""
        result = await self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "clientInfo": {"name": "trio_promise lsp_client"},
                "rootUri": root_uri,
                "initializationOptions": settings,
                "capabilities": {
                    "window": {"workDoneProgress": True},
                    "workspace": {"configuration": True},
                    "textDocument": {
                        "hover": {"contentFormat": ["markdown", "plaintext"]},
                        "completion": {"completionItem": {"snippetSupport": False}},
                    },
                },
            },
        )
        self.notify("initialized", {})
        return result

    async def finish(self) -> None:
        """End the session: ``shutdown``, ``exit``, and no more writing.

        If the server is already gone, there is nothing to say: this just
        stops the writer.
        """
        try:
            await self.request("shutdown")
            self.notify("exit")
        except LspConnectionClosed:
            await trio.lowlevel.checkpoint()  # a checkpoint on every path
        finally:
            self._outgoing.close()

    # -- requests and notifications ------------------------------------------

    async def request(self, method: str, params: JSON = None) -> JSON:
        """Send a request and wait for its result.

        Cancellation (a ``trio.move_on_after`` around this call) ends the wait
        at once; the server is told with ``$/cancelRequest``, and its reply,
        if one still comes, is dropped, logged and counted as a late reply
        (the id stays in quarantine meanwhile).

        Raises:
            LspError: the server answered with an error.
            LspConnectionClosed: the connection ended before the reply came
                (the server exited or was killed), or had already ended.
        """
        msg_id = self.replies.next_key()
        with self.replies.expect(msg_id) as reply:
            message: dict[str, JSON] = {
                "jsonrpc": "2.0",
                "id": msg_id,
                "method": method,
            }
            if params is not None:
                message["params"] = params
            self._queue(_frame(message))
            try:
                result = await reply.get()
            finally:
                # Given up (cancelled, or KeyboardInterrupt) without a reply:
                # tell the server, which may stop working on it.
                if not reply.done():
                    self._cancel_request(msg_id)
        # The reply is parsed here, in the caller, not in the reader: an
        # error reply fails this request only.
        if "error" in result:
            error = cast("dict[str, JSON]", result["error"] or {})
            raise LspError(
                int(error.get("code", 0)),
                str(error.get("message", "")),
                error.get("data"),
            )
        return result.get("result")

    def notify(self, method: str, params: JSON = None) -> None:
        """Queue a notification (no reply). Synchronous.

        Raises:
            LspConnectionClosed: the connection is closed.
        """
        message: dict[str, JSON] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._queue(_frame(message))

    def open_document(self, uri: str, text: str, *, language: str = "python") -> None:
        """Send ``textDocument/didOpen`` for a document held in memory."""
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": language,
                    "version": 1,
                    "text": text,
                }
            },
        )

    async def hover(self, uri: str, line: int, character: int) -> str:
        """Return the hover text at a position ("" if there is none)."""
        result = await self.request(
            "textDocument/hover",
            {
                "textDocument": {"uri": uri},
                "position": {"line": line, "character": character},
            },
        )
        return _markup_text(result["contents"]) if result else ""

    async def completion(self, uri: str, line: int, character: int) -> list[str]:
        """Return the labels of the completion items at a position."""
        result = await self.request(
            "textDocument/completion",
            {
                "textDocument": {"uri": uri},
                "position": {"line": line, "character": character},
            },
        )
        # A CompletionList, a bare list of CompletionItems, or null.
        if isinstance(result, dict):
            result = cast("dict[str, JSON]", result).get("items")
        items = cast("list[dict[str, JSON]]", result or [])
        return [str(item["label"]) for item in items]

    async def wait_for_diagnostics(self, uri: str) -> list[JSON]:
        """Wait until the server has published diagnostics for ``uri``; return them.

        Raises:
            LspConnectionClosed: the connection ended first.
        """
        await trio.lowlevel.checkpoint()
        while uri not in self.diagnostics:
            if self.replies.closed:
                raise LspConnectionClosed
            await self._published.wait()
        return self.diagnostics[uri]

    def _queue(self, frame: bytes) -> None:
        try:
            self._outgoing.send_nowait(frame)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise LspConnectionClosed from None

    def _cancel_request(self, msg_id: int) -> None:
        # On the way out of a cancelled request: must not raise, or it
        # would hide the Cancelled that is propagating.
        with suppress(LspConnectionClosed):
            self.notify("$/cancelRequest", {"id": msg_id})

    # -- the two connection tasks --------------------------------------------

    async def write_messages(self) -> None:
        """Write queued messages until the client finishes or the server is gone.

        Everything queued while a write is in progress goes out in the next
        write, as one chunk. If the server's input is broken (it died), the
        correlator is closed with that error: nobody waits for replies to
        requests that were never delivered.
        """
        try:
            async with self._send_stream, self._to_write:
                async for frame in self._to_write:
                    frames = [frame]
                    while True:
                        try:
                            frames.append(self._to_write.receive_nowait())
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break
                    await self._send_stream.send_all(b"".join(frames))
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self.replies.close(exc, error=LspConnectionClosed())

    async def read_messages(self) -> None:
        """Read frames until the server's output ends, dispatching each message.

        Whatever ends the loop, the correlator is closed on the way out, so
        every pending caller gets :exc:`LspConnectionClosed` (with the reason
        as its ``__cause__``, when the reader failed) instead of waiting
        forever.
        """
        try:
            async with self._receive_stream:
                frames = _FrameReader(self._receive_stream)
                while (body := await frames.next_body()) is not None:
                    try:
                        message = json.loads(body)
                    except ValueError as exc:
                        raise LspProtocolError(f"bad JSON: {exc}") from exc
                    self._dispatch(message)
        finally:
            self._published.set()
            # The last statement, with no checkpoint after it: if the reader
            # failed, its exception must reach the nursery before the callers
            # that close() wakes run, so that those in the same nursery end
            # cancelled and the failure is reported once. (sys.exc_info():
            # the exception on its way out, kept in no local of this frame.)
            self.replies.close(
                _closed_cause(sys.exc_info()[1]), error=LspConnectionClosed()
            )

    def _dispatch(self, decoded: JSON) -> None:
        if not isinstance(decoded, dict):
            raise LspProtocolError(f"a message must be a JSON object: {decoded!r}")
        message = cast("dict[str, JSON]", decoded)
        if "method" in message:
            if "id" in message:
                self._answer(message)
            else:
                self._notified(message)
            return
        # Our ids are ints; whatever else the server sends as an id (even
        # something unhashable) is simply unknown to the correlator. The
        # whole message goes to the caller, which parses it.
        msg_id = cast("int", message.get("id"))
        if not self.replies.resolve(msg_id, message):
            # The caller gave up (a late reply), or the id is not ours (an
            # unknown one): statistics() counts which. Never block, never
            # fail the connection for it.
            log.warning("late or unknown reply %r", msg_id)

    def _notified(self, message: dict[str, JSON]) -> None:
        method = str(message["method"])
        self.notifications[method] += 1
        params = cast("dict[str, JSON]", message.get("params") or {})
        if method == "textDocument/publishDiagnostics":
            self.diagnostics[str(params.get("uri"))] = list(
                params.get("diagnostics", [])
            )
            self._published.set()
            self._published = trio.Event()
        elif method in ("window/logMessage", "window/showMessage"):
            log.debug("server says: %s", params.get("message"))

    def _answer(self, message: dict[str, JSON]) -> None:
        method = str(message["method"])
        self.server_requests[method] += 1
        reply: dict[str, JSON] = {"jsonrpc": "2.0", "id": message["id"]}
        params = cast("dict[str, JSON]", message.get("params") or {})
        if method in _CLIENT_METHODS_ANSWERED_WITH_NULL:
            reply["result"] = None
        elif method == "workspace/configuration":
            # One settings object per item asked for; null means "defaults".
            reply["result"] = [None] * len(params.get("items", []))
        elif method == "workspace/applyEdit":
            reply["result"] = {"applied": False, "failureReason": "read-only client"}
        else:
            reply["error"] = {"code": -32601, "message": f"method not found: {method}"}
        # When finishing, the server does not need the answer any more.
        with suppress(LspConnectionClosed):
            self._queue(_frame(reply))


# -- the demo --------------------------------------------------------------------


def make_document(count: int) -> str:
    """Return a Python module with ``count`` functions and a use of each.

    Line ``4 * count + i`` reads ``value_<i> = func_<i>(<i>)``: hovering over
    ``func_<i>`` there names that function and its own docstring, and
    completing right after ``func_<i>`` offers that function, so every
    reply can be checked against the request it answers.
    """
    lines: list[str] = []
    for i in range(count):
        lines += [
            f"def func_{i:03d}(arg_{i:03d}: int) -> int:",
            f'    """Return the answer number {i}."""',
            f"    return arg_{i:03d} + {i}",
            "",
        ]
    lines += [f"value_{i:03d} = func_{i:03d}({i})" for i in range(count)]
    return "\n".join(lines) + "\n"


def use_line(count: int, i: int) -> int:
    """The line of ``make_document(count)`` that uses ``func_<i>``."""
    return 4 * count + i


# Where "func_<i>" starts and ends on its use line: "value_000 = func_000(0)".
NAME_START = len("value_000 = ")
NAME_END = NAME_START + len("func_000")


DEFAULT_HOVERS = 1000
DEFAULT_COMPLETIONS = 100


async def _batch(
    client: LspClient, uri: str, kind: str, total: int, in_flight: int, functions: int
) -> tuple[float, Counter[str]]:
    """Run ``total`` requests of one kind with ``in_flight`` workers; check each."""
    checked = Counter[str]()
    jobs = iter(range(total))

    async def worker() -> None:
        for n in jobs:
            i = n % functions
            line = use_line(functions, i)
            name = f"func_{i:03d}"
            if kind == "hover":
                text = await client.hover(uri, line, NAME_START + 2)
                ok = f"{name}(arg_{i:03d}: int)" in text and f"number {i}." in text
            else:
                labels = await client.completion(uri, line, NAME_END)
                ok = bool(labels) and all(label.startswith(name) for label in labels)
            checked["right" if ok else "WRONG"] += 1

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(in_flight):
            nursery.start_soon(worker, name=f"{kind} worker")
    return time.perf_counter() - started, checked


async def demo(
    hovers: int = DEFAULT_HOVERS,
    completions: int = DEFAULT_COMPLETIONS,
    in_flight: int = 200,
    functions: int = 50,
) -> None:
    """Run the exchange that main() prints."""
    uri = (Path.cwd() / "lsp_demo.py").as_uri()
    started = time.perf_counter()
    async with LspClient.start() as client:
        process = client.process
        assert process is not None
        print(
            f"   pylsp started (pid {process.pid}) and initialized in "
            f"{time.perf_counter() - started:.2f} s"
        )
        client.open_document(uri, make_document(functions))
        sample = await client.hover(uri, use_line(functions, 7), NAME_START + 2)
        shown = [t for t in sample.splitlines() if t.strip() and "```" not in t]
        print(f"   a hover over func_007: {' | '.join(shown)}")

        for kind, total in (("hover", hovers), ("completion", completions)):
            elapsed, checked = await _batch(
                client, uri, kind, total, in_flight, functions
            )
            print(
                f"   {total} {kind} requests, {min(total, in_flight)} in flight: "
                f"{elapsed:.2f} s, "
                f"{total / elapsed:.0f} requests/second; answers matched to "
                f"their requests by content: {dict(checked)}"
            )

        # Callers that give up: their ids go into quarantine, and their
        # replies, arriving later, are dropped and counted as late.
        async def impatient(i: int) -> None:
            with trio.move_on_after(0):
                await client.hover(uri, use_line(functions, i), NAME_START)

        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(impatient, i)
        print(
            f"   20 callers cancelled in flight; requests still registered: "
            f"{len(client.replies)}"
        )
        # pylsp answers in order: once a later request is answered, the late
        # replies have all been read (and dropped).
        while client.replies.statistics().late_replies < 20:
            await client.hover(uri, use_line(functions, 0), NAME_START)
        stats = client.replies.statistics()
        print(
            f"   late replies dropped (and logged): {stats.late_replies}; "
            f"ids in quarantine: {stats.quarantined}"
        )
        print(f"   server notifications: {dict(client.notifications)}")
    print(
        f"   shutdown/exit: pylsp exited with code {process.returncode}; "
        f"requests in flight at the end: {len(client.replies)}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Talk to pylsp and print what happened.

    ``argv``: the number of hover requests, then of completion requests.
    """
    args = [int(a) for a in (sys.argv[1:] if argv is None else argv)]
    hovers = args[0] if args else DEFAULT_HOVERS
    completions = args[1] if len(args) > 1 else DEFAULT_COMPLETIONS
    trio.run(demo, hovers, completions)


if __name__ == "__main__":
    main()
