"""Pure rules of issue 30: which frames can testify (usability.py), what a second face is (rivals.py), and
identity by pose (poseanchors.py). Scripted inputs; the real-footage tests are in test_liveness_nuisances.py."""

from __future__ import annotations

import numpy as np

from edge_agent.liveness.poseanchors import BIN_DEG, PoseAnchors
from edge_agent.liveness.rivals import RivalRules, RivalTracker
from edge_agent.liveness.usability import (
    OTHER_BELOW,
    FrameEvidence,
    Testimony,
    UnusableBudget,
    UsabilityRules,
    judge,
)
from edge_agent.liveness.usability import testimony as said  # not test-prefixed: pytest would collect it
from edge_agent.vision.detector import Detection

RULES = UsabilityRules()
GOOD = FrameEvidence(detection=0.9, presence=1.0, sharp_ratio=1.0, jump=0.02, eyes_in_frame=True, rel_yaw=0.0,
                     rel_pitch=0.0)


def ev(**kw: object) -> FrameEvidence:
    return FrameEvidence(**{**GOOD.__dict__, **kw})  # type: ignore[arg-type]


def test_a_clear_face_testifies_and_each_defect_alone_stops_it() -> None:
    assert judge(GOOD, RULES) is None
    assert judge(ev(sharp_ratio=0.2), RULES) == "blurred"
    assert judge(ev(detection=0.55), RULES) == "weak_detection"
    assert judge(ev(presence=0.3), RULES) == "weak_mesh"
    assert judge(ev(jump=0.9, detection=0.7), RULES) == "box_jump"
    assert judge(ev(eyes_in_frame=False), RULES) == "eyes_out_of_frame"
    assert judge(ev(rel_yaw=70.0), RULES) == "extreme_pose"
    assert judge(ev(rel_pitch=-45.0), RULES) == "extreme_pose"


def test_a_sure_face_that_jumped_still_testifies() -> None:
    # An inserted frame of another person, placed where a face would be, must be judged, not skipped.
    assert judge(ev(jump=3.0, detection=0.9), RULES) is None


def test_a_score_matches_is_another_person_or_says_nothing() -> None:
    """Matching and being evidence of another person are two levels: between them a frame says nothing."""
    match = 0.438
    assert said(match, match, RULES) is Testimony.SUBJECT
    assert said(0.9, match, RULES) is Testimony.SUBJECT
    assert said(match - 1e-6, match, RULES) is Testimony.UNSURE  # just under the match: never counts
    assert said(OTHER_BELOW, match, RULES) is Testimony.UNSURE
    assert said(OTHER_BELOW - 1e-6, match, RULES) is Testimony.OTHER
    assert said(-0.2, match, RULES) is Testimony.OTHER
    # Fail closed: an impostor level set above the match threshold is capped at it, so no score under the
    # match threshold can count for the subject, and the grey zone is then empty.
    high = UsabilityRules(other_below=0.9)
    assert said(match - 1e-6, match, high) is Testimony.OTHER
    assert said(match, match, high) is Testimony.SUBJECT


def test_the_unusable_budget_bounds_runs_and_share() -> None:
    b = UnusableBudget(RULES)
    t = 0
    for _ in range(30):
        assert not b.usable()
        t += 33
    for k in range(10):  # a hand passing: 330 ms
        assert not b.unusable_frame(t, "blurred"), k
        t += 33
    assert b.in_run and b.usable()  # the run ended: the next check is forced
    run = UnusableBudget(RULES)
    assert not run.unusable_frame(0, "blurred")
    assert run.unusable_frame(RULES.max_run_ms + 1, "blurred")  # one run longer than allowed
    share = UnusableBudget(RULES)
    over = False
    for i in range(60):  # every other frame unusable: more than max_share
        over = share.unusable_frame(i * 33, "weak_detection") if i % 2 else share.usable() and False
        if over:
            break
    assert over and share.frames >= RULES.min_frames


def det(x0: float, y0: float, x1: float, y1: float, score: float = 0.9) -> Detection:
    return Detection(np.array([x0, y0, x1, y1], np.float32), score, np.zeros((6, 2), np.float32))


SUBJECT = det(200, 150, 400, 380)


