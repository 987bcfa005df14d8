"""Frame sources behind one small interface: Pi camera, V4L2/USB camera, clip or frame folder, fake.

A session pulls frames with ``frames()``; a camera that is missing or stops
delivering raises ``CameraError`` (a clear, specific error the daemon turns
into a failed session, never a crash). picamera2 is imported only when a Pi
camera is asked for: it exists only on Raspberry Pi OS.

Cameras are checked before the first frame (``camera/identity.py``): a
virtual or loopback V4L2 device is refused, and when a pairing record is
given, so is any camera other than the paired one. ``identity`` is set once
the camera is open, for the signed result.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from edge_agent.camera.files import iter_frames
from edge_agent.camera.identity import CameraIdentity, CameraRefused, check_identity, load_paired, v4l2_identity
from edge_agent.errors import CameraError, EdgeAgentError

__all__ = ["CameraError", "FakeSource", "FileSource", "FrameSource", "PiCameraSource", "V4L2Source", "open_source"]


def _checked(found: CameraIdentity, virtual: bool, pairing: Path | None) -> CameraIdentity:
    """The identity when the camera may be used; CameraError with the refusal's code otherwise."""
    try:
        if pairing is None:  # no pairing record to compare with: only the virtual-device rule applies
            check_identity(found, virtual, found)
        else:
            check_identity(found, virtual, load_paired(pairing))
    except CameraRefused as exc:
        err = CameraError(str(exc))
        err.code = exc.code
        raise err from None
    return found


class FrameSource(Protocol):
    """Where a session's frames come from; the session never knows which camera or file is behind it."""

    def frames(self) -> Iterator[tuple[np.ndarray, int]]:
        """(RGB frame, milliseconds since the source started)."""
        ...

    def close(self) -> None:
        """Release the device, so the next session (or another process) can open it."""
        ...


def _now_ms(start: float) -> int:
    return round((time.monotonic() - start) * 1000)


@dataclass
class FileSource:
    """A recorded clip or a folder of frames, for tests, demos and replays."""

    path: Path
    fps: float = 15.0

    def frames(self) -> Iterator[tuple[np.ndarray, int]]:
        """The file's frames at ``fps``; a bad file is a CameraError like a failing camera."""
        try:
            yield from iter_frames(self.path, self.fps)
        except EdgeAgentError as exc:
            raise CameraError(str(exc)) from None

    def close(self) -> None:
        """Nothing to release: each ``frames()`` call reads the file afresh."""
        pass


