"""bench/serve: CPU of `loopy serve` (copy-served, with cuts) against the ffmpeg CLI
re-encoding the same clips live into HLS, measured from /proc in one run."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import threading
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


class PreviewWatcher:
    """Reads the preview (`/preview.mp4`, one fMP4 fragment per frame) as a player
    would, noting when each frame's fragment arrived (by its `tfdt` decode time)."""

    def __init__(self, url: str) -> None:
        self.arrivals: list[tuple[float, int]] = []  # (monotonic time, decode time)
        self.stream = urllib.request.urlopen(url, timeout=10)
        threading.Thread(target=self._read, daemon=True).start()

    def _box(self) -> tuple[bytes, bytes]:
        header = self.stream.read(8)
        if len(header) < 8:
            raise EOFError
        size = struct.unpack(">I", header[:4])[0]
        return header[4:8], self.stream.read(size - 8)

    def _read(self) -> None:
        try:
            while True:
                kind, body = self._box()
                if kind == b"moof":
                    at = body.find(b"tfdt")
                    version = body[at + 4]
                    value = (struct.unpack(">Q", body[at + 8:at + 16])[0] if version == 1
                             else struct.unpack(">I", body[at + 8:at + 12])[0])
                    self.arrivals.append((time.monotonic(), value))
        except (EOFError, OSError):
            pass

    def frame_seen(self, frame: int, after: float, deadline: float = 10.0) -> float | None:
        """Seconds from `after` to the arrival of frame `frame`'s fragment."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            arrivals = self.arrivals
            if len(arrivals) > 2:
                tick = arrivals[-1][1] - arrivals[-2][1]
                for when, value in arrivals:
                    if tick > 0 and value // tick >= frame and when >= after:
                        return when - after
            time.sleep(0.005)
        return None


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
    preview = PreviewWatcher("http://127.0.0.1:8479/preview.mp4")
    latencies: list[float] = []

    def maybe_cut() -> None:
        if time.monotonic() >= next_cut[0]:
            request = urllib.request.Request(
                "http://127.0.0.1:8479/api/cut", method="POST",
                headers={"Authorization": f"Bearer {token}"},
            )
            clicked = time.monotonic()
            answer = json.loads(urllib.request.urlopen(request, timeout=5).read())
            seen = preview.frame_seen(answer["takes_effect_at_frame"], clicked)
            if seen is not None:
                latencies.append(seen)
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
            "drift_s": values["loopy_drift_seconds"],
            "encode_s_per_crossfade": values["loopy_transition_encode_seconds_total"]
            / max(values["loopy_transitions_encoded_total"], 1),
            "cut_to_preview_frame_s": sorted(latencies)}


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
    seen = loopy["cut_to_preview_frame_s"]
    if seen:
        print(f"  cut to its first frame at a preview player (chunked HTTP): median "
              f"{seen[len(seen) // 2] * 1000:.0f} ms, max {seen[-1] * 1000:.0f} ms over "
              f"{len(seen)} cuts; {loopy['encode_s_per_crossfade'] * 1000:.0f} ms per "
              f"cross-fade encode")
    print(json.dumps({"loopy": loopy, "cli": peer}))


if __name__ == "__main__":
    main()
