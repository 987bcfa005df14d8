"""3-D consistency: does the face move like a solid head or like a flat picture?

All points of a flat photo or screen move together by one homography,
however the picture is tilted. On a real head the nose tip stands well in
front of the eyes and mouth, so when the head turns it slides across them.
We fit the homography that carries the near-planar ring of the face (eye
corners, mouth corners, brow centre, chin) from the most frontal frame to a
turned frame, and measure how far the nose tip lands from where that
homography puts it, in units of the eye-corner distance. A picture leaves
the nose where the plane goes (landmark noise only); a head does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["ParallaxEvidence", "nose_parallax"]

RING = (33, 133, 362, 263, 61, 291, 9, 152, 50, 280)
NOSE_TIP = 1
_OUTER_EYES = (33, 263)


def nose_parallax(frontal: np.ndarray, turned: np.ndarray) -> float:
    """Nose-tip distance from the ring's homography prediction, over the frontal eye distance."""
    ring = list(RING)
    h, _ = cv2.findHomography(frontal[ring, :2].astype(np.float64), turned[ring, :2].astype(np.float64), 0)
    if h is None:
        return float("inf")
    pred = cv2.perspectiveTransform(frontal[[NOSE_TIP], :2].reshape(1, 1, 2).astype(np.float64), h)[0, 0]
    scale = float(np.linalg.norm(frontal[_OUTER_EYES[0], :2] - frontal[_OUTER_EYES[1], :2]))
    return float(np.linalg.norm(pred - turned[NOSE_TIP, :2]) / max(scale, 1e-6))


@dataclass
class ParallaxEvidence:
    """Landmarks of the session's frames by yaw; ``score`` needs one frontal and one turned frame."""

    min_turn_deg: float = 15.0
    _frames: list[tuple[float, np.ndarray]] = field(default_factory=list)

    def add(self, yaw: float, mesh_points: np.ndarray) -> None:
        """Keep a frame's 2-D landmarks under its yaw, for ``score`` to pick the frontal and turned frames."""
        self._frames.append((yaw, np.asarray(mesh_points[:, :2], np.float64)))

    def score(self) -> float | None:
        """The larger parallax of the most turned frame on each side (None: no turn seen)."""
        if not self._frames:
            return None
        frontal = min(self._frames, key=lambda f: abs(f[0]))
        sides = []
        for sign in (1.0, -1.0):
            turned = [f for f in self._frames if sign * (f[0] - frontal[0]) >= self.min_turn_deg]
            if turned:
                most = max(turned, key=lambda f: sign * f[0])
                sides.append(nose_parallax(frontal[1], most[1]))
        return max(sides) if sides else None
