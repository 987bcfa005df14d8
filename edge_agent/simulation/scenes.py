"""Synthetic verification scenes from one real face photo, for liveness tests and benchmarks.

A *live* scene animates the photo's face in 3-D: the face mesh found on the
photo (468 points with depth) is textured with the photo, rotated, projected
with a pinhole camera and drawn triangle by triangle (far triangles first);
a blink moves the upper eyelid points onto the lower lid, so the lid skin
covers the eye. Attack scenes move the *whole photo as a flat plane*
(a homography, as a printed photo or a screen would move), hold it still, or
replay an earlier scene's frames.

What this proves and what it does not: the synthetic face has true 3-D
parallax and true eyelid closure, so the signal processing, the state
machine and the planar-motion test are exercised end to end on real models.
It is not a real person: skin, hair, ears, lighting changes and camera noise
are absent, and mask or high-quality 3-D attacks are not modelled.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["Face3D", "Keyframe", "Scene", "challenge_timeline", "live_scene", "planar_scene", "static_scene",
           "swap_scene", "write_clip"]

# Face-mesh eyelid contours (upper lid, lower lid), paired point by point.
_RIGHT_UPPER = [246, 161, 160, 159, 158, 157, 173]
_RIGHT_LOWER = [7, 163, 144, 145, 153, 154, 155]
_LEFT_UPPER = [466, 388, 387, 386, 385, 384, 398]
_LEFT_LOWER = [249, 390, 373, 374, 380, 381, 382]
# The skin fold above each upper lid, which follows the lid part of the way down.
_RIGHT_FOLD = [247, 30, 29, 27, 28, 56, 190]
_LEFT_FOLD = [467, 260, 259, 257, 258, 286, 414]
_FOLD_FOLLOW = 0.85
# The outer eye corners (subject's right, subject's left): the line between them gives the face's own roll and yaw.
_EYE_CORNERS = (33, 263)
_LEVEL_DEG = 8.0  # a face turned or tilted by more than this is levelled before it is animated (image_T1: 19, 15)
FRAME_WIDTH = 640


@dataclass(frozen=True)
class Keyframe:
    """The head's pose and eyelids at one moment; scenes interpolate between keyframes."""

    t_ms: int
    yaw: float  # degrees, positive = the subject's left
    pitch: float = 0.0
    eyes_closed: float = 0.0  # 0 open .. 1 closed


@dataclass
class Scene:
    """A clip's frames and times, and whether it shows a live person (what a session should decide)."""

    name: str
    frames: list[np.ndarray]
    times_ms: list[int]
    live: bool

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        return iter(zip(self.frames, self.times_ms, strict=True))


def _interpolate(keys: list[Keyframe], t: int) -> Keyframe:
    if t <= keys[0].t_ms:
        return keys[0]
    for a, b in itertools.pairwise(keys):
        if a.t_ms <= t <= b.t_ms:
            w = (t - a.t_ms) / max(1, b.t_ms - a.t_ms)
            return Keyframe(t, a.yaw + w * (b.yaw - a.yaw), a.pitch + w * (b.pitch - a.pitch),
                            a.eyes_closed + w * (b.eyes_closed - a.eyes_closed))
    return keys[-1]


