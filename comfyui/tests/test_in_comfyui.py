"""The node pack inside a real, headless ComfyUI, driven over its HTTP and websocket API.

Run by scripts/test-comfyui with ComfyUI's own Python. ComfyUI comes from
`run-headless` (../shared/comfyui in the workplace, or LOOPY_COMFYUI_RUN); where it is
missing the tests are skipped with the reason, unless LOOPY_REQUIRE_COMFYUI or CI is
set, in which case they fail. Clips are made with the ffmpeg CLI at test time.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import unittest
import uuid
from pathlib import Path

import aiohttp
import numpy as np
import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "comfyui"
DEST = Path(os.environ.get("LOOPY_COMFY_DEST", Path.home() / ".cache/loopy/comfyui"))
LOOPY = Path(os.environ.get("LOOPY_BIN", REPO / "target/debug/loopy"))
COLOURS = {"red": (255, 0, 0), "blue": (0, 0, 255), "lime": (0, 255, 0), "yellow": (255, 255, 0)}


def run_headless() -> Path | None:
    candidates = [
        os.environ.get("LOOPY_COMFYUI_RUN", ""),
        REPO.parent / "shared/comfyui/run-headless",
        "/work/shared/comfyui/run-headless",
    ]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lavfi(source: str, *output: str) -> None:
    """Runs the ffmpeg CLI on a generated source (a colour, a tone)."""
    command = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, *output]
    subprocess.run(command, check=True)


def make_clip(path: Path, colour: str, seconds: float = 2.0, size: str = "320x240") -> None:
    lavfi(
        f"color={colour}:s={size}:r=30",
        "-t",
        str(seconds),
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        str(path),
    )


def frame_count(path: Path) -> int:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.strip())


def decode_errors(path: Path) -> str:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
    ).stderr.strip()


def mean_rgb(path: Path) -> np.ndarray:
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).mean(axis=0)


def near_a_colour(rgb, tolerance: float = 12.0) -> bool:
    return any(
        np.abs(np.asarray(rgb, float) - np.asarray(c)).max() <= tolerance for c in COLOURS.values()
    )


class Listener:
    """The websocket of one client id, collecting every message on a thread."""

    def __init__(self, url: str, client_id: str):
        self.messages: list[dict] = []
        self.ready = threading.Event()
        self.url = f"{url.replace('http', 'ws')}/ws?clientId={client_id}"
        threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True).start()
        self.ready.wait(20)

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(self.url) as ws:
            self.ready.set()
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self.messages.append(json.loads(message.data))

    def of(self, prompt_id: str, kind: str) -> list[dict]:
        return [
            m["data"]
            for m in list(self.messages)
            if m.get("type") == kind and m.get("data", {}).get("prompt_id") == prompt_id
        ]


class InComfyUI(unittest.TestCase):
    url: str
    client_id: str
    listener: Listener
    input_dir: Path
    output_dir: Path

    @classmethod
    def setUpClass(cls) -> None:
        script = run_headless()
        if script is None:
            reason = (
                "no ComfyUI to test in: ../shared/comfyui/run-headless not found "
                "(set LOOPY_COMFYUI_RUN to a run-headless script)"
            )
            if os.environ.get("LOOPY_REQUIRE_COMFYUI") or os.environ.get("CI"):
                raise RuntimeError(reason)
            raise unittest.SkipTest(reason)
        if not LOOPY.exists():
            raise RuntimeError(f"{LOOPY} is missing: build it first (cargo build)")
        env = dict(os.environ, LOOPY_BIN=str(LOOPY))
        port = free_port()
        started = subprocess.run(
            [str(script), str(DEST), "--port", str(port), "--custom-node", str(PACK)],
            env=env,
            capture_output=True,
            text=True,
        )
        if started.returncode != 0 or "IMPORT FAILED" in started.stderr:
            raise RuntimeError(f"ComfyUI did not start with the pack:\n{started.stderr}")
        cls.url = started.stdout.strip().splitlines()[-1]
        cls.client_id = str(uuid.uuid4())
        cls.listener = Listener(cls.url, cls.client_id)
        run = f"loopy-test-{os.getpid()}"
        cls.input_dir = DEST / "ComfyUI/input" / run
        cls.output_dir = DEST / "ComfyUI/output" / run
        cls.workflow = json.loads((PACK / "workflows/loopy-render.api.json").read_text())

    @classmethod
    def tearDownClass(cls) -> None:
        script = run_headless()
        if script is not None:
            subprocess.run([str(script), str(DEST), "--stop"], check=False)
        shutil.rmtree(cls.input_dir, ignore_errors=True)
        shutil.rmtree(cls.output_dir, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------

    def library_folder(self, name: str, colours=("red", "blue", "lime")) -> str:
        """A fresh clip folder under this run's input folder; its path for the nodes."""
        folder = self.input_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        for colour in colours:
            make_clip(folder / f"idle_{colour}.mp4", colour)
        return str(folder)

    def prompt(self, folder: str, prefix: str, **changes) -> dict:
        """The example workflow, on `folder`, writing under this run's output folder."""
        graph = copy.deepcopy(self.workflow)
        graph["1"]["inputs"]["path"] = folder
        graph["3"]["inputs"]["filename_prefix"] = f"{self.output_dir.name}/{prefix}"
        graph["4"]["inputs"]["filename_prefix"] = f"{self.output_dir.name}/{prefix}-saved"
        for node, inputs in changes.items():
            graph[node]["inputs"].update(inputs)
        return graph

    def submit(self, graph: dict) -> str:
        r = requests.post(f"{self.url}/prompt", json={"prompt": graph, "client_id": self.client_id})
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()["prompt_id"]

    def finished(self, prompt_id: str, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = requests.get(f"{self.url}/history/{prompt_id}").json().get(prompt_id)
            if (
                entry
                and entry["status"].get("completed") is not None
                and entry["status"].get("status_str") in ("success", "error")
            ):
                return entry
            time.sleep(0.2)
        self.fail(f"prompt {prompt_id} did not finish in {timeout} s")

    def run_ok(self, graph: dict) -> tuple[str, dict]:
        prompt_id = self.submit(graph)
        entry = self.finished(prompt_id)
        self.assertEqual(entry["status"]["status_str"], "success", json.dumps(entry["status"]))
        return prompt_id, entry

    def error_of(self, entry: dict) -> str:
        for kind, data in entry["status"]["messages"]:
            if kind == "execution_error":
                return data["exception_message"]
        self.fail(f"no execution_error in {entry['status']}")

    def output_file(self, item: dict) -> Path:
        self.assertEqual(item["type"], "output")
        return DEST / "ComfyUI/output" / item["subfolder"] / item["filename"]

    # -- tests -----------------------------------------------------------------------

    def test_every_node_is_listed_with_its_inputs(self) -> None:
        info = requests.get(f"{self.url}/object_info").json()
        expected = {
            "LoopyLibrary": {"folder", "path", "pattern", "recursive"},
            "LoopyPlan": {
                "library",
                "duration",
                "mode",
                "seed",
                "history",
                "avoid_ngrams",
                "crossfade",
                "fps",
                "signals",
                "mode_file",
                "exact",
                "cut_points",
            },
            "LoopyRender": {
                "plan",
                "size",
                "width",
                "height",
                "fit",
                "quality",
                "filename_prefix",
                "audio",
            },
            "LoopyFrames": {"plan", "video", "start", "count", "frame_cap"},
            "LoopyClipFromImages": {"images", "fps", "folder", "path", "name"},
            "LoopyLive": {
                "library",
                "action",
                "port",
                "crossfade",
                "seed",
                "size",
                "listen_everywhere",
            },
        }
        for node, inputs in expected.items():
            self.assertIn(node, info)
            spec = info[node]["input"]
            have = set(spec.get("required", {})) | set(spec.get("optional", {}))
            self.assertEqual(have, inputs, node)
        self.assertTrue(info["LoopyRender"]["output_node"])
        self.assertEqual(info["LoopyRender"]["output"], ["VIDEO", "STRING"])
        self.assertTrue(info["LoopyPlan"]["input"]["required"]["seed"][1]["control_after_generate"])

    def test_ui_workflow_matches_its_api_twin(self) -> None:
        info = requests.get(f"{self.url}/object_info").json()
        ui = json.loads((PACK / "workflows/loopy-render.json").read_text())
        api = self.workflow
        self.assertEqual(
            {str(n["id"]): n["type"] for n in ui["nodes"]},
            {k: v["class_type"] for k, v in api.items()},
        )
        outputs = {
            (n["id"], slot): info[n["type"]]["output"][slot]
            for n in ui["nodes"]
            for slot in range(len(info[n["type"]]["output"]))
        }
        for link_id, src, slot, dst, dst_slot, kind in ui["links"]:
            self.assertEqual(outputs[(src, slot)], kind, f"link {link_id}")
            node = next(n for n in ui["nodes"] if n["id"] == dst)
            name = node["inputs"][dst_slot]["name"]
            self.assertEqual(api[str(dst)]["inputs"][name], [str(src), slot])
        for node in ui["nodes"]:
            widgets = [
                v for k, v in api[str(node["id"])]["inputs"].items() if not isinstance(v, list)
            ]
            values = [v for v in node["widgets_values"] if v != "fixed"]
            self.assertEqual(values, widgets, node["type"])

    def test_workflow_renders_the_plan_and_chains_into_save_video(self) -> None:
        folder = self.library_folder("render")
        prompt_id, entry = self.run_ok(self.prompt(folder, "render"))
        rendered = self.output_file(entry["outputs"]["3"]["images"][0])
        saved = self.output_file(entry["outputs"]["4"]["images"][0])
        sidecar = json.loads(Path(f"{rendered}.plan.json").read_text())
        planned = sidecar["stats"]["total_frames"]
        self.assertGreater(planned, 500)
        self.assertEqual(frame_count(rendered), planned)
        # As long as asked (`exact` is on in the node and the example): 20 s to the frame.
        self.assertEqual(self.workflow["2"]["inputs"]["duration"], "20s")
        self.assertEqual(planned, round(20 * sidecar["fps"]))
        self.assertEqual(decode_errors(rendered), "")
        # Browser-playable: H.264 yuv420p with the index first (+faststart).
        probe = subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=codec_name,pix_fmt",
                "-of",
                "csv=p=0",
                str(rendered),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.assertEqual(probe, "h264,yuv420p")
        head = rendered.read_bytes()[: 1 << 20]
        self.assertIn(b"moov", head)
        self.assertLess(head.index(b"moov"), head.index(b"mdat") if b"mdat" in head else 1 << 20)
        self.assertEqual(frame_count(saved), planned)
        self.assertEqual(decode_errors(saved), "")
        # Progress from the binary reached the Render node's bar.
        progress = [p for p in self.listener.of(prompt_id, "progress") if p.get("node") == "3"]
        self.assertTrue(progress, "no progress message for the render node")
        self.assertEqual(progress[-1]["value"], progress[-1]["max"])
        # Library: clip count, seconds, skipped report, contact sheet.
        sheet = entry["outputs"]["1"]["images"][0]
        with Image.open(DEST / "ComfyUI/temp" / sheet["subfolder"] / sheet["filename"]) as png:
            self.assertEqual(png.size, (3 * 192, 108))

    def test_cut_points_reach_the_render(self) -> None:
        """The example workflow cuts inside the clips; `cut_points` off plays them whole."""
        folder = self.library_folder("cuts")
        sidecars = {}
        for cut_points in (True, False):
            changes = {"2": {"cut_points": cut_points, "duration": "6s"}}
            _, entry = self.run_ok(self.prompt(folder, f"cuts-{cut_points}", **changes))
            rendered = self.output_file(entry["outputs"]["3"]["images"][0])
            sidecar = json.loads(Path(f"{rendered}.plan.json").read_text())
            self.assertEqual(frame_count(rendered), sidecar["stats"]["total_frames"])
            self.assertEqual(decode_errors(rendered), "")
            sidecars[cut_points] = sidecar
        self.assertTrue(self.workflow["2"]["inputs"]["cut_points"])
        cut = sidecars[True]
        self.assertTrue(cut["settings"]["cut_points"])
        self.assertEqual(len(cut["cuts"]), len(cut["sequence"]))
        self.assertEqual([t["cut"] for t in cut["timeline"]], cut["cuts"])
        whole = sidecars[False]
        self.assertFalse(whole["settings"].get("cut_points", False))
        self.assertNotIn("cuts", whole)

    def test_audio_input_is_muxed_into_the_one_file(self) -> None:
        folder = self.library_folder("audio")
        sound = DEST / "ComfyUI/input" / f"{self.input_dir.name}.wav"
        lavfi("sine=frequency=440:duration=3", "-ac", "2", str(sound))
        self.addCleanup(sound.unlink, missing_ok=True)
        graph = self.prompt(folder, "audio", **{"2": {"duration": "8s"}})
        del graph["4"]
        graph["7"] = {"class_type": "LoadAudio", "inputs": {"audio": sound.name}}
        graph["3"]["inputs"]["audio"] = ["7", 0]
        _, entry = self.run_ok(graph)
        rendered = self.output_file(entry["outputs"]["3"]["images"][0])
        streams = json.loads(
            subprocess.run(
                [
                    "ffprobe",
                    "-v",
                    "error",
                    "-show_entries",
                    "stream=codec_type,codec_name,duration",
                    "-of",
                    "json",
                    str(rendered),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )["streams"]
        kinds = {s["codec_type"]: s for s in streams}
        self.assertEqual(set(kinds), {"video", "audio"})
        self.assertEqual(kinds["audio"]["codec_name"], "aac")
        # The 3-second sound is looped to the video's length.
        gap = abs(float(kinds["audio"]["duration"]) - float(kinds["video"]["duration"]))
        self.assertLess(gap, 0.1, streams)
        self.assertEqual(decode_errors(rendered), "")

    def test_same_prompt_is_cached_and_a_changed_folder_runs_again(self) -> None:
        folder = self.library_folder("cache")
        graph = self.prompt(folder, "cache")
        self.run_ok(graph)
        made = sorted(self.output_dir.glob("cache_*.mp4"))
        second, _ = self.run_ok(graph)
        cached = self.listener.of(second, "execution_cached")[0]["nodes"]
        self.assertEqual(set(cached), {"1", "2", "3", "4"})
        self.assertEqual(sorted(self.output_dir.glob("cache_*.mp4")), made)
        make_clip(Path(folder) / "idle_yellow.mp4", "yellow")
        third, _ = self.run_ok(graph)
        cached = self.listener.of(third, "execution_cached")[0]["nodes"]
        self.assertNotIn("1", cached)
        self.assertEqual(len(list(self.output_dir.glob("cache_*.mp4"))), len(made) + 1)

    def previewed_frames(self, graph: dict, inputs: dict) -> list[Path]:
        """Adds Loopy Frames (`inputs`, cap 240) as node 5 and a PreviewImage of it as
        node 6 to `graph`, runs it, and returns the previewed PNG files."""
        graph["5"] = {"class_type": "LoopyFrames", "inputs": {**inputs, "frame_cap": 240}}
        graph["6"] = {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}}
        _, entry = self.run_ok(graph)
        return [
            DEST / "ComfyUI/temp" / item["subfolder"] / item["filename"]
            for item in entry["outputs"]["6"]["images"]
        ]

    def test_frames_come_as_a_capped_float_batch(self) -> None:
        folder = self.library_folder("frames")
        graph = self.prompt(folder, "frames")
        del graph["3"], graph["4"]
        images = self.previewed_frames(graph, {"plan": ["2", 0], "start": 5, "count": 10})
        self.assertEqual(len(images), 10)
        for path in images:
            with Image.open(path) as png:
                self.assertEqual(png.size, (320, 240))
                pixels = np.asarray(png.convert("RGB"), dtype=float)
                # Values 0–1 in the tensor become the clip's colour here; 0–255 would be white.
                self.assertTrue(near_a_colour(pixels.reshape(-1, 3).mean(axis=0)), pixels[0, 0])
        graph["5"]["inputs"].update({"start": 0, "count": 0, "frame_cap": 50})
        entry = self.finished(self.submit(graph))
        self.assertEqual(entry["status"]["status_str"], "error")
        message = self.error_of(entry)
        self.assertIn("frame_cap=50", message)
        self.assertIn("Raise frame_cap", message)

    def test_frames_of_a_rendered_video_chain_from_the_video_output(self) -> None:
        folder = self.library_folder("video-frames")
        graph = self.prompt(folder, "video-frames", **{"2": {"duration": "4s"}})
        del graph["4"]
        images = self.previewed_frames(graph, {"video": ["3", 0], "start": 30, "count": 4})
        self.assertEqual(len(images), 4)
        with Image.open(images[0]) as png:
            # The Render node's size (720p), letterboxed 4:3 clips inside.
            self.assertEqual(png.size, (1280, 720))

    def test_clip_from_images_round_trips_into_a_library(self) -> None:
        folder = self.library_folder("source")
        target = self.input_dir / "generated"
        target.mkdir(parents=True, exist_ok=True)
        graph = self.prompt(folder, "roundtrip")
        del graph["3"], graph["4"]
        graph["5"] = {
            "class_type": "LoopyFrames",
            "inputs": {"plan": ["2", 0], "start": 0, "count": 12, "frame_cap": 240},
        }
        graph["6"] = {
            "class_type": "LoopyClipFromImages",
            "inputs": {
                "images": ["5", 0],
                "fps": 30.0,
                "folder": "",
                "path": str(target),
                "name": "gen",
            },
        }
        graph["5"]["inputs"]["count"] = 12
        # `folder` is a combo; any listed value will do, `path` overrides it.
        graph["6"]["inputs"]["folder"] = self.input_dir.name
        self.run_ok(graph)
        clip = target / "gen_00001.mp4"
        self.assertEqual(frame_count(clip), 12)
        self.assertEqual(decode_errors(clip), "")
        self.assertTrue(near_a_colour(mean_rgb(clip)), mean_rgb(clip))
        self.run_ok(graph)
        self.assertTrue(
            (target / "gen_00002.mp4").exists(), "a second run must not replace the first"
        )
        scanned = subprocess.run(
            [str(LOOPY), "scan", str(target), "--json"], capture_output=True, text=True, check=True
        )
        self.assertEqual(len(json.loads(scanned.stdout)["clips"]), 2)

    def test_interrupt_ends_the_run_as_interrupted_and_leaves_no_file(self) -> None:
        folder = self.library_folder("interrupt")
        graph = self.prompt(
            folder,
            "interrupt",
            **{
                "2": {"duration": "40m"},
                "3": {"size": "1080x1920 (1080p vertical)", "quality": "h264 high (crf 18)"},
            },
        )
        prompt_id = self.submit(graph)
        deadline = time.monotonic() + 120
        while not [p for p in self.listener.of(prompt_id, "progress") if p.get("node") == "3"]:
            self.assertLess(time.monotonic(), deadline, "the render never reported progress")
            time.sleep(0.05)
        requests.post(f"{self.url}/interrupt")
        deadline = time.monotonic() + 60
        while not self.listener.of(prompt_id, "execution_interrupted"):
            self.assertLess(time.monotonic(), deadline, "the run did not end as interrupted")
            time.sleep(0.1)
        self.assertFalse(self.listener.of(prompt_id, "execution_error"))
        self.assertFalse(self.listener.of(prompt_id, "execution_success"))
        time.sleep(0.5)
        left = [
            p.name
            for p in self.output_dir.iterdir()
            if p.name.startswith((".interrupt", "interrupt"))
        ]
        self.assertEqual(left, [], "a cancelled render left files behind")
        running = subprocess.run(
            ["pgrep", "-f", f"{self.output_dir.name}/interrupt"], capture_output=True, text=True
        ).stdout
        self.assertEqual(running.strip(), "", "the loopy process is still running")

    def test_live_starts_a_detached_stream_and_stops_it(self) -> None:
        folder = self.library_folder("live")
        port = free_port()
        graph = self.prompt(folder, "live")
        del graph["2"], graph["3"], graph["4"]
        live = {
            "library": ["1", 0],
            "action": "start",
            "port": port,
            "crossfade": "0.3s",
            "seed": 1,
            "size": "",
            "listen_everywhere": False,
        }
        graph["5"] = {"class_type": "LoopyLive", "inputs": live}
        started = time.monotonic()
        _, entry = self.run_ok(graph)
        self.assertLess(time.monotonic() - started, 120, "the node waited on the stream")
        url = f"http://127.0.0.1:{port}/live.m3u8"
        self.assertIn(url, entry["outputs"]["5"]["text"][0])
        stop = copy.deepcopy(graph)
        stop["5"]["inputs"]["action"] = "stop"
        self.addCleanup(lambda: self.finished(self.submit(stop)))
        read = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", url, "-t", "3", "-f", "null", "-"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(read.returncode, 0, read.stderr)
        self.assertEqual(read.stderr.strip(), "")
        _, entry = self.run_ok(stop)
        self.assertIn("stopped", entry["outputs"]["5"]["text"][0])
        with self.assertRaises(requests.ConnectionError):
            requests.get(url, timeout=5)

    def test_bad_folders_and_inputs_give_clear_errors(self) -> None:
        junk = self.input_dir / "junk"
        junk.mkdir(parents=True, exist_ok=True)
        (junk / "notes.mp4").write_text("this is not a video")
        entry = self.finished(self.submit(self.prompt(str(junk), "junk")))
        self.assertEqual(entry["status"]["status_str"], "error")
        message = self.error_of(entry)
        self.assertIn("Loopy:", message)
        self.assertIn("no usable clip", message)
        missing = self.prompt(str(self.input_dir / "no-such-folder"), "missing")
        r = requests.post(
            f"{self.url}/prompt", json={"prompt": missing, "client_id": self.client_id}
        )
        self.assertEqual(r.status_code, 400)
        self.assertIn("does not exist", r.text)
        # Other inputs that can be checked without running are refused at once too.
        folder = self.library_folder("checked")
        for node, change, says in [
            ("2", {"signals": "talk=3"}, "between -1 and 1"),
            ("2", {"duration": "soon"}, "duration"),
            ("3", {"size": "custom", "width": 641}, "even"),
        ]:
            graph = self.prompt(folder, "checked", **{node: change})
            r = requests.post(f"{self.url}/prompt", json={"prompt": graph})
            self.assertEqual(r.status_code, 400, change)
            self.assertIn(says, r.text)


if __name__ == "__main__":
    unittest.main()
