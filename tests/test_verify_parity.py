"""``edge-agent verify`` and the daemon decide alike: same reference and clip, same decision, reasons, threshold.

Both used to assemble their own session, and ``verify`` matched an ID-chip portrait at the photo threshold
(0.4382) while the daemon used the chip's (0.4223). Both now go through ``edge_agent/verification.py``; this
runs each on the same rendered clip, once with a photo reference and once with a chip portrait of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import write_customer_clip

from edge_agent.attest.keys import DeviceKeys, MemoryKeyStore
from edge_agent.camera.source import FileSource
from edge_agent.cli import main
from edge_agent.config import Config, LivenessSettings
from edge_agent.matching.idchip import to_id_chip
from edge_agent.outbox.store import Outbox
from edge_agent.recorder import ResultRecorder
from edge_agent.service.preview import PreviewHub
from edge_agent.service.session import SessionOutcome, SessionRunner
from edge_agent.vision.align import arcface_points
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.image import read_image
from edge_agent.vision.pipeline import FacePipeline, reference_format_of

pytestmark = pytest.mark.slow  # four liveness sessions on the real models
SEED = 5
# What the signed result says for the match (recorder.py) against the word `verify` prints (MatchResult.decision).
SIGNED_MATCH = {"match": ["face_match"], "no_match": ["face_mismatch"], "no_usable_frame": []}


@pytest.fixture(scope="module")
def clip(pipeline: FacePipeline, faces_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The customer (img2.jpg) animated through the challenge SEED draws, as a folder of frames."""
    return write_customer_clip(pipeline, faces_dir / "img2.jpg", SEED, tmp_path_factory.mktemp("clip"))


def references(pipeline: FacePipeline, faces_dir: Path, folder: Path) -> dict[str, Path]:
    """The same person's photo (img1.jpg), and an ID chip's portrait made from it."""
    photo = read_image(faces_dir / "img1.jpg")
    eyes = arcface_points(pipeline.landmarker.landmarks(photo, pipeline.find_face(photo)).points)[:2]
    chip = to_id_chip(photo, *eyes)
    cv2.imwrite(str(folder / "chip.png"), cv2.cvtColor(chip, cv2.COLOR_RGB2BGR))
    return {"photo": faces_dir / "img1.jpg", "id-chip": folder / "chip.png"}


def run_verify(reference: Path, clip: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    main(["verify", "--reference", str(reference), "--video", str(clip), "--seed", str(SEED), "--json"])
    out: dict = json.loads(capsys.readouterr().out)
    return out


def run_daemon(pipeline: FacePipeline, reference: Path, clip: Path, tmp_path: Path) -> SessionOutcome:
    """The daemon's session (what ``StartVerification`` runs), on the clip as its camera."""
    keys = DeviceKeys(MemoryKeyStore())
    keys.ensure()
    recorder = ResultRecorder("dev-parity", keys, Outbox(tmp_path / "outbox.db"), pipeline.manifest.sha256)
    runner = SessionRunner(Config(liveness=LivenessSettings(seed=SEED)), pipeline, recorder, None, "dev-parity",
                           lambda: FileSource(clip), AntiSpoof.require(pipeline.manifest), PreviewHub(),
                           lambda _error: None)
    session = runner.run("txn-parity", reference.read_bytes(), bytes(32), lambda: False)
    while True:
        try:
            next(session)
        except StopIteration as done:
            outcome: SessionOutcome = done.value
            return outcome


@pytest.mark.parametrize("kind", ["photo", "id-chip"])
def test_verify_and_the_daemon_decide_alike(kind: str, pipeline: FacePipeline, faces_dir: Path, clip: Path,
                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = references(pipeline, faces_dir, tmp_path)[kind]
    assert reference_format_of(read_image(reference)) == kind
    cli = run_verify(reference, clip, capsys)
    daemon = run_daemon(pipeline, reference, clip, tmp_path)
    assert cli["reference_format"] == kind
    assert cli["threshold"] == round(daemon.threshold, 4) == round(pipeline.threshold_for(kind), 4)
    assert cli["decision"] == daemon.summary.decision
    signed_reasons = [*cli["reasons"][:-1], *SIGNED_MATCH[cli["reasons"][-1]]]
    assert signed_reasons == list(daemon.summary.reason_codes)
    assert cli["liveness"] == daemon.summary.liveness


def test_the_two_formats_have_their_own_thresholds(pipeline: FacePipeline) -> None:
    """What makes the parity above matter: a chip matched at the photo threshold is a different decision."""
    assert not np.isclose(pipeline.threshold_for("photo"), pipeline.threshold_for("id-chip"))
