"""Which cases a run measures, at full or quick sizes."""

from __future__ import annotations

from dataclasses import dataclass

from . import _amap, _correlation, _failure, _fanin, _futures, _joins, _spawn
from ._harness import Case

# The joins' target is "time per future flat as n grows". Flat is read as: at
# every n, the time per future is at most this many times that at the smallest
# n (median of the per-round ratios). Cache effects at 100,000 futures are
# real; an O(n log n) join would be near 1.7 at 100x the size, O(n^2) at 100.
FLAT_LIMIT = 1.5


@dataclass(frozen=True)
class Sizes:
    """Sizes and round counts for one kind of run."""

    handoff: int
    settled: int
    fanout: tuple[int, ...]
    spawn: int
    joins: tuple[int, ...]
    # callers, requests per caller
    correlation: tuple[int, int]
    # requests, each in a task of its own
    correlation_tasks: int
    # callers, requests per caller (one in ten abandoned)
    quarantine: tuple[int, int]
    memory: int
    # k tasks each in wait_any([shared, own])
    fanin: tuple[int, ...]
    # waiters of one set_exception; failing spawned tasks
    fail_fanout: int
    fail_spawn: int
    # items through amap (at _amap.LIMIT in hand)
    amap: tuple[int, ...]
    rounds: int
    # Fewer rounds, and no warm-up, from this size on: there the setup
    # (100,000 tasks for the task-per-future variants) dominates the run time,
    # and one measurement already averages over many operations.
    big_rounds: int
    big: int
    # Discarded rounds before the measured ones (below ``big``).
    warmup: int


FULL = Sizes(
    handoff=20_000,
    settled=100_000,
    fanout=(10_000, 100_000),
    spawn=10_000,
    joins=(1_000, 10_000, 100_000),
    correlation=(1_000, 10),
    correlation_tasks=10_000,
    quarantine=(100, 1_000),
    memory=10_000,
    fanin=(1_000, 10_000, 100_000),
    fail_fanout=10_000,
    fail_spawn=10_000,
    amap=(10_000, 100_000),
    rounds=7,
    big_rounds=3,
    big=100_000,
    warmup=1,
)

QUICK = Sizes(
    handoff=300,
    settled=1_000,
    fanout=(100, 1_000),
    spawn=200,
    joins=(100, 1_000),
    correlation=(50, 2),
    correlation_tasks=200,
    quarantine=(10, 30),
    memory=500,
    fanin=(100, 1_000),
    fail_fanout=200,
    fail_spawn=100,
    amap=(200, 500),
    rounds=2,
    big_rounds=2,
    big=1_000_000,
    warmup=0,
)


