"""Loopy Frames: a range of a plan's or a video's frames as an IMAGE batch, for
upscalers and face restorers. The binary decodes; Python receives one frame at a
time into a batch whose size is capped, so a long video cannot become a tensor of
tens of gigabytes by accident."""

from __future__ import annotations

import json
from pathlib import Path

import comfy.model_management
import torch
from comfy_api.latest import io

from . import folders
from .loopy_run import LoopyProcess, run_loopy
from .nodes_plan import PLAN

DEFAULT_CAP = 240


def video_path(video, node_id: str | None) -> Path:
    """A file for the VIDEO input: its own file, or a copy in the temp folder."""
    source = video.get_stream_source() if hasattr(video, "get_stream_source") else None
    if isinstance(source, str):
        return Path(source)
    copy = folders.scratch(f"video-{node_id}.mp4")
    video.save_to(str(copy))
    return copy


def plan_video(plan: dict, node_id: str | None) -> Path:
    """The plan rendered once (near-lossless, at the clips' own size) to read frames from."""
    path = folders.scratch(
        f"frames-{folders.key_of(plan['path'], plan['library']['fingerprint'])}.mkv"
    )
    if not path.exists():
        run_loopy(
            [
                "render",
                "--plan",
                plan["path"],
                "-o",
                str(path),
                "--codec",
                "h264",
                "--crf",
                "12",
                "--preset",
                "veryfast",
            ],
            node_id,
        )
    return path


def too_many(n: int, width: int, height: int, cap: int) -> str:
    gigabytes = n * width * height * 3 * 4 / 1e9
    return (
        f"Loopy Frames: {n} frames of {width}x{height} would take {gigabytes:.1f} GB as an "
        f"IMAGE batch (float32), more than frame_cap={cap}. Raise frame_cap on the node, "
        f"or take fewer frames with start and count."
    )


class LoopyFrames(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoopyFrames",
            display_name="Loopy Frames",
            category="Loopy",
            description="Frames of a plan or a video as an IMAGE batch [B,H,W,C], capped "
            "by frame_cap so a long video never fills memory by accident.",
            inputs=[
                PLAN.Input("plan", optional=True),
                io.Video.Input("video", optional=True, tooltip="Used when no plan is connected"),
                io.Int.Input("start", default=0, min=0, max=2**31, tooltip="First frame (0-based)"),
                io.Int.Input(
                    "count",
                    default=0,
                    min=0,
                    max=2**31,
                    tooltip="Frames to take (0: to the end, within frame_cap)",
                ),
                io.Int.Input(
                    "frame_cap",
                    default=DEFAULT_CAP,
                    min=1,
                    max=1_000_000,
                    tooltip="Refuse to make a batch of more frames than this "
                    "(each 1080p frame is 25 MB as float32)",
                ),
            ],
            outputs=[
                io.Image.Output(display_name="images"),
                io.Int.Output(display_name="frames"),
                io.Float.Output(display_name="fps"),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(
        cls, start: int, count: int, frame_cap: int, plan: dict | None = None, video=None
    ) -> io.NodeOutput:
        node = cls.hidden.unique_id
        if plan is not None:
            source = plan_video(plan, node)
        elif video is not None:
            source = video_path(video, node)
        else:
            raise ValueError("Loopy Frames: connect a plan or a video")
        info = json.loads(run_loopy(["frames", str(source), "--info"], node))
        width, height = int(info["width"]), int(info["height"])
        available = max(int(info["frames"]) - start, 0)
        n = min(count, available) if count > 0 else available
        if n > frame_cap:
            raise ValueError(too_many(n, width, height, frame_cap))
        if n == 0:
            raise ValueError(
                f"Loopy Frames: start={start} is past the last frame ({info['frames']} frames)"
            )
        num, _, den = str(info["fps"]).partition("/")
        fps = float(num) / float(den or 1)
        images = torch.empty((n, height, width, 3), dtype=torch.float32)
        frame_bytes = width * height * 3
        args = [
            "frames",
            str(source),
            "--start",
            str(start),
            "--count",
            str(n),
            "--max-frames",
            str(frame_cap),
        ]
        with LoopyProcess(args, node) as process:
            for i in range(n):
                process.pump()
                raw = process.stdout.read(frame_bytes)
                if len(raw) < frame_bytes:
                    break
                pixels = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
                images[i] = pixels.view(height, width, 3).to(torch.float32) / 255.0
            else:
                i = n
            process.finish()
            if i < n:
                comfy.model_management.throw_exception_if_processing_interrupted()
                raise RuntimeError(f"Loopy Frames: the binary sent {i} of {n} frames")
        return io.NodeOutput(images, n, fps)
