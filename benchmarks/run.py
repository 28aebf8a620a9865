#!/usr/bin/env python3
"""Run the benchmark suite and write benchmarks/results/.

    python benchmarks/run.py            full run (a few minutes)
    python benchmarks/run.py --quick    every scenario at small sizes (seconds);
                                        writes to benchmarks/results/quick/

Every variant of a scenario runs once per round, in rotated order, and is
compared with the floor (a bare trio.Event + a slot) of the same round. The
report gives the median of those per-round ratios and their range, as a
Markdown table (printed, and written to results.md), results.json, and two
plots: joins.png (time per future against n) and ratios.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __package__ in (None, ""):
    # Run as a script: make the repository root importable, so that a fresh
    # clone runs the suite against its own trio_promise without installing it.
    sys.path.insert(0, str(HERE.parent))

import trio_promise  # noqa: E402
from benchmarks import _amap, _cases, _futures, _harness, _report  # noqa: E402


def versions() -> dict[str, str]:
    found = {
        "python": platform.python_version(),
        "trio_promise": f"{trio_promise.__version__} ({Path(trio_promise.__file__).parent})",
    }
    for dist in ("trio", "outcome", "aioresult", "anyio", "aiometer", "matplotlib"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="trio_promise benchmarks: each scenario against the floor "
        "(bare trio.Event + slot), aioresult, anyio and asyncio."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every scenario at small sizes, two rounds (seconds; a smoke test)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write results.md, results.json and the plots (default "
        "benchmarks/results, or benchmarks/results/quick with --quick)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SCENARIO",
        help="run only the scenarios whose name contains this (repeatable); "
        "'memory' selects the memory measurement",
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="override the number of rounds"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="measure nothing: write results.md and the plots again from the "
        "results.json in --out (after a change to the report's layout)",
    )
    return parser.parse_args(argv)


VERSION_KEYS = (
    "python",
    "trio_promise",
    "trio",
    "outcome",
    "aioresult",
    "anyio",
    "aiometer",
    "matplotlib",
)


def method(sizes: _cases.Sizes) -> str:
    return (
        f"each case: {sizes.warmup} warm-up round(s) discarded, then "
        f"{sizes.rounds} rounds (from n = {sizes.big:,}: no warm-up, "
        f"{sizes.big_rounds} rounds), each round running every variant once "
        "in rotated order, gc.collect() before each run"
    )


def header(meta: dict[str, str], sizes: _cases.Sizes) -> list[str]:
    quick = " --quick" in meta["command"]
    machine = meta.get(
        "machine", f"{platform.system()} {platform.machine()}, {_cpu_count()} CPUs"
    )
    return [
        "## Benchmark results"
        + (" (quick: small sizes, not for reading)" if quick else ""),
        "",
        f"`{meta['command']}` on {meta['date']}, {float(meta['seconds']):.0f} s; "
        f"{machine}; {meta.get('method', method(sizes))}.",
        "",
        "Versions: "
        + ", ".join(f"{k} {meta[k]}" for k in VERSION_KEYS if k in meta)
        + ".",
        *(["", f"Skipped: {meta['skipped']}."] if "skipped" in meta else []),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sizes = _cases.QUICK if args.quick else _cases.FULL
    out: Path = args.out or (HERE / "results" / ("quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    if args.rerender:
        results, memory, meta = _report.from_json(
            (out / "results.json").read_text(encoding="utf-8")
        )
    else:
        results, memory, meta = measure(args, sizes, argv)
        (out / "results.json").write_text(
            _report.to_json(results, memory, meta), encoding="utf-8"
        )
    text = _report.markdown(results, memory, header(meta, sizes))
    (out / "results.md").write_text(text, encoding="utf-8")
    plots = [] if args.no_plots else _report.plot(results, out)
    print()
    print(text)
    for path in [out / "results.md", out / "results.json", *plots]:
        print(f"wrote {path}")
    return 0


def measure(
    args: argparse.Namespace, sizes: _cases.Sizes, argv: list[str] | None
) -> tuple[list[_harness.CaseResult], _report.Memory | None, dict[str, str]]:
    only: list[str] = args.only

    def wanted(name: str) -> bool:
        return not only or any(part in name for part in only)

    cases = [c for c in _cases.cases(sizes) if wanted(c.scenario)]
    skipped = _amap.unavailable() if wanted("amap") else []
    for line in skipped:
        print(line, flush=True)
    if args.rounds is not None:
        cases = [dataclasses.replace(c, rounds=args.rounds) for c in cases]

    def progress(text: str) -> None:
        print(text, end="", flush=True)

    started = time.perf_counter()
    results: list[_harness.CaseResult] = []
    for case in cases:
        progress(f"{case.label:<28} ")
        warmup = 0 if case.size >= sizes.big else sizes.warmup
        case_started = time.perf_counter()
        results.append(_harness.measure(case, warmup=warmup, progress=progress))
        progress(f" {time.perf_counter() - case_started:.0f} s\n")
    memory = None
    if wanted("memory"):
        progress("memory ")
        memory = _report.Memory(
            sizes.memory, tuple(_futures.measure_memory(sizes.memory, repeats=3))
        )
        progress("\n")
    elapsed = time.perf_counter() - started
    command = "python benchmarks/run.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    meta = {
        **versions(),
        "command": command,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": f"{elapsed:.1f}",
        "machine": f"{platform.system()} {platform.machine()}, {_cpu_count()} CPUs",
        "method": method(sizes) if args.rounds is None else f"{args.rounds} rounds",
    }
    if skipped:
        meta["skipped"] = "; ".join(skipped)
    return results, memory, meta


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
