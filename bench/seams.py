#!/usr/bin/env python3
"""Seam figures of rendered videos, from their pictures (bench/seams).

Usage: bench/seams.py OUT.mp4 [OUT.mp4 ...]   (each with its OUT.mp4.plan.json)

Each video is decoded by the ffmpeg CLI to 64x32 grey frames. The change between two
frames is their mean absolute difference. The sidecar says only where each entry
starts (and how long the cross-fade is); every figure is measured on the pictures:

  seam     mean change at the cuts / median change between consecutive frames inside
           clips (for a cross-fade, the largest change across it)
  worst    the largest cut, same unit
  run      longest run of entries that occurs twice in the sequence
  entropy  entropy of clip use, % of log2(clips)

Prints the four figures, averaged over the videos."""

import json
import math
import statistics
import subprocess
import sys

W, H = 64, 32


def frames(path):
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", path, "-vf", f"scale={W}:{H},format=gray",
         "-f", "rawvideo", "-"],
        check=True, stdout=subprocess.PIPE).stdout
    size = W * H
    return [raw[i:i + size] for i in range(0, len(raw) - size + 1, size)]


def change(a, b):
    return sum(abs(x - y) for x, y in zip(a, b)) / len(a)


def longest_repeated_run(sequence):
    best = 0
    length = 1
    while length <= len(sequence) // 2:
        seen = set()
        found = False
        for i in range(len(sequence) - length + 1):
            key = tuple(sequence[i:i + length])
            if key in seen:
                found = True
                break
            seen.add(key)
        if not found:
            break
        best = length
        length += 1
    return best


def figures(path):
    sidecar = json.load(open(path + ".plan.json"))
    plan = sidecar  # the plan, flattened, with the timeline
    fade = plan.get("crossfade_frames", 0)
    starts = [entry["start_frame"] for entry in sidecar["timeline"]][1:]
    pictures = frames(path)
    changes = [0.0] + [change(pictures[i - 1], pictures[i]) for i in range(1, len(pictures))]
    at_seams = set()
    seams = []
    for start in starts:
        window = range(start, min(start + fade, len(changes) - 1) + 1)
        at_seams.update(window)
        seams.append(max(changes[i] for i in window))
    inside = [c for i, c in enumerate(changes) if i > 0 and i not in at_seams]
    typical = statistics.median(inside) or 1e-9
    sequence = plan["sequence"]
    n = len(plan["clips"])
    counts = [sequence.count(c) for c in range(n)]
    entropy = -sum(c / len(sequence) * math.log2(c / len(sequence)) for c in counts if c)
    return (
        statistics.mean(seams) / typical,
        max(seams) / typical,
        longest_repeated_run(sequence),
        100 * entropy / math.log2(n),
    )


rows = [figures(p) for p in sys.argv[1:]]
mean = [statistics.mean(column) for column in zip(*rows)]
print(f"{mean[0]:8.2f} {mean[1]:8.2f} {mean[2]:8.1f} {mean[3]:7.1f}%")
