#!/usr/bin/env python3
"""Runs a command and prints `wall_seconds max_rss_mb` for it (children included).
Usage: bench/measure.py CMD [ARGS...]   (the command's own output goes to /dev/null)"""
import resource
import subprocess
import sys
import time

start = time.perf_counter()
result = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
if result.returncode != 0:
    sys.stderr.write(result.stderr.decode(errors="replace"))
    sys.exit(result.returncode)
rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{wall:.3f} {rss_mb:.1f}")
