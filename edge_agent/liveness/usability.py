"""Whether one frame's face can testify: a judgement from what the models already give, nothing new run.

A hand waved past the face, a motion-smeared frame, a face half out of the
picture: the embedder still returns a vector for such a frame, and that
vector is far from the customer's (a real hand-over-glasses frame scored
cosine 0.29 against its own session). Such a frame is no evidence of another
person; it is no evidence at all. So each frame is judged first, and a frame
that cannot testify is skipped (it counts for no step, no PAD, no parallax,
no template) and counted, as blurred frames always were.

The judgement uses, per frame:

* the detector's score (``min_detection``): an occluded face loses it first;
* the face mesh's presence score (``min_presence``);
* the chip's sharpness against the session's own median (``min_sharp_ratio``):
  a level relative to the session, so a dim webcam is not "blurred";
* how far the face box jumped since the last frame, in box widths
  (``max_jump``): a head moves a fraction of its width per frame; a box that
  leaps is a misfire (on a hand) unless the detector and mesh are sure of it
  (``sure_detection``), which is what an inserted frame of another person,
  placed where a face would be, looks like: it must stay usable, and be
  judged;
* eye visibility: both eyes' outer corners inside the frame;
* head pose: |yaw| and |pitch| from the resting pose within ``max_yaw`` and
  ``max_pitch``: beyond them the mesh, the pose solve and the embedder are
  all outside what they were made for.

And, once a frame is usable and embedded, its identity score (``testimony``):
a score at or above the match threshold testifies for the subject; a score
below ``other_below`` is evidence of another person (SPOOF at once); a score
in between testifies neither way. Matching and being evidence of another
person are two questions: a card or a hand over half the face, glasses pushed
up, leave a frame of the customer that no longer reaches the match threshold
(the lowest measured: 0.33 against 0.438) yet is far from any other person's (0.18-0.20 for a
whole other face inserted into a real session)
(docs/liveness.md, "Identity levels"). Such a frame is unusable
(``identity_unsure``): it counts for nothing, is bounded by the same budget,
and no later frame leans on it.

Why the attacker gains nothing by making a frame of another person unusable:
an unusable frame counts for nothing, so a step can only complete on usable
frames, each checked at match strictness; unusable frames are bounded per
session (``UnusableBudget``); and after a run of unusable frames the next
usable frame is embedded and checked whatever the continuity gate says, so
the identity is re-established on both sides of every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

# SFace cosine to the session's anchors below which a usable frame is evidence of another person. Measured
# (docs/liveness.md, "Two identity levels"): the lowest genuine usable frame measured, a card over half of v11's
# face, scored 0.33 (glasses pushed up: 0.429); another person's whole face in a real session (deepface img20 in
# v07, the morph test's end) 0.18-0.20. The level sits between them.
OTHER_BELOW = 0.27

__all__ = ["OTHER_BELOW", "FrameEvidence", "Testimony", "UnusableBudget", "UsabilityRules", "eyes_in_frame", "judge",
           "testimony"]


@dataclass(frozen=True)
class UsabilityRules:
    """The levels of the judgement; see the module docstring for why each is what it is."""

    min_detection: float = 0.6
    sure_detection: float = 0.8
    min_presence: float = 0.5
    min_sharp_ratio: float = 0.3
    max_jump: float = 0.5
    max_yaw: float = 60.0
    max_pitch: float = 40.0
    # The budget (UnusableBudget): a hand passing the face takes 150-400 ms; a customer who keeps a hand over the
    # face is asked to try again (INCONCLUSIVE), not judged. The share bounds what an attacker can hide: most of a
    # session must be usable.
    # Identity (testimony): below this cosine a usable frame is another person; between it and the match threshold
    # it cannot testify. Calibrated for SFace, the default embedder; never above the match threshold.
    other_below: float = OTHER_BELOW
    max_run_ms: int = 1500
    max_share: float = 0.35
    min_frames: int = 20


@dataclass(frozen=True)
class FrameEvidence:
    """What the models said about one frame's face; no pixels, no embedding."""

    detection: float
    presence: float
    sharp_ratio: float  # chip sharpness / the session's median (1.0 while the median forms)
    jump: float  # box-centre displacement since the previous frame's box, in box widths (0 on the first)
    eyes_in_frame: bool
    rel_yaw: float
    rel_pitch: float


def judge(e: FrameEvidence, rules: UsabilityRules) -> str | None:
    """None when the frame can testify; else the first reason it cannot (for counting, never shown)."""
    if e.sharp_ratio < rules.min_sharp_ratio:
        return "blurred"
    if e.detection < rules.min_detection:
        return "weak_detection"
    if e.presence < rules.min_presence:
        return "weak_mesh"
    if e.jump > rules.max_jump and e.detection < rules.sure_detection:
        return "box_jump"
    if not e.eyes_in_frame:
        return "eyes_out_of_frame"
    if abs(e.rel_yaw) > rules.max_yaw or abs(e.rel_pitch) > rules.max_pitch:
        return "extreme_pose"
    return None


class Testimony(StrEnum):
    """What a usable frame's identity score says."""

    __test__ = False  # not a test class, whatever its name tells pytest

    SUBJECT = "subject"  # at or above the match threshold: it may count
    UNSURE = "unsure"  # between the two levels: no evidence either way, the frame is unusable
    OTHER = "other"  # below ``other_below``: another person, SPOOF


def testimony(score: float, match: float, rules: UsabilityRules) -> Testimony:
    """Which side of the two levels ``score`` lies; ``other_below`` is capped at ``match``, so that no score
    below the match threshold can ever count for the subject (fail closed)."""
    if score >= match:
        return Testimony.SUBJECT
    return Testimony.OTHER if score < min(rules.other_below, match) else Testimony.UNSURE


def eyes_in_frame(mesh: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Both eyes' outer corners (mesh points 33 and 263) inside the image."""
    h, w = shape[:2]
    pts = mesh[[33, 263], :2]
    return bool(np.all((pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)))


@dataclass
class UnusableBudget:
    """How many unusable frames a session may have: a run of at most ``max_run_ms`` and a share of at most
    ``max_share`` of its frames with a face (counted once ``min_frames`` were seen)."""

    rules: UsabilityRules = field(default_factory=UsabilityRules)
    frames: int = 0
    unusable: int = 0
    _run_start: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    def usable(self) -> bool:
        """A usable frame: ends any run. True when a run just ended (the next check must be forced)."""
        self.frames += 1
        ended = self._run_start is not None
        self._run_start = None
        return ended

    def unusable_frame(self, t_ms: int, reason: str) -> bool:
        """An unusable frame at ``t_ms``; True when the budget is now exceeded."""
        self.frames += 1
        self.unusable += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if self._run_start is None:
            self._run_start = t_ms
        r = self.rules
        too_long = t_ms - self._run_start > r.max_run_ms
        too_many = self.frames >= r.min_frames and self.unusable > r.max_share * self.frames
        return too_long or too_many

    @property
    def in_run(self) -> bool:
        """Whether the last frame was unusable."""
        return self._run_start is not None
