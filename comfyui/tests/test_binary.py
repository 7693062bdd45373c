"""Finding the binary (loopy_binary.py), without ComfyUI: LOOPY_BIN first, a missing or
too-old binary explained in one message, and the pack's load never failing on it."""

from __future__ import annotations

import importlib.util
import logging
import os
import stat
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

PACK = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("loopy_binary", PACK / "loopy_binary.py")
assert spec is not None and spec.loader is not None
loopy_binary = importlib.util.module_from_spec(spec)
sys.modules["loopy_binary"] = loopy_binary
spec.loader.exec_module(loopy_binary)


def fake_binary(folder: Path, version: str) -> str:
    path = folder / f"loopy-{version}"
    path.write_text(f"#!/bin/sh\necho 'loopy {version}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


class FindingTheBinary(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.folder = Path(self.tmp.name)
        self.addCleanup(self.tmp.cleanup)
        loopy_binary._cached = None
        # Nothing on PATH and no bundled copy unless a test puts one there.
        self.env = mock.patch.dict(os.environ, {"PATH": str(self.folder)}, clear=False)
        self.env.start()
        self.addCleanup(self.env.stop)
        self.bundled = mock.patch.object(loopy_binary, "PACK_DIR", self.folder / "pack")
        self.bundled.start()
        self.addCleanup(self.bundled.stop)

    def test_loopy_bin_comes_first(self) -> None:
        good = fake_binary(self.folder, "0.2.0")
        with mock.patch.dict(os.environ, {"LOOPY_BIN": good}):
            self.assertEqual(loopy_binary.locate(), good)

    def test_a_too_old_binary_is_named_with_both_versions(self) -> None:
        old = fake_binary(self.folder, "0.1.0")
        with mock.patch.dict(os.environ, {"LOOPY_BIN": old}):
            with self.assertRaises(loopy_binary.LoopyNotFound) as caught:
                loopy_binary.locate()
        message = str(caught.exception)
        self.assertIn(old, message)
        self.assertIn("version 0.1.0", message)
        self.assertIn("0.2.0 or newer", message)
        self.assertIn("scripts/install-comfyui", message)

    def test_the_bundled_copy_then_path_are_tried(self) -> None:
        os.environ.pop("LOOPY_BIN", None)
        (self.folder / "pack/bin").mkdir(parents=True)
        on_path = self.folder / "loopy"
        on_path.write_text("#!/bin/sh\necho 'loopy 0.3.1'\n")
        on_path.chmod(0o755)
        self.assertEqual(loopy_binary.locate(), str(on_path))
        bundled = self.folder / "pack/bin/loopy"
        bundled.write_text("#!/bin/sh\necho 'loopy 0.2.5'\n")
        bundled.chmod(0o755)
        self.assertEqual(loopy_binary.locate(), str(bundled))

    def test_nothing_found_is_one_warning_at_load_not_a_failure(self) -> None:
        os.environ.pop("LOOPY_BIN", None)
        with self.assertLogs(level=logging.WARNING) as logs:
            loopy_binary.report_at_load()
        self.assertEqual(len(logs.records), 1)
        self.assertIn("not in LOOPY_BIN, the pack's bin/ folder or PATH", logs.output[0])


if __name__ == "__main__":
    unittest.main()
