"""Identity across a head turn: each frame is compared with the same face at (nearly) the same pose.

A frontal anchor alone calls a real customer at 60 degrees of yaw "another
person": an embedder's cosine between one person's frontal and near-profile
faces falls below the match threshold (4 of 6 real phone sessions ended SPOOF
that way). So anchors are gathered as the head moves:

* poses are binned by yaw and pitch relative to the resting pose, ``BIN_DEG``
  (15) degrees per bin; the session's frontal anchor (the mean of its first
  frames) is bin (0, 0);
* a frame is compared with the anchors of its own bin and the 8 bins around
  it, at the match threshold, and its score is the best of them. A bin with
  no anchor near it (a jump over a whole bin between two frames) gives no
  score: the frame is not judged for identity (the session treats it as an
  unusable frame, counted and bounded);
* a frame that matched a neighbouring bin's anchor at match strictness, and
  was usable, is admitted to its own bin (up to ``PER_BIN`` (3) frames; the
  bin's anchor is their mean unit embedding). Admission is frozen after
  that: a bin's anchor never moves again.

Why an attacker cannot walk the identity away along the chain: every new
anchor had to match its neighbour, which had to match its own, back to the
frontal anchor, each at the match threshold (FMR 1e-4 per comparison); and
every frame near the resting pose (bin (0, 0) and its neighbours) still
faces the frontal anchor itself, so a face that drifted away at profile is
caught as soon as the head comes back, which every step requires (a step
starts from a steady frontal face). The match template is drawn from
frontal frames only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_agent.matching.matcher import cosine

__all__ = ["BIN_DEG", "PER_BIN", "PoseAnchors"]

BIN_DEG = 15.0  # bin width: a third of a deep turn; neighbouring bins are 15-30 degrees apart
PER_BIN = 3  # frames averaged into a bin's anchor


def _unit_mean(embs: list[np.ndarray]) -> np.ndarray:
    units = [e / np.linalg.norm(e) for e in embs]
    mean = np.mean(units, axis=0)
    out: np.ndarray = (mean / np.linalg.norm(mean)).astype(np.float32)
    return out


@dataclass
class PoseAnchors:
    """One session's anchors by pose bin; the frontal one is set by the session once its first frames agree."""

    threshold: float
    bins: dict[tuple[int, int], list[np.ndarray]] = field(default_factory=dict)
    _anchor: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    @staticmethod
    def key(rel_yaw: float, rel_pitch: float) -> tuple[int, int]:
        """The pose bin of a frame's yaw and pitch (degrees from the resting pose)."""
        return round(rel_yaw / BIN_DEG), round(rel_pitch / BIN_DEG)

    def set_frontal(self, anchor: np.ndarray) -> None:
        """Bin (0, 0): the session's frontal anchor, frozen."""
        self._anchor[(0, 0)] = anchor
        self.bins[(0, 0)] = [anchor] * PER_BIN

    @property
    def ready(self) -> bool:
        """Whether the frontal anchor is set (before it, the session checks its first frames among themselves)."""
        return (0, 0) in self._anchor

    def score(self, emb: np.ndarray, rel_yaw: float, rel_pitch: float) -> float | None:
        """Best cosine to the anchors of this frame's bin and its neighbours; None when none is near its pose."""
        ky, kp = self.key(rel_yaw, rel_pitch)
        near = [a for (y, p), a in self._anchor.items() if abs(y - ky) <= 1 and abs(p - kp) <= 1]
        if not near:
            return None
        return max(cosine(a, emb) for a in near)

    def admit(self, emb: np.ndarray, rel_yaw: float, rel_pitch: float) -> None:
        """Add a usable frame that matched (``score`` >= threshold) to its own bin, until the bin is full."""
        k = self.key(rel_yaw, rel_pitch)
        held = self.bins.setdefault(k, [])
        if len(held) >= PER_BIN:
            return
        held.append(emb)
        self._anchor[k] = _unit_mean(held)
