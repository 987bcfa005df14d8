"""A real customer is never called an impostor: everyday nuisances on real footage (issue 30).

Real clip v11 (LivePortrait driving video d12, labels.json) performs [turn_left,
turn_right, blink]: a session asking that order passes. Here the same footage
carries a nuisance (``edge_agent/simulation/nuisances.py``): a hand or a card
swept across the face with motion blur, glasses pushed up, a glance aside
during the blink step, a small face at the edge of the frame. None of them may
end SPOOF; each has its stated outcome. And the other side: an attacker cannot
hide a swap behind unusable frames (they complete no step, are bounded, and the
identity is checked again on the first usable frame after them).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.common import data_root
from edge_agent.camera.files import iter_frames
from edge_agent.liveness.challenge import Action
from edge_agent.liveness.rivals import RivalTracker
from edge_agent.liveness.session import LivenessResult, LivenessSession
from edge_agent.liveness.verdict import Verdict
from edge_agent.simulation.nuisances import edge_face, face_box, glance_aside, pass_occluder, push_up_glasses
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.image import read_image
from tests.test_identity_continuity import NEITHER, PATIENT, VICTIM, onto
from tests.test_pad import need

pytestmark = pytest.mark.slow

L, R, B = Action.TURN_LEFT, Action.TURN_RIGHT, Action.BLINK
REAL = data_root() / "video" / "real"
# v11 at 25 frames/s under [L, R, B] (measured with this code): the left turn is prompted at frame 1 and
# completes at 34 (yaw >= 18 on frames 33-34), the right turn is prompted at 50 and completes at 82, the blink
# step is prompted at 94 and completes at 141.
BEFORE_TURNS, BETWEEN_TURNS, BLINK_STEP = 20, 66, 112
LEFT_TURN = range(24, 46)  # the frames of v11's left turn, there and back


@pytest.fixture(scope="module")
def v11() -> list[tuple[np.ndarray, int]]:
    clip = next(iter(sorted(need(REAL).glob("v11_*.mp4"))))
    return list(iter_frames(clip, 25.0))


def session(pipeline, frames: list[tuple[np.ndarray, int]]) -> tuple[LivenessResult, list[str]]:
    s = LivenessSession(pipeline, pipeline.eye_landmarker(), [L, R, B],
                        antispoof=AntiSpoof.from_manifest(pipeline.manifest))
    done = [e.action or "" for _t, e in s.run(iter(frames)) if e.kind == "progress"]
    return s.result(), done


def box_at(pipeline, rgb: np.ndarray) -> tuple[float, float, float, float]:
    det = pipeline.detector.detect(rgb)[0]
    return face_box(pipeline.landmarker.landmarks(rgb, det).points)


@pytest.mark.parametrize(("kind", "seed"), [("hand", 0), ("hand", 1), ("object", 2)])
def test_a_hand_or_card_swept_across_the_face_is_no_other_person(pipeline, v11, kind: str, seed: int) -> None:
    """Three motion-blurred sweeps, 6 frames (240 ms) each: before the turns, between them, during the blink
    step. Expected LIVE: the sweeps' frames are unusable, still the customer, or (a card over half the face,
    seed 2) below the match threshold but far above any other person (usability.testimony): never another
    person."""
    frames = list(v11)
    rng = np.random.default_rng(seed)
    for at in (BEFORE_TURNS, BETWEEN_TURNS, BLINK_STEP):
        frames = pass_occluder(frames, box_at(pipeline, frames[at][0]), start=at, length=6, kind=kind, rng=rng)
    r, done = session(pipeline, frames)
    assert r.verdict is Verdict.LIVE, r.reasons
    assert done == ["turn_left", "turn_right", "blink"]


def test_glasses_pushed_up_are_no_other_person(pipeline, v11) -> None:
    """Glasses on from the start, pushed up onto the forehead between the turns. Expected LIVE: the frames
    after the push score just under the match threshold against the bespectacled anchor (0.429 against 0.438),
    no evidence either way, so they are skipped until the customer's frames match again."""
    meshes = []
    for rgb, _t in v11:
        det = pipeline.detector.detect(rgb)[0]
        meshes.append(pipeline.landmarker.landmarks(rgb, det).points)
    r, _ = session(pipeline, push_up_glasses(v11, meshes, start=BETWEEN_TURNS, length=5))
    assert r.verdict is not Verdict.SPOOF, r.reasons
    assert r.verdict is Verdict.LIVE, r.reasons


# v11's left turn reads 20-24 degrees from rest on frames 41-43 (yaw 18.3-20.4 against a rest of -3.6 to -3.9),
# clear of turn_deg (18); frames 33-34, the ones that complete the turn, read barely over it (16.0-16.1), so a
# glance made of them is read turned or not by a fraction of a degree, depending on the tracked mesh.
GLANCE_FRAMES = (42, 43)


@pytest.mark.parametrize(("glance", "expected"), [(1, Verdict.LIVE), (2, Verdict.INCONCLUSIVE)])
def test_a_glance_aside_during_the_blink_step(pipeline, v11, glance: int, expected: Verdict) -> None:
    """The clip's own turned frames spliced into the blink step: one frame is a misread and ignored; two are
    a turn held when asked to blink (``hold_frames``, the count that completes a step too), which ends the
    session INCONCLUSIVE (try again), never SPOOF. Kept as today, as the issue asks: a replay performing its
    own order turns when asked to blink, and v11's own left turn reads past turn_deg on 8 of the 11 frames 33-43
    at 25 frames/s: at a Pi's 8 frames/s such a turn may show on only 2-3 frames."""
    turned = [v11[i][0] for i in GLANCE_FRAMES[-glance:]]
    r, done = session(pipeline, glance_aside(v11, turned, at=BLINK_STEP))
    assert r.verdict is expected, r.reasons
    if expected is Verdict.INCONCLUSIVE:
        assert r.reasons == ["challenge_wrong_action"] and done == ["turn_left", "turn_right"]