def challenge_timeline(actions: list[str], *, start_ms: int = 600, action_ms: int = 900, rest_ms: int = 700,
                       turn_deg: float = 32.0) -> list[Keyframe]:
    """Keyframes performing ``actions`` ("blink", "turn_left", "turn_right") one after another, frontal between."""
    keys = [Keyframe(0, 0.0)]
    t = start_ms
    for action in actions:
        keys.append(Keyframe(t, 0.0))
        if action == "blink":
            keys += [Keyframe(t + 120, 0.0, 0.0, 1.0), Keyframe(t + 300, 0.0, 0.0, 1.0), Keyframe(t + 420, 0.0)]
            t += 420 + rest_ms
        else:
            yaw = turn_deg if action == "turn_left" else -turn_deg
            keys += [Keyframe(t + action_ms // 2, yaw), Keyframe(t + action_ms // 2 + 300, yaw),
                     Keyframe(t + action_ms + 300, 0.0)]
            t += action_ms + 300 + rest_ms
    keys.append(Keyframe(t + 600, 0.0))
    return keys


def _rot(yaw: float, pitch: float) -> np.ndarray:
    y, p = np.radians(yaw), np.radians(pitch)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rot: np.ndarray = rx @ ry
    return rot


def _warp_triangle(src: np.ndarray, dst: np.ndarray, s_tri: np.ndarray, d_tri: np.ndarray) -> None:
    x, y, w, h = cv2.boundingRect(d_tri.astype(np.float32))
    if w <= 0 or h <= 0:
        return
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(dst.shape[1], x + w), min(dst.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    m = cv2.getAffineTransform(s_tri.astype(np.float32), (d_tri - [x0, y0]).astype(np.float32))
    patch = cv2.warpAffine(src, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillConvexPoly(mask, np.round(d_tri - [x0, y0]).astype(np.int32), (1,), lineType=cv2.LINE_8)
    region = dst[y0:y1, x0:x1]
    region[mask > 0] = patch[mask > 0]


def _upright(xyz: np.ndarray) -> np.ndarray:
    """The mesh turned so its eye line is level and square to the camera: the customer's rest pose is frontal.

    A photo taken with the head tilted or turned (a selfie held to one side) would otherwise start every
    clip with the head already turned, so the session never sees the frontal rest that precedes each step and
    the clip fails for a reason no real customer has (a customer is asked to face the camera). Roll (in the
    image plane) and yaw (about the vertical axis) come from the mesh's own eye corners, not from the
    liveness code's head-pose estimate; pitch is left as photographed (people look slightly down at a
    screen, and the session measures turns, not nods). The texture is unchanged: each triangle keeps its
    photo pixels, so the face's far side, foreshortened in the photo, is stretched back when it turns
    toward the camera. A photo already within ``_LEVEL_DEG`` of frontal (the shared test photos) is rendered
    as photographed, so the scenes that tests and benchmarks were calibrated on stay the same.
    """
    ex = xyz[_EYE_CORNERS[1]] - xyz[_EYE_CORNERS[0]]
    if max(abs(np.degrees(np.arctan2(ex[1], ex[0]))), abs(np.degrees(np.arctan2(ex[2], ex[0])))) <= _LEVEL_DEG:
        return xyz
    roll = np.arctan2(ex[1], ex[0])
    c, s = np.cos(roll), np.sin(roll)
    unroll = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    out: np.ndarray = xyz @ unroll.T
    ex = out[_EYE_CORNERS[1]] - out[_EYE_CORNERS[0]]
    yaw = np.degrees(np.arctan2(ex[2], ex[0]))  # > 0: the subject's left eye is farther, head turned to the left
    level: np.ndarray = out @ _rot(yaw, 0.0).T
    return level


class Face3D:
    """A photo's face as a textured 3-D mesh that can be posed and rendered."""

    def __init__(self, rgb: np.ndarray, mesh_points: np.ndarray) -> None:
        scale = FRAME_WIDTH / rgb.shape[1]
        self.texture = cv2.resize(rgb, (FRAME_WIDTH, round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        pts = mesh_points.astype(np.float64) * scale
        self.uv = pts[:, :2].copy()
        self.centre = pts.mean(0)
        self.xyz = _upright(pts - self.centre)
        h, w = self.texture.shape[:2]
        subdiv = cv2.Subdiv2D((-w, -h, 3 * w, 3 * h))
        for x, y in self.uv:
            subdiv.insert((float(x), float(y)))
        tris = []
        for t in subdiv.getTriangleList():
            corners = np.asarray(t, np.float64).reshape(3, 2)
            dist = np.linalg.norm(self.uv[None, :, :] - corners[:, None, :], axis=2)
            idx = dist.argmin(1)
            if dist[np.arange(3), idx].max() < 0.5 and len(set(idx)) == 3:
                tris.append(idx)
        self.triangles = np.array(tris, dtype=np.int64)
        # The plate: the photo with the face filled in from its surroundings, so a turned face shows no ghost.
        hull = cv2.convexHull(np.round(self.uv).astype(np.int32))
        hull_mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(hull_mask, hull, (255,))
        grown = cv2.dilate(hull_mask, np.ones((9, 9), np.uint8))
        self.plate = cv2.inpaint(self.texture, grown, 5, cv2.INPAINT_TELEA)
        self.focal = 2.0 * w

    def pose(self, key: Keyframe) -> np.ndarray:
        """The mesh's 3-D points about its centre, eyelids closed by ``eyes_closed``, turned by yaw and pitch."""
        xyz = self.xyz.copy()
        if key.eyes_closed > 0:
            lids = ((_RIGHT_UPPER, _RIGHT_LOWER, _RIGHT_FOLD), (_LEFT_UPPER, _LEFT_LOWER, _LEFT_FOLD))
            for upper, lower, fold in lids:
                shift = key.eyes_closed * (xyz[lower] - xyz[upper])
                xyz[upper] += shift
                xyz[fold] += _FOLD_FOLLOW * shift
        posed: np.ndarray = xyz @ _rot(-key.yaw, key.pitch).T  # image x grows to the subject's left
        return posed

    def render(self, key: Keyframe) -> np.ndarray:
        """The frame at ``key``: the posed mesh projected and drawn far triangles first over the face-less plate."""
        xyz = self.pose(key)
        z = xyz[:, 2] + self.focal
        proj = xyz[:, :2] * (self.focal / z)[:, None] + self.centre[:2]
        frame = self.plate.copy()
        depth = z[self.triangles].mean(1)
        for tri in self.triangles[np.argsort(-depth)]:
            d = proj[tri]
            # degenerate triangles (seen edge-on: zero area on screen) are not drawn; the far-to-near order hides
            # the ones turned away from the camera
            if (d[1, 0] - d[0, 0]) * (d[2, 1] - d[0, 1]) - (d[1, 1] - d[0, 1]) * (d[2, 0] - d[0, 0]) == 0:
                continue
            _warp_triangle(self.texture, frame, self.uv[tri], d)
        return frame


def _times(keys: list[Keyframe], fps: float) -> list[int]:
    end = keys[-1].t_ms
    return [round(i * 1000 / fps) for i in range(int(end * fps / 1000) + 1)]


def live_scene(face: Face3D, actions: list[str], *, fps: float = 15.0, name: str = "live", **timing: float) -> Scene:
    """A live person performing ``actions``: the face turned and blinking in 3-D, as a session should pass."""
    keys = challenge_timeline(actions, **timing)  # type: ignore[arg-type]
    times = _times(keys, fps)
    return Scene(name, [face.render(_interpolate(keys, t)) for t in times], times, True)


def planar_scene(face: Face3D, actions: list[str], *, fps: float = 15.0, name: str = "planar") -> Scene:
    """The photo held as a flat card and turned like a head (a screen replaying a blink, then tilted)."""
    keys = challenge_timeline(actions)
    times = _times(keys, fps)
    h, w = face.texture.shape[:2]
    corners = np.array([[0, 0, 0], [w, 0, 0], [w, h, 0], [0, h, 0]], np.float64) - [face.centre[0], face.centre[1], 0]
    frames = []
    for t in times:
        key = _interpolate(keys, t)
        card = face.render(Keyframe(t, 0.0, 0.0, key.eyes_closed)) if key.eyes_closed else face.texture
        xyz = corners @ _rot(-key.yaw, key.pitch).T
        z = xyz[:, 2] + face.focal
        dst = xyz[:, :2] * (face.focal / z)[:, None] + face.centre[:2]
        src = corners[:, :2] + face.centre[:2]
        hmat = cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32))
        frames.append(cv2.warpPerspective(card, hmat, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=(90, 90, 90)))
    return Scene(name, frames, times, False)


def static_scene(face: Face3D, seconds: float = 8.0, fps: float = 15.0) -> Scene:
    """The photo held perfectly still for ``seconds``: an attack with no motion at all."""
    times = [round(i * 1000 / fps) for i in range(int(seconds * fps))]
    return Scene("static photo", [face.texture.copy() for _ in times], times, False)


def _fit(rgb: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``rgb`` scaled to the width of ``shape`` and cropped or padded (grey) about its centre to its height."""
    h, w = shape[:2]
    scaled = cv2.resize(rgb, (w, max(1, round(rgb.shape[0] * w / rgb.shape[1]))), interpolation=cv2.INTER_AREA)
    out = np.full((h, w, 3), 90, np.uint8)
    sh = scaled.shape[0]
    if sh >= h:
        top = (sh - h) // 2
        out[:] = scaled[top:top + h]
    else:
        top = (h - sh) // 2
        out[top:top + sh] = scaled
    return out


def swap_scene(scene: Scene, other: Scene, *, at: int, count: int = 1, morph: float = 1.0) -> Scene:
    """``scene`` with frames ``at`` .. ``at + count - 1`` replaced by ``other``'s frames at the same times.

    ``morph`` < 1 blends the other person's frame into the victim's (a morph) instead of replacing it.
    The result is an attack: another face inside one session.
    """
    frames = list(scene.frames)
    for i in range(at, min(at + count, len(frames), len(other.frames))):
        mixed = morph * _fit(other.frames[i], frames[i].shape).astype(np.float32) + (1 - morph) * frames[i].astype(
            np.float32)
        frames[i] = np.clip(mixed, 0, 255).astype(np.uint8)
    return Scene(f"{scene.name} + {count} frame(s) of {other.name}", frames, list(scene.times_ms), False)


def write_clip(scene: Scene, path: Path, fps: float = 15.0) -> None:
    """Motion-JPEG in AVI: every OpenCV build writes and reads it, so a clip made here plays anywhere."""
    h, w = scene.frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"cannot write a video to {path}")
    try:
        for frame in scene.frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