@dataclass
class V4L2Source:
    """A USB or other V4L2 camera, through OpenCV."""

    device: str = "/dev/video0"
    width: int = 640
    height: int = 480
    fps: float = 15.0
    pairing: Path | None = None  # the paired camera record; None: only virtual devices are refused
    identity: CameraIdentity | None = None
    _cap: Any = field(default=None, repr=False)

    def _open(self) -> Any:
        if not Path(self.device).exists():
            raise CameraError(f"no camera at {self.device}")
        try:
            found, virtual = v4l2_identity(self.device)
        except OSError as exc:
            raise CameraError(f"camera {self.device} cannot be queried: {exc}") from None
        except CameraRefused as exc:
            raise CameraError(str(exc)) from None
        self.identity = _checked(found, virtual, self.pairing)
        cap = cv2.VideoCapture(self.device, cv2.CAP_V4L2)
        if not cap.isOpened():
            raise CameraError(f"camera {self.device} exists but cannot be opened (in use, or no permission)")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        # Keep one buffered frame: when a frame takes longer than the camera's interval, the session
        # must see the newest frame (its timestamp is taken at read time), not a queue of stale ones.
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    def frames(self) -> Iterator[tuple[np.ndarray, int]]:
        """Open and check the camera on first use, then the newest frame each time, until it stops."""
        self._cap = self._cap or self._open()
        start = time.monotonic()
        while True:
            ok, bgr = self._cap.read()
            if not ok:
                raise CameraError(f"camera {self.device} stopped delivering frames")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), _now_ms(start)

    def close(self) -> None:
        """Release the device; a later ``frames()`` opens and checks it again."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def picamera2_missing_hint() -> str:
    """What to install when picamera2 cannot be imported, for the Python this runs on.

    Raspberry Pi OS ships picamera2 for the system's python3 only. The Debian package runs on that interpreter
    (/usr/bin/python3), so installing python3-picamera2 is all it takes; only a venv (``pip install``) also needs
    ``--system-site-packages`` to see it, and telling a .deb install to make a venv would send the technician
    the wrong way.
    """
    hint = "picamera2 is not installed: sudo apt install python3-picamera2"
    if sys.prefix != sys.base_prefix:
        hint += f", and create the venv ({sys.prefix}) with --system-site-packages"
    return hint


@dataclass
class PiCameraSource:
    """A Raspberry Pi camera through picamera2 (Raspberry Pi OS: apt install python3-picamera2).

    The frame rate is fixed through libcamera's FrameDurationLimits (min = max = one frame), so the
    sensor delivers the target's rate instead of its own default; "RGB888" is the 24-bit format the
    ISP gives without conversion (stored B, G, R: flipped to RGB here).
    """

    width: int = 640
    height: int = 480
    fps: float = 15.0
    model: str = ""  # the sensor, e.g. "imx708", once opened
    pairing: Path | None = None
    identity: CameraIdentity | None = None
    _cam: Any = field(default=None, repr=False)

    def video_configuration(self, cam: Any) -> Any:
        """The picamera2 configuration: the target's size, RGB888, and the frame rate fixed at ``fps``."""
        frame_us = round(1_000_000 / self.fps)
        return cam.create_video_configuration(main={"size": (self.width, self.height), "format": "RGB888"},
                                              controls={"FrameDurationLimits": (frame_us, frame_us)})

    def _open(self) -> Any:
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
        except ImportError:
            raise CameraError(picamera2_missing_hint()) from None
        try:
            info = Picamera2.global_camera_info()
            if not info:
                raise CameraError("no Raspberry Pi camera is connected")
            found = CameraIdentity("picamera", "libcamera", str(info[0].get("Model", "")),
                                   str(info[0].get("Id", "")))
            self.identity = _checked(found, False, self.pairing)
            cam = Picamera2()
            self.model = str(cam.camera_properties.get("Model", ""))
            cam.configure(self.video_configuration(cam))
            cam.start()
        except (RuntimeError, IndexError) as exc:
            raise CameraError(f"no Raspberry Pi camera available: {exc}") from None
        return cam

    def frames(self) -> Iterator[tuple[np.ndarray, int]]:
        """Open and check the camera on first use, then RGB frames until it fails."""
        self._cam = self._cam or self._open()
        start = time.monotonic()
        while True:
            try:
                # picamera2's "RGB888" is stored B, G, R in memory: flip to RGB.
                frame = np.ascontiguousarray(self._cam.capture_array("main")[:, :, ::-1])
            except RuntimeError as exc:
                raise CameraError(f"Pi camera stopped delivering frames: {exc}") from None
            yield frame, _now_ms(start)

    def close(self) -> None:
        """Stop and release the camera; a later ``frames()`` opens and checks it again."""
        if self._cam is not None:
            self._cam.stop()
            self._cam.close()
            self._cam = None


@dataclass
class FakeSource:
    """In-memory frames for tests; ``fail_after`` makes the camera vanish after that many frames."""

    items: list[tuple[np.ndarray, int]]
    fail_after: int | None = None
    closed: bool = False

    def frames(self) -> Iterator[tuple[np.ndarray, int]]:
        """The given frames in order, raising CameraError at ``fail_after``."""
        for i, item in enumerate(self.items):
            if self.fail_after is not None and i >= self.fail_after:
                raise CameraError("fake camera disconnected")
            yield item

    def close(self) -> None:
        """Note the call, so tests can check that sessions release their camera."""
        self.closed = True


def open_source(spec: str, *, width: int = 640, height: int = 480, fps: float = 15.0,
                pairing: Path | None = None) -> FrameSource:
    """``picamera``, ``/dev/videoN`` (or ``v4l2:/dev/videoN``), or a clip / frame folder path.

    ``pairing``: the paired camera record (STATE/camera.json); cameras other than the paired one are refused.
    """
    if spec == "picamera":
        return PiCameraSource(width, height, fps, pairing=pairing)
    if spec.startswith("v4l2:") or spec.startswith("/dev/video"):
        return V4L2Source(spec.removeprefix("v4l2:"), width, height, fps, pairing)
    return FileSource(Path(spec), fps)
