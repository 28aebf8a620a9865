"""The Correlator against a server nobody here wrote: pylsp, over stdio.

Each test starts its own ``python -m pylsp`` through examples/lsp_client.py
and ends it. A real process runs in real time, so ``trio.fail_after(60)``
guards every scenario against a hang; no test asserts how long anything
took. Every reply is checked by its *content* against the request it
answers (a hover names the function it was asked about, a completion offers
the name it was asked to complete), not just by its id.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import signal
import subprocess
import sys
from collections import Counter
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
import trio
import trio.testing

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    import lsp_client as lsp
else:
    # examples/ is not a package that gets installed: load the file itself.
    _spec = importlib.util.spec_from_file_location(
        "lsp_client",
        Path(__file__).resolve().parent.parent / "examples" / "lsp_client.py",
    )
    assert _spec is not None
    assert _spec.loader is not None
    lsp = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = lsp
    _spec.loader.exec_module(lsp)

# Far above what any scenario needs; only a hang gets there.
HANG_GUARD = 60

FUNCTIONS = 100
DOCUMENT = lsp.make_document(FUNCTIONS)


@pytest.fixture(autouse=True)
def _exit_judged_by_the_hang_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests check that a session ends politely: after "exit", pylsp
    # exits by itself, with code 0. The example kills a server that has not
    # exited 5 s after "exit"; on a loaded machine pylsp's own teardown took
    # longer once, and was killed (-9). A race against the wall clock is not
    # what is tested, so here only the hang guard bounds the wait.
    monkeypatch.setattr(lsp, "_EXIT_GRACE", HANG_GUARD)


@pytest.fixture(scope="module")
def _pylsp_can_start() -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pylsp", "--help"],
            capture_output=True,
            timeout=HANG_GUARD,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"pylsp cannot start: {exc!r}")
    if done.returncode != 0:
        pytest.skip(
            f"pylsp cannot start (python -m pylsp --help exited with "
            f"{done.returncode}): {done.stderr.decode(errors='replace')[-500:]}"
        )


# The tests that run the real server; the others script the server's side.
real_server = pytest.mark.usefixtures("_pylsp_can_start")


class Recording(lsp.LspClient):
    """An LspClient that counts, by id, what goes over the wire.

    ``cancels_sent``: the ids that ``$/cancelRequest`` went out for (the
    requests their callers gave up); ``replies_received``: every reply the
    reader got, by id, before the correlator saw it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cancels_sent: list[int] = []
        self.replies_received: Counter[int] = Counter()

    def _queue(self, frame: bytes) -> None:
        super()._queue(frame)
        message = json.loads(frame.partition(b"\r\n\r\n")[2])
        if message.get("method") == "$/cancelRequest":
            self.cancels_sent.append(message["params"]["id"])

    def _dispatch(self, decoded: Any) -> None:
        if isinstance(decoded, dict) and "method" not in decoded:
            msg_id = cast("dict[str, Any]", decoded).get("id")
            if isinstance(msg_id, int):
                self.replies_received[msg_id] += 1
        super()._dispatch(decoded)

    def replies_to_cancelled(self) -> int:
        """How many replies came for requests whose caller gave up."""
        return sum(self.replies_received[i] for i in set(self.cancels_sent))


def late_ids(caplog: pytest.LogCaptureFixture) -> list[object]:
    return [
        record.args[0]
        for record in caplog.records
        if record.getMessage().startswith("late or unknown reply")
        and isinstance(record.args, tuple)
    ]


def uri_of(tmp_path: Path) -> str:
    return (tmp_path / "sample.py").as_uri()


async def ask(client: lsp.LspClient, uri: str, n: int) -> tuple[str, Any]:
    """Request number ``n``: a hover on func_<i>, or every 4th a completion."""
    i = n % FUNCTIONS
    line = lsp.use_line(FUNCTIONS, i)
    if n % 4 == 3:
        return "completion", await client.completion(uri, line, lsp.NAME_END)
    return "hover", await client.hover(uri, line, lsp.NAME_START + 3)


def answers(n: int, kind: str, reply: Any) -> bool:
    """Whether ``reply`` answers request number ``n`` (and no other)."""
    i = n % FUNCTIONS
    name = f"func_{i:03d}"
    if kind == "hover":
        return (
            isinstance(reply, str)
            and f"{name}(arg_{i:03d}: int) -> int" in reply
            and f"Return the answer number {i}." in reply
        )
    labels = cast("list[object]", reply) if isinstance(reply, list) else []
    return bool(labels) and all(
        isinstance(label, str) and label.startswith(name) for label in labels
    )