def crop_face(pipeline, rgb: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = (int(v) for v in pipeline.detector.detect(rgb)[0].box)
    w, h = x1 - x0, y1 - y0
    return rgb[max(0, y0 - h // 4): y1 + h // 6, max(0, x0 - w // 6): x1 + w // 6]


def test_a_small_face_at_the_edge_is_no_second_person(pipeline, v11, faces_dir: Path) -> None:
    """Another real person's face, a third of the customer's width, at the frame's edge all along. Expected
    LIVE: under half the subject's width, it is no rival (rivals.py)."""
    other = crop_face(pipeline, read_image(faces_dir / "img20.jpg"))
    width = int(0.3 * pipeline.detector.detect(v11[0][0])[0].width)
    r, _ = session(pipeline, edge_face(v11, other, width=width))
    assert r.verdict is Verdict.LIVE, r.reasons


def test_a_second_person_stepping_in_is_found_within_persist_frames(pipeline, faces_dir: Path) -> None:
    """The other side of the rival rule: a face about as large as the customer's, beside it, from frame 60 on
    (the clip widened with a grey margin on its right, where the second person stands)."""
    victim = [(cv2.copyMakeBorder(rgb, 0, 0, 0, 400, cv2.BORDER_CONSTANT, value=(128, 128, 128)), t)
              for rgb, t in iter_frames(need(REAL / VICTIM))]
    other = crop_face(pipeline, read_image(faces_dir / "img20.jpg"))
    width = int(pipeline.detector.detect(victim[0][0])[0].width)
    frames = edge_face(victim, other, width=width, start=60)
    s = LivenessSession(pipeline, pipeline.eye_landmarker(), [L], PATIENT)
    r = s.run_to_end(frames)
    assert r.reasons == ["challenge_multiple_faces"] and r.verdict is Verdict.INCONCLUSIVE, r.reasons
    assert r.frames <= 60 + PATIENT.rivals.persist


def test_the_real_phone_look_downs_make_no_second_face(pipeline, phone_samples_dir: Path) -> None:
    """The phone sessions look down (hair above the face fired BlazeFace at 0.52-0.57): the rival rule,
    fed every frame's detections, never establishes a second person."""
    for clip in sorted(phone_samples_dir.glob("live_*")):
        tracker = RivalTracker()
        for i, (rgb, _t) in enumerate(iter_frames(clip)):
            _subject, rival = tracker.update(pipeline.detector.detect(rgb))
            assert not rival, (clip.name, i)


def test_a_step_never_completes_on_unusable_frames(pipeline, v11) -> None:
    """Whatever is in them (another person, blurred or covered, say), frames that cannot testify count for no
    step: v11's left turn, smeared beyond use, does not complete the left turn, so no PASS."""
    frames = [(cv2.GaussianBlur(rgb, (0, 0), 3) if i in LEFT_TURN else rgb, t) for i, (rgb, t) in enumerate(v11)]
    r, done = session(pipeline, frames)
    assert r.verdict is not Verdict.LIVE, r.reasons
    assert "turn_left" not in done
    assert r.skipped_blurred >= len(LEFT_TURN) // 2


def test_unusable_frames_are_bounded(pipeline) -> None:
    """Every other frame smeared from frame 20 on: more than a third of the session cannot testify, and the
    customer is asked to try again (INCONCLUSIVE ``frames_unusable``)."""
    victim = list(iter_frames(need(REAL / VICTIM)))
    frames = [(cv2.GaussianBlur(rgb, (0, 0), 3) if i >= 20 and i % 2 else rgb, t) for i, (rgb, t) in enumerate(victim)]
    r = LivenessSession(pipeline, pipeline.eye_landmarker(), [L], PATIENT).run_to_end(frames)
    assert (r.verdict, r.reasons) == (Verdict.INCONCLUSIVE, ["challenge_frames_unusable"]), r.reasons


def test_identity_is_checked_again_on_the_first_usable_frame_after_an_unusable_run(pipeline, faces_dir) -> None:
    """Blurred frames of another person (unusable: no verdict from them), then one sharp frame of that person
    warped onto the victim's face. With both continuity-gate triggers off, only the rule that the first usable
    frame after an unusable run is embedded catches it; without the run, the same frame goes unseen."""
    victim = list(iter_frames(need(REAL / VICTIM)))
    other = read_image(faces_dir / "img20.jpg")
    at = 61
    frames = list(victim)
    swapped = onto(pipeline, other, frames[at][0])
    plain = dataclasses.replace(NEITHER)
    unseen = list(frames)
    unseen[at] = (swapped, frames[at][1])
    r0 = LivenessSession(pipeline, pipeline.eye_landmarker(), [L], plain).run_to_end(unseen)
    assert r0.reasons == ["challenge_incomplete"], r0.reasons  # the test can fail: no trigger sees it
    for i in range(at - 3, at):
        frames[i] = (cv2.GaussianBlur(onto(pipeline, other, frames[i][0]), (0, 0), 3), frames[i][1])
    frames[at] = (swapped, frames[at][1])
    r = LivenessSession(pipeline, pipeline.eye_landmarker(), [L], plain).run_to_end(frames)
    assert (r.verdict, r.reasons) == (Verdict.SPOOF, ["challenge_identity_changed"]), r.reasons
    # Caught at the latest on the first usable frame; the blurred frames, whole faces surely detected, are now
    # themselves checked (session.py: a swap must not hide behind blur), so the catch may come earlier.
    assert r.frames <= at + 1
