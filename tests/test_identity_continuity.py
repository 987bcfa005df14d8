"""Identity continuity on real footage: one frame of another person anywhere in a session is refused.

Real clips from ../shared/data/video/real (a real person on a real camera),
with 1-5 frames of another person's real face inserted, as a swap attack
would inject them. The clips do not perform our challenge, so a genuine
clip ends ``challenge_incomplete``; what is tested is that the identity
witness never fires on the genuine clip and always fires on the swapped one.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.common import data_root
from edge_agent.camera.files import iter_frames
from edge_agent.liveness.challenge import Action, ChallengeConfig
from edge_agent.liveness.session import LivenessResult, LivenessSession, SessionTuning
from edge_agent.liveness.verdict import Verdict
from edge_agent.vision.image import read_image

pytestmark = pytest.mark.slow

REAL = data_root() / "video" / "real"
VICTIM = "v07_talking_blinks__SadTalker_WDA_AlexandriaOcasioCortez_000.mp4"  # no head turns: runs to the end
# One step that never completes nor fails (a 90 degree turn) and no time-outs: the session reads the whole
# clip, so every inserted frame is reached and the identity witness is the only one that can end it.
PATIENT = SessionTuning(challenge=ChallengeConfig(step_timeout_ms=10**6, frontal_timeout_ms=10**6, turn_deg=90.0))


@pytest.fixture(scope="module")
def victim() -> list[tuple[np.ndarray, int]]:
    path = REAL / VICTIM
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} missing in CI")
        pytest.skip(f"{path} not found")
    return list(iter_frames(path))


@pytest.fixture(scope="module")
def intruders(faces_dir: Path) -> list[np.ndarray]:
    """Other people's real faces: a frame of another real clip and a deepface photo."""
    other = next(iter_frames(REAL / "v13_frontal_mouth_moves_2blinks__LivePortrait_d18.mp4"))[0]
    return [other, read_image(faces_dir / "img20.jpg")]


def fit(rgb: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Another face scaled into the victim's frame size, the face about where the victim's is."""
    h, w = shape[:2]
    s = min(w / rgb.shape[1], h / rgb.shape[0])
    small = cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)))
    out = np.full((h, w, 3), 128, np.uint8)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


def run(pipeline, frames: list[tuple[np.ndarray, int]]) -> LivenessResult:
    session = LivenessSession(pipeline, pipeline.eye_landmarker(), [Action.TURN_LEFT], PATIENT)
    return session.run_to_end(frames)


def test_genuine_clip_never_trips_identity(pipeline, victim) -> None:
    r = run(pipeline, victim)
    assert r.reasons == ["challenge_incomplete"], r.reasons
    assert r.identity_min is not None and r.identity_min >= pipeline.threshold
    assert r.frames == len(victim)


@pytest.mark.parametrize(("at", "count", "who"), [(0, 1, 0), (60, 1, 1), (110, 3, 0), (150, 5, 1), (199, 1, 0)])
def test_inserted_frames_of_another_person_are_refused(pipeline, victim, intruders, at: int, count: int,
                                                       who: int) -> None:
    frames = list(victim)
    for i in range(at, min(at + count, len(frames))):
        frames[i] = (fit(intruders[who], frames[i][0].shape), frames[i][1])
    r = run(pipeline, frames)
    assert r.verdict == Verdict.SPOOF and r.reasons == ["challenge_identity_changed"], r.reasons
    assert r.frames <= at + 2  # caught at the first inserted frame (or the next, when the first frame was swapped)
