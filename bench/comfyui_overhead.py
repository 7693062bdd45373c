"""Measures bench/comfyui: graph vs command line, and the server's memory. Run by
bench/comfyui with ComfyUI's Python (it has aiohttp)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import threading
import time
import uuid
from pathlib import Path

import aiohttp

PLAN = [
    "--duration",
    "10m",
    "--history",
    "5",
    "--crossfade",
    "0.3s",
    "--mode",
    "similarity",
]
RENDER = [
    "--size",
    "1280x720",
    "--fit",
    "letterbox",
    "--codec",
    "h264",
    "--crf",
    "23",
    "--preset",
    "veryfast",
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def graph(library: Path, prefix: str, seed: int) -> dict:
    workflow = json.loads(Path("comfyui/workflows/loopy-render.api.json").read_text())
    workflow["1"]["inputs"]["path"] = str(library)
    workflow["2"]["inputs"].update(
        {
            "duration": "10m",
            "seed": seed,
            "history": 5,
            "crossfade": "0.3s",
            "mode": "similarity",
        }
    )
    workflow["3"]["inputs"].update(
        {
            "size": "1280x720 (720p landscape)",
            "quality": "h264 standard (crf 23)",
            "filename_prefix": prefix,
        }
    )
    del workflow["4"]
    return workflow


def run_graph(url: str, workflow: dict) -> float:
    """Queues the graph and waits for its end on the websocket (polling /history would
    load the server, which shares the two cores with the render)."""
    return asyncio.run(_run_graph(url, workflow))


async def _run_graph(url: str, workflow: dict) -> float:
    client_id = str(uuid.uuid4())
    ws_url = f"{url.replace('http', 'ws')}/ws?clientId={client_id}"
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        started = time.monotonic()
        body = {"prompt": workflow, "client_id": client_id}
        async with session.post(f"{url}/prompt", json=body) as r:
            r.raise_for_status()
            prompt_id = (await r.json())["prompt_id"]
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            event = json.loads(message.data)
            data = event.get("data", {})
            if data.get("prompt_id") != prompt_id:
                continue
            if event["type"] == "execution_success":
                return time.monotonic() - started
            if event["type"] in ("execution_error", "execution_interrupted"):
                raise SystemExit(f"graph failed: {data}")
    raise SystemExit("the websocket closed before the graph ended")


def run_cli(loopy: str, library: Path, out: Path, seed: int) -> float:
    plan = out.with_suffix(".json")
    started = time.monotonic()
    subprocess.run(
        [loopy, "-q", "scan", str(library), "--json"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            loopy,
            "-q",
            "plan",
            str(library),
            *PLAN,
            "--seed",
            str(seed),
            "-o",
            str(plan),
            "--force",
        ],
        check=True,
    )
    subprocess.run(
        [
            loopy,
            "-q",
            "render",
            "--plan",
            str(plan),
            "-o",
            str(out),
            *RENDER,
            "--force",
        ],
        check=True,
    )
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--dest", type=Path, required=True)
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    loopy = os.environ["LOOPY_BIN"]
    out_dir = args.dest / "ComfyUI/output/loopy-bench"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    transitions = args.library / ".loopy/transitions"
    pid = int((args.dest / "server.pid").read_text())

    # Warm-up: conforms the library and loads the nodes' Python.
    run_graph(args.url, graph(args.library, "loopy-bench/warmup", 1))
    run_cli(loopy, args.library, out_dir / "warmup-cli.mp4", 1)

    cli_times, graph_times, growth = [], [], []
    for i in range(args.repeat):
        seed = 100 + i  # the same plan on both sides; a new one each round, so
        # ComfyUI plans and renders again instead of answering from its cache
        # Alternate which side goes first, and flush the previous output to disk
        # first, so neither pays for the other's writeback.
        for side in ("cli", "graph") if i % 2 == 0 else ("graph", "cli"):
            shutil.rmtree(transitions, ignore_errors=True)
            os.sync()
            if side == "cli":
                cli_times.append(
                    run_cli(loopy, args.library, out_dir / f"cli-{i}.mp4", seed)
                )
                continue
            before = rss_mb(pid)
            peak = [before]
            done = threading.Event()

            def sample(peak: list[float] = peak, done: threading.Event = done) -> None:
                while not done.wait(0.05):
                    peak.append(rss_mb(pid))

            sampler = threading.Thread(target=sample)
            sampler.start()
            prefix = f"loopy-bench/graph-{i}"
            graph_times.append(run_graph(args.url, graph(args.library, prefix, seed)))
            done.set()
            sampler.join()
            growth.append(max(peak) - before)

    cli, node = statistics.median(cli_times), statistics.median(graph_times)
    print(
        f"10-minute 720p render, library conformed, cross-fades encoded (median of {args.repeat})"
    )
    print(
        f"  command line (scan + plan + render): {cli:7.2f} s   runs {[round(t, 2) for t in cli_times]}"
    )
    print(
        f"  ComfyUI graph (Library/Plan/Render): {node:7.2f} s   runs {[round(t, 2) for t in graph_times]}"
    )
    print(f"  overhead of the node pack: {100 * (node / cli - 1):+.1f}% wall time")
    print(
        f"  ComfyUI server RSS growth during a render: max {max(growth):.1f} MB "
        f"(runs {[round(g, 1) for g in growth]}), RSS now {rss_mb(pid):.0f} MB"
    )


if __name__ == "__main__":
    main()
