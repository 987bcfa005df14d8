"""MediaPipe face mesh: 468 3-D landmarks from a rotated, square crop around a detection."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.vision.detector import Detection
from edge_agent.vision.runtime import Model

__all__ = ["FaceLandmarker", "FaceMesh", "roi_transform"]

ROI_SCALE = 1.5


@dataclass(frozen=True)
class FaceMesh:
    """468 points (x, y in image pixels; z relative depth in the same units) and presence score."""

    points: np.ndarray
    presence: float


def roi_transform(det: Detection, size: int, scale: float = ROI_SCALE) -> np.ndarray:
    """2x3 affine from image pixels to a ``size`` crop, upright by the eye line.

    The crop is square around the box centre, ``scale`` times the longer box
    side, rotated so that the detector's eye keypoints lie level, which is the
    framing the face-mesh model was trained on.
    """
    right_eye, left_eye = det.keypoints[0], det.keypoints[1]
    angle = float(np.degrees(np.arctan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])))
    cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
    side = max(det.width, det.height) * scale
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, size / side)
    m[0, 2] += size / 2 - cx
    m[1, 2] += size / 2 - cy
    return m


class FaceLandmarker:
    """The face-mesh model behind one call: a detection in, the mesh in image pixels out."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.size = model.inputs[0].shape[1]

    def landmarks(self, rgb: np.ndarray, det: Detection) -> FaceMesh:
        """The face mesh of ``det``, mapped back from the crop to image pixels, with the model's presence score."""
        m = roi_transform(det, self.size)
        crop = cv2.warpAffine(rgb, m, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        tensor = np.multiply(crop, np.float32(1.0 / 255.0), dtype=np.float32)[None]  # one pass, no temporary
        mesh, flag = self.model.run(tensor)
        pts = mesh.reshape(-1, 3)
        inv = cv2.invertAffineTransform(m)
        xy = pts[:, :2] @ inv[:, :2].T + inv[:, 2]
        z = pts[:, 2:3] * float(np.sqrt(abs(np.linalg.det(inv[:, :2]))))
        presence = float(1.0 / (1.0 + np.exp(-float(flag.reshape(-1)[0]))))
        return FaceMesh(np.concatenate([xy, z], axis=1).astype(np.float32), presence)