@real_server
async def test_initialize_exchange_and_a_clean_shutdown(tmp_path: Path) -> None:
    with trio.fail_after(HANG_GUARD):
        async with lsp.LspClient.start(root=tmp_path) as client:
            assert client.process is not None
            assert client.process.poll() is None
            client.open_document(uri_of(tmp_path), DOCUMENT)
            text = await client.hover(uri_of(tmp_path), lsp.use_line(FUNCTIONS, 5), 13)
            assert answers(5, "hover", text)
            assert len(client.replies) == 0
        assert client.process.returncode == 0
    assert client.replies.closed
    assert len(client.replies) == 0
    stats = client.replies.statistics()
    assert (stats.late_replies, stats.unknown_replies) == (0, 0)


@real_server
async def test_200_concurrent_requests_each_get_their_own_answer(
    tmp_path: Path,
) -> None:
    uri = uri_of(tmp_path)
    got: dict[int, tuple[str, Any]] = {}
    most_in_flight = 0

    async def one(client: lsp.LspClient, n: int) -> None:
        got[n] = await ask(client, uri, n)

    with trio.fail_after(HANG_GUARD):
        async with lsp.LspClient.start(root=tmp_path) as client:
            client.open_document(uri, DOCUMENT)
            async with trio.open_nursery() as nursery:
                for n in range(200):
                    nursery.start_soon(one, client, n)
                await trio.testing.wait_all_tasks_blocked()
                most_in_flight = len(client.replies)
            assert len(client.replies) == 0
    assert most_in_flight == 200
    assert sorted(got) == list(range(200))
    wrong = [n for n, (kind, reply) in got.items() if not answers(n, kind, reply)]
    assert wrong == []
    # Every hover answer differs from every other: ids alone could not hide a
    # mix-up.
    hovers = {reply for kind, reply in got.values() if kind == "hover"}
    assert len(hovers) == len({n % FUNCTIONS for n in range(200) if n % 4 != 3})
    stats = client.replies.statistics()
    assert (stats.late_replies, stats.unknown_replies) == (0, 0)
    assert len(client.replies) == 0


@real_server
async def test_a_quarter_cancelled_in_flight_their_late_replies_dropped_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    uri = uri_of(tmp_path)
    got: dict[int, tuple[str, Any]] = {}
    cancelled: set[int] = set()

    async def one(client: lsp.LspClient, n: int) -> None:
        if n % 4 == 0:
            # The request is registered and queued, then the caller gives
            # up at its first checkpoint: in flight, never answered in time.
            with trio.move_on_after(0) as scope:
                await ask(client, uri, n)
            assert scope.cancelled_caught
            cancelled.add(n)
        else:
            got[n] = await ask(client, uri, n)

    with (
        caplog.at_level(logging.WARNING, logger="lsp_client"),
        trio.fail_after(HANG_GUARD),
    ):
        async with Recording.start(root=tmp_path) as client:
            assert isinstance(client, Recording)
            client.open_document(uri, DOCUMENT)
            async with trio.open_nursery() as nursery:
                for n in range(200):
                    nursery.start_soon(one, client, n)
            assert len(client.replies) == 0
            # pylsp answers in order, so once a later request is answered,
            # every late reply has been read (and dropped).
            await client.hover(uri, lsp.use_line(FUNCTIONS, 1), lsp.NAME_START)
            assert len(client.replies) == 0
    assert len(cancelled) == 50
    assert sorted(got) == [n for n in range(200) if n % 4]
    assert all(answers(n, kind, reply) for n, (kind, reply) in got.items())
    assert len(client.cancels_sent) == 50
    stats = client.replies.statistics()
    assert stats.late_replies == client.replies_to_cancelled() == 50
    assert stats.unknown_replies == 0
    assert sorted(map(int, cast("list[int]", late_ids(caplog)))) == sorted(
        client.cancels_sent
    )
    assert len(client.replies) == 0


