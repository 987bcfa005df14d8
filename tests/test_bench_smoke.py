"""The benchmarks run (on a tiny input). They are measured by hand, never asserted on time.

The subprocess timeouts only stop a hung benchmark: they are sized for a 2-core machine shared with other
jobs (the pi4 target runs 3 interpreter threads on 2 cores and took over 600 s at load average 8-12).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here runs the command line in a new process

ROOT = Path(__file__).resolve().parents[1]


def test_accuracy_benchmark_runs(lfw_dir: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "accuracy.py"), "--people", "3", "--per-person", "2",
         "--systems", "SFace float16,dlib port int8 (old default)", "--out", str(tmp_path)],
        check=True, capture_output=True, timeout=900,
    )
    report = json.loads((tmp_path / "accuracy.json").read_text())
    assert set(report["systems"]) == {"SFace float16", "dlib port int8 (old default)"}
    assert (report["images"], report["genuine"], report["impostor"]) == (6, 3, 12)
    assert set(report["systems"]["SFace float16"]) >= {"photo", "id-chip", "fte_probe", "ms_per_photo"}
    assert (tmp_path / "accuracy.md").read_text().startswith("| system |")
    assert (tmp_path / "det.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_speed_benchmark_runs(faces_dir: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "speed.py"), "--runs", "2", "--threads", "1", "--no-dlib",
         "--out", str(tmp_path)],
        check=True, capture_output=True, timeout=900,
    )
    results = json.loads((tmp_path / "speed.json").read_text())
    assert [r["kind"] for r in results] == ["int8", "float"]
    assert all(r["median_ms"]["end to end (one frame)"] > 0 for r in results)
    assert all(0 < r["loop"]["outside_invoke_share"] < 1 for r in results)
    # With PAD the rendered customer is live; without it the session cannot conclude (fail closed).
    assert all(r["loop_with_pad"]["live"] and not r["loop"]["live"] for r in results)


def test_liveness_benchmark_runs(faces_dir: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "liveness.py"), "--photos", "1", "--seeds", "1", "--no-real", "--out",
         str(tmp_path)],
        check=True, capture_output=True, timeout=900,
    )
    report = json.loads((tmp_path / "liveness.json").read_text())
    assert set(report["rows"]) == {"live", "planar", "static", "replay", "swap"}
    assert report["rows"]["swap"] == [False]  # the inserted frame of another person was refused
    assert "APCER" in (tmp_path / "liveness.md").read_text()


def test_one_command_benchmark_writes_report_and_plots(faces_dir: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--target", "pi4",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "README.md").read_text()
    for heading in ("## Speed", "## Accuracy", "## Where the time goes", "## Raspberry Pi budget"):
        assert heading in text
    assert "Target `pi4`: 640x480 frames, 3 interpreter" in text
    for png in ("latency.png", "end_to_end.png", "fps.png", "roc.png", "det.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    speed = json.loads((tmp_path / "speed.json").read_text())
    threads = min(3, os.cpu_count() or 1)
    assert [(r["kind"], r["threads"]) for r in speed] == [("int8", threads), ("float", threads)]
