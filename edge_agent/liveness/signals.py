"""Per-frame liveness signals from the 468-point face mesh: eye openness, head pose, framing.

Pure geometry on landmark arrays. Head pose is a geometric estimate from the
mesh's own 3-D points (the model predicts depth in roughly the same units as
x and y): yaw from the line between the outer eye corners, pitch from the
forehead-chin line, roll from the eye line in the image plane. It needs no
camera calibration, which a store terminal does not have.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FrameSignals", "eye_aspect_ratio", "head_pose", "signals_from_mesh"]

# (outer, upper-1, upper-2, inner, lower-2, lower-1) per eye
RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (263, 387, 385, 362, 380, 373)
FOREHEAD, CHIN = 10, 152
# The mesh model's depth is compressed: a head turned by 30 degrees reads as about
# 16-18 degrees from the raw points. The gain brings the estimate back to degrees;
# calibrated on rendered turns of known angle (edge_agent/simulation/scenes.py, 3 faces, +-15/30 deg).
POSE_GAIN = 1.8


@dataclass(frozen=True)
class FrameSignals:
    """What the challenge state machine sees of one frame. No pixels, no embedding."""

    t_ms: int
    faces: int
    ear: float = 0.0  # mean eye aspect ratio of both eyes
    yaw: float = 0.0  # degrees, positive = the subject's left
    pitch: float = 0.0  # degrees, positive = chin up
    roll: float = 0.0  # degrees
    face_width: float = 0.0  # fraction of the frame width
    centre: tuple[float, float] = (0.5, 0.5)  # face centre, fraction of frame
    identity: float | None = None  # cosine to the session's first embedding, when computed this frame


def eye_aspect_ratio(points: np.ndarray, eye: tuple[int, ...]) -> float:
    p = points[list(eye), :2]
    width = float(np.linalg.norm(p[0] - p[3]))
    if width == 0:
        return 0.0
    return float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2.0 * width))


def head_pose(points: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from mesh points (x, y in pixels, z relative depth)."""
    right, left = points[RIGHT_EYE[0]], points[LEFT_EYE[0]]
    d = left - right  # from the subject's right eye to their left eye
    yaw = POSE_GAIN * float(np.degrees(np.arctan2(d[2], np.hypot(d[0], d[1]))))
    v = points[CHIN] - points[FOREHEAD]
    pitch = POSE_GAIN * float(np.degrees(np.arctan2(-v[2], np.hypot(v[0], v[1]))))
    roll = float(np.degrees(np.arctan2(d[1], d[0])))
    return yaw, pitch, roll


def signals_from_mesh(points: np.ndarray, frame_shape: tuple[int, ...], t_ms: int, faces: int,
                      identity: float | None = None) -> FrameSignals:
    h, w = frame_shape[:2]
    ear = (eye_aspect_ratio(points, RIGHT_EYE) + eye_aspect_ratio(points, LEFT_EYE)) / 2
    yaw, pitch, roll = head_pose(points)
    xs, ys = points[:, 0], points[:, 1]
    return FrameSignals(
        t_ms=t_ms, faces=faces, ear=ear, yaw=yaw, pitch=pitch, roll=roll,
        face_width=float((xs.max() - xs.min()) / w),
        centre=(float(xs.mean() / w), float(ys.mean() / h)), identity=identity,
    )
