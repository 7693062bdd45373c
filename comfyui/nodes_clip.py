"""Loopy Clip From Images: an IMAGE batch (a loop a video model made in the same
graph) encoded by the binary into a clip of a library folder, so generated loops
join the library without leaving ComfyUI."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import torch
from comfy_api.latest import io

from . import folders
from .loopy_run import LoopyProcess

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def free_name(folder: Path, name: str) -> Path:
    """`name_00001.mp4`, or the next number not taken: nothing is ever replaced."""
    taken = {p.name for p in folder.glob(f"{name}_*.mp4")}
    n = 1
    while f"{name}_{n:05}.mp4" in taken:
        n += 1
    return folder / f"{name}_{n:05}.mp4"


class LoopyClipFromImages(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoopyClipFromImages",
            display_name="Loopy Clip From Images",
            category="Loopy",
            description="Encode an IMAGE batch into an H.264 clip in a library folder "
            "(named NAME_00001.mp4, NAME_00002.mp4, …; the name's prefix is its tag).",
            inputs=[
                io.Image.Input("images"),
                io.Float.Input("fps", default=24.0, min=1.0, max=240.0, step=0.001),
                io.Combo.Input(
                    "folder",
                    options=folders.input_subfolders(),
                    tooltip="The library folder (a sub-folder of ComfyUI/input)",
                ),
                io.String.Input(
                    "path", default="", tooltip="Any other library folder; overrides `folder`"
                ),
                io.String.Input(
                    "name",
                    default="generated",
                    tooltip="File-name prefix; Loopy takes `talk` from talk_00001.mp4 as a tag",
                ),
            ],
            outputs=[io.String.Output(display_name="path"), io.Int.Output(display_name="frames")],
            hidden=[io.Hidden.unique_id],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, folder: str, path: str, name: str) -> bool | str:
        if not NAME.match(name):
            return f"name `{name}`: letters, digits, `_`, `.` and `-` only"
        return folders.folder_problem(folder, path) or True

    @classmethod
    def fingerprint_inputs(cls, **_inputs) -> float:
        # Writing a file is the point: never skip it because the inputs look the same.
        return float("nan")

    @classmethod
    def execute(
        cls, images: torch.Tensor, fps: float, folder: str, path: str, name: str
    ) -> io.NodeOutput:
        if images.ndim != 4 or images.shape[-1] < 3:
            raise ValueError(
                f"Loopy Clip From Images: expected an IMAGE batch [B,H,W,C], "
                f"got shape {tuple(images.shape)}"
            )
        count, height, width = images.shape[0], images.shape[1], images.shape[2]
        target = free_name(folders.resolve_folder(folder, path), name)
        args = [
            "make-clip",
            str(target),
            "--size",
            f"{width}x{height}",
            "--fps",
            f"{round(fps * 1000)}/1000",
            "--json",
        ]
        with LoopyProcess(args, cls.hidden.unique_id, stdin=subprocess.PIPE) as process:
            process.collect_stdout()
            assert process.proc.stdin is not None
            try:
                for frame in images:
                    process.pump()
                    rgb = (frame[..., :3].clamp(0, 1) * 255.0).round().to(torch.uint8)
                    process.proc.stdin.write(rgb.cpu().numpy().tobytes())
            except BrokenPipeError:
                pass  # the binary stopped early; finish() reports why
            finally:
                process.proc.stdin.close()
            summary = json.loads(process.wait())
        return io.NodeOutput(str(target), int(summary.get("frames", count)))
