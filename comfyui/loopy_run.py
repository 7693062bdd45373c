"""Running the loopy binary from a node: progress onto the node's bar, ComfyUI's
Cancel onto SIGINT, and the binary's own error message onto a ComfyUI error.

The binary is asked for `--progress json`, so its stderr carries one JSON line per
update; everything else on stderr is kept for the error message. ComfyUI runs one
prompt at a time on one worker thread, so the node's thread waits here, polling for
Cancel, while reader threads drain the pipes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections import deque
from typing import IO

import comfy.model_management
import comfy.utils

from .loopy_binary import binary

#: How long a cancelled binary gets to clean up (remove its temporary files).
STOP_GRACE_S = 20.0
POLL_S = 0.1


class LoopyFailed(RuntimeError):
    """The binary failed; the message is its own."""


class LoopyProcess:
    """One run of the binary. Use as a context manager: leaving early (an exception,
    Cancel) stops the binary and lets it remove what it had started to write."""

    def __init__(self, args: list[str], node_id: str | None, stdin: int | None = None):
        self.command = [binary(), "--progress", "json", *args]
        self.proc = subprocess.Popen(
            self.command,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.bar = comfy.utils.ProgressBar(1, node_id=node_id)
        self.latest: tuple[int, int] | None = None
        self.shown: tuple[int, int] | None = None
        self.messages: deque[str] = deque(maxlen=40)
        self.stdout_text: list[bytes] = []
        self._stderr = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr.start()
        self._stdout: threading.Thread | None = None

    def __enter__(self) -> LoopyProcess:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.stop()

    def collect_stdout(self) -> None:
        """Reads stdout on a thread (for text output such as --json summaries)."""
        self._stdout = threading.Thread(target=self._read_stdout, daemon=True)
        self._stdout.start()

    @property
    def stdout(self) -> IO[bytes]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def _read_stdout(self) -> None:
        self.stdout_text.append(self.stdout.read())

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip()
            if line.startswith('{"progress"'):
                try:
                    p = json.loads(line)["progress"]
                    self.latest = (int(p["done"]), int(p["total"]))
                    continue
                except (ValueError, KeyError, TypeError):
                    pass
            if line:
                self.messages.append(line)

    def pump(self) -> None:
        """Shows the latest progress and honours Cancel: call often from the node's
        thread. Raises ComfyUI's InterruptProcessingException after stopping the
        binary, so the run ends as interrupted."""
        try:
            comfy.model_management.throw_exception_if_processing_interrupted()
            latest = self.latest
            if latest is not None and latest != self.shown and latest[1] > 0:
                self.shown = latest
                # The hook raises too when Cancel was pressed.
                self.bar.update_absolute(latest[0], latest[1])
        except comfy.model_management.InterruptProcessingException:
            self.stop()
            raise

    def wait(self) -> str:
        """Waits for the binary, pumping progress; its stdout text when it succeeded,
        else LoopyFailed with its message."""
        while True:
            self.pump()
            try:
                # Returns as soon as the binary exits: no poll interval added to a run.
                self.proc.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                continue
        return self.finish()

    def finish(self) -> str:
        self.proc.wait()
        self._stderr.join(timeout=5)
        if self._stdout is not None:
            self._stdout.join(timeout=5)
        if self.proc.returncode != 0:
            raise LoopyFailed(self.error_message())
        if self.latest is not None and self.latest[1] > 0:
            self.bar.update_absolute(self.latest[1], self.latest[1])
        return b"".join(self.stdout_text).decode("utf-8", errors="replace")

    def error_message(self) -> str:
        errors = [m[len("error: ") :] for m in self.messages if m.startswith("error: ")]
        if errors:
            return "Loopy: " + errors[-1]
        tail = "\n".join(self.messages) or f"exit code {self.proc.returncode}"
        return f"Loopy failed ({' '.join(self.command[1:4])} …): {tail}"

    def stop(self) -> None:
        """SIGINT (the binary stops cleanly and removes its temporary files), then
        SIGKILL if it does not end within STOP_GRACE_S."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_loopy(args: list[str], node_id: str | None) -> str:
    """Runs the binary to the end; its stdout on success."""
    with LoopyProcess(args, node_id) as process:
        process.collect_stdout()
        return process.wait()


def run_json(args: list[str], node_id: str | None) -> dict:
    """Runs the binary with --json; its summary."""
    return json.loads(run_loopy([*args, "--json"], node_id))
