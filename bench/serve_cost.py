"""bench/serve: CPU of `loopy serve` (copy-served, with cuts) against the ffmpeg CLI
re-encoding the same clips live into HLS, measured from /proc in one run."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def watch(pid: int, seconds: float, during=None) -> tuple[float, float]:
    """Average share of one core over `seconds`, and the busiest 0.5 s interval."""
    start, begun = cpu_seconds(pid), time.monotonic()
    last, last_t, peak = start, begun, 0.0
    while time.monotonic() - begun < seconds:
        time.sleep(0.5)
        if during:
            during()
        now, now_t = cpu_seconds(pid), time.monotonic()
        peak = max(peak, (now - last) / (now_t - last_t))
        last, last_t = now, now_t
    return (last - start) / (last_t - begun), peak


def serve(loopy: str, library: Path, seconds: float) -> dict:
    token = "bench"
    started = time.monotonic()
    proc = subprocess.Popen(
        [loopy, "serve", str(library), "--listen", "127.0.0.1:8479", "--crossfade", "0.3s",
         "--token", token, "--seed", "1"],
        stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )
    first = None
    while first is None:
        try:
            urllib.request.urlopen("http://127.0.0.1:8479/live.m3u8", timeout=1)
            first = time.monotonic() - started
        except OSError:
            time.sleep(0.02)
    rng = random.Random(1)
    next_cut = [time.monotonic() + rng.uniform(5, 15)]
    cuts = [0]

    def maybe_cut() -> None:
        if time.monotonic() >= next_cut[0]:
            request = urllib.request.Request(
                "http://127.0.0.1:8479/api/cut", method="POST",
                headers={"Authorization": f"Bearer {token}"},
            )
            urllib.request.urlopen(request, timeout=5).read()
            cuts[0] += 1
            next_cut[0] = time.monotonic() + rng.uniform(5, 15)

    time.sleep(2)
    average, peak = watch(proc.pid, seconds, maybe_cut)
    metrics = urllib.request.urlopen("http://127.0.0.1:8479/metrics").read().decode()
    proc.terminate()
    proc.wait()
    values = {line.split()[0]: float(line.split()[1]) for line in metrics.splitlines()
              if line and not line.startswith("#")}
    return {"first_playlist_s": first, "cpu": average, "peak": peak, "cuts": cuts[0],
            "encoded": values["loopy_transitions_encoded_total"],
            "cached": values["loopy_transitions_cached_total"],
            "drift_s": values["loopy_drift_seconds"]}


def cli(library: Path, work: Path, seconds: float) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    clips = sorted(library.glob("clip_*.mp4"))
    listing = work / "list.txt"
    repeats = int(seconds // (5 * len(clips))) + 2
    listing.write_text("".join(f"file '{c.resolve()}'\n" for _ in range(repeats) for c in clips))
    proc = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-re", "-f", "concat", "-safe", "0", "-i", str(listing),
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "60", "-sc_threshold", "0",
         "-f", "hls", "-hls_time", "2", "-hls_list_size", "6", "-hls_flags", "delete_segments",
         str(work / "live.m3u8")],
        stdin=subprocess.DEVNULL,
    )
    time.sleep(2)
    average, peak = watch(proc.pid, seconds)
    proc.terminate()
    proc.wait()
    return {"cpu": average, "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loopy", required=True)
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    loopy = serve(args.loopy, args.library, args.seconds)
    peer = cli(args.library, args.work, args.seconds)
    print(f"1080p30 live HLS for {args.seconds:.0f} s (cores: share of one core)")
    print(f"  loopy serve (copy, {loopy['cuts']} cuts; {loopy['encoded']:.0f} cross-fades "
          f"encoded, {loopy['cached']:.0f} cached): average {loopy['cpu']:.3f} core, "
          f"busiest 0.5 s {loopy['peak']:.2f} core, drift {loopy['drift_s']:+.3f} s")
    print(f"  ffmpeg CLI (concat, live re-encode): average {peer['cpu']:.3f} core, "
          f"busiest 0.5 s {peer['peak']:.2f} core")
    print(f"  ratio loopy / CLI: {loopy['cpu'] / peer['cpu']:.3f}")
    print(f"  first playlist after start (library conformed): {loopy['first_playlist_s']:.2f} s")
    print(json.dumps({"loopy": loopy, "cli": peer}))


if __name__ == "__main__":
    main()
