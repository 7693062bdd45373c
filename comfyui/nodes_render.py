"""Loopy Render: a plan rendered by the binary (smart render when that encodes
fewer frames than a full one) into ComfyUI's output folder, returned as the
native VIDEO type so it previews in the node and chains into Save Video."""

from __future__ import annotations

import wave

import folder_paths
import numpy as np
from comfy_api.input_impl import VideoFromFile
from comfy_api.latest import io, ui

from . import folders
from .loopy_run import run_json
from .nodes_plan import PLAN

SIZES = {
    "1920x1080 (1080p landscape)": (1920, 1080),
    "1280x720 (720p landscape)": (1280, 720),
    "1080x1920 (1080p vertical)": (1080, 1920),
    "720x1280 (720p vertical)": (720, 1280),
    "1080x1350 (4:5 portrait)": (1080, 1350),
    "1080x1080 (square)": (1080, 1080),
    "720x720 (square)": (720, 720),
    "custom": None,
}
# codec, crf, preset: browser-playable H.264 yuv420p unless H.265 is asked for.
QUALITIES = {
    "h264 standard (crf 23)": ("h264", 23, "veryfast"),
    "h264 high (crf 18)": ("h264", 18, "medium"),
    "h264 small (crf 28)": ("h264", 28, "veryfast"),
    "h265 standard (crf 28)": ("h265", 28, "veryfast"),
}
FITS = ["letterbox", "crop", "stretch"]


def output_size(size: str, width: int, height: int) -> tuple[int, int]:
    return SIZES.get(size) or (width, height)


def write_wav(audio: dict, path) -> None:
    """ComfyUI's AUDIO ({waveform [batch, channels, samples], sample_rate}) as 16-bit
    WAV, the first batch item; the binary loops or cuts it to the video's length."""
    waveform = audio["waveform"][0].detach().cpu().float().numpy()
    samples = (np.clip(waveform, -1.0, 1.0) * 32767.0).astype("<i2").T
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(int(audio["sample_rate"]))
        out.writeframes(np.ascontiguousarray(samples).tobytes())


class LoopyRender(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoopyRender",
            display_name="Loopy Render",
            category="Loopy",
            description="Render a plan into one video file in ComfyUI's output folder. "
            "Frames stream through the Loopy binary; only the file path reaches Python.",
            inputs=[
                PLAN.Input("plan"),
                io.Combo.Input("size", options=list(SIZES), default="1280x720 (720p landscape)"),
                io.Int.Input(
                    "width",
                    default=1280,
                    min=2,
                    max=8192,
                    step=2,
                    tooltip="Used when size is custom (even)",
                ),
                io.Int.Input(
                    "height",
                    default=720,
                    min=2,
                    max=8192,
                    step=2,
                    tooltip="Used when size is custom (even)",
                ),
                io.Combo.Input(
                    "fit",
                    options=FITS,
                    default="letterbox",
                    tooltip="How clips of another shape fill the frame",
                ),
                io.Combo.Input(
                    "quality", options=list(QUALITIES), default="h264 standard (crf 23)"
                ),
                io.String.Input("filename_prefix", default="loopy/Loopy"),
                io.Audio.Input(
                    "audio",
                    optional=True,
                    tooltip="Sound for the video, looped or cut to its length",
                ),
            ],
            outputs=[io.Video.Output(display_name="video"), io.String.Output(display_name="path")],
            hidden=[io.Hidden.unique_id],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, size: str, width: int, height: int) -> bool | str:
        if size not in SIZES:
            return f"size `{size}`: one of {', '.join(SIZES)}"
        w, h = output_size(size, width, height)
        if w % 2 or h % 2 or w < 2 or h < 2:
            return f"size {w}x{h}: width and height must be even (4:2:0 video)"
        return True

    @classmethod
    def execute(
        cls,
        plan: dict,
        size: str,
        width: int,
        height: int,
        fit: str,
        quality: str,
        filename_prefix: str,
        audio: dict | None = None,
    ) -> io.NodeOutput:
        w, h = output_size(size, width, height)
        codec, crf, preset = QUALITIES[quality]
        out_dir, name, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, folder_paths.get_output_directory(), w, h
        )
        file = f"{name}_{counter:05}_.mp4"
        target = f"{out_dir}/{file}"
        args = [
            "render",
            "--plan",
            plan["path"],
            "-o",
            target,
            "--size",
            f"{w}x{h}",
            "--fit",
            fit,
            "--codec",
            codec,
            "--crf",
            str(crf),
            "--preset",
            preset,
        ]
        if audio is not None:
            wav = folders.scratch(f"audio-{cls.hidden.unique_id}-{counter}.wav")
            write_wav(audio, wav)
            args += ["--audio", str(wav)]
        run_json(args, cls.hidden.unique_id)
        return io.NodeOutput(
            VideoFromFile(target),
            target,
            ui=ui.PreviewVideo([ui.SavedResult(file, subfolder, io.FolderType.output)]),
        )
