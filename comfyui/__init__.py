"""Loopy for ComfyUI: long, never-repeating videos from a folder of short loops.

The nodes are thin: each one runs the `loopy` binary (see loopy_binary.py for how it
is found) and passes file paths, never whole videos, between nodes.
"""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io
from typing_extensions import override

from .loopy_binary import report_at_load
from .nodes_clip import LoopyClipFromImages
from .nodes_frames import LoopyFrames
from .nodes_library import LoopyLibrary
from .nodes_live import LoopyLive
from .nodes_plan import LoopyPlan
from .nodes_render import LoopyRender


class LoopyExtension(ComfyExtension):
    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [
            LoopyLibrary,
            LoopyPlan,
            LoopyRender,
            LoopyFrames,
            LoopyClipFromImages,
            LoopyLive,
        ]


async def comfy_entrypoint() -> LoopyExtension:
    report_at_load()
    return LoopyExtension()
