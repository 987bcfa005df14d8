"""Everyday nuisances laid over real footage: what a real customer does at a counter, not an attack.

Each generator takes a real clip's frames (RGB, time in ms) and returns new
frames with one nuisance added, so a session run on them tells whether the
product still treats the customer as a customer:

* ``pass_occluder``: a hand (a palm with four fingers and a thumb, the
  subject's own skin tone) or a flat object (a card, a phone) swept across
  the face, motion-blurred along its path, as a hand waved past glasses;
* ``push_up_glasses``: dark-rimmed glasses drawn over the eyes that slide up
  onto the forehead over a few frames, the hand that pushes them included;
* ``glance_aside``: a few frames of the clip's own turned head spliced in,
  a customer who looks aside for an instant (during a blink step, say);
* ``edge_face``: a second, small face (another person's real photo) at the
  edge of the frame, someone passing behind the customer.

A look down is not synthesised: the real phone recordings look down
(``/work/shared/data/video/phone-samples``). Everything is drawn from the
``rng`` or the arguments given, so a variant is reproducible.

What this is not: a photograph of a hand. Shapes are polygons with a skin
tone, shading and blur; the detector and mesh see an occluder of a hand's
size, colour and motion, which is what the session's rules are about.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["Frames", "edge_face", "face_box", "glance_aside", "pass_occluder", "push_up_glasses"]

Frames = list[tuple[np.ndarray, int]]


def face_box(mesh_points: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a face mesh in pixels, the frame the nuisances are placed by."""
    xs, ys = mesh_points[:, 0], mesh_points[:, 1]
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def _skin(rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The subject's own skin tone: the median colour of a cheek patch (a hand is usually close to it)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    patch = rgb[int(y0 + 0.55 * h): int(y0 + 0.7 * h), int(x0 + 0.15 * w): int(x0 + 0.3 * w)]
    if patch.size == 0:
        return np.array([190.0, 150.0, 130.0])
    tone: np.ndarray = np.median(patch.reshape(-1, 3), axis=0).astype(np.float64)
    return tone


def _hand_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    """A hand seen from the palm side, fingers up, in a ``size`` x ``size`` float mask (0..1)."""
    mask = np.zeros((size, size), np.float32)
    s = size
    cv2.ellipse(mask, (s // 2, int(0.68 * s)), (int(0.27 * s), int(0.24 * s)), 0, 0, 360, (1.0,), -1)  # palm
    spread = rng.uniform(0.0, 8.0)
    for k, (dx, length) in enumerate(((-0.18, 0.36), (-0.06, 0.42), (0.06, 0.40), (0.18, 0.33))):
        angle = np.radians((k - 1.5) * spread)
        base = np.array([s / 2 + dx * s, 0.5 * s])
        tip = base + length * s * np.array([np.sin(angle), -np.cos(angle)])
        cv2.line(mask, tuple(int(v) for v in base), tuple(int(v) for v in tip), (1.0,), max(2, int(0.09 * s)))
        cv2.circle(mask, tuple(int(v) for v in tip), max(1, int(0.045 * s)), (1.0,), -1)
    thumb_base = np.array([0.26 * s, 0.70 * s])
    thumb_tip = np.array([0.05 * s, 0.45 * s])
    cv2.line(mask, tuple(int(v) for v in thumb_base), tuple(int(v) for v in thumb_tip), (1.0,), max(2, int(0.1 * s)))
    return mask


def _object_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    """A card or a phone held upright: a rounded rectangle."""
    mask = np.zeros((size, size), np.float32)
    w, h = int(size * rng.uniform(0.45, 0.6)), int(size * rng.uniform(0.8, 0.95))
    x0, y0 = (size - w) // 2, (size - h) // 2
    r = max(2, size // 14)
    cv2.rectangle(mask, (x0 + r, y0), (x0 + w - r, y0 + h), (1.0,), -1)
    cv2.rectangle(mask, (x0, y0 + r), (x0 + w, y0 + h - r), (1.0,), -1)
    for cx, cy in ((x0 + r, y0 + r), (x0 + w - r, y0 + r), (x0 + r, y0 + h - r), (x0 + w - r, y0 + h - r)):
        cv2.circle(mask, (cx, cy), r, (1.0,), -1)
    return mask


def _motion_blur(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Blur along the motion (dx, dy) in pixels per frame: a line kernel of that length, as a shutter sees it."""
    length = round(np.hypot(dx, dy))
    if length < 2:
        return img
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    ux, uy = dx / np.hypot(dx, dy), dy / np.hypot(dx, dy)
    cv2.line(k, (round(c - ux * c), round(c - uy * c)), (round(c + ux * c), round(c + uy * c)),
             (1.0,), 1)
    k /= k.sum()
    out: np.ndarray = cv2.filter2D(img, -1, k, borderType=cv2.BORDER_CONSTANT)
    return out


def _paste(rgb: np.ndarray, layer: np.ndarray, alpha: np.ndarray, x: int, y: int) -> np.ndarray:
    """``layer`` (float RGB) blended into ``rgb`` through ``alpha`` with its top-left corner at (x, y), clipped."""
    out = rgb.astype(np.float32)
    h, w = alpha.shape
    X0, Y0 = max(0, x), max(0, y)
    X1, Y1 = min(rgb.shape[1], x + w), min(rgb.shape[0], y + h)
    if X1 <= X0 or Y1 <= Y0:
        return rgb
    a = alpha[Y0 - y: Y1 - y, X0 - x: X1 - x, None]
    out[Y0:Y1, X0:X1] = out[Y0:Y1, X0:X1] * (1 - a) + layer[Y0 - y: Y1 - y, X0 - x: X1 - x] * a
    result: np.ndarray = np.clip(out, 0, 255).astype(np.uint8)
    return result


def pass_occluder(frames: Sequence[tuple[np.ndarray, int]], box: tuple[float, float, float, float], *, start: int,
                  length: int, kind: str = "hand", rng: np.random.Generator) -> Frames:
    """A hand (``kind="hand"``) or a card/phone (``"object"``) swept across the face over ``length`` frames.

    ``box`` is the face's box (``face_box``) at ``start``; the occluder, a little larger than the face's width,
    enters on one side, crosses the eyes and leaves on the other, blurred by its own motion per frame.
    """
    if kind not in ("hand", "object"):
        raise ValueError("kind must be 'hand' or 'object'")
    out = list(frames)
    x0, y0, x1, y1 = box
    fw, fh = x1 - x0, y1 - y0
    size = int(1.1 * max(fw, fh))
    mask = _hand_mask(size, rng) if kind == "hand" else _object_mask(size, rng)
    colour = _skin(frames[start][0], box) if kind == "hand" else rng.uniform(20, 90, 3)
    shade = np.linspace(1.08, 0.85, size, dtype=np.float32)[:, None, None]  # lit from above
    layer = np.ones((size, size, 3), np.float32) * colour.astype(np.float32)[None, None, :] * shade
    layer += rng.normal(0, 4, layer.shape).astype(np.float32)
    direction = 1 if rng.random() < 0.5 else -1
    cy = y0 + fh * rng.uniform(0.3, 0.55)  # across the eyes and nose
    xs = np.linspace(x0 - 0.8 * size, x1 - 0.2 * size, length + 2)[1:-1]
    if direction < 0:
        xs = xs[::-1]
    step = float(abs(xs[1] - xs[0])) if length > 1 else 0.0
    for k, i in enumerate(range(start, min(start + length, len(out)))):
        rgb, t = out[i]
        a = _motion_blur(mask, step * direction, 0.0)
        lay = _motion_blur(layer, step * direction, 0.0)
        out[i] = (_paste(rgb, lay, a, int(xs[k]), int(cy - size / 2)), t)
    return out


def push_up_glasses(frames: Sequence[tuple[np.ndarray, int]], meshes: Sequence[np.ndarray], *, start: int,
                    length: int) -> Frames:
    """Dark-rimmed glasses on the eyes until ``start``, then pushed up onto the forehead over ``length`` frames.

    ``meshes`` holds each frame's face mesh (the glasses follow the eyes); a fingertip pushes the bridge.
    """
    out = list(frames)
    for i, ((rgb, t), mesh) in enumerate(zip(frames, meshes, strict=True)):
        right, left = mesh[33, :2], mesh[263, :2]
        eye_w = float(np.linalg.norm(left - right))
        lift = 0.0 if i < start else min(1.0, (i - start + 1) / max(1, length))
        up = np.array([0.0, -1.0]) * lift * 0.9 * eye_w
        img = rgb.copy()
        bgr = np.ascontiguousarray(img)
        thick = max(2, int(0.06 * eye_w))
        for centre in ((right + 0.12 * (left - right)), (left - 0.12 * (left - right))):
            c = centre + up
            cv2.ellipse(bgr, (int(c[0]), int(c[1])), (int(0.3 * eye_w), int(0.2 * eye_w)), 0, 0, 360,
                        (25.0, 25.0, 25.0), thick)
        a, b = right + 0.42 * (left - right) + up, right + 0.58 * (left - right) + up
        cv2.line(bgr, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), (25.0, 25.0, 25.0), thick)
        if start <= i < start + length:  # the finger on the bridge
            tip = (a + b) / 2
            cv2.line(bgr, (int(tip[0]), int(tip[1])), (int(tip[0] + 0.1 * eye_w), int(tip[1] + 1.6 * eye_w)),
                     tuple(int(v) for v in _skin(rgb, face_box(mesh))), max(3, int(0.22 * eye_w)))
        out[i] = (bgr, t)
    return out


def glance_aside(frames: Sequence[tuple[np.ndarray, int]], turned: Sequence[np.ndarray], *, at: int) -> Frames:
    """The frames from ``at`` on replaced by the clip's own ``turned`` frames (a glance), keeping the times."""
    out = list(frames)
    for k, rgb in enumerate(turned):
        if at + k < len(out):
            out[at + k] = (rgb, out[at + k][1])
    return out


def edge_face(frames: Sequence[tuple[np.ndarray, int]], face: np.ndarray, *, width: int, side: str = "right",
              start: int = 0, length: int | None = None) -> Frames:
    """Another person's face photo (``face``, cropped to the face) scaled to ``width`` pixels at a frame edge.

    From ``start`` for ``length`` frames (all remaining by default), upper corner of the given side, as a
    passer-by in the background.
    """
    out = list(frames)
    h = round(face.shape[0] * width / face.shape[1])
    small = cv2.resize(face, (width, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    alpha = np.ones((h, width), np.float32)
    end = len(out) if length is None else min(len(out), start + length)
    for i in range(start, end):
        rgb, t = out[i]
        x = rgb.shape[1] - width - 4 if side == "right" else 4
        out[i] = (_paste(rgb, small, alpha, x, int(0.08 * rgb.shape[0])), t)
    return out
