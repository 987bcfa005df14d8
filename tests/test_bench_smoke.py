"""The benchmarks run (on a tiny input). They are measured by hand, never asserted on time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_accuracy_benchmark_runs(faces_dir: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "accuracy.py"), "--limit", "12", "--no-dlib", "--out", str(tmp_path)],
        check=True, capture_output=True, timeout=300,
    )
    report = json.loads((tmp_path / "accuracy.json").read_text())
    assert set(report) == {"edge-agent int8", "edge-agent float"}
    assert (tmp_path / "accuracy.md").read_text().startswith("| pipeline |")


def test_speed_benchmark_runs(faces_dir: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "speed.py"), "--runs", "2", "--threads", "1", "--no-dlib",
         "--out", str(tmp_path)],
        check=True, capture_output=True, timeout=300,
    )
    results = json.loads((tmp_path / "speed.json").read_text())
    assert [r["kind"] for r in results] == ["int8", "float"]
    assert all(r["median_ms"]["end to end"] > 0 for r in results)


def test_liveness_benchmark_runs(faces_dir: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "liveness.py"), "--photos", "1", "--seeds", "1", "--out", str(tmp_path)],
        check=True, capture_output=True, timeout=300,
    )
    report = json.loads((tmp_path / "liveness.json").read_text())
    assert set(report["rows"]) == {"live", "planar", "static", "replay"}
    assert "APCER" in (tmp_path / "liveness.md").read_text()
