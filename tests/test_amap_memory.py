"""amap's memory is O(limit), however many items: measured with tracemalloc.

API.md section 5b: 1,000,000 items at ``limit=100`` use no more peak memory
than 10,000. This runs 10,000 and 200,000 items; the larger run may not use
more than 1.2 times the smaller one's peak. It takes about half a minute
(tracemalloc makes each item 4-5 times slower), so ``dev.py check`` runs it
once, in the main environment, not again on every extra interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


# Run in a fresh interpreter each: no coverage tracer (which would slow it
# several times), no pytest state in the peak, and the two sizes run in
# parallel. tracemalloc makes each item 4-5 times slower.
_PEAK_SCRIPT = """
import gc, sys, time, tracemalloc
import trio
from trio_promise import amap

async def call(item):
    await trio.lowlevel.checkpoint()
    return item

async def main(count):
    taken = 0
    async with amap(call, range(count), limit=100) as results:
        async for _ in results:
            taken += 1
    return taken

count = int(sys.argv[1])
gc.collect()
start = time.perf_counter()
tracemalloc.start()
assert trio.run(main, count) == count
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(peak, time.perf_counter() - start)
"""


def test_peak_memory_does_not_grow_with_the_item_count(tmp_path: Path) -> None:
    """10,000 and 200,000 items at limit=100: the same peak, under tracemalloc."""
    runs = {
        count: subprocess.Popen(
            [sys.executable, "-c", _PEAK_SCRIPT, str(count)],
            cwd=tmp_path,  # import the installed package, not the source tree
            stdout=subprocess.PIPE,
            text=True,
        )
        for count in (10_000, 200_000)
    }
    figures: dict[int, tuple[int, float]] = {}
    for count, run in runs.items():
        out, _ = run.communicate(timeout=300)
        assert run.returncode == 0
        peak, seconds = out.split()
        figures[count] = int(peak), float(seconds)
    (small, small_s), (large, large_s) = figures[10_000], figures[200_000]
    print(
        f"\namap peak memory under tracemalloc, limit=100: 10,000 items "
        f"{small:,} B ({small_s:.1f} s), 200,000 items {large:,} B ({large_s:.1f} s)"
    )
    assert large <= 1.2 * small