@real_server
async def test_callers_cancelled_at_random_moments_never_get_a_wrong_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Deadlines spread over the time the server needs for the whole batch:
    # some callers are cancelled before their request is written, some
    # while the server works on it, some never. Which ones is up to timing,
    # so only what must hold whatever the timing is checked. (A caller can
    # even be cancelled in the very moment its reply is resolved: then the
    # reply is not late, and the caller still leaves cancelled.)
    uri = uri_of(tmp_path)
    got: dict[int, tuple[str, Any]] = {}
    gave_up: set[int] = set()

    async def one(client: lsp.LspClient, n: int) -> None:
        if n % 4 == 0:
            with trio.move_on_after(0.002 * n):
                got[n] = await ask(client, uri, n)
            if n not in got:
                gave_up.add(n)
        else:
            got[n] = await ask(client, uri, n)

    with (
        caplog.at_level(logging.WARNING, logger="lsp_client"),
        trio.fail_after(HANG_GUARD),
    ):
        async with Recording.start(root=tmp_path) as client:
            assert isinstance(client, Recording)
            client.open_document(uri, DOCUMENT)
            async with trio.open_nursery() as nursery:
                for n in range(200):
                    nursery.start_soon(one, client, n)
            assert len(client.replies) == 0
            # pylsp answers in order: once this is answered, every earlier
            # reply has been read.
            await client.hover(uri, lsp.use_line(FUNCTIONS, 1), lsp.NAME_START)
            assert len(client.replies) == 0
    assert all(answers(n, kind, reply) for n, (kind, reply) in got.items())
    assert set(got) | gave_up == set(range(200))
    assert not set(got) & gave_up
    # Only callers that gave up before their reply told the server; each
    # reply that still came for one of them is a late reply, and nothing
    # else is.
    assert len(client.cancels_sent) <= len(gave_up)
    stats = client.replies.statistics()
    assert stats.late_replies == client.replies_to_cancelled()
    assert stats.unknown_replies == 0
    assert sorted(map(int, cast("list[int]", late_ids(caplog)))) == sorted(
        i for i in client.cancels_sent for _ in range(client.replies_received[i])
    )
    assert len(client.replies) == 0


CLOSED = r"^the connection to the language server is closed$"


def check_closed_errors(broken: dict[int, BaseException]) -> None:
    """Every caller got the one error that the correlator was closed with."""
    (error,) = {id(exc): exc for exc in broken.values()}.values()
    assert isinstance(error, lsp.LspConnectionClosed)
    assert str(error) == "the connection to the language server is closed"
    # The server's output ended (no cause), or the writer found its input
    # broken first.
    assert error.__cause__ is None or isinstance(
        error.__cause__, trio.BrokenResourceError
    )


@real_server
async def test_a_batch_cancelled_mid_flight_never_reaches_another_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 100 hovers are written to a stopped server, then their callers give
    # up: every one is in flight, none answered, deterministically. The
    # server then answers all of them late (a result, or its "request
    # cancelled" error), while 100 new requests run through an id space of
    # 128 ids, 100 of them in quarantine: without the quarantine the new
    # requests would reuse the cancelled ids and get the late replies.
    uri = uri_of(tmp_path)
    got: dict[int, tuple[str, Any]] = {}
    batch = 100
    jobs = iter(range(batch, 2 * batch))

    async def cancelled_hover(client: lsp.LspClient, n: int) -> None:
        await client.hover(uri, lsp.use_line(FUNCTIONS, n % FUNCTIONS), 13)
        raise AssertionError("a hover answered by a stopped server")  # pragma: no cover

    async def worker(client: lsp.LspClient) -> None:
        for n in jobs:
            got[n] = await ask(client, uri, n)

    with (
        caplog.at_level(logging.WARNING, logger="lsp_client"),
        trio.fail_after(HANG_GUARD),
    ):
        async with Recording.start(
            root=tmp_path, ids=range(1, 129), quarantine=10 * HANG_GUARD
        ) as client:
            assert isinstance(client, Recording)
            process = client.process
            assert process is not None
            client.open_document(uri, DOCUMENT)
            assert answers(0, *await ask(client, uri, 0))
            process.send_signal(signal.SIGSTOP)
            try:
                async with trio.open_nursery() as nursery:
                    for n in range(batch):
                        nursery.start_soon(cancelled_hover, client, n)
                    await trio.testing.wait_all_tasks_blocked()
                    assert len(client.replies) == batch
                    nursery.cancel_scope.cancel()
            finally:
                process.send_signal(signal.SIGCONT)
            assert len(client.replies) == 0
            assert len(set(client.cancels_sent)) == batch
            stats = client.replies.statistics()
            assert (stats.in_flight, stats.quarantined) == (0, batch)
            # 20 at a time: the 28 ids out of quarantine are enough.
            async with trio.open_nursery() as nursery:
                for _ in range(20):
                    nursery.start_soon(worker, client)
            # pylsp answers in order: once this is answered, it has answered
            # everything sent before.
            assert answers(1, *await ask(client, uri, 1))
            assert len(client.replies) == 0
            stats = client.replies.statistics()
    assert sorted(got) == list(range(batch, 2 * batch))
    assert all(answers(n, kind, reply) for n, (kind, reply) in got.items())
    # Every cancelled request got its one reply, late, and each of those
    # was counted as late and logged; no other reply was. (An id handed to
    # a new request while in quarantine would have had two replies.)
    cancelled = set(client.cancels_sent)
    assert all(client.replies_received[i] == 1 for i in cancelled)
    assert stats.late_replies == client.replies_to_cancelled() == batch
    assert stats.unknown_replies == 0
    assert sorted(map(int, cast("list[int]", late_ids(caplog)))) == sorted(cancelled)
    assert len(client.replies) == 0


