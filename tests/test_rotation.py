"""Phone recordings are read upright: the container's rotation flag is applied to every decoded frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.camera.files import iter_frames
from edge_agent.vision.pipeline import FacePipeline

# ISO BMFF track header matrices (16.16 fixed point; w in 2.30), as ffmpeg writes them for a display rotation.
_MATRIX = {
    0: (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000),
    90: (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000),
    270: (0, -0x10000, 0, 0x10000, 0, 0, 0, 0, 0x40000000),
}


def _flagged_clip(tmp_path: Path, degrees: int) -> tuple[Path, list[np.ndarray]]:
    """An MP4 whose track header says "turn by ``degrees`` to display", and the frames as stored (BGR)."""
    path = tmp_path / f"rot{degrees}.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 64))
    stored = []
    for i in range(5):
        frame = np.zeros((64, 96, 3), np.uint8)
        frame[:, :48] = (0, 0, 200)  # left half red, a bright block near the top left: any turn moves them
        frame[4:20, 4:20] = 255
        frame[40:60, 60 + i * 4:70 + i * 4] = (0, 180, 0)
        writer.write(frame)
        stored.append(frame)
    writer.release()
    data = bytearray(path.read_bytes())
    tkhd = data.find(b"tkhd")
    assert tkhd > 0 and data[tkhd + 4] == 0  # version 0: the matrix starts 40 bytes after version and flags
    start = tkhd + 4 + 40
    data[start:start + 36] = b"".join(v.to_bytes(4, "big", signed=True) for v in _MATRIX[degrees])
    path.write_bytes(bytes(data))
    return path, stored


@pytest.mark.parametrize(("degrees", "turn"), [(90, cv2.ROTATE_90_CLOCKWISE), (270, cv2.ROTATE_90_COUNTERCLOCKWISE)])
def test_a_flagged_clip_is_turned_upright(tmp_path: Path, degrees: int, turn: int) -> None:
    path, stored = _flagged_clip(tmp_path, degrees)
    frames = [rgb for rgb, _ in iter_frames(path)]
    assert len(frames) == len(stored)
    for rgb, bgr in zip(frames, stored, strict=True):
        assert rgb.shape == (96, 64, 3)
        expected = cv2.cvtColor(cv2.rotate(bgr, turn), cv2.COLOR_BGR2RGB).astype(int)
        assert np.abs(rgb.astype(int) - expected).mean() < 6  # mp4v is lossy; a wrong turn differs by ~60


def test_an_unflagged_clip_is_left_as_stored(tmp_path: Path) -> None:
    path, stored = _flagged_clip(tmp_path, 0)
    rgb = next(iter(iter_frames(path)))[0]
    assert rgb.shape == (64, 96, 3)
    assert np.abs(rgb.astype(int) - cv2.cvtColor(stored[0], cv2.COLOR_BGR2RGB)).mean() < 6


def _face_rate(pipeline: FacePipeline, frames: list[np.ndarray]) -> float:
    found = 0
    for rgb in frames:
        faces = pipeline.detector.detect(rgb)
        found += bool(faces) and faces[0].keypoints[2][1] > faces[0].keypoints[0][1]  # nose below the eyes
    return found / len(frames)


@pytest.mark.slow  # seconds of model runs: the fast tier stays under its minute (tests/tier_budget.py)
@pytest.mark.parametrize("name", ["live_131267.mov", "live_b89f74.mov", "live_380c0e.mp4", "replay_2c633b.mp4"])
def test_shared_phone_recordings_are_read_upright(phone_samples_dir: Path, pipeline: FacePipeline,
                                                  name: str) -> None:
    """Every phone sample is stored sideways; read through iter_frames its faces stand upright and are found."""
    frames = [rgb for i, (rgb, _) in enumerate(iter_frames(phone_samples_dir / name)) if i % 10 == 0]
    assert all(f.shape[0] > f.shape[1] for f in frames)  # portrait, as filmed
    sideways = [cv2.rotate(f, cv2.ROTATE_90_COUNTERCLOCKWISE) for f in frames]  # what was read before the fix
    upright = _face_rate(pipeline, frames)
    assert upright >= 0.8, upright
    assert _face_rate(pipeline, sideways) < upright
