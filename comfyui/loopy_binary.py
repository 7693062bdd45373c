"""Finding the `loopy` binary the nodes drive, and checking that it is new enough.

Order: the LOOPY_BIN environment variable, then a copy bundled in this pack's
`bin/` folder (scripts/install-comfyui puts one there), then PATH. A missing or
too-old binary is reported once, when ComfyUI loads the pack; the pack still
loads, and every node that runs says the same thing.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

MIN_VERSION = (0, 2, 0)
PACK_DIR = Path(__file__).resolve().parent
INSTALL_HINT = (
    "build and install it with `scripts/install-comfyui COMFYUI_DIR` from the Loopy "
    "repository, or point LOOPY_BIN at a loopy binary"
)


class LoopyNotFound(RuntimeError):
    """No usable loopy binary; the message says what was tried and what to do."""


def _candidates() -> list[tuple[str, str]]:
    found = []
    env = os.environ.get("LOOPY_BIN")
    if env:
        found.append(("LOOPY_BIN", env))
    bundled = PACK_DIR / "bin" / "loopy"
    if bundled.exists():
        found.append(("the pack's bin/ folder", str(bundled)))
    on_path = shutil.which("loopy")
    if on_path:
        found.append(("PATH", on_path))
    return found


def _version(path: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except OSError:
        return None
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(part) for part in match.groups()) if match else None


def locate() -> str:
    """The path of a usable loopy binary, or LoopyNotFound with the reason."""
    problems = []
    for where, path in _candidates():
        version = _version(path)
        if version is None:
            problems.append(f"{path} (from {where}) does not run")
        elif version < MIN_VERSION:
            have = ".".join(map(str, version))
            need = ".".join(map(str, MIN_VERSION))
            problems.append(
                f"{path} (from {where}) is version {have}; this pack needs {need} or newer"
            )
        else:
            return path
    tried = "; ".join(problems) if problems else "not in LOOPY_BIN, the pack's bin/ folder or PATH"
    raise LoopyNotFound(f"Loopy binary not usable: {tried}. To fix: {INSTALL_HINT}.")


_cached: str | None = None


def binary() -> str:
    """The binary, looked up once per ComfyUI process once it has been found."""
    global _cached
    if _cached is None:
        _cached = locate()
    return _cached


def report_at_load() -> None:
    """One clear line in ComfyUI's log when the nodes would not work."""
    try:
        path = binary()
        logging.info("[Loopy] using %s", path)
    except LoopyNotFound as problem:
        logging.warning("[Loopy] %s", problem)
