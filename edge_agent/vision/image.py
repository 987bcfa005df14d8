"""Decoding photos into RGB arrays, in memory, with specific errors for bad input.

Reference photos arrive as bytes (from the terminal or an ID chip) and never
touch disk; reading a file is only a convenience for the CLI.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge_agent.errors import ImageUnreadable

__all__ = ["MAX_BYTES", "MAX_PIXELS", "decode_image", "read_image"]

MAX_BYTES = 40 * 1024 * 1024
MAX_PIXELS = 40_000_000  # refuses decompression bombs before decoding
_MIN_SIDE = 32


def decode_image(data: bytes, *, name: str = "image") -> np.ndarray:
    """Decode JPEG/PNG/WebP/BMP bytes to an HxWx3 uint8 RGB array (EXIF orientation applied)."""
    if not data:
        raise ImageUnreadable(f"{name} is empty")
    if len(data) > MAX_BYTES:
        raise ImageUnreadable(f"{name} is {len(data)} bytes; the limit is {MAX_BYTES}")
    buf = np.frombuffer(data, np.uint8)
    # Header check first: cv2 would otherwise allocate whatever the header claims.
    header = cv2.imdecode(buf, cv2.IMREAD_REDUCED_GRAYSCALE_8)
    if header is None:
        raise ImageUnreadable(f"{name} is not a readable image (JPEG, PNG, WebP or BMP expected)")
    if header.shape[0] * header.shape[1] * 64 > MAX_PIXELS:
        raise ImageUnreadable(f"{name} has more than {MAX_PIXELS} pixels")
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageUnreadable(f"{name} is corrupt: its header reads but its pixels do not")
    if min(bgr.shape[:2]) < _MIN_SIDE:
        raise ImageUnreadable(f"{name} is {bgr.shape[1]}x{bgr.shape[0]} pixels, too small to hold a face")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_image(path: Path) -> np.ndarray:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ImageUnreadable(f"{path} is a directory, not an image") from None
    except FileNotFoundError:
        raise ImageUnreadable(f"{path} does not exist") from None
    except OSError as exc:
        raise ImageUnreadable(f"cannot read {path}: {exc.strerror}") from None
    return decode_image(data, name=str(path))
