"""Image-quality measures of a face that decide whether it is fit to match (ISO/IEC 29794-5 vocabulary).

Pure functions of arrays and detections; the limits themselves live in
``pipeline.QualityRules``.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.vision.detector import Detection

__all__ = ["dominant_face", "relative_sharpness", "roll_degrees", "sharpness"]


def sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian on the aligned chip's grey image.

    Measured on the chip, not the frame, so the value means the same for a
    face near or far from the camera. It still scales with contrast: a dim
    but sharp face scores low, which is why the gate uses ``relative_sharpness``.
    """
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def relative_sharpness(chip: np.ndarray) -> float:
    """Laplacian variance over grey-level variance, on the inner face of the aligned chip at half size.

    Dividing by the face's own contrast makes the measure the same for a dim
    webcam frame and a bright studio photo. Measuring on the chip shrunk to
    half size (about 18 px between the eyes, less than any face the gate
    accepts) judges every face at the same scale, so a small face, such as
    an ID chip's portrait with 24 px between the eyes, is not marked down
    for the upsampling alignment gave it, while true blur still shows. Only
    the inner face is used, so the chip's black border (a face near the
    photo's edge) adds no edges. Measured on 40 LFW faces: photos 0.22-1.8
    (median 0.57), the same faces as 1 KB chip portraits 0.08-0.42, blurred
    with a Gaussian of sigma 6 px (0.13 eye distances) median 0.03. On a
    sharp 1536x1152 photo, a blur of 0.1 eye distances reads 0.10 and still
    matches; 0.15 reads 0.07 and no longer does.
    """
    h, w = chip.shape[:2]
    small = cv2.resize(chip, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    inner = small[h // 4: h - h // 10, w // 5: w - w // 5]
    grey = cv2.cvtColor(inner, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var() / (grey.var() + 1.0))


def roll_degrees(points5: np.ndarray) -> float:
    """In-plane rotation of the eye line (0 upright, +-180 upside down), from the ArcFace five points."""
    d = np.asarray(points5[1], np.float64) - np.asarray(points5[0], np.float64)
    return float(np.degrees(np.arctan2(d[1], d[0])))


def dominant_face(faces: list[Detection], shape: tuple[int, ...], ratio: float,
                  centre_weight: float = 1.0) -> tuple[Detection, int]:
    """The subject of the photo and how many other faces rival it.

    A face's dominance is its width, discounted by ``centre_weight`` times its
    centre's distance from the image centre (in half-diagonals), so a
    passer-by in the background or the ghost portrait at the edge of an ID
    card does not make a photo ambiguous, while two people side by side do.
    ``faces`` must not be empty.
    """
    h, w = shape[:2]
    half_diagonal = float(np.hypot(w, h)) / 2

    def dominance(face: Detection) -> float:
        cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
        off = float(np.hypot(cx - w / 2, cy - h / 2)) / half_diagonal
        return face.width * max(0.0, 1.0 - centre_weight * min(1.0, off))

    scores = [dominance(f) for f in faces]
    best = int(np.argmax(scores))
    rivals = sum(1 for i, s in enumerate(scores) if i != best and s >= ratio * scores[best])
    return faces[best], rivals