async def _kill_in_flight(
    tmp_path: Path, *, answered_first: int
) -> tuple[lsp.LspClient, dict[int, tuple[str, Any]], dict[int, BaseException]]:
    uri = uri_of(tmp_path)
    got: dict[int, tuple[str, Any]] = {}
    broken: dict[int, BaseException] = {}
    enough = trio.Event()

    async def one(client: lsp.LspClient, n: int) -> None:
        try:
            got[n] = await ask(client, uri, n)
        except lsp.LspConnectionClosed as exc:
            broken[n] = exc
        if len(got) >= answered_first:
            enough.set()

    with trio.fail_after(HANG_GUARD):
        async with lsp.LspClient.start(root=tmp_path) as client:
            process = client.process
            assert process is not None
            client.open_document(uri, DOCUMENT)
            await client.hover(uri, lsp.use_line(FUNCTIONS, 0), lsp.NAME_START)
            if not answered_first:
                # Frozen: nothing gets answered, deterministically.
                process.send_signal(signal.SIGSTOP)
            async with trio.open_nursery() as nursery:
                for n in range(200):
                    nursery.start_soon(one, client, n)
                await trio.testing.wait_all_tasks_blocked()
                assert len(client.replies) == 200 - len(got)
                if answered_first:
                    await enough.wait()
                process.kill()  # SIGKILL
            # Every caller has ended: no task hangs on a dead server.
            assert len(client.replies) == 0
            assert client.replies.closed
            with pytest.raises(lsp.LspConnectionClosed, match=CLOSED):
                await client.hover(uri, 0, 0)
        assert process.returncode == -signal.SIGKILL
    return client, got, broken


@real_server
async def test_server_killed_with_everything_in_flight(tmp_path: Path) -> None:
    client, got, broken = await _kill_in_flight(tmp_path, answered_first=0)
    assert got == {}
    assert sorted(broken) == list(range(200))
    check_closed_errors(broken)
    assert len(client.replies) == 0


@real_server
async def test_server_killed_while_it_answers(tmp_path: Path) -> None:
    client, got, broken = await _kill_in_flight(tmp_path, answered_first=20)
    assert len(got) >= 20
    assert set(got) | set(broken) == set(range(200))
    assert not set(got) & set(broken)
    assert all(answers(n, kind, reply) for n, (kind, reply) in got.items())
    check_closed_errors(broken)
    assert len(client.replies) == 0


@real_server
async def test_server_notifications_are_recorded(tmp_path: Path) -> None:
    # pylsp publishes diagnostics (a notification) for an opened document;
    # with no lint plugin installed the list is empty.
    uri = uri_of(tmp_path)
    with trio.fail_after(HANG_GUARD):
        async with lsp.LspClient.start(root=tmp_path) as client:
            client.open_document(uri, "import os\nx = undefined_name\n")
            diagnostics = await client.wait_for_diagnostics(uri)
            assert len(client.replies) == 0
    assert isinstance(diagnostics, list)
    assert client.notifications["textDocument/publishDiagnostics"] >= 1
    assert len(client.replies) == 0


