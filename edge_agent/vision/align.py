"""Alignment of a face to the 150x150 chip dlib's descriptor was trained on.

dlib aligns with a least-squares similarity transform from five landmarks
(outer and inner eye corners, base of the nose) to fixed chip positions
(``get_face_chip_details`` with padding 0.25). We take the same five points
from the face mesh and solve the same transform, so the embedder sees the
framing it expects.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["CHIP_SIZE", "MESH_FIVE_POINTS", "chip_template", "extract_chip", "five_points", "similarity_transform"]

CHIP_SIZE = 150
CHIP_PADDING = 0.25

# dlib's 5-point template (unpadded, unit square), in dlib's point order:
# image-right eye outer, image-right eye inner, image-left eye outer,
# image-left eye inner, nose base.
_DLIB_FIVE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)

# Face-mesh indices for the same five points, same order.
MESH_FIVE_POINTS = (263, 362, 33, 133, 2)


def chip_template(size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    return (padding + _DLIB_FIVE) / (2 * padding + 1) * size


def five_points(mesh_points: np.ndarray) -> np.ndarray:
    return np.asarray(mesh_points[list(MESH_FIVE_POINTS), :2], np.float64)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation+uniform scale+translation mapping ``src`` onto ``dst`` (Umeyama), as 2x3."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var = (s**2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ sign) / var)
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def extract_chip(rgb: np.ndarray, points5: np.ndarray, size: int = CHIP_SIZE) -> np.ndarray:
    """Warp the face to a ``size`` x ``size`` chip.

    When the face is much larger than the chip, the image is first shrunk
    with area averaging (as dlib's pyramid does), since bilinear sampling
    alone would alias fine detail into the chip.
    """
    m = similarity_transform(points5, chip_template(size))
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    src = rgb
    if scale < 0.5:
        # Shrink just the region the chip covers, so cost scales with the face.
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inv[:, :2].T + inv[:, 2]
        x0, y0 = np.floor(corners.min(0)).astype(int) - 2
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        factor = 2.0 * scale
        region = rgb[y0:y1, x0:x1]
        nw, nh = max(1, round(region.shape[1] * factor)), max(1, round(region.shape[0] * factor))
        src = cv2.resize(region, (nw, nh), interpolation=cv2.INTER_AREA)
        shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
        shrink = np.diag([nw / region.shape[1], nh / region.shape[0], 1.0])
        m = m @ np.linalg.inv(shrink @ shift)
    return cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
