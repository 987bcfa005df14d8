"""Frames from a recorded clip or a folder of images, with timestamps, for verify runs and replays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edge_agent.errors import BadInput, ImageUnreadable
from edge_agent.safe_read import open_regular
from edge_agent.vision.image import check_frame_size, read_image

__all__ = ["IMAGE_SUFFIXES", "iter_frames"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def iter_frames(path: Path, fps: float = 15.0) -> Iterator[tuple[np.ndarray, int]]:
    """(RGB frame, time in ms) from a video file or from the images of a folder (sorted by name, at ``fps``).

    ``fps`` must be finite and 1-120: inf, nan, 0 or a negative rate would give every frame the same or a
    meaningless time and so disable the session's time limits.
    """
    if not 1.0 <= fps <= 120.0:  # false for nan too
        raise BadInput(f"frame rate must be between 1 and 120 frames/s, got {fps}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ImageUnreadable(f"{path} holds no images")
        for i, f in enumerate(files):
            yield read_image(f), round(i * 1000 / fps)
        return
    with open_regular(path, "video", ImageUnreadable) as fd:  # never /dev/zero or a FIFO; opened once
        yield from _iter_video(path, f"/proc/self/fd/{fd}", fps)


def _iter_video(path: Path, source: str, fps: float) -> Iterator[tuple[np.ndarray, int]]:
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise ImageUnreadable(f"{path} is not a readable video")
    try:
        check_frame_size(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), str(path))
        index = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                if index == 0:
                    raise ImageUnreadable(f"{path} holds no decodable frames")
                return
            pos = cap.get(cv2.CAP_PROP_POS_MSEC)
            t = round(pos) if pos > 0 or index == 0 else round(index * 1000 / fps)
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), t
            index += 1
    finally:
        cap.release()