@real_server
async def test_an_error_reply_reaches_its_caller_only(tmp_path: Path) -> None:
    uri = uri_of(tmp_path)
    got: dict[int, tuple[str, Any]] = {}

    async def one(client: lsp.LspClient, n: int) -> None:
        got[n] = await ask(client, uri, n)

    with trio.fail_after(HANG_GUARD):
        async with lsp.LspClient.start(root=tmp_path) as client:
            client.open_document(uri, DOCUMENT)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(one, client, 1)
                nursery.start_soon(one, client, 3)
                with pytest.raises(lsp.LspError) as info:
                    await client.request("no/such/method", {})
            assert len(client.replies) == 0
    assert info.value.code == -32601
    assert sorted(got) == [1, 3]
    assert all(answers(n, kind, reply) for n, (kind, reply) in got.items())
    assert len(client.replies) == 0


@real_server
def test_main_prints_the_exchange(capsys: pytest.CaptureFixture[str]) -> None:
    lsp.main(["200", "20"])
    out = capsys.readouterr().out
    assert "200 hover requests, 200 in flight" in out
    assert "by content: {'right': 200}" in out
    assert "20 completion requests, 20 in flight" in out
    assert "by content: {'right': 20}" in out
    assert "late replies dropped (and logged): 20" in out
    assert "pylsp exited with code 0; requests in flight at the end: 0" in out


# -- the client's protocol handling, against a scripted server --------------------
#
# No process here: the client talks over trio.testing memory streams to a
# peer that the test drives frame by frame, so these are deterministic.


class ScriptedServer:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.frames = lsp._FrameReader(stream)  # pyright: ignore[reportPrivateUsage]

    async def receive(self) -> Any:
        body = await self.frames.next_body()
        assert body is not None
        return json.loads(body)

    async def send(self, message: Any) -> None:
        await self.stream.send_all(lsp._frame(message))  # pyright: ignore[reportPrivateUsage]

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)


def pair() -> tuple[lsp.LspClient, ScriptedServer]:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    return lsp.LspClient(client_stream, client_stream), ScriptedServer(server_stream)


@asynccontextmanager
async def running(client: lsp.LspClient) -> AsyncGenerator[None, None]:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.read_messages)
        nursery.start_soon(client.write_messages)
        yield
        nursery.cancel_scope.cancel()


async def test_scripted_requests_from_the_server_are_answered() -> None:
    client, server = pair()
    async with running(client):
        await server.send(
            {
                "jsonrpc": "2.0",
                "id": "p",
                "method": "window/workDoneProgress/create",
                "params": {"token": "t"},
            }
        )
        await server.send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "workspace/configuration",
                "params": {"items": [{}, {}]},
            }
        )
        await server.send(
            {"jsonrpc": "2.0", "id": 3, "method": "workspace/applyEdit", "params": {}}
        )
        await server.send({"jsonrpc": "2.0", "id": 4, "method": "no/such/thing"})
        answers = [await server.receive() for _ in range(4)]
    assert answers == [
        {"jsonrpc": "2.0", "id": "p", "result": None},
        {"jsonrpc": "2.0", "id": 2, "result": [None, None]},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "result": {"applied": False, "failureReason": "read-only client"},
        },
        {
            "jsonrpc": "2.0",
            "id": 4,
            "error": {"code": -32601, "message": "method not found: no/such/thing"},
        },
    ]
    assert client.server_requests == {
        "window/workDoneProgress/create": 1,
        "workspace/configuration": 1,
        "workspace/applyEdit": 1,
        "no/such/thing": 1,
    }


async def test_scripted_notifications_are_recorded() -> None:
    client, server = pair()
    async with running(client):
        async with trio.open_nursery() as nursery:

            async def wait() -> None:
                assert await client.wait_for_diagnostics("file:///a.py") == [
                    {"message": "m"}
                ]

            nursery.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            await server.send(
                {
                    "jsonrpc": "2.0",
                    "method": "window/logMessage",
                    "params": {"type": 3, "message": "hello"},
                }
            )
            await server.send(
                {
                    "jsonrpc": "2.0",
                    "method": "$/progress",
                    "params": {"token": "t", "value": {}},
                }
            )
            await server.send(
                {
                    "jsonrpc": "2.0",
                    "method": "textDocument/publishDiagnostics",
                    "params": {"uri": "file:///b.py", "diagnostics": []},
                }
            )
            await server.send(
                {
                    "jsonrpc": "2.0",
                    "method": "textDocument/publishDiagnostics",
                    "params": {
                        "uri": "file:///a.py",
                        "diagnostics": [{"message": "m"}],
                    },
                }
            )
        # Already there: returns at once (still a checkpoint).
        with trio.testing.assert_checkpoints():
            assert await client.wait_for_diagnostics("file:///b.py") == []
    assert client.notifications == {
        "window/logMessage": 1,
        "$/progress": 1,
        "textDocument/publishDiagnostics": 2,
    }


