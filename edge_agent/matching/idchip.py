"""What an ID card chip holds, made from an ordinary photo: a 102x126 portrait in at most 1,024 bytes of JPEG 2000.

A second-generation Chinese resident ID card stores the holder's portrait as
a 102x126 px colour image compressed to about 1 KB (the card reader's SDK
decodes it to a bitmap). The photo it comes from follows the ID photo layout:
26x32 mm, 358x441 px, head upright and centred, eyes a little above the
middle. Matching against such a reference is the common case in a store, so
the evaluation can turn any photo into one and measure what that costs.

Everything here works on arrays and bytes in memory; nothing is written.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.vision.align import similarity_transform
from edge_agent.vision.image import decode_image

__all__ = ["CHIP_BYTES", "CHIP_SHAPE", "LAYOUT_SHAPE", "chip_portrait", "encode_chip", "to_id_chip"]

CHIP_SHAPE = (126, 102)  # rows, columns of the portrait on the chip
CHIP_BYTES = 1024  # the chip's portrait budget
LAYOUT_SHAPE = (441, 358)  # the 26x32 mm ID photo at 350 dpi

# Eye centres in the chip portrait: 24 px apart (23-27 px measured on chip-made portraits), level, centred,
# 44 % from the top, which leaves the crown of the head and the chin inside the frame as the layout asks.
_EYE_DISTANCE = 24.0
_EYE_ROW = 0.44


def _layout_eyes(shape: tuple[int, int]) -> np.ndarray:
    rows, cols = shape
    half = _EYE_DISTANCE * cols / CHIP_SHAPE[1] / 2
    return np.array([[cols / 2 - half, rows * _EYE_ROW], [cols / 2 + half, rows * _EYE_ROW]])


def chip_portrait(rgb: np.ndarray, right_eye: np.ndarray, left_eye: np.ndarray) -> np.ndarray:
    """The 102x126 portrait: the photo warped into the ID layout by its eye centres, then reduced.

    ``right_eye`` is the subject's right eye (image left). The photo is first
    laid out at 358x441 (the printed photo's scan), then shrunk with area
    averaging, as an issuing office would reduce it.
    """
    eyes = np.array([right_eye, left_eye], np.float64)
    layout = _layout_eyes(LAYOUT_SHAPE)
    m = similarity_transform(eyes, layout)
    rows, cols = LAYOUT_SHAPE
    big = cv2.warpAffine(rgb, m, (cols, rows), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(big, (CHIP_SHAPE[1], CHIP_SHAPE[0]), interpolation=cv2.INTER_AREA)


def encode_chip(portrait: np.ndarray, budget: int = CHIP_BYTES) -> bytes:
    """JPEG 2000 at about the highest quality whose file fits ``budget`` bytes."""
    bgr = cv2.cvtColor(portrait, cv2.COLOR_RGB2BGR)

    def encode(quality: int) -> bytes:
        ok, buf = cv2.imencode(".jp2", bgr, [cv2.IMWRITE_JPEG2000_COMPRESSION_X1000, quality])
        if not ok:
            raise RuntimeError("OpenCV cannot write JPEG 2000 (built without OpenJPEG?)")
        return buf.tobytes()

    # File size grows about linearly with the rate parameter: fit the line through two encodes, jump to where
    # it meets the budget, then step down until the file fits. Three or four encodes instead of a bisection's
    # ten (OpenJPEG takes ~15 ms per encode even for 102x126).
    q1, q2 = 40, 120
    s1, s2 = len(encode(q1)), len(encode(q2))
    slope = max(1e-3, (s2 - s1) / (q2 - q1))
    quality = max(1, min(1000, int((budget - s1) / slope + q1)))
    while True:
        data = encode(quality)
        if len(data) <= budget:
            return data
        if quality == 1:
            raise ValueError(f"even the lowest JPEG 2000 quality takes {len(data)} bytes, over {budget}")
        quality = max(1, int(quality * min(0.97, budget / len(data))))


def to_id_chip(rgb: np.ndarray, right_eye: np.ndarray, left_eye: np.ndarray) -> np.ndarray:
    """The photo as a chip reader would hand it over: laid out, reduced, compressed to 1 KB and decoded."""
    return decode_image(encode_chip(chip_portrait(rgb, right_eye, left_eye)), name="ID chip portrait")
