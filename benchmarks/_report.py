"""Turn the measurements into results.md, results.json and two PNG plots."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from ._futures import MEMORY_NOTES
from ._harness import (
    EVENT_CLASS,
    FLOOR,
    OURS,
    PEERS,
    Case,
    CaseResult,
    Variant,
    VariantResult,
)

if TYPE_CHECKING:
    from pathlib import Path

MEMORY_TARGET = 64.0
# trio_promise's Future against the hand-written Event class (handoff, fan-out).
EVENT_CLASS_TARGET = 1.03
# How a run that gave up after its time budget shows (see _common.BUDGET).
OVER_BUDGET = "over budget"

# Spelled as escapes: ruff flags look-alike characters in the source.
DASH = "\N{EN DASH}"
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass(frozen=True)
class Memory:
    """Bytes retained per pending future, per variant."""

    n: int
    rows: tuple[tuple[str, str, float], ...]

    def bytes_of(self, name: str) -> float | None:
        for row_name, _, size in self.rows:
            if row_name == name:
                return size
        return None


@dataclass(frozen=True)
class Target:
    """One line of the closing note: a target, what was measured, met or not."""

    what: str
    measured: str
    met: bool


def fmt_num(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else OVER_BUDGET


def fmt_ratio(values: tuple[float, ...] | list[float]) -> str:
    return fmt_num(statistics.median(values))


def fmt_range(values: tuple[float, ...] | list[float]) -> str:
    return f"{fmt_num(min(values))}{DASH}{fmt_num(max(values))}"


def fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return OVER_BUDGET
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e9:.0f} ns"


# Scenarios measured at several n whose target is a flat time per item
# (their "... flat" cases hold trio_promise at every n in the same rounds).
JOINS = ("wait_all", "wait_any", "as_completed", "fan-in")


def is_join(result: CaseResult) -> bool:
    return result.case.scenario in JOINS


def is_flat(result: CaseResult) -> bool:
    return result.case.scenario.endswith(" flat")


def per_op(result: CaseResult, name: str) -> float:
    variant = result.get(name)
    assert variant is not None
    return variant.median_time / result.case.ops


def targets(results: list[CaseResult], memory: Memory | None) -> list[Target]:
    out: list[Target] = []
    for result in results:
        case = result.case
        if is_join(result):
            continue
        if is_flat(result) and case.target is not None:
            # "fan-in flat" -> "fan-in"; "fan-in, collector paused, flat" ->
            # "fan-in, collector paused".
            join = case.scenario.removesuffix(" flat").removesuffix(",")
            for variant in result.variants:
                if variant.name != variant.baseline:
                    out.append(
                        Target(
                            f"{join}: time per future at {variant.name} "
                            f"≤ {case.target:.1f} {TIMES} at {variant.baseline}",
                            f"{fmt_ratio(variant.ratios)} "
                            f"({fmt_range(variant.ratios)})",
                            round(variant.median_ratio, 2) <= case.target,
                        )
                    )
            continue
        ours = result.get(OURS)
        if ours is None:
            continue
        if case.target is not None:
            out.append(
                Target(
                    f"{case.label}: ≤ {case.target:.2f} {TIMES} floor",
                    f"{fmt_ratio(ours.ratios)} ({fmt_range(ours.ratios)})",
                    # As shown: a median of 1.1003 reads, and counts, as 1.10.
                    round(ours.median_ratio, 2) <= case.target,
                )
            )
        versus_class = result.versus(OURS, EVENT_CLASS)
        if versus_class is not None:
            out.append(
                Target(
                    f"{case.label}: ≤ {EVENT_CLASS_TARGET:.2f} {TIMES} {EVENT_CLASS}",
                    f"{fmt_ratio(versus_class)} ({fmt_range(versus_class)})",
                    round(statistics.median(versus_class), 2) <= EVENT_CLASS_TARGET,
                )
            )
        for peer in PEERS:
            versus = result.versus(OURS, peer)
            if versus is not None:
                out.append(
                    Target(
                        f"{case.label}: faster than {peer}",
                        f"{fmt_ratio(versus)} {TIMES} {peer} ({fmt_range(versus)})",
                        statistics.median(versus) < 1.0,
                    )
                )
    for join in JOINS:
        mine = [r for r in results if r.case.scenario == join and r.get(OURS)]
        for peer in PEERS:
            worst: list[float] = []
            for r in mine:
                versus = r.versus(OURS, peer)
                if versus is not None:
                    worst.append(statistics.median(versus))
            if worst:
                out.append(
                    Target(
                        f"{join}: faster than {peer} at every n",
                        f"median {TIMES} "
                        + peer
                        + ": "
                        + ", ".join(fmt_num(w) for w in worst),
                        max(worst) < 1.0,
                    )
                )
    if memory is not None:
        ours_bytes = memory.bytes_of(OURS)
        if ours_bytes is not None:
            out.append(
                Target(
                    f"memory: ≤ {MEMORY_TARGET:.0f} B per pending future",
                    f"{ours_bytes:.0f} B",
                    ours_bytes <= MEMORY_TARGET,
                )
            )
            for peer in PEERS:
                theirs = memory.bytes_of(peer)
                if theirs is not None:
                    out.append(
                        Target(
                            f"memory: smaller than {peer}",
                            f"{ours_bytes:.0f} B vs {theirs:.0f} B",
                            ours_bytes < theirs,
                        )
                    )
    return out


def cell(result: CaseResult, name: str) -> str:
    variant = result.get(name)
    if variant is None:
        return ""
    return f"{fmt_ratio(variant.ratios)} ({fmt_range(variant.ratios)})"


def versus_cell(result: CaseResult, name: str, other: str) -> str:
    versus = result.versus(name, other)
    if versus is None:
        return ""
    return f"{fmt_ratio(versus)} ({fmt_range(versus)})"


def flatness(results: list[CaseResult], join: str, n: int) -> str:
    """': 0.81 (0.78-0.95) x n=1,000' from the join's flat case, if measured;
    then '; collector paused: ...' from its collector-paused flat case, if
    there is one."""
    found: list[str] = []
    for scenario in (f"{join} flat", f"{join}, collector paused, flat"):
        for result in results:
            variant = result.get(f"n={n:,}")
            if result.case.scenario == scenario and variant is not None:
                found.append(
                    f"{fmt_ratio(variant.ratios)} ({fmt_range(variant.ratios)}) "
                    f"{TIMES} {variant.baseline}"
                )
    if not found:
        return ""
    return ": " + "; collector paused: ".join(found)


def summary(results: list[CaseResult], memory: Memory | None) -> list[str]:
    """One row per case (joins at their largest n): the ratios side by side."""
    largest: dict[str, int] = {}
    for result in results:
        if is_join(result):
            scenario = result.case.scenario
            largest[scenario] = max(largest.get(scenario, 0), result.case.size)
    lines = [
        "### Summary",
        "",
        "Median ratio to the floor (range over the rounds); below 1 is faster "
        "than a bare `trio.Event` + slot. asyncio is divided by its own floor "
        "(`asyncio.Event` + slot). For the joins and fan-in, the target column "
        "gives trio_promise's time per future (per task) at that n against the "
        f"smallest n. 'vs {EVENT_CLASS}' is trio_promise's time divided by the "
        f"hand-written {EVENT_CLASS}'s, round by round (target ≤ "
        f"{EVENT_CLASS_TARGET:.2f}).",
        "",
        f"| scenario | target | trio_promise | vs {EVENT_CLASS} | aioresult | anyio "
        "| aiometer | asyncio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        case = result.case
        if is_flat(result):
            continue
        if is_join(result) and case.size != largest[case.scenario]:
            continue
        if case.target is not None:
            target = f"≤ {case.target:.2f}"
        elif is_join(result):
            target = "flat in n" + flatness(results, case.scenario, case.size)
        else:
            target = ""
        lines.append(
            f"| {case.label} | {target} | {cell(result, OURS)} | "
            f"{versus_cell(result, OURS, EVENT_CLASS)} | "
            f"{cell(result, 'aioresult')} | {cell(result, 'anyio')} | "
            f"{cell(result, 'aiometer')} | {cell(result, 'asyncio')} |"
        )
    if memory is not None:

        def size(name: str) -> str:
            found = memory.bytes_of(name)
            return "" if found is None else f"{found:.0f} B"

        lines.append(
            f"| memory per pending future | ≤ {MEMORY_TARGET:.0f} B | "
            f"{size(OURS)} |  | {size('aioresult')} | {size('anyio')} |  | "
            f"{size('asyncio')} |"
        )
    return lines


def markdown(
    results: list[CaseResult],
    memory: Memory | None,
    header: list[str],
) -> str:
    lines = [*header, ""]
    lines += [*summary(results, memory), ""]
    lines += [
        "### Ratios to the floor",
        "",
        "Median of the per-round ratios (variant time / floor time in the same "
        "round) and their range. The asyncio rows are divided by the asyncio "
        "floor; the '... flat' rows by trio_promise's own time per future at the "
        "smallest n, measured in the same rounds.",
        "",
        "| scenario | variant | median ratio | range | time per op | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    for result in results:
        if is_join(result):
            continue
        case = result.case
        for variant in result.variants:
            if variant.name != variant.baseline:
                ratio = fmt_ratio(variant.ratios)
            elif variant.name in (FLOOR, "asyncio floor"):
                ratio = "1 (floor)"
            else:
                ratio = "1 (baseline)"
            spread = (
                "" if variant.name == variant.baseline else (fmt_range(variant.ratios))
            )
            lines.append(
                f"| {case.label} | {variant.name} | {ratio} | {spread} | "
                f"{fmt_time(variant.median_time / case.ops)} / {case.unit} | "
                f"{variant.note} |"
            )
    facts = [r for r in results if r.facts]
    if facts:
        lines += ["", "### What the runs saw", ""]
        lines += [f"* {r.case.label}: {fact}" for r in facts for fact in r.facts]
    joins = [r for r in results if is_join(r)]
    if joins:
        sizes = sorted({r.case.size for r in joins})
        lines += [
            "",
            "### Joins and fan-in: time per future as n grows",
            "",
            "Median time per future (fan-in: per task); in brackets the median "
            "per-round ratio to the floor.",
            "",
            "| join | variant | "
            + " | ".join(f"n = {n:,}" for n in sizes)
            + " | largest/smallest | note |",
            "|---|---|" + "---:|" * len(sizes) + "---:|---|",
        ]
        for join in JOINS:
            cases = [r for r in joins if r.case.scenario == join]
            if not cases:
                continue
            for variant in cases[0].variants:
                cells: list[str] = []
                times: list[float] = []
                for n in sizes:
                    found = [r for r in cases if r.case.size == n]
                    got = found[0].get(variant.name) if found else None
                    if got is None:
                        cells.append("")
                        continue
                    t = got.median_time / n
                    times.append(t)
                    if variant.name == FLOOR:
                        cells.append(fmt_time(t))
                    else:
                        cells.append(f"{fmt_time(t)} ({fmt_ratio(got.ratios)})")
                spread = fmt_num(max(times) / min(times)) if times else ""
                lines.append(
                    f"| {join} | {variant.name} | "
                    + " | ".join(cells)
                    + f" | {spread} | {variant.note} |"
                )
    if memory is not None:
        lines += [
            "",
            f"### Memory: bytes retained per pending future ({memory.n:,} "
            "futures, no waiters, tracemalloc, GC off)",
            "",
            "| variant | bytes | note |",
            "|---|---:|---|",
        ]
        lines += [
            f"| {name} | {size:.0f} | {note} |" for name, note, size in memory.rows
        ]
    lines += [
        "",
        "### Targets",
        "",
        "| target | measured: median (range) | met |",
        "|---|---|---|",
    ]
    lines += [
        f"| {t.what} | {t.measured} | {'met' if t.met else '**missed**'} |"
        for t in targets(results, memory)
    ]
    return "\n".join(lines) + "\n"


def to_json(
    results: list[CaseResult], memory: Memory | None, meta: dict[str, str]
) -> str:
    data: dict[str, object] = {
        "meta": meta,
        "cases": [
            {
                "scenario": r.case.scenario,
                "size": r.case.size,
                "unit": r.case.unit,
                "ops": r.case.ops,
                "target": r.case.target,
                "facts": list(r.facts),
                "variants": [
                    {
                        "name": v.name,
                        "baseline": v.baseline,
                        "note": v.note,
                        "times": list(v.times),
                        "ratios": list(v.ratios),
                    }
                    for v in r.variants
                ],
            }
            for r in results
        ],
        "memory": None
        if memory is None
        else {
            "n": memory.n,
            "bytes": {name: size for name, _, size in memory.rows},
            "notes": {name: note for name, note, _ in memory.rows},
        },
        "targets": [
            {"what": t.what, "measured": t.measured, "met": t.met}
            for t in targets(results, memory)
        ],
    }
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


COLOURS = {
    OURS: "tab:blue",
    FLOOR: "tab:gray",
    "aioresult": "tab:orange",
    "anyio": "tab:green",
    "asyncio": "tab:purple",
    "asyncio floor": "tab:pink",
    EVENT_CLASS: "tab:brown",
    "aiometer": "tab:olive",
}


class Axes(Protocol):
    """The part of matplotlib's Axes used here (its ``**kwargs`` are untyped)."""

    def plot(
        self,
        xs: list[int],
        ys: list[float],
        *,
        marker: str,
        label: str,
        color: str | None,
        linewidth: float,
    ) -> object: ...
    def barh(
        self,
        ys: list[int],
        widths: list[float],
        *,
        left: float,
        xerr: list[list[float]],
        color: list[str],
        capsize: float,
    ) -> object: ...
    def set_xscale(self, value: str) -> None: ...
    def set_yscale(self, value: str) -> None: ...
    def set_title(self, label: str) -> object: ...
    def set_xlabel(self, label: str) -> object: ...
    def set_ylabel(self, label: str) -> object: ...
    def set_yticks(
        self, ticks: list[int], labels: list[str], *, fontsize: float
    ) -> object: ...
    def invert_yaxis(self) -> None: ...
    def axvline(self, x: float, *, color: str, linewidth: float) -> object: ...
    def grid(self, visible: bool, *, which: str, axis: str, alpha: float) -> None: ...
    def get_legend_handles_labels(self) -> tuple[list[object], list[str]]: ...


