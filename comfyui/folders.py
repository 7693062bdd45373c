"""Where the nodes read and write: clip folders under ComfyUI's input folder (or any
absolute path), scratch files in ComfyUI's temp folder, and the fingerprint that
tells ComfyUI a folder changed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import folder_paths

NO_FOLDERS = "(no sub-folders in ComfyUI/input)"


def input_subfolders() -> list[str]:
    """Sub-folders of ComfyUI's input folder, the usual home of clip libraries."""
    root = Path(folder_paths.get_input_directory())
    try:
        names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        names = []
    return names or [NO_FOLDERS]


def resolve_folder(folder: str, path: str) -> Path:
    """`path` when given (absolute, or relative to the input folder), else the chosen
    sub-folder of the input folder."""
    chosen = path.strip() or folder
    candidate = Path(os.path.expanduser(chosen))
    if not candidate.is_absolute():
        candidate = Path(folder_paths.get_input_directory()) / candidate
    return candidate.resolve()


def folder_problem(folder: str, path: str) -> str | None:
    """Why the folder cannot be a library, when that can be told without running."""
    if not path.strip() and folder == NO_FOLDERS:
        return "choose a clip folder: put one in ComfyUI/input/ or give its path"
    target = resolve_folder(folder, path)
    if not target.exists():
        return f"clip folder {target} does not exist"
    if not target.is_dir():
        return f"{target} is not a folder"
    return None


def fingerprint(target: Path, recursive: bool) -> str:
    """Names, sizes and modification times of the folder's files (Loopy's own cache
    folder left out): changes when a clip is added, removed, replaced or touched."""
    digest = hashlib.sha256()
    if not target.is_dir():
        return f"missing:{target}"
    walker = os.walk(target) if recursive else [(str(target), [], os.listdir(target))]
    for base, dirs, files in walker:
        dirs[:] = sorted(d for d in dirs if d != ".loopy")
        for name in sorted(files):
            full = os.path.join(base, name)
            try:
                stat = os.stat(full)
            except OSError:
                continue
            if not os.path.isfile(full):
                continue
            rel = os.path.relpath(full, target)
            digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def scratch(name: str) -> Path:
    """A file in ComfyUI's temp folder (emptied when ComfyUI starts)."""
    folder = Path(folder_paths.get_temp_directory()) / "loopy"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def key_of(*parts: object) -> str:
    """A short stable hash of `parts`, for scratch file names."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
