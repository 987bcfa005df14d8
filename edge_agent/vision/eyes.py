"""Eyelid contours from MediaPipe's iris/eye-contour model, for blink detection.

The face-mesh model places eyelids poorly on closed eyes; the dedicated eye
model (64x64 crop per eye) follows them. It was trained on the image-left
eye: the other eye's crop is mirrored in and its points mirrored back.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.errors import ModelError
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
    """The eye-contour model behind one call: both eyes' lids from the face mesh's eye corners.

    Both eyes go through the model in one call when it takes a batch of 2 (MediaPipe's iris model does:
    its outputs come back as the two eyes' rows, identical to two single calls), which saves one call's
    fixed cost per frame (interpreter entry, tensor copies); a model that does not falls back to two calls.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        self.size = model.inputs[0].shape[1]
        self.batched = False
        try:
            model.resize_input((2, self.size, self.size, 3))
            self.batched = True
        except ModelError:
            pass
        self._batch = np.empty((2, self.size, self.size, 3), np.float32)

    def _crop(self, rgb: np.ndarray, mesh_points: np.ndarray, k: int) -> np.ndarray:
        """Write eye ``k``'s model input (mirrored for the image-right eye) into the batch; return its 2x3."""
        a, b, mirror = _EYES[k]
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
        np.multiply(crop, np.float32(1.0 / 255.0), out=self._batch[k], dtype=np.float32)  # one pass, no temporary
        return m

    def contours(self, rgb: np.ndarray, mesh_points: np.ndarray) -> list[np.ndarray]:
        """Eyelid contours (16 points, image pixels) of the image-left then the image-right eye."""
        ms = [self._crop(rgb, mesh_points, k) for k in range(2)]
        if self.batched:
            eye = self.model.run(self._batch)[0].reshape(2, -1, 3)
        else:
            eye = np.stack([self.model.run(self._batch[k:k + 1])[0].reshape(-1, 3) for k in range(2)])
        pts = eye[:, :16, :2].astype(np.float64)
        pts[1, :, 0] = self.size - pts[1, :, 0]  # the image-right eye went in mirrored
        out = []
        for k, m in enumerate(ms):
            inv = cv2.invertAffineTransform(m)
            out.append(pts[k] @ inv[:, :2].T + inv[:, 2])
        return out