class Figure(Protocol):
    """The part of matplotlib's Figure used here."""

    def suptitle(self, title: str) -> object: ...
    def legend(
        self, handles: list[object], labels: list[str], *, loc: str, ncol: int
    ) -> object: ...
    def tight_layout(self, *, rect: tuple[float, float, float, float]) -> None: ...
    def savefig(self, path: Path, *, dpi: int) -> None: ...


def plot(results: list[CaseResult], out: Path) -> list[Path]:
    """Write joins.png and ratios.png into ``out``; return their paths."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    def figure(columns: int, size: tuple[float, float]) -> tuple[Figure, list[Axes]]:
        fig, axes = plt.subplots(1, columns, figsize=size, squeeze=False)
        return cast("Figure", fig), [cast("Axes", ax) for ax in axes[0]]

    written: list[Path] = []
    joins = [r for r in results if is_join(r)]
    if joins:
        names = JOINS
        fig, axes = figure(len(names), (18, 4.5))
        for ax, join in zip(axes, names, strict=True):
            cases = sorted(
                (r for r in joins if r.case.scenario == join),
                key=lambda r: r.case.size,
            )
            if not cases:
                continue
            for variant in cases[0].variants:
                # A run over its time budget has no point to draw.
                points = [
                    (r.case.size, per_op(r, variant.name) * 1e6)
                    for r in cases
                    if r.get(variant.name) is not None
                    and math.isfinite(per_op(r, variant.name))
                ]
                xs = [x for x, _ in points]
                ys = [y for _, y in points]
                ax.plot(
                    xs,
                    ys,
                    marker="o",
                    label=variant.name,
                    color=COLOURS.get(variant.name),
                    linewidth=2.5 if variant.name == OURS else 1.5,
                )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(join)
            ax.set_xlabel("k tasks" if join == "fan-in" else "n futures")
            ax.grid(True, which="both", axis="both", alpha=0.3)
        axes[0].set_ylabel("µs per future (median)")
        handles, names_ = axes[0].get_legend_handles_labels()
        fig.legend(handles, names_, loc="lower center", ncol=len(names_))
        fig.suptitle(
            "Joins and fan-in: time per future (per task) against n (flat = O(n))"
        )
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        path = out / "joins.png"
        fig.savefig(path, dpi=110)
        plt.close("all")
        written.append(path)

    labels: list[str] = []
    medians: list[float] = []
    lows: list[float] = []
    highs: list[float] = []
    colours: list[str] = []
    for result in results:
        for variant in result.variants:
            if variant.name == variant.baseline or not all(
                math.isfinite(r) for r in variant.ratios
            ):
                continue
            median = variant.median_ratio
            labels.append(f"{result.case.label} · {variant.name}")
            medians.append(median)
            lows.append(median - min(variant.ratios))
            highs.append(max(variant.ratios) - median)
            colours.append(COLOURS.get(variant.name, "tab:red"))
    if labels:
        fig, (ax,) = figure(1, (10, 0.26 * len(labels) + 1.5))
        rows = list(range(len(labels)))
        # Bars grow from 1 (the floor) to the ratio, left when faster.
        ax.barh(
            rows,
            [m - 1.0 for m in medians],
            left=1.0,
            xerr=[lows, highs],
            color=colours,
            capsize=2,
        )
        ax.set_yticks(rows, labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=1)
        ax.set_xlabel(
            f"time / floor time (median of rounds, bars: min{DASH}max; log scale)"
        )
        ax.set_title(
            "Ratio to the floor (1 = as fast as a bare trio.Event + slot; "
            "'flat' rows: to the smallest n)"
        )
        ax.grid(True, which="both", axis="x", alpha=0.3)
        fig.tight_layout(rect=(0, 0, 1, 1))
        path = out / "ratios.png"
        fig.savefig(path, dpi=110)
        plt.close("all")
        written.append(path)
    return written


def from_json(text: str) -> tuple[list[CaseResult], Memory | None, dict[str, str]]:
    """Rebuild what :func:`to_json` wrote, to render it again without measuring."""
    data = json.loads(text)
    results: list[CaseResult] = []
    for case in data["cases"]:
        variants = tuple(
            VariantResult(
                name=v["name"],
                baseline=v["baseline"],
                note=v.get("note", ""),
                times=tuple(v["times"]),
                ratios=tuple(v["ratios"]),
            )
            for v in case["variants"]
        )
        results.append(
            CaseResult(
                case=Case(
                    scenario=case["scenario"],
                    size=case["size"],
                    unit=case["unit"],
                    ops=case["ops"],
                    rounds=len(variants[0].times),
                    variants=tuple(
                        Variant(v.name, _not_run, v.baseline, v.note) for v in variants
                    ),
                    target=case["target"],
                ),
                variants=variants,
                # Older files have none.
                facts=tuple(case.get("facts", ())),
            )
        )
    found = data["memory"]
    memory = None
    if found is not None:
        # Older files have no notes: they are the same as today's.
        notes = found.get("notes") or MEMORY_NOTES
        memory = Memory(
            found["n"],
            tuple(
                (name, notes.get(name, ""), size)
                for name, size in found["bytes"].items()
            ),
        )
    return results, memory, data["meta"]


def _not_run(size: int) -> float:
    raise RuntimeError("a variant rebuilt from results.json cannot be run")
