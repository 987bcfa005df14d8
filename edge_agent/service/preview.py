"""The running session's camera for the customer screen: the newest frame, downscaled to JPEG in memory.

The session publishes each frame it reads (a reference, no copy); a watcher
encodes only the frames it sends, at its own rate, so a slow screen never
slows the challenge. Nothing is written anywhere: the hub holds at most one
frame reference, and drops it when the session ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["PreviewHub", "PreviewImage", "encode_preview"]

MAX_WIDTH, MAX_FPS, MAX_WAIT_MS = 640, 15, 10_000
DEFAULT_WIDTH, DEFAULT_FPS = 320, 10


@dataclass(frozen=True)
class PreviewImage:
    """One preview frame as sent to the screen: the JPEG, its size and the session it belongs to."""

    jpeg: bytes
    width: int
    height: int
    transaction_id: str


def encode_preview(rgb: np.ndarray, max_width: int, quality: int = 70) -> tuple[bytes, int, int]:
    """A JPEG of ``rgb`` no wider than ``max_width`` (never upscaled)."""
    h, w = rgb.shape[:2]
    if w > max_width:
        h, w = max(1, round(h * max_width / w)), max_width
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise ValueError("JPEG encoding failed")
    return buf.tobytes(), w, h


class PreviewHub:
    """One session's newest frame and who watches it (one watcher at a time: it holds a server thread)."""

    def __init__(self, max_watchers: int = 1) -> None:
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._txn: str | None = None
        self._seq = 0
        self._watchers = 0
        self._max_watchers = max_watchers

    def start(self, txn: str) -> None:
        """A session begins: watchers waiting for one start receiving its frames."""
        with self._cond:
            self._txn, self._frame = txn, None
            self._seq += 1
            self._cond.notify_all()

    def publish(self, rgb: np.ndarray) -> None:
        """Offer the session's newest frame (a reference, not a copy); ignored when no session runs."""
        with self._cond:
            if self._txn is not None:
                self._frame = rgb
                self._seq += 1
                self._cond.notify_all()

    def end(self) -> None:
        """The session ended: drop the last frame so nothing of it outlives the session, and end the watchers."""
        with self._cond:
            self._txn, self._frame = None, None
            self._seq += 1
            self._cond.notify_all()

    def watch(self) -> bool:
        """Claims a watcher place; False when all are taken. Pair with ``unwatch``."""
        with self._cond:
            if self._watchers >= self._max_watchers:
                return False
            self._watchers += 1
            return True

    def unwatch(self) -> None:
        """Give back the place a successful ``watch`` claimed."""
        with self._cond:
            self._watchers -= 1

    def frames(self, max_width: int = 0, max_fps: int = 0, wait_ms: int = 0,
               active: Callable[[], bool] = lambda: True) -> Iterator[PreviewImage]:
        """Downscaled JPEGs of the session running now (or starting within ``wait_ms``) until it ends."""
        width = min(max_width or DEFAULT_WIDTH, MAX_WIDTH)
        interval = 1.0 / min(max_fps or DEFAULT_FPS, MAX_FPS)
        with self._cond:
            self._cond.wait_for(lambda: self._txn is not None, timeout=min(wait_ms, MAX_WAIT_MS) / 1000)
            txn, seen = self._txn, -1
        if txn is None:
            return
        next_at = 0.0
        while active():
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with self._cond:
                self._cond.wait_for(lambda seen=seen: self._seq != seen or self._txn != txn,  # type: ignore[misc]
                                    timeout=0.5)
                if self._txn != txn:
                    return
                frame, seq = self._frame, self._seq
            if frame is None or seq == seen:
                continue
            seen = seq
            jpeg, w, h = encode_preview(frame, width)
            del frame
            next_at = time.monotonic() + interval
            yield PreviewImage(jpeg, w, h, txn)
