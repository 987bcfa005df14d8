"""Image-quality measures of a face that decide whether it is fit to match."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["exposure", "sharpness"]


def sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian on the aligned chip's grey image.

    Measured on the chip, not the frame, so the value means the same for a
    face near or far from the camera.
    """
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def exposure(chip: np.ndarray) -> tuple[float, float]:
    """Mean grey level (0..255) and the fraction of clipped (<=5 or >=250) pixels of the chip's centre."""
    h, w = chip.shape[:2]
    centre = cv2.cvtColor(chip[h // 4: 3 * h // 4, w // 4: 3 * w // 4], cv2.COLOR_RGB2GRAY)
    clipped = float(np.mean((centre <= 5) | (centre >= 250)))
    return float(centre.mean()), clipped
