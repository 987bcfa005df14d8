"""The README's main job, as separate processes: carrier server, provisioning, agent daemon, terminal client."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here runs the command line in a new process

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tools" / "demo-local.sh"


def run_demo(faces_dir: Path, customer: str, seed: int) -> subprocess.CompletedProcess[str]:
    return _run(seed, str(faces_dir / "img1.jpg"), str(faces_dir / customer), data=str(faces_dir.parents[1]))


def _run(seed: int, *photos: str, data: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EDGE_AGENT_DATA"}
    env |= {"EDGE_AGENT": str(Path(sys.executable).parent / "edge-agent"), "SEED": str(seed)}
    if data is not None:
        env["EDGE_AGENT_DATA"] = data
    return subprocess.run(["bash", str(SCRIPT), *photos], capture_output=True, text=True, env=env, timeout=600)


def assert_reads_true(out: str) -> None:
    """What the demo prints says only what applies: no camera error, no socket warning, each instruction once."""
    assert "camera_error" not in out and "not_paired" not in out  # provisioned with the demo's own config
    assert '"warnings": []' in out  # the agent's health: its socket group can open the socket
    assert not re.search(r"\] hint +look straight at the camera", out), out  # the progress line said it


def last_json(text: str, start: str) -> dict:
    """The JSON object printed after the line that starts with ``start``."""
    block = text[text.index(start):]
    body = block[block.index("{"):]
    depth = 0
    for i, ch in enumerate(body):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return json.loads(body[: i + 1])
    raise AssertionError("unterminated JSON")


def test_main_job_same_person_passes_and_the_carrier_accepts(faces_dir: Path) -> None:
    proc = run_demo(faces_dir, "img2.jpg", seed=4)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    prompts = re.findall(r"\] prompt +(.+)", out)
    assert len(prompts) == 3, out
    terminal = last_json(out, "PASS  liveness")
    signed = terminal["signed_result"]
    assert signed["decision"] == "DECISION_PASS"
    assert signed["liveness"] == "LIVENESS_LIVE"
    assert "face_match" in signed["reason_codes"]
    assert terminal["carrier"]["state"] == "acked"
    audit = last_json(out, "== 6.")
    assert audit["accepted"] is True
    assert audit["transaction_id"] == signed["transaction_id"]
    assert audit["receipt_id"] == terminal["carrier"]["receipt_id"]
    assert "Traceback" not in proc.stderr
    assert_reads_true(out)


def test_main_job_on_the_embedded_sample_passes() -> None:
    """A fresh clone's demo: the licensed sample in samples/faces/ as reference and customer. On this seed the
    photo, rendered as taken (tilted and turned), ended INCONCLUSIVE challenge_incomplete."""
    sample = str(REPO / "samples" / "faces" / "silent-face-image_T1.jpg")
    proc = _run(3, sample, sample)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    terminal = last_json(proc.stdout, "PASS  liveness")
    assert terminal["signed_result"]["decision"] == "DECISION_PASS"
    assert terminal["carrier"]["state"] == "acked"
    assert last_json(proc.stdout, "== 6.")["accepted"] is True
    assert_reads_true(proc.stdout)


def test_main_job_other_person_fails_and_the_failure_is_still_delivered(faces_dir: Path) -> None:
    proc = run_demo(faces_dir, "img20.jpg", seed=1)  # master.csv: img20 / img1 = No
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    terminal = last_json(proc.stdout, "FAIL  liveness")
    assert terminal["signed_result"]["decision"] == "DECISION_FAIL"
    assert terminal["signed_result"]["liveness"] == "LIVENESS_LIVE"
    assert "face_mismatch" in terminal["signed_result"]["reason_codes"]
    assert terminal["carrier"]["state"] == "acked"
    assert last_json(proc.stdout, "== 6.")["accepted"] is True


def test_terminal_without_an_agent_exits_3_with_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", "terminal", "--socket", str(tmp_path / "none.sock"),
                           "health", "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["error"] == "agent_unavailable"
    assert "is edge-agent serve running?" in proc.stderr
    assert "Traceback" not in proc.stderr