def cases(sizes: Sizes) -> list[Case]:
    """Every timed case, in the order they are run and reported."""

    def rounds(n: int) -> int:
        return sizes.big_rounds if n >= sizes.big else sizes.rounds

    result = [
        Case(
            "handoff",
            sizes.handoff,
            unit="round trip",
            ops=sizes.handoff,
            rounds=sizes.rounds,
            variants=_futures.handoff_variants(),
            target=1.05,
        ),
        Case(
            "settled get",
            sizes.settled,
            unit="get",
            ops=sizes.settled,
            rounds=sizes.rounds,
            variants=_futures.settled_variants(),
            target=1.05,
        ),
    ]
    result.extend(
        Case(
            "fan-out",
            n,
            unit="waiter",
            ops=n,
            rounds=rounds(n),
            variants=_futures.fanout_variants(),
            target=1.05,
        )
        for n in sizes.fanout
    )
    # At the largest n, whether one full collection of the heap (every
    # parked task) starts inside the window decides the row; the same
    # variants with the collector off in the window time the wake-up path.
    result.append(
        Case(
            "fan-out, collector paused",
            max(sizes.fanout),
            unit="waiter",
            ops=max(sizes.fanout),
            rounds=rounds(max(sizes.fanout)),
            variants=_futures.fanout_variants(collector_paused=True),
            target=1.05,
        )
    )
    result.append(
        Case(
            "spawn + wait_all",
            sizes.spawn,
            unit="task",
            ops=sizes.spawn,
            rounds=sizes.rounds,
            variants=_spawn.spawn_variants(),
            target=1.10,
        )
    )
    result.append(
        Case(
            "spawn + wait_all, piece by piece",
            sizes.spawn,
            unit="task",
            ops=sizes.spawn,
            rounds=sizes.rounds,
            variants=_spawn.parts_variants(),
        )
    )
    result.append(
        Case(
            "failure fan-out",
            sizes.fail_fanout,
            unit="waiter",
            ops=sizes.fail_fanout,
            rounds=rounds(sizes.fail_fanout),
            variants=_failure.fail_fanout_variants(),
        )
    )
    result.append(
        Case(
            "failing spawn + wait_settled",
            sizes.fail_spawn,
            unit="task",
            ops=sizes.fail_spawn,
            rounds=rounds(sizes.fail_spawn),
            variants=_failure.fail_spawn_variants(),
        )
    )
    callers, per_caller = sizes.correlation
    result.append(
        Case(
            "correlation",
            callers,
            unit="request",
            ops=callers * per_caller,
            rounds=sizes.rounds,
            variants=_correlation.correlation_variants(per_caller),
            target=1.10,
            note=f"{callers:,} callers x {per_caller} requests each",
        )
    )
    result.append(
        Case(
            "correlation, task per request",
            sizes.correlation_tasks,
            unit="request",
            ops=sizes.correlation_tasks,
            rounds=sizes.rounds,
            variants=_correlation.task_per_request_variants(),
            target=1.10,
            note="a task per request, spawned in the timed window",
        )
    )
    callers, per_caller = sizes.quarantine
    probe = _correlation.QuarantineProbe()
    result.append(
        Case(
            "correlation, quarantine",
            callers * per_caller,
            unit="request",
            ops=callers * per_caller,
            rounds=sizes.rounds,
            variants=_correlation.quarantine_variants(callers, probe),
            note=f"{callers:,} callers x {per_caller} requests each, "
            f"1 in {_correlation.ABANDON_EVERY} abandoned, on a mock clock",
            facts=probe.facts,
        )
    )
    result.extend(
        Case(
            name,
            max(sizes.joins),
            unit="future",
            ops=1,
            rounds=sizes.rounds,
            variants=variants,
            target=FLAT_LIMIT,
        )
        for name, variants in _joins.flat_variants(sizes.joins)
    )
    for join, variants in _joins.join_variants():
        result.extend(
            Case(
                join,
                n,
                unit="future",
                ops=n,
                rounds=rounds(n),
                variants=variants,
            )
            for n in sizes.joins
        )
    # Fan-in: flatness in k in the same rounds (as the joins), then each k
    # with its floor and peers. Its largest k takes seconds per run, so the
    # flat case runs the fewer rounds of the big sizes.
    result.append(
        Case(
            "fan-in flat",
            max(sizes.fanin),
            unit="task",
            ops=1,
            rounds=rounds(max(sizes.fanin)),
            variants=_fanin.flat_variants(sizes.fanin),
            target=FLAT_LIMIT,
        )
    )
    # The same without the garbage collector in the timed windows: its full
    # collections grow with the heap (every parked task), so they account
    # for most of the growth per task above; this is what our code adds.
    result.append(
        Case(
            "fan-in, collector paused, flat",
            max(sizes.fanin),
            unit="task",
            ops=1,
            rounds=rounds(max(sizes.fanin)),
            variants=_fanin.flat_variants(sizes.fanin, collector_paused=True),
            target=FLAT_LIMIT,
        )
    )
    # The peers start a task per future (three tasks and a nursery per
    # wait): at the largest k one run of theirs takes many seconds and their
    # time per task is flat by construction, so they are measured at the
    # smaller k only.
    result.extend(
        Case(
            "fan-in",
            k,
            unit="task",
            ops=k,
            # From the middle k on, the fewer rounds of the big sizes: there a
            # superlinear fan-in takes seconds per run (the effect to show is
            # a multiple, not per cents).
            rounds=sizes.big_rounds if k >= sorted(sizes.fanin)[1] else rounds(k),
            variants=_fanin.fanin_variants(peers=k < max(sizes.fanin)),
        )
        for k in sizes.fanin
    )
    # Empty on a build of trio_promise without amap (run.py says so).
    amap_variants = _amap.amap_variants()
    if amap_variants:
        result.extend(
            Case(
                "amap",
                n,
                unit="item",
                ops=n,
                rounds=rounds(n),
                variants=amap_variants,
                note=f"limit={_amap.LIMIT}",
            )
            for n in sizes.amap
        )
    return result
