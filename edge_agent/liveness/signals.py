"""Per-frame liveness signals from the 468-point face mesh: eye openness, head pose, framing.

Pure geometry on landmark arrays. Head pose is solved, not fitted: six mesh
points (nose tip, chin, outer eye corners, mouth corners) are matched to the
same points of a generic 3-D head in millimetres with ``cv2.solvePnP``, under
a pinhole camera whose focal length is the frame width (about a 53 degree
field of view, typical of webcams and the Pi camera; a store terminal has no
calibration). The mesh's own depth output is not used for pose: it is
compressed, and a gain fitted on rendered heads overestimated real turns
(up to ~100 degrees for turns of ~50).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["FrameSignals", "head_pose"]

# (outer, upper-1, upper-2, inner, lower-2, lower-1) per eye
RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (263, 387, 385, 362, 380, 373)
FOREHEAD, CHIN = 10, 152
# Generic head, mm, camera-like axes (x to image-right, y down, z away from the camera), nose tip at the
# origin: the widely used six-point model (nose, chin, outer eye corners, mouth corners), scaled to an
# adult's ~87 mm outer-eye-corner distance.
POSE_POINTS = (1, 152, 33, 263, 61, 291)
HEAD_MODEL_MM = np.array([
    [0.0, 0.0, 0.0],  # nose tip
    [0.0, 63.6, 12.5],  # chin
    [-43.3, -32.7, 26.0],  # outer corner of the image-left eye (subject's right)
    [43.3, -32.7, 26.0],  # outer corner of the image-right eye
    [-28.9, 28.9, 24.1],  # image-left mouth corner
    [28.9, 28.9, 24.1],  # image-right mouth corner
])


@dataclass(frozen=True)
class FrameSignals:
    """What the challenge state machine sees of one frame. No pixels, no embedding."""

    t_ms: int
    faces: int
    # Mean openness of both eyes (eyelid gap over eye width, from the eyelid model); None on frames where the
    # session did not run that model (it runs it only where openness is used, session.py).
    eye_open: float | None = None
    yaw: float = 0.0  # degrees, positive = the subject's left
    pitch: float = 0.0  # degrees, positive = chin up
    roll: float = 0.0  # degrees
    face_width: float = 0.0  # fraction of the frame width
    centre: tuple[float, float] = (0.5, 0.5)  # face centre, fraction of frame
    identity: float | None = None  # cosine to the session's first embedding, when computed this frame


def head_pose(points: np.ndarray, frame_shape: tuple[int, ...]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees: the generic head solved against six mesh points (x, y in pixels)."""
    h, w = frame_shape[:2]
    camera = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], np.float64)
    image = np.ascontiguousarray(points[list(POSE_POINTS), :2], np.float64)
    # Start from a head facing the camera at the distance its eye corners imply. Six points are the minimum for
    # solvePnP's own (DLT) start, which now and then lands on the mirror solution: 13 readings in 2,342 real-clip
    # frames (pitch +30 for -11; yaw -29 mid-way through a +16 turn, which failed a real customer's turn as
    # "the wrong way"). From a frontal start: none, and the other frames solve as before (docs/liveness.md).
    eyes = float(np.linalg.norm(points[LEFT_EYE[0], :2] - points[RIGHT_EYE[0], :2]))
    z = w * 2 * abs(HEAD_MODEL_MM[3, 0]) / max(eyes, 1.0)
    nose = points[POSE_POINTS[0], :2]
    tvec = np.array([[(nose[0] - w / 2) * z / w], [(nose[1] - h / 2) * z / w], [z]])
    ok, rvec, _ = cv2.solvePnP(HEAD_MODEL_MM, image, camera, np.zeros(4), np.zeros((3, 1)), tvec, True,
                               flags=cv2.SOLVEPNP_ITERATIVE)
    d = points[LEFT_EYE[0], :2] - points[RIGHT_EYE[0], :2]
    roll = float(np.degrees(np.arctan2(d[1], d[0])))
    if not ok:
        return 0.0, 0.0, roll
    rot, _ = cv2.Rodrigues(rvec)
    forward = rot @ np.array([0.0, 0.0, -1.0])  # where the nose points, in camera axes
    yaw = float(np.degrees(np.arctan2(forward[0], -forward[2])))  # toward image-right = the subject's left
    pitch = float(np.degrees(np.arctan2(-forward[1], np.hypot(forward[0], forward[2]))))
    return yaw, pitch, roll
