"""Loopy Plan: a never-repeating sequence of a library's clips, planned by the
binary (same seed and options, same plan), with its statistics as text."""

from __future__ import annotations

import json
import re

from comfy_api.latest import io

from . import folders
from .loopy_run import run_loopy
from .nodes_library import LIBRARY, folder_args

PLAN = io.Custom("LOOPY_PLAN")
MODES = ["similarity", "uniform", "learned", "custom"]
DURATION = re.compile(r"^\s*(\d+(\.\d+)?(ms|s|m|h)?|(\d+h)?(\d+m)?(\d+(\.\d+)?s)?)\s*$")
CROSSFADE = re.compile(r"^\s*(\d+(\.\d+)?(ms|s)?|\d+f)\s*$")
SIGNAL = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*=\s*(-?\d+(\.\d+)?)\s*$")


def signal_lines(signals: str) -> list[str]:
    return [line.strip() for line in signals.splitlines() if line.strip()]


class LoopyPlan(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoopyPlan",
            display_name="Loopy Plan",
            category="Loopy",
            description="Plan a sequence of clips that never visibly repeats: no clip twice "
            "in a row, nothing from the recent history, favouring clips that start where "
            "the previous one ended; steerable by TAG=VALUE signals.",
            inputs=[
                LIBRARY.Input("library"),
                io.String.Input("duration", default="1m", tooltip="90, 90s, 30m, 1h30m"),
                io.Combo.Input("mode", options=MODES, default="similarity"),
                io.Int.Input(
                    "seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True
                ),
                io.Int.Input(
                    "history",
                    default=5,
                    min=0,
                    max=10000,
                    tooltip="Clips kept out after they played",
                ),
                io.Int.Input(
                    "avoid_ngrams",
                    default=4,
                    min=0,
                    max=64,
                    tooltip="Never replay a run of this many clips (0: off)",
                ),
                io.String.Input("crossfade", default="0.3s", tooltip="0.3s, 9f, or 0 for cuts"),
                io.String.Input(
                    "fps",
                    default="",
                    tooltip="Output rate, e.g. 30 or 30000/1001 (blank: the most common clip rate)",
                ),
                io.String.Input(
                    "signals",
                    default="",
                    multiline=True,
                    tooltip="One TAG=VALUE per line, VALUE in [-1, 1], e.g. talk=0.8",
                ),
                io.String.Input(
                    "mode_file",
                    default="",
                    tooltip="learned: an example sequence (one clip per line, or a plan.json); "
                    "custom: a transition matrix (CSV or JSON)",
                ),
                io.Boolean.Input(
                    "exact",
                    default=True,
                    tooltip="Last exactly the duration asked (the last clip trimmed to the "
                    "frame); off: end on a clip's end, a little longer",
                ),
                io.Boolean.Input(
                    "cut_points",
                    default=True,
                    tooltip="Cut inside the clips (last second of one, first second of the "
                    "next) where pictures and motion match best; off: play every clip whole",
                ),
            ],
            outputs=[PLAN.Output(display_name="plan"), io.String.Output(display_name="stats")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(
        cls, duration: str, crossfade: str, signals: str, mode: str, mode_file: str
    ) -> bool | str:
        if not duration.strip() or not DURATION.match(duration):
            return f"duration `{duration}`: expected 90, 90s, 30m or 1h30m"
        if not CROSSFADE.match(crossfade):
            return f"crossfade `{crossfade}`: expected 0.3s, 9f or 0"
        for line in signal_lines(signals):
            match = SIGNAL.match(line)
            if not match or not -1.0 <= float(match.group(2)) <= 1.0:
                return f"signal `{line}`: expected TAG=VALUE with VALUE between -1 and 1"
        if mode not in MODES:
            return f"mode `{mode}`: one of {', '.join(MODES)}"
        if mode in ("learned", "custom") and not mode_file.strip():
            return f"mode {mode} needs mode_file"
        return True

    @classmethod
    def execute(
        cls,
        library: dict,
        duration: str,
        mode: str,
        seed: int,
        history: int,
        avoid_ngrams: int,
        crossfade: str,
        fps: str,
        signals: str,
        mode_file: str,
        exact: bool = True,
        cut_points: bool = True,
    ) -> io.NodeOutput:
        args = [
            "plan",
            library["dir"],
            *folder_args(library),
            "--duration",
            duration.strip(),
            "--seed",
            str(seed),
            "--history",
            str(history),
            "--crossfade",
            crossfade.strip(),
        ]
        if mode == "learned":
            args += ["--learn", mode_file.strip()]
        elif mode == "custom":
            args += ["--matrix", mode_file.strip()]
        else:
            args += ["--mode", mode]
        args += ["--avoid-ngrams", str(avoid_ngrams)]
        if fps.strip():
            args += ["--fps", fps.strip()]
        for line in signal_lines(signals):
            args += ["--signal", line.replace(" ", "")]
        if exact:
            args.append("--exact")
        if not cut_points:
            args.append("--whole-clips")
        path = folders.scratch(f"plan-{folders.key_of(library['fingerprint'], args)}.json")
        stats = run_loopy([*args, "-o", str(path), "--force"], cls.hidden.unique_id)
        plan = json.loads(path.read_text())
        handle = {
            "path": str(path),
            "library": library,
            "total_frames": int(plan["stats"]["total_frames"]),
            "fps": plan["fps_rational"],
        }
        lines = [line for line in stats.splitlines() if not line.startswith("wrote ")]
        return io.NodeOutput(handle, "\n".join(lines))
