"""Alignment of a face to the chip its embedder was trained on.

SFace (the default embedder) wants the ArcFace 112x112 framing: eye centres,
nose tip and mouth corners warped by a similarity transform onto fixed
template points (what ``cv2.FaceRecognizerSF.alignCrop`` does).

The dlib baseline wants its own 150x150 chip. dlib aligns with a least-squares similarity transform from five landmarks
(outer and inner eye corners, base of the nose) to fixed chip positions
(``get_face_chip_details`` with padding 0.25). We take the same five points
from the face mesh and solve the same transform, so the embedder sees the
framing it expects.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "ARCFACE_SIZE",
    "ARCFACE_TEMPLATE",
    "CHIP_SIZE",
    "MESH_FIVE_POINTS",
    "arcface_points",
    "chip_template",
    "extract_chip",
    "five_points",
    "similarity_transform",
    "warp_to_template",
]

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


# ArcFace 112x112 template, in YuNet's point order: subject's right eye (image
# left), left eye, nose tip, right mouth corner, left mouth corner.
ARCFACE_SIZE = 112
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)

# Face-mesh contours of each eye (image-left eye first); their mean is the eye centre.
_MESH_EYE_IMAGE_LEFT = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
_MESH_EYE_IMAGE_RIGHT = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
_MESH_NOSE_TIP, _MESH_MOUTH_IMAGE_LEFT, _MESH_MOUTH_IMAGE_RIGHT = 1, 61, 291


def arcface_points(mesh_points: np.ndarray) -> np.ndarray:
    """The five ArcFace points (template order) from the 468-point face mesh."""
    xy = np.asarray(mesh_points[:, :2], np.float64)
    return np.array(
        [
            xy[list(_MESH_EYE_IMAGE_LEFT)].mean(0),
            xy[list(_MESH_EYE_IMAGE_RIGHT)].mean(0),
            xy[_MESH_NOSE_TIP],
            xy[_MESH_MOUTH_IMAGE_LEFT],
            xy[_MESH_MOUTH_IMAGE_RIGHT],
        ]
    )


def chip_template(size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """dlib's five chip positions in pixels for a ``size`` chip with dlib's padding, as dlib computes them."""
    return (padding + _DLIB_FIVE) / (2 * padding + 1) * size


def five_points(mesh_points: np.ndarray) -> np.ndarray:
    """The dlib baseline's five landmarks (eye corners, nose base) taken from the 468-point face mesh."""
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
    """Warp the face to dlib's ``size`` x ``size`` chip (``points5`` from ``five_points``)."""
    return warp_to_template(rgb, points5, chip_template(size), size)


def warp_to_template(rgb: np.ndarray, points5: np.ndarray, template: np.ndarray, size: int) -> np.ndarray:
    """Warp the face so ``points5`` land on ``template`` in a ``size`` x ``size`` chip.

    When the face is much larger than the chip, the image is first shrunk
    with area averaging (as dlib's pyramid does), since bilinear sampling
    alone would alias fine detail into the chip.
    """
    m = similarity_transform(points5, template)
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    src = rgb
    if scale < 0.5:
        # Shrink just the region the chip covers, so cost scales with the face, by a whole factor k: each
        # pixel of the shrunk region is the mean of a k x k block (OpenCV's fast area path, ~3x cheaper per
        # frame than a fractional factor), and the warp that follows shrinks by scale * k, in [0.4, 1), where
        # bilinear sampling misses little. k is the whole factor nearest to the old exact 0.5: embeddings of
        # the same faces (deepface photos, real-clip frames) stay within cosine 0.99 of the fractional path's.
        k = max(2, round(0.5 / scale))
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inv[:, :2].T + inv[:, 2]
        x0, y0 = np.floor(corners.min(0)).astype(int) - 2
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
        h, w = rgb.shape[:2]
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = x0 + (min(w, x1) - x0) // k * k, y0 + (min(h, y1) - y0) // k * k  # whole blocks only
        if x1 > x0 and y1 > y0:
            region = rgb[y0:y1, x0:x1]
            src = cv2.resize(region, ((x1 - x0) // k, (y1 - y0) // k), interpolation=cv2.INTER_AREA)
            shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
            m = m @ np.linalg.inv(np.diag([1.0 / k, 1.0 / k, 1.0]) @ shift)
    return cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