def test_hair_above_the_face_and_small_or_weak_faces_are_not_rivals() -> None:
    t = RivalTracker()
    hair = det(230, 20, 380, 160, 0.57)
    strong_hair = det(230, 20, 380, 160, 0.9)
    small = det(560, 20, 620, 90, 0.95)  # a passer-by far behind: under half the subject's width
    weak = det(10, 150, 190, 360, 0.55)
    for f in (hair, strong_hair, small, weak):
        assert not t.is_rival(f, SUBJECT), f.box
    beside = det(420, 140, 560, 330, 0.8)
    assert t.is_rival(beside, SUBJECT)


def test_a_second_person_is_established_after_persist_runs_not_on_a_misfire() -> None:
    rules = RivalRules()
    t = RivalTracker(rules)
    beside = det(430, 140, 600, 330, 0.85)
    assert t.update([SUBJECT]) == (SUBJECT, False)
    flags = []
    for _ in range(rules.persist):
        subject, rival = t.update([SUBJECT, beside])
        assert subject is SUBJECT
        flags.append(rival)
    assert flags == [False] * (rules.persist - 1) + [True]
    once = RivalTracker(rules)
    for k in range(10):  # a misfire every third run never persists
        assert not once.update([SUBJECT, beside] if k % 3 == 0 else [SUBJECT])[1]


def test_the_subject_is_tracked_not_taken_as_the_largest_face() -> None:
    t = RivalTracker()
    t.update([SUBJECT])
    closer = det(420, 60, 700, 400, 0.9)  # someone larger steps in beside: the customer stays the subject
    subject, _ = t.update([closer, SUBJECT])
    assert subject is SUBJECT


def unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = (v / np.linalg.norm(v)).astype(np.float32)
    return out


def test_pose_anchors_follow_a_turn_and_refuse_a_face_that_is_not_near_any() -> None:
    rng = np.random.default_rng(0)
    frontal = unit(rng.normal(size=128))
    drift = unit(rng.normal(size=128))
    a = PoseAnchors(threshold=0.5)
    a.set_frontal(frontal)
    # One person turning: the embedding drifts with the yaw; 60 degrees away it no longer matches the frontal.
    def face(yaw: float) -> np.ndarray:
        w = yaw / 60.0
        return unit(np.cos(w * 1.2) * frontal + np.sin(w * 1.2) * drift)

    from edge_agent.matching.matcher import cosine
    assert cosine(frontal, face(60.0)) < 0.5
    for yaw in np.arange(0.0, 61.0, 5.0):
        s = a.score(face(yaw), yaw, 0.0)
        assert s is not None and s >= 0.5, yaw
        a.admit(face(yaw), yaw, 0.0)
    other = unit(rng.normal(size=128))
    s = a.score(other, 60.0, 0.0)
    assert s is not None and s < 0.5  # another person at profile is still another person
    assert a.score(face(0.0), 0.0, 4 * BIN_DEG) is None  # a pose no anchor is near: not judged


def test_a_face_walked_away_along_the_turn_is_refused_when_it_comes_back_to_frontal() -> None:
    """An attacker who morphs into another person while turning: each new bin matched its neighbour, but the
    frames near the resting pose face the frontal anchor itself, and every step starts from there."""
    from edge_agent.matching.matcher import cosine
    rng = np.random.default_rng(1)
    victim, attacker = unit(rng.normal(size=128)), unit(rng.normal(size=128))
    a = PoseAnchors(threshold=0.5)
    a.set_frontal(victim)
    for k, yaw in enumerate(np.arange(15.0, 76.0, 15.0)):
        w = (k + 1) / 5  # the morph advances with the turn
        emb = unit((1 - w) * victim + w * attacker)
        s = a.score(emb, yaw, 0.0)
        if s is not None and s >= 0.5:
            a.admit(emb, yaw, 0.0)
    back = a.score(attacker, 0.0, 0.0)
    assert back is not None and back < 0.5 and cosine(victim, attacker) < 0.5


def test_the_customer_is_asked_to_try_again_only_for_inconclusive_and_never_told_why() -> None:
    import json
    from pathlib import Path

    from edge_agent.kiosk.events import outcome_key
    assert outcome_key("fail", "LIVENESS_INCONCLUSIVE") == "result.try_again"
    assert outcome_key("fail", "LIVENESS_SPOOF") == "result.not_verified"
    assert outcome_key("fail", "LIVENESS_LIVE") == "result.not_verified"  # a face mismatch: see the clerk
    assert outcome_key("pass", "LIVENESS_LIVE") == "result.verified"
    for lang in ("en", "zh-CN"):
        catalog = json.loads((Path("edge_agent/kiosk/i18n") / f"{lang}.json").read_text())
        assert catalog["result.try_again"] and "person" not in catalog["result.try_again"]
