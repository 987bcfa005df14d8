"""When a liveness frame must be embedded: a cheap distance on the aligned chip decides, with a stated bound.

Embedding every frame (SFace, ~46 ms of a ~80 ms frame on one x86 core) is
what kept identity continuity strict; it is also what put the loop over the
Pi's budget. This gate keeps the guarantee and drops most embeddings:

* every frame's aligned chip is reduced to a ``SIZE`` x ``SIZE`` grey
  thumbnail, zero-mean and unit-norm (``thumbnail``), so the distance
  ``1 - correlation`` (``distance``, 0 for the same picture, 1 for unrelated
  ones, 2 for a negative) ignores brightness and contrast but not shape;
* a frame is embedded (and checked against the session's anchor at match
  strictness) when its thumbnail lies more than ``max_distance`` from that of
  EVERY ONE of the last ``keep`` embedded frames, or when ``every`` frames have
  passed since the last embedding (a slow morph stays within the distance of
  each previous frame, not of an embedded one ``every`` frames back, and each
  check is against the anchor, never the last frame); the session adds the
  frames it uses (``session.py``). A face that talks or blinks goes back and
  forth between a few looks: a frame that returns to a look already checked
  leans on that check instead of paying for another (at a Pi's 8 frames/s
  this took the embedded share from 51 % to 46 % on the real clips, docs/liveness.md, Cost).

Invariant: every frame that counts either was compared with the anchor at
match strictness, or lies within ``max_distance`` of a frame that was.
``max_distance`` = 0.05 was chosen on real data (docs/liveness.md, "Identity
continuity"): the closest chip of ANOTHER person to any frame of the 8 real
clips (other clips, deepface and 150 lfw-dev photos) is at 0.178, 1 % of
frames have one nearer than 0.245; the bound sits at under a third of the
nearest impostor. The same person moves further than that between frames
(talking, blinks, turns: up to 0.51 between neighbours), which only costs
an embedding, never a miss.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["SIZE", "ContinuityGate", "distance", "thumbnail"]

SIZE = 32  # thumbnail side: ~1000 values, a face's shape without the pixel noise (0.05 ms per frame)


def thumbnail(chip: np.ndarray) -> np.ndarray:
    """The aligned chip (RGB or grey) as a zero-mean, unit-norm ``SIZE`` x ``SIZE`` grey vector.

    A flat chip (no contrast at all) gives the zero vector, whose distance to anything is 1: it is embedded.
    """
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY) if chip.ndim == 3 else chip
    small = cv2.resize(grey, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    small -= small.mean()
    norm = float(np.linalg.norm(small))
    out: np.ndarray = small / norm if norm > 1e-6 else np.zeros_like(small)
    return out


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """``1 - normalised correlation`` of two thumbnails: 0 identical, 1 unrelated, 2 inverted."""
    return 1.0 - float(np.dot(a, b))


@dataclass
class ContinuityGate:
    """The state of one session's gate: the last ``keep`` embedded frames' thumbnails and the frames since the last."""

    max_distance: float = 0.05
    every: int = 6
    keep: int = 8  # checked looks a frame may lean on (the newest; older ones are dropped)
    _checked: deque[np.ndarray] = field(default_factory=deque)
    _since: int = 0

    def needs_embedding(self, thumb: np.ndarray) -> bool:
        """True when this frame may not lean on a checked one: too far from each, or too long since the last check."""
        return (not self._checked or self._since + 1 >= self.every
                or min(distance(c, thumb) for c in self._checked) > self.max_distance)

    def embedded(self, thumb: np.ndarray) -> None:
        """This frame was embedded and checked: later frames may lean on it."""
        self._checked.append(thumb)
        while len(self._checked) > self.keep:
            self._checked.popleft()
        self._since = 0

    def reset(self) -> None:
        """No checked frame may be leaned on (the last one's identity was not judged): the next frame is embedded."""
        self._checked.clear()
        self._since = 0

    def skipped(self) -> None:
        """This frame leans on a checked one."""
        self._since += 1
