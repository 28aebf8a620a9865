"""How a case is measured: interleaved rounds, per-round ratios to a baseline.

These machines are shared and noisy (10-30% from one run to the next), so a
single timing says little. Every round runs each variant of a case once, in an
order rotated from round to round, so that a slow phase of the machine hits
all of them alike; each variant is then compared with its baseline (the floor)
*within* the round, and the report gives the median of those per-round ratios
and their range.

A variant's runner does its own ``trio.run`` (or ``asyncio.run``) and returns
the seconds spent in the region of interest only: setup (starting waiter tasks,
creating inputs) and teardown stay outside the timed window.
"""

from __future__ import annotations

import gc
import math
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

FLOOR = "floor"
ASYNCIO_FLOOR = "asyncio floor"
OURS = "trio_promise"
# The "Event class" (benchmarks/_common.py): the hand-written class a user
# would write instead of a future; trio_promise's target is a few per cent
# over it.
EVENT_CLASS = "Event class"
# Peers that trio_promise must beat in every row.
PEERS = ("aioresult", "anyio", "aiometer")


@dataclass(frozen=True)
class Variant:
    """One implementation of a scenario."""

    name: str
    # run(size) -> seconds spent in the timed region.
    run: Callable[[int], float]
    # The variant whose time, in the same round, this one is divided by.
    baseline: str = FLOOR
    note: str = ""


@dataclass(frozen=True)
class Case:
    """A scenario at one size, with all its variants."""

    scenario: str
    size: int
    # What one operation is ("round trip", "waiter", ...) and how many of
    # them one measurement does, for the time-per-operation column.
    unit: str
    ops: int
    rounds: int
    variants: tuple[Variant, ...]
    target: float | None = None
    note: str = ""
    # Called once the case is measured: lines for the report about what the
    # runs saw besides their times (the peak quarantine size, say).
    facts: Callable[[], tuple[str, ...]] | None = None

    @property
    def label(self) -> str:
        return f"{self.scenario} ({self.size:,})"


@dataclass(frozen=True)
class VariantResult:
    """The timings of one variant in one case, round by round."""

    name: str
    baseline: str
    note: str
    times: tuple[float, ...]
    # times[i] / baseline's times[i], round by round.
    ratios: tuple[float, ...]

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def median_time(self) -> float:
        return statistics.median(self.times)


@dataclass(frozen=True)
class CaseResult:
    """Everything measured for one case."""

    case: Case
    variants: tuple[VariantResult, ...]
    facts: tuple[str, ...] = ()

    def get(self, name: str) -> VariantResult | None:
        for result in self.variants:
            if result.name == name:
                return result
        return None

    def versus(self, name: str, other: str) -> tuple[float, ...] | None:
        """Per-round ratios of ``name``'s time to ``other``'s (None if absent)."""
        mine, theirs = self.get(name), self.get(other)
        if mine is None or theirs is None:
            return None
        return tuple(a / b for a, b in zip(mine.times, theirs.times, strict=True))


def rotated(items: Sequence[Variant], shift: int) -> list[Variant]:
    """``items`` rotated left by ``shift`` (round ``r`` starts with item ``r``)."""
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def measure(case: Case, *, warmup: int, progress: Callable[[str], None]) -> CaseResult:
    """Run ``case``: ``warmup`` discarded rounds, then ``case.rounds`` rounds."""
    times: dict[str, list[float]] = {v.name: [] for v in case.variants}
    # A runner returns math.inf when it gave up after its time budget (see
    # _common.BUDGET): such a variant is not run again in this case, its
    # later rounds count as over budget too.
    over_budget: set[str] = set()
    for round_no in range(warmup + case.rounds):
        for variant in rotated(case.variants, round_no):
            if variant.name in over_budget:
                elapsed = math.inf
            else:
                # Garbage left by the previous variant must not be collected
                # on this one's time.
                gc.collect()
                elapsed = variant.run(case.size)
                if math.isinf(elapsed):
                    over_budget.add(variant.name)
                    progress("!")
            if round_no >= warmup:
                times[variant.name].append(elapsed)
        progress(".")
    results: list[VariantResult] = []
    for variant in case.variants:
        mine = times[variant.name]
        base = times[variant.baseline]
        results.append(
            VariantResult(
                name=variant.name,
                baseline=variant.baseline,
                note=variant.note,
                times=tuple(mine),
                ratios=tuple(a / b for a, b in zip(mine, base, strict=True)),
            )
        )
    facts = case.facts() if case.facts is not None else ()
    return CaseResult(case=case, variants=tuple(results), facts=facts)
