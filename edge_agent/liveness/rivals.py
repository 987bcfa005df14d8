"""Who the subject is among a frame's detections, and when another detection is a second person.

Pure logic on the detector's output (boxes and scores), so it works the same
whether the detector runs on every frame or only now and then (the session
then calls ``update`` on the frames it ran on: the guarantee below is in
detector runs, not in frames).

The subject is tracked: on each run it is the detection nearest the
subject's last box (the largest one on the first run, the customer nearest
the camera). Another detection is a **rival** only when all of these hold:

* its score is at least ``min_score`` (0.6). BlazeFace's own floor is 0.5,
  where it also fires on hair above a face looking down (0.52-0.57 on a real
  phone session); a second real face in view scores well above it;
* it is at least ``min_size`` (0.5) of the subject's width: the liveness
  loop's long-standing ``competitor_ratio``, so people far behind the
  customer and the ghost portrait on an ID card are not rivals;
* its centre lies outside the subject's box widened by ``margin`` (0.25 of
  the box's width) on each side and below, and by ``above`` (0.75 of its
  height) above: the hair, the forehead or a hand over the face are not a
  second person (a detection there overlaps the subject's own head);
* it persists: a rival in at least ``persist`` (3) of the last ``window``
  (5) detector runs. A misfire lasts a frame or two; a second person who
  steps in stays for seconds, so at 30 frames/s (every run) the rule fires
  within 100 ms of their arrival, and within 5 runs even if their detection
  flickers every other run.

When the subject's box is lost (no detection near it), the largest face is
the subject again; whether it is the same person is identity continuity's
question, not this module's.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edge_agent.vision.detector import Detection

__all__ = ["RivalRules", "RivalTracker"]


@dataclass(frozen=True)
class RivalRules:
    """The four conditions above; each is a stated number, not a fit to a clip."""

    min_score: float = 0.6
    min_size: float = 0.5
    margin: float = 0.25
    above: float = 0.75
    persist: int = 3
    window: int = 5


def _centre(box: np.ndarray) -> np.ndarray:
    out: np.ndarray = (box[:2] + box[2:]) / 2
    return out


@dataclass
class RivalTracker:
    """One session's subject box and the recent history of rivals."""

    rules: RivalRules = field(default_factory=RivalRules)
    subject: np.ndarray | None = None  # the subject's last box (x0, y0, x1, y1)
    _seen: deque[bool] = field(default_factory=deque)

    def is_rival(self, det: Detection, subject: Detection) -> bool:
        """Whether ``det`` could be a second person beside ``subject`` in this one frame."""
        r = self.rules
        if det.score < r.min_score or det.width < r.min_size * subject.width:
            return False
        x0, y0, x1, y1 = subject.box
        w, h = x1 - x0, y1 - y0
        cx, cy = _centre(det.box)
        inside = (x0 - r.margin * w <= cx <= x1 + r.margin * w) and (y0 - r.above * h <= cy <= y1 + r.margin * h)
        return not inside

    def pick(self, faces: list[Detection]) -> Detection | None:
        """The subject among ``faces``: nearest the last subject box, else the largest."""
        if not faces:
            return None
        largest = max(faces, key=lambda f: f.width)
        if self.subject is None:
            return largest
        last = _centre(self.subject)
        width = float(self.subject[2] - self.subject[0])
        near = min(faces, key=lambda f: float(np.linalg.norm(_centre(f.box) - last)))
        if float(np.linalg.norm(_centre(near.box) - last)) <= width:
            return near
        return largest  # the subject moved far (or left): start again from the largest

    @property
    def suspect(self) -> bool:
        """Whether a possible second person was seen in the recent runs: the detector should then run on every
        frame until the window clears, so that persistence is judged over frames, not detection periods."""
        return any(self._seen)

    def update(self, faces: list[Detection]) -> tuple[Detection | None, bool]:
        """One detector run: (the subject's detection or None, whether a second person is now established)."""
        subject = self.pick(faces)
        rival = subject is not None and any(f is not subject and self.is_rival(f, subject) for f in faces)
        if subject is not None:
            self.subject = np.asarray(subject.box, np.float64)
        self._seen.append(rival)
        while len(self._seen) > self.rules.window:
            self._seen.popleft()
        return subject, sum(self._seen) >= self.rules.persist
