"""`edge-agent pad`, the made-up attack generator, and hostile frame rates / clocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.common import data_root
from edge_agent.camera.files import iter_frames
from edge_agent.errors import BadInput
from edge_agent.liveness.challenge import Action, ChallengeConfig
from edge_agent.liveness.pad import passive_pad
from edge_agent.liveness.session import LivenessSession, SessionTuning
from edge_agent.simulation.attacks import SPECIES, make_attack, style_for
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.image import read_image

SILENT = data_root() / "antispoof" / "silent-face"


def need(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} missing in CI")
        pytest.skip(f"{path} not found")
    return path


def cli_json(command: str, *args: str, timeout: float = 300) -> tuple[int, dict]:
    """``edge-agent COMMAND ARGS --json`` in a fresh process: exit code and the printed object."""
    proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", command, *args, "--json"],
                          capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def pad_cli(*args: str) -> tuple[int, dict]:
    return cli_json("pad", *args)


@pytest.mark.slow
def test_pad_cli_on_real_and_attack_stills(tmp_path: Path) -> None:
    code, out = pad_cli(str(need(SILENT / "image_T1.jpg")))
    assert (code, out["decision"]) == (0, "bona_fide"), out
    assert set(out["witnesses"]) == {"minifasnet_v2_2.7", "minifasnet_v1se_4.0"}
    assert len(out["frames_used"]) == 1 and out["frames_total"] == 1
    code, out = pad_cli(str(need(SILENT / "image_F1.jpg")))
    assert (code, out["decision"]) == (1, "attack"), out
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 127, np.uint8))
    code, out = pad_cli(str(blank))
    assert (code, out["error"], out["input"]) == (2, "no_face", "file")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"junk" * 64)
    assert pad_cli(str(junk))[0] == 2


@pytest.mark.slow
def test_pad_cli_on_a_real_clip_samples_the_whole_clip() -> None:
    clip = need(data_root() / "video" / "real" / "v12_frontal_smiles_1blink__LivePortrait_d19.mp4")
    code, out = pad_cli(str(clip))
    assert code == 0, out
    times = [f["t_ms"] for f in out["frames_used"]]
    assert len(times) >= 30 and times[-1] >= 7500  # every 200 ms over the 8.3 s clip, not the first frames only


@pytest.mark.slow  # seconds of model runs: the fast tier stays under its minute (tests/tier_budget.py)
def test_attack_generator_is_reproducible_and_keeps_a_detectable_face(pipeline) -> None:
    rgb = read_image(need(SILENT / "image_T1.jpg"))
    for species in SPECIES:
        a = make_attack(rgb, style_for(species, np.random.default_rng(3)), np.random.default_rng(4))
        b = make_attack(rgb, style_for(species, np.random.default_rng(3)), np.random.default_rng(4))
        assert a.shape == rgb.shape and np.array_equal(a, b)
        assert pipeline.detector.detect(a), species  # PAD, not the detector, must be what refuses it
    with pytest.raises(ValueError):
        style_for("mask", np.random.default_rng(0))


@pytest.mark.slow  # seconds of model runs: the fast tier stays under its minute (tests/tier_budget.py)
def test_made_up_replays_of_a_real_photo_are_refused(pipeline) -> None:
    """The real photo passes; its phone, monitor and print replays do not (made-up attacks)."""
    pad = AntiSpoof.require(pipeline.manifest)
    rgb = read_image(need(SILENT / "image_T1.jpg"))
    assert passive_pad(pipeline.detector, pad, [(rgb, 0)]).bona_fide
    for species in SPECIES:
        for seed in range(2):
            attack = make_attack(rgb, style_for(species, np.random.default_rng(seed)), np.random.default_rng(seed))
            assert not passive_pad(pipeline.detector, pad, [(attack, 0)]).bona_fide, (species, seed)


@pytest.mark.slow
@pytest.mark.parametrize("fps", ["inf", "-1", "0", "nan", "1e9", "fast"])
def test_verify_refuses_a_frame_rate_that_disables_timeouts(fps: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", "verify", "--reference", "x.jpg", "--video",
                           str(tmp_path), "--fps", fps], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--fps" in proc.stderr and ("between 1 and 120" in proc.stderr or "not a number" in proc.stderr)


def test_frame_folder_reader_refuses_bad_rates(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "0.png"), np.zeros((8, 8, 3), np.uint8))
    for fps in (float("inf"), float("nan"), 0.0, -1.0):
        with pytest.raises(BadInput, match="frame rate"):
            next(iter_frames(tmp_path, fps))


@pytest.mark.slow  # seconds of model runs: the fast tier stays under its minute (tests/tier_budget.py)
def test_session_clock_does_not_go_backwards_and_the_session_is_time_limited(pipeline) -> None:
    """Timestamps that jump back do not buy time; a stuck clock ends by frame count."""
    frame = np.zeros((240, 320, 3), np.uint8)  # no face: cheap frames, the clock rules alone
    cfg = SessionTuning(challenge=ChallengeConfig(frontal_timeout_ms=10**9, lost_ms=10**9), session_limit_ms=5000,
                         max_frames=50)
    s = LivenessSession(pipeline, pipeline.eye_landmarker(), [Action.BLINK], cfg)
    stamps = [0, 1000, 2000, 100, 200, 300, 5200]  # back to 100 ms: the session clock stays at 2000, then ends
    events = [e for t in stamps for e in s.feed(frame, t)]
    assert s.challenge.reason == "session_timeout" and events[-1].kind == "failed"
    assert s.result().reasons == ["challenge_session_timeout"]
    stuck = LivenessSession(pipeline, pipeline.eye_landmarker(), [Action.BLINK], cfg)
    for _ in range(60):
        stuck.feed(frame, 0)
    assert stuck.challenge.reason == "session_timeout" and stuck.result().frames == 51


def test_the_session_score_is_robust_to_a_few_odd_frames() -> None:
    """The median over frames: two frames a model calls fake (a blink, motion blur) do not refuse a session,
    and two frames it calls real do not accept a replay; each frame fuses the models by their mean."""
    from edge_agent.liveness.fusion import frame_score, session_pad_score

    real, fake = {"a": 0.95, "b": 0.9}, {"a": 0.02, "b": 0.1}
    assert frame_score({"a": 0.9, "b": 0.1}) == pytest.approx(0.5)
    assert session_pad_score([real] * 7 + [fake] * 2) == pytest.approx(0.925)
    assert session_pad_score([fake] * 7 + [real] * 2) == pytest.approx(0.06)
    with pytest.raises(ValueError):
        session_pad_score([])


@pytest.mark.slow  # seconds of model runs: the fast tier stays under its minute (tests/tier_budget.py)
def test_pad_reads_no_more_of_a_recording_than_a_session_would(pipeline) -> None:
    """A long source with no face (an hour-long recording, a stream) ends by the session's frame limit."""
    antispoof = AntiSpoof.require(pipeline.manifest)
    blank = np.full((120, 160, 3), 90, np.uint8)
    endless = ((blank, i * 40) for i in range(3000))  # finite, so that a regression fails instead of hanging
    with pytest.raises(BadInput, match="among 300"):
        passive_pad(pipeline.detector, antispoof, endless, SessionTuning(max_frames=300))
    # With a face, reading stops as soon as enough PAD frames are used.
    face = read_image(need(SILENT / "image_T1.jpg"))
    report = passive_pad(pipeline.detector, antispoof, ((face, i * 250) for i in range(50)), max_frames=5)
    assert len(report.frames) == 5 and report.frames_total == 5
