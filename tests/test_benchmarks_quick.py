"""The benchmark suite's ``--quick`` mode runs and reports every row.

Run once, as a subprocess (the suite does its own ``trio.run`` and
``asyncio.run`` calls, switches tracemalloc and the GC on and off, and draws
with matplotlib: none of that belongs in the test process), so that the suite
cannot rot. Nothing here looks at how fast anything was: timings on shared
machines say nothing in a test.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent

TRIO_PEERS = {"trio_promise", "floor", "aioresult", "anyio"}
WITH_ASYNCIO = TRIO_PEERS | {"asyncio", "asyncio floor"}
# scenario -> (variants, how many sizes)
EXPECTED = {
    "handoff": (WITH_ASYNCIO | {"Event class"}, 1),
    "settled get": (WITH_ASYNCIO, 1),
    "fan-out": (WITH_ASYNCIO | {"Event class"}, 2),
    "spawn + wait_all": (TRIO_PEERS, 1),
    "failure fan-out": (TRIO_PEERS, 1),
    # anyio has no equivalent of propagate=False.
    "failing spawn + wait_settled": ({"trio_promise", "floor", "aioresult"}, 1),
    "correlation": (TRIO_PEERS, 1),
    "wait_all": (TRIO_PEERS, 2),
    "wait_any": (TRIO_PEERS, 2),
    "as_completed": (TRIO_PEERS, 2),
    "fan-in": (TRIO_PEERS, 2),
}
JOINS = ("wait_all", "wait_any", "as_completed", "fan-in")
# amap (API.md 5b) is new: the row runs once the library has it, and is
# skipped, saying so, on a build without it. aiometer is an optional peer.
HAS_AMAP = hasattr(importlib.import_module("trio_promise"), "amap")
HAS_AIOMETER = importlib.util.find_spec("aiometer") is not None
if HAS_AMAP:
    EXPECTED["amap"] = (
        {"trio_promise", "floor"} | ({"aiometer"} if HAS_AIOMETER else set()),
        2,
    )
MEMORY = {"trio_promise", "aioresult", "anyio", "trio.Event", "floor", "asyncio"}


def test_quick_run_writes_every_row(tmp_path: Path) -> None:
    env = dict(os.environ)
    # The suite makes the checkout importable itself, as from a fresh clone.
    env.pop("PYTHONPATH", None)
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "run.py"),
        "--quick",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(
        command,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "### Targets" in proc.stdout
    skipped = "amap not available in this build of trio_promise: row skipped"
    assert (skipped in proc.stdout) is not HAS_AMAP

    data = cast("dict[str, Any]", json.loads((tmp_path / "results.json").read_text()))
    cases = cast("list[dict[str, Any]]", data["cases"])
    largest_fanin = max(c["size"] for c in cases if c["scenario"] == "fan-in")
    seen: dict[str, list[int]] = {}
    flat: dict[str, int] = {}
    for case in cases:
        scenario = cast("str", case["scenario"])
        rows = cast("list[dict[str, Any]]", case["variants"])
        if scenario.endswith(" flat"):
            # trio_promise's join at every size, one variant per size.
            flat[scenario.removesuffix(" flat")] = len(rows)
        else:
            seen.setdefault(scenario, []).append(cast("int", case["size"]))
            names = {row["name"] for row in rows}
            expected = EXPECTED[scenario][0]
            if scenario == "fan-in" and case["size"] == largest_fanin:
                # The peers' task per future: not run at the largest k.
                expected = {"trio_promise", "floor"}
            assert names == expected, scenario
        for row in rows:
            times = cast("list[float]", row["times"])
            ratios = cast("list[float]", row["ratios"])
            assert len(times) == len(ratios) >= 1
            assert all(math.isfinite(r) for r in ratios)
    assert {name: len(sizes) for name, sizes in seen.items()} == {
        name: count for name, (_, count) in EXPECTED.items()
    }
    assert flat == {join: len(seen[join]) for join in JOINS}
    memory = cast("dict[str, Any]", data["memory"])
    assert set(cast("dict[str, float]", memory["bytes"])) == MEMORY
    assert data["targets"]

    table = (tmp_path / "results.md").read_text(encoding="utf-8")
    for scenario, (variants, _) in EXPECTED.items():
        for name in variants:
            assert f" {scenario} " in table or f"| {scenario} (" in table
            assert f"| {name} |" in table
    for name in MEMORY:
        assert f"| {name} |" in table
    for join in JOINS:
        assert f"| {join} flat (" in table
    for plot in ("joins.png", "ratios.png"):
        assert (tmp_path / plot).read_bytes().startswith(b"\x89PNG")

    # The report can be drawn again from results.json alone, unchanged.
    again = subprocess.run(
        [*command, "--rerender", "--no-plots"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path / "results.md").read_text(encoding="utf-8") == table


# A stand-in with amap's shape (API.md 5b: an async context manager yielding
# (item, result) pairs, at most `limit` in hand), so that the amap row's code
# runs here before the library has amap; not a model of the real one.
STAND_IN_AMAP = """
import math, sys
from contextlib import asynccontextmanager
sys.path.insert(0, sys.argv[1])
import trio, trio_promise

def amap(async_fn, items, *, limit=None):
    @asynccontextmanager
    async def cm():
        slots = trio.CapacityLimiter(limit or math.inf)
        send, receive = trio.open_memory_channel(0)
        async def run(token, item):
            result = await async_fn(item)
            await send.send((item, result))
            slots.release_on_behalf_of(token)
        async def feed():
            try:
                async with trio.open_nursery() as tasks:
                    for token, item in enumerate(items):
                        await slots.acquire_on_behalf_of(token)
                        tasks.start_soon(run, token, item)
            finally:
                send.close()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed)
            async with receive:
                yield receive
    return cm()

trio_promise.amap = amap
from benchmarks.run import main
sys.exit(main(sys.argv[2:]))
"""


def test_amap_row_runs_once_amap_exists(tmp_path: Path) -> None:
    if HAS_AMAP:
        # Then test_quick_run_writes_every_row runs the real one.
        return
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            STAND_IN_AMAP,
            str(ROOT),
            "--quick",
            "--only",
            "amap",
            "--no-plots",
            "--out",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "amap not available" not in proc.stdout
    data = cast("dict[str, Any]", json.loads((tmp_path / "results.json").read_text()))
    cases = cast("list[dict[str, Any]]", data["cases"])
    assert [c["scenario"] for c in cases] == ["amap", "amap"]
    expected = {"trio_promise", "floor"} | ({"aiometer"} if HAS_AIOMETER else set[str]())
    for case in cases:
        rows = cast("list[dict[str, Any]]", case["variants"])
        assert {row["name"] for row in rows} == expected
        assert all(math.isfinite(r) for row in rows for r in row["ratios"])
