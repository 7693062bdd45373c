"""Loopy Live: starts (or stops) `loopy serve` for a library as a detached process and
returns its stream URL. ComfyUI has one worker, so the node never waits on the stream:
it returns as soon as the server listens (after conforming the library, with progress)
and the server lives on its own until stopped here or ComfyUI's machine stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import comfy.model_management
import comfy.utils
from comfy_api.latest import io, ui

from . import folders
from .loopy_binary import binary
from .loopy_run import LoopyFailed
from .nodes_library import LIBRARY, folder_args

#: How long conforming a library before the first segment may take.
START_TIMEOUT_S = 1800.0


def registry() -> Path:
    """Servers started by this ComfyUI: port → {pid, url, token, log}."""
    return folders.scratch("live-servers.json")


def load_registry() -> dict:
    try:
        return json.loads(registry().read_text())
    except (OSError, ValueError):
        return {}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def stop_server(port: int) -> str:
    servers = load_registry()
    entry = servers.pop(str(port), None)
    registry().write_text(json.dumps(servers))
    if not entry or not alive(entry["pid"]):
        return f"no Loopy stream of this ComfyUI runs on port {port}"
    os.killpg(entry["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 10
    while alive(entry["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(entry["pid"]):
        os.killpg(entry["pid"], signal.SIGKILL)
    return f"stopped the stream on port {port}"


def start_server(args: list[str], port: int, node_id: str | None) -> dict:
    log = folders.scratch(f"live-{port}.log")
    token = os.urandom(16).hex()
    with open(log, "wb") as out:
        # A session of its own: the stream outlives the prompt, and stopping it stops
        # the whole process group.
        proc = subprocess.Popen(
            [binary(), "--progress", "json", *args, "--token", token],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,
            start_new_session=True,
        )
    bar = comfy.utils.ProgressBar(1, node_id=node_id)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        lines = log.read_text(errors="replace").splitlines()
        for line in lines:
            if line.startswith("serving http://"):
                url = line.removeprefix("serving ").strip()
                entry = {"pid": proc.pid, "url": url, "token": token, "log": str(log)}
                servers = load_registry()
                servers[str(port)] = entry
                registry().write_text(json.dumps(servers))
                return entry
        progress = [line for line in lines if line.startswith('{"progress"')]
        if progress:
            p = json.loads(progress[-1])["progress"]
            if p["total"]:
                bar.update_absolute(p["done"], p["total"])
        if proc.poll() is not None:
            errors = [line[len("error: ") :] for line in lines if line.startswith("error: ")]
            raise LoopyFailed("Loopy: " + (errors[-1] if errors else "\n".join(lines[-5:])))
        if comfy.model_management.processing_interrupted():
            os.killpg(proc.pid, signal.SIGINT)
            comfy.model_management.throw_exception_if_processing_interrupted()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)
    raise LoopyFailed(f"Loopy: the stream did not start within {START_TIMEOUT_S:.0f} s")


class LoopyLive(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoopyLive",
            display_name="Loopy Live",
            category="Loopy",
            description="Start or stop an endless live stream (HLS) of a library, steerable "
            "over Loopy's HTTP API. The node returns the stream's URL at once; the stream "
            "runs on its own until stopped.",
            inputs=[
                LIBRARY.Input("library"),
                io.Combo.Input("action", options=["start", "stop"], default="start"),
                io.Int.Input("port", default=8080, min=1024, max=65535),
                io.String.Input("crossfade", default="0.3s"),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF),
                io.String.Input(
                    "size", default="", tooltip="WxH, e.g. 1280x720 (blank: the clips' own)"
                ),
                io.Boolean.Input(
                    "listen_everywhere",
                    default=False,
                    tooltip="Listen on every network interface instead of this machine only",
                ),
            ],
            outputs=[
                io.String.Output(display_name="url"),
                io.String.Output(display_name="token"),
            ],
            hidden=[io.Hidden.unique_id],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, **_inputs) -> float:
        # Starting and stopping act on the world: never answered from the cache.
        return float("nan")

    @classmethod
    def execute(
        cls,
        library: dict,
        action: str,
        port: int,
        crossfade: str,
        seed: int,
        size: str,
        listen_everywhere: bool,
    ) -> io.NodeOutput:
        previous = load_registry().get(str(port))
        if action == "stop" or previous:
            message = stop_server(port)
            if action == "stop":
                return io.NodeOutput("", "", ui=ui.PreviewText(message))
        host = "0.0.0.0" if listen_everywhere else "127.0.0.1"
        args = [
            "serve",
            library["dir"],
            *folder_args(library),
            "--listen",
            f"{host}:{port}",
            "--crossfade",
            crossfade.strip() or "0",
            "--seed",
            str(seed),
        ]
        if size.strip():
            args += ["--size", size.strip()]
        entry = start_server(args, port, cls.hidden.unique_id)
        url = entry["url"]
        text = f"streaming {url}\ncontrol token: {entry['token']}\nlog: {entry['log']}"
        return io.NodeOutput(url, entry["token"], ui=ui.PreviewText(text))
