"""Loopy Library: a clip folder scanned by the binary into a library handle, with
its clip count, total length, the files it skipped and why, and a contact sheet."""

from __future__ import annotations

import json

import numpy as np
import torch
from comfy_api.latest import io, ui
from PIL import Image

from . import folders
from .loopy_run import run_loopy

LIBRARY = io.Custom("LOOPY_LIBRARY")


def folder_args(library: dict) -> list[str]:
    """The binary's options that find a library's clips again."""
    args = []
    for pattern in library["patterns"]:
        args += ["--pattern", pattern]
    if library["recursive"]:
        args.append("--recursive")
    return args


class LoopyLibrary(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoopyLibrary",
            display_name="Loopy Library",
            category="Loopy",
            description="A folder of short seamless loops, scanned by Loopy: what it holds, "
            "what it skipped and why, and the first frame of every clip.",
            inputs=[
                io.Combo.Input(
                    "folder",
                    options=folders.input_subfolders(),
                    tooltip="A sub-folder of ComfyUI/input holding the clips",
                ),
                io.String.Input(
                    "path",
                    default="",
                    tooltip="Any other clip folder (absolute, or relative to ComfyUI/input); "
                    "overrides `folder` when given",
                ),
                io.String.Input(
                    "pattern",
                    default="",
                    tooltip="File-name patterns to include, comma-separated (default: "
                    "mp4 mov mkv webm avi m4v)",
                ),
                io.Boolean.Input("recursive", default=False, tooltip="Also look in sub-folders"),
            ],
            outputs=[
                LIBRARY.Output(display_name="library"),
                io.Int.Output(display_name="clips"),
                io.Float.Output(display_name="seconds"),
                io.String.Output(display_name="skipped"),
                io.Image.Output(display_name="contact_sheet"),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, folder: str, path: str) -> bool | str:
        return folders.folder_problem(folder, path) or True

    @classmethod
    def fingerprint_inputs(cls, folder: str, path: str, pattern: str, recursive: bool) -> str:
        target = folders.resolve_folder(folder, path)
        return f"{target}|{pattern}|{recursive}|{folders.fingerprint(target, recursive)}"

    @classmethod
    def execute(cls, folder: str, path: str, pattern: str, recursive: bool) -> io.NodeOutput:
        target = folders.resolve_folder(folder, path)
        library = {
            "dir": str(target),
            "patterns": [p.strip() for p in pattern.split(",") if p.strip()],
            "recursive": bool(recursive),
            "fingerprint": folders.fingerprint(target, recursive),
        }
        sheet = folders.scratch(f"sheet-{folders.key_of(library)}.png")
        catalog = json.loads(
            run_loopy(
                [
                    "scan",
                    str(target),
                    *folder_args(library),
                    "--json",
                    "--force",
                    "--contact-sheet",
                    str(sheet),
                ],
                cls.hidden.unique_id,
            )
        )
        clips = catalog["clips"]
        seconds = float(sum(c["duration_s"] for c in clips))
        library["clips"] = len(clips)
        skipped = "\n".join(f"{s['path']}: {s['reason']}" for s in catalog["skipped"]) or "none"
        with Image.open(sheet) as picture:
            pixels = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0
        image = torch.from_numpy(pixels)[None, ...]
        return io.NodeOutput(
            library,
            len(clips),
            seconds,
            skipped,
            image,
            ui=ui.PreviewImage(image, cls=cls),
        )