async def test_scripted_replies_out_of_order_errors_and_strays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: dict[str, Any] = {}

    async def call(method: str) -> None:
        try:
            got[method] = await client.request(method, {"q": method})
        except lsp.LspError as exc:
            got[method] = (exc.code, exc.message, exc.data, str(exc))

    with caplog.at_level(logging.WARNING, logger="lsp_client"):
        client, server = pair()
        async with running(client):
            async with trio.open_nursery() as nursery:
                for method in ("a", "b", "c"):
                    nursery.start_soon(call, method)
                requests: dict[str, Any] = {}
                for _ in range(3):
                    message = await server.receive()
                    requests[message["method"]] = message
                assert all(m["params"] == {"q": k} for k, m in requests.items())
                await server.send({"jsonrpc": "2.0", "id": 999, "result": "stray"})
                await server.send({"jsonrpc": "2.0", "id": [1], "result": "bad id"})
                await server.send(
                    {"jsonrpc": "2.0", "id": requests["c"]["id"], "result": "C"}
                )
                await server.send(
                    {
                        "jsonrpc": "2.0",
                        "id": requests["b"]["id"],
                        "error": {"code": 7, "message": "nope", "data": [1]},
                    }
                )
                await server.send(
                    {"jsonrpc": "2.0", "id": requests["a"]["id"], "result": None}
                )
            assert len(client.replies) == 0
    assert got == {"a": None, "b": (7, "nope", [1], "nope (code 7)"), "c": "C"}
    stats = client.replies.statistics()
    assert (stats.late_replies, stats.unknown_replies) == (0, 2)
    assert [r.getMessage() for r in caplog.records] == [
        "late or unknown reply 999",
        "late or unknown reply [1]",
    ]


async def test_scripted_cancelled_request_tells_the_server() -> None:
    client, server = pair()
    async with running(client):
        with trio.move_on_after(0) as scope:
            await client.request("slow/thing")
        assert scope.cancelled_caught
        assert len(client.replies) == 0
        request = await server.receive()
        cancel = await server.receive()
        assert request["method"] == "slow/thing"
        assert cancel == {
            "jsonrpc": "2.0",
            "method": "$/cancelRequest",
            "params": {"id": request["id"]},
        }
        await server.send(
            {
                "jsonrpc": "2.0",
                "id": request["id"],
                "error": {"code": -32800, "message": "cancelled"},
            }
        )
        await server.send(
            {"jsonrpc": "2.0", "id": 0, "method": "window/workDoneProgress/create"}
        )
        assert (await server.receive())["id"] == 0
        stats = client.replies.statistics()
        assert (stats.late_replies, stats.unknown_replies) == (1, 0)
        assert stats.quarantined == 1


