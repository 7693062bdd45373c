"""bench/serve-load: simulated HLS players against `loopy serve`."""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from pathlib import Path

import aiohttp


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def player(session, url, until, latencies, errors, rng) -> None:
    seen = -1
    await asyncio.sleep(rng.uniform(0, 1))  # players do not start in step
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            async with session.get(f"{url}/live.m3u8") as response:
                text = await response.text()
                latencies.append(time.monotonic() - started)
                if response.status != 200:
                    errors.append(f"playlist {response.status}")
                    await asyncio.sleep(1)
                    continue
            newest = [line for line in text.splitlines() if line.startswith("segments/")][-1]
            number = int(newest.split("/")[1].split(".")[0])
            if number != seen:
                seen = number
                started = time.monotonic()
                async with session.get(f"{url}/{newest}") as response:
                    await response.read()
                    latencies.append(time.monotonic() - started)
                    if response.status != 200:
                        errors.append(f"segment {response.status}")
        except (TimeoutError, aiohttp.ClientError) as e:
            errors.append(type(e).__name__)
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    async with aiohttp.ClientSession() as probe:
        for _ in range(200):
            try:
                async with probe.get(f"{args.url}/live.m3u8") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    latencies: list[float] = []
    errors: list[str] = []
    rss = [rss_mb(args.pid)]
    unhealthy = 0
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=10)
    until = time.monotonic() + args.seconds
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        rng = random.Random(1)
        players = [asyncio.create_task(player(session, args.url, until, latencies, errors, rng))
                   for _ in range(args.clients)]
        api: list[float] = []
        tick = 0
        while time.monotonic() < until:
            # The API under the same load: state ten times a second, a signal change
            # once a second (with the bench's token).
            await asyncio.sleep(0.1)
            tick += 1
            started = time.monotonic()
            async with session.get(f"{args.url}/api/state") as r:
                await r.read()
                api.append(time.monotonic() - started)
            if tick % 10:
                continue
            started = time.monotonic()
            value = 0.5 if tick % 20 else -0.5
            async with session.post(f"{args.url}/api/signals", json={"idle": value},
                                    headers={"Authorization": "Bearer bench"}) as r:
                await r.read()
                api.append(time.monotonic() - started)
                if r.status != 200:
                    errors.append(f"signals {r.status}")
            rss.append(rss_mb(args.pid))
            async with session.get(f"{args.url}/healthz") as r:
                unhealthy += r.status != 200
        await asyncio.gather(*players)
        async with session.get(f"{args.url}/metrics") as r:
            metrics = await r.text()
    drift = [line for line in metrics.splitlines() if line.startswith("loopy_drift_seconds ")]
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    print(f"{args.clients} simulated HLS players for {args.seconds:.0f} s: "
          f"{len(latencies)} requests, {len(errors)} errors {sorted(set(errors))[:5]}")
    print(f"  latency p50 {pct(0.50):.1f} ms, p99 {pct(0.99):.1f} ms, max {ordered[-1] * 1000:.1f} ms")
    api.sort()
    print(f"  API (state, signals) under that load: {len(api)} requests, "
          f"p50 {api[len(api) // 2] * 1000:.1f} ms, p99 {api[int(0.99 * len(api))] * 1000:.1f} ms")
    print(f"  healthz failures: {unhealthy}; {drift[0] if drift else 'no drift metric'}")
    print(f"  server RSS: start {rss[0]:.0f} MB, max {max(rss):.0f} MB, end {rss[-1]:.0f} MB, "
          f"median {statistics.median(rss):.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
