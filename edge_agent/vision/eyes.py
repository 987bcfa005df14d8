"""Eyelid contours from MediaPipe's iris/eye-contour model, for blink detection.

The face-mesh model places eyelids poorly on closed eyes; the dedicated eye
model (64x64 crop per eye) follows them. It was trained on the image-left
eye: the other eye's crop is mirrored in and its points mirrored back.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.vision.runtime import Model

__all__ = ["EyeLandmarker", "openness"]

ROI_SCALE = 2.3
# Face-mesh corner indices: (image-left eye: 33 outer, 133 inner), (image-right eye: 362 inner, 263 outer).
_EYES = ((33, 133, False), (362, 263, True))


def openness(contour: np.ndarray) -> float:
    """Mean lid gap over eye width: contour[1:8] lower lid, contour[9:16] upper lid, 0 and 8 the corners."""
    width = float(np.linalg.norm(contour[0, :2] - contour[8, :2]))
    if width == 0:
        return 0.0
    gaps = np.linalg.norm(contour[9:16, :2] - contour[1:8, :2], axis=1)
    return float(gaps.mean() / width)


class EyeLandmarker:
    """The eye-contour model behind one call: both eyes' lids from the face mesh's eye corners."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.size = model.inputs[0].shape[1]

    def contours(self, rgb: np.ndarray, mesh_points: np.ndarray) -> list[np.ndarray]:
        """Eyelid contours (16 points, image pixels) of the image-left then the image-right eye."""
        out = []
        for a, b, mirror in _EYES:
            p, q = mesh_points[a, :2].astype(np.float64), mesh_points[b, :2].astype(np.float64)
            centre = (p + q) / 2
            side = max(1.0, float(np.linalg.norm(q - p)) * ROI_SCALE)
            angle = float(np.degrees(np.arctan2(q[1] - p[1], q[0] - p[0])))
            if mirror:
                angle = float(np.degrees(np.arctan2(p[1] - q[1], p[0] - q[0]))) + 180.0
            m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, self.size / side)
            m[:, 2] = m[:, 2] + self.size / 2 - centre
            crop = cv2.warpAffine(rgb, m, (self.size, self.size), flags=cv2.INTER_LINEAR)
            if mirror:
                crop = crop[:, ::-1]
            eye, _iris = self.model.run(np.multiply(crop, np.float32(1.0 / 255.0), dtype=np.float32)[None])
            pts = eye.reshape(-1, 3)[:16, :2].copy()
            if mirror:
                pts[:, 0] = self.size - pts[:, 0]
            inv = cv2.invertAffineTransform(m)
            out.append(pts @ inv[:, :2].T + inv[:, 2])
        return out
