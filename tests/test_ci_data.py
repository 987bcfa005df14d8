"""In CI a missing data folder must fail the run loudly, not skip its way to green."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here runs the command line in a new process

ROOT = Path(__file__).resolve().parents[1]


def _pytest(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "test_config.py"), "-k", "defaults_and_overlay"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**{k: v for k, v in os.environ.items() if k != "CI"}, **env})


def test_ci_without_the_data_folder_fails_loudly(tmp_path: Path) -> None:
    proc = _pytest({"CI": "true", "EDGE_AGENT_DATA": str(tmp_path / "nowhere")}, tmp_path)
    assert proc.returncode != 0
    assert "CI is set but the shared data is missing" in proc.stdout + proc.stderr


def test_a_local_run_without_the_data_folder_still_runs(tmp_path: Path) -> None:
    proc = _pytest({"EDGE_AGENT_DATA": str(tmp_path / "nowhere")}, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
