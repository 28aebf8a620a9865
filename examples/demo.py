"""A tour of trio_promise: run it with ``python3 dev.py demo``.

It shows the three jobs the library is for and prints what happened:

1. many tasks waiting on one result, one of them giving up early;
2. spawning tasks into futures and joining them (wait_all, as_completed,
   gather_map with a limit, race);
3. request/response correlation: ids from a Correlator's next_key(), a
   quarantine for the id of a request given up; then a real language server
   (pylsp) answering concurrent requests, matched to their callers by a
   Correlator.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from trio_promise import (
    Correlator,
    Future,
    RateLimiter,
    as_completed,
    gather_map,
    race,
    spawn,
    wait_all,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lsp_client  # the example next to this file


async def many_waiters() -> None:
    print("\n1. many waiters on one future")
    config: Future[dict[str, int]] = Future()

    async def worker(name: str, patience: float) -> None:
        with trio.move_on_after(patience) as scope:
            value = await config.get()
            print(f"   {name} got {value}")
        if scope.cancelled_caught:
            print(f"   {name} gave up after {patience} s; the future is untouched")

    async with trio.open_nursery() as nursery:
        for i in range(3):
            nursery.start_soon(worker, f"worker-{i}", 10.0)
        nursery.start_soon(worker, "impatient", 0.01)
        await trio.sleep(0.05)
        print(f"   before the set: {config!r}")
        config.set_result({"workers": 3})
    print(f"   after the set:  {config!r}")


async def spawn_and_join() -> None:
    print("\n2. spawn + joins")

    async def fetch(url: str, delay: float) -> str:
        await trio.sleep(delay)
        return f"<page {url}>"

    async with trio.open_nursery() as nursery:
        futures = [
            spawn(nursery, fetch, url, delay)
            for url, delay in [("a", 0.03), ("b", 0.01), ("c", 0.02)]
        ]
        print(f"   wait_all (input order):   {await wait_all(futures)}")

    async with trio.open_nursery() as nursery:
        futures = [
            spawn(nursery, fetch, url, delay)
            for url, delay in [("a", 0.03), ("b", 0.01), ("c", 0.02)]
        ]
        order = [(await fut.get()) async for fut in as_completed(futures)]
        print(f"   as_completed (settle order): {order}")

    rate = RateLimiter(200, burst=5)
    concurrency = running = 0

    async def square(n: int) -> int:
        nonlocal concurrency, running
        running += 1
        concurrency = max(concurrency, running)
        await trio.sleep(0.001)
        running -= 1
        return n * n

    squares = await gather_map(square, range(20), limit=4, limiter=rate)
    print(f"   gather_map(limit=4, 200/s): {squares[:6]}... (max {concurrency} at once)")

    async def mirror(name: str, delay: float) -> str:
        await trio.sleep(delay)
        return name

    async def slow_mirror() -> str:
        return await mirror("slow mirror", 1.0)

    async def fast_mirror() -> str:
        return await mirror("fast mirror", 0.01)

    print(f"   race: {await race(slow_mirror, fast_mirror)} won, the other was cancelled")


async def ids_and_quarantine() -> None:
    print("\n3. request/response through a Correlator")
    # A 3-id space, so that it wraps around at once; the id of a request
    # given up without a reply stays unused for 5 s.
    replies: Correlator[int, str] = Correlator(keys=range(1, 4), quarantine=5.0)
    taken: list[int] = []
    for n in range(5):
        key = replies.next_key()
        taken.append(key)
        with replies.expect(key) as fut:
            if n == 1:
                with trio.move_on_after(0.01):  # a caller that gives up
                    await fut.get()
            else:
                replies.resolve(key, f"reply {n}")
                await fut.get()
    print(f"   ids from next_key(): {taken} (2 was given up: quarantined, skipped)")
    late = replies.resolve(2, "the reply to the request given up")
    print(f"   its late reply: resolve() -> {late}, dropped; {replies.statistics()}")


async def main() -> None:
    print("trio_promise demo")
    await many_waiters()
    await spawn_and_join()
    await ids_and_quarantine()
    print("   against a real pylsp server:")
    await lsp_client.demo()


if __name__ == "__main__":
    trio.run(main)
