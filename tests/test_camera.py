"""Frame sources: files and folders, missing cameras, cameras that vanish mid-stream."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.camera.source import CameraError, FakeSource, FileSource, PiCameraSource, V4L2Source, open_source


def _clip(tmp_path: Path, n: int = 10) -> Path:
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(n):
        w.write(np.full((48, 64, 3), i * 20, np.uint8))
    w.release()
    return path


def test_clip_and_folder(tmp_path: Path) -> None:
    frames = list(FileSource(_clip(tmp_path)).frames())
    assert len(frames) == 10 and frames[0][0].shape == (48, 64, 3)
    times = [t for _, t in frames]
    assert times == sorted(times) and times[-1] > 0
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.zeros((40, 40, 3), np.uint8))
    assert [t for _, t in FileSource(folder, fps=10).frames()] == [0, 100, 200]


def test_unreadable_clip_is_a_camera_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"junk" * 100)
    with pytest.raises(CameraError, match="not a readable video"):
        list(FileSource(bad).frames())


def test_missing_usb_camera() -> None:
    with pytest.raises(CameraError, match="no camera at /dev/video99"):
        next(V4L2Source("/dev/video99").frames())


def test_missing_picamera2_is_explained() -> None:
    pytest.importorskip("cv2")
    try:
        import picamera2  # type: ignore[import-not-found]  # noqa: F401
        pytest.skip("picamera2 is installed here")
    except ImportError:
        pass
    with pytest.raises(CameraError, match="apt install python3-picamera2"):
        next(PiCameraSource().frames())


def test_fake_camera_vanishes_mid_stream() -> None:
    src = FakeSource([(np.zeros((4, 4, 3), np.uint8), i * 66) for i in range(10)], fail_after=4)
    got = []
    with pytest.raises(CameraError, match="disconnected"):
        for frame, _ in src.frames():
            got.append(frame)
    assert len(got) == 4


def test_open_source_dispatch(tmp_path: Path) -> None:
    assert isinstance(open_source("picamera"), PiCameraSource)
    assert isinstance(open_source("/dev/video2"), V4L2Source)
    assert open_source("v4l2:/dev/video1").device == "/dev/video1"  # type: ignore[attr-defined]
    assert isinstance(open_source(str(tmp_path)), FileSource)