async def test_scripted_frames_split_and_joined_anyhow() -> None:
    client, server = pair()
    async with running(client):
        async with trio.open_nursery() as nursery:
            results: list[Any] = []

            async def call() -> None:
                results.append(await client.request("x"))

            nursery.start_soon(call)
            nursery.start_soon(call)
            first, second = await server.receive(), await server.receive()
            body1 = json.dumps(
                {"jsonrpc": "2.0", "id": first["id"], "result": "é1"}
            ).encode()
            body2 = json.dumps(
                {"jsonrpc": "2.0", "id": second["id"], "result": 2}
            ).encode()
            data = (
                b"content-length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n%s"
                b"Content-Length:%d\r\n\r\n%s" % (len(body1), body1, len(body2), body2)
            )
            for i in range(len(data)):
                await server.send_raw(data[i : i + 1])
        assert sorted(map(str, results)) == ["2", "é1"]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"Content-Length: 2\r\n\r\n[]", r"^a message must be a JSON object: \[\]$"),
        (b"Content-Length: 3\r\n\r\n{x}", r"^bad JSON: "),
        (
            b"Content-Type: x\r\n\r\n{}",
            r"^no usable Content-Length in 'Content-Type: x'$",
        ),
        (b"Content-Length: -1\r\n\r\n", r"^no usable Content-Length in "),
        (b"Content-Length: lots\r\n\r\n{}", r"^bad Content-Length: ' lots'$"),
        (b"X" * (64 * 1024 + 1), r"^no end of header in the first 64 KiB$"),
    ],
)
async def test_scripted_garbage_breaks_the_connection_and_every_caller(
    data: bytes, match: str
) -> None:
    errors: dict[str, list[BaseException]] = {"inside": [], "outside": []}

    async def call(client: lsp.LspClient, where: str) -> None:
        try:
            await client.request("x")
        except lsp.LspConnectionClosed as exc:
            errors[where].append(exc)

    client, server = pair()
    with pytest.RaisesGroup(
        pytest.RaisesExc(lsp.LspProtocolError, match=match), flatten_subgroups=True
    ):
        async with trio.open_nursery() as outer:
            outer.start_soon(call, client, "outside")
            async with running(client), trio.open_nursery() as nursery:
                nursery.start_soon(call, client, "inside")
                await server.receive()
                await server.receive()
                await server.send_raw(data)
    # The reader's crash is reported once: the caller in its nursery ended
    # cancelled, not with an error of its own. The caller outside got the
    # client's error, caused by the crash.
    assert errors["inside"] == []
    (error,) = errors["outside"]
    assert isinstance(error, lsp.LspConnectionClosed)
    assert isinstance(error.__cause__, lsp.LspProtocolError)
    assert len(client.replies) == 0
    with pytest.raises(lsp.LspConnectionClosed, match=CLOSED) as later:
        await client.request("y")
    assert later.value is error


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"Content-Len", r"^the stream ended inside a header$"),
        (b"Content-Length: 10\r\n\r\n{}", r"^the stream ended inside a message$"),
    ],
)
async def test_scripted_stream_ending_inside_a_frame(data: bytes, match: str) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    client = lsp.LspClient(client_stream, client_stream)
    await server_stream.send_all(data)
    await server_stream.send_stream.aclose()
    with pytest.raises(lsp.LspProtocolError, match=match):
        await client.read_messages()
    assert client.replies.closed


async def test_scripted_end_of_stream_closes_everything() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    client = lsp.LspClient(client_stream, client_stream)
    errors: list[BaseException] = []

    async def diagnostics() -> None:
        try:
            await client.wait_for_diagnostics("file:///never.py")
        except lsp.LspConnectionClosed as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.read_messages)
        nursery.start_soon(diagnostics)
        await trio.testing.wait_all_tasks_blocked()
        await server_stream.send_stream.aclose()
    assert client.replies.closed
    (error,) = errors
    assert str(error) == "the connection to the language server is closed"
    with pytest.raises(lsp.LspConnectionClosed, match=CLOSED) as later:
        await client.request("x")
    # A clean end of the server's output: no cause.
    assert later.value.__cause__ is None
    await client.finish()  # nothing to say to a server that is gone
    with pytest.raises(lsp.LspConnectionClosed, match=CLOSED):
        client.notify("x")
    # A server request that comes after the end gets no answer, silently.
    client._answer({"id": 1, "method": "window/workDoneProgress/create"})  # pyright: ignore[reportPrivateUsage]


async def test_scripted_broken_server_input_closes_the_correlator() -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    client = lsp.LspClient(client_stream, client_stream)
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await client.request("x")
        except lsp.LspConnectionClosed as exc:
            errors.append(exc)

    await server_stream.receive_stream.aclose()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.write_messages)
        nursery.start_soon(call)
    (error,) = errors
    assert isinstance(error.__cause__, trio.BrokenResourceError)
    assert client.replies.closed


@real_server
async def test_an_exception_in_the_block_terminates_the_server(tmp_path: Path) -> None:
    clients: list[lsp.LspClient] = []
    with (
        trio.fail_after(HANG_GUARD),
        pytest.RaisesGroup(pytest.RaisesExc(KeyError, match=r"^'boom'$")),
    ):
        async with lsp.LspClient.start(root=tmp_path) as client:
            clients.append(client)
            raise KeyError("boom")
    (client,) = clients
    assert client.process is not None
    assert client.process.returncode is not None
    assert client.process.returncode != 0
    assert client.replies.closed
    assert len(client.replies) == 0
