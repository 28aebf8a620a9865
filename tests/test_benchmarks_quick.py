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
    "fan-out, collector paused": (WITH_ASYNCIO | {"Event class"}, 1),
    "spawn + wait_all": (TRIO_PEERS, 1),
    "spawn + wait_all, piece by piece": (
        {"floor", "+ future", "+ coroutine first", "+ task body", "+ spawn()"}
        | {"trio_promise"},
        1,
    ),
    "failure fan-out": (TRIO_PEERS, 1),
    # anyio has no equivalent of propagate=False.
    "failing spawn + wait_settled": ({"trio_promise", "floor", "aioresult"}, 1),
    "correlation": (TRIO_PEERS, 1),
    "correlation, task per request": (TRIO_PEERS | {"trio_promise, next_key()"}, 1),
    "correlation, quarantine": ({"trio_promise", "no quarantine"}, 1),
    "wait_all": (TRIO_PEERS, 2),
    "wait_any": (TRIO_PEERS, 2),
    "as_completed": (TRIO_PEERS, 2),
    "fan-in": (TRIO_PEERS, 2),
}
JOINS = ("wait_all", "wait_any", "as_completed", "fan-in")
# aiometer is an optional peer (the bench extra).
HAS_AIOMETER = importlib.util.find_spec("aiometer") is not None
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
    no_aiometer = "aiometer not installed: amap row without its aiometer variant"
    assert (no_aiometer in proc.stdout) is not HAS_AIOMETER

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
    # Fan-in's flat case runs twice: as is, and with the collector paused.
    paused = "fan-in, collector paused,"
    assert flat == {join: len(seen[join]) for join in JOINS} | {
        paused: len(seen["fan-in"])
    }
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
    for join in (*JOINS, paused):
        assert f"| {join} flat (" in table
    # The quarantine row reports what its runs saw, in both outputs.
    (quarantine,) = [c for c in cases if c["scenario"] == "correlation, quarantine"]
    assert [fact.split(":")[0] for fact in quarantine["facts"]] == [
        "peak quarantine size",
        "late replies counted",
    ]
    assert "### What the runs saw" in table
    assert "* correlation, quarantine (300): peak quarantine size: " in table
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


# The collector-paused runner: off for the timed window only, on again after
# it, also when a run fails.
COLLECTOR_PAUSED = """
import gc, sys
sys.path.append(sys.argv[1])
from benchmarks._common import Clock, collector_paused, on_trio

seen = []

async def window(n):
    clock = Clock(n)
    seen.append(("before", gc.isenabled()))
    clock.start()
    for _ in range(n):
        seen.append(("in", gc.isenabled()))
        clock.one_done()
    seen.append(("after", gc.isenabled()))
    return clock.elapsed

async def failing(n):
    Clock(n).start()
    raise ValueError("run failed")

assert collector_paused(on_trio(window))(2) >= 0
assert on_trio(window)(1) >= 0
try:
    collector_paused(on_trio(failing))(1)
except ValueError:
    seen.append(("failed", gc.isenabled()))
print(seen)
"""


def test_collector_paused_only_in_the_window(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-c", COLLECTOR_PAUSED, str(ROOT)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == str(
        [
            ("before", True),
            ("in", False),
            ("in", False),
            ("after", True),
            # Without collector_paused, nothing changes.
            ("before", True),
            ("in", True),
            ("after", True),
            ("failed", True),
        ]
    )
