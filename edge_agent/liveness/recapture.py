"""A second witness against screen replays, independent of MiniFASNet: the recapture device's frame.

Physics, not a learned model. A face shown on a phone, tablet or monitor is
drawn inside the device's screen: a rigid, flat, convex quadrilateral whose
four straight edges (the screen's border against its bezel, or the bezel
against the room) are all in view when the attacker's camera sees the whole
device. A live face is never enclosed like that: the head sits on a neck
and a body that run out of the bottom of the frame, so no closed straight
edge passes below the chin, across the neck, from one side of the face to
the other. Doors, windows, pictures and shirt stripes give straight lines
near a face; what they do not give is a closed convex quadrilateral, every
side of it a supported straight edge, with the whole face inside it and all
four sides inside the picture.

Per frame: edges (Canny) of the frame scaled to ``WORK_PX`` on its long side;
long straight segments among them (Hough), near-vertical ones left and right
of the face, near-horizontal ones above and below it (the ``TOP_LINES``
longest on each side); every choice of four makes a quadrilateral from
their crossings. It counts as a device frame when it is convex, holds the
face box (grown by ``FACE_MARGIN``), is at least ``MIN_AREA_RATIO`` times
the box's area, stays ``BORDER`` of the picture's size inside every border
(the picture's own border is no device), the picture outside it is not a
flat software fill (``PAD_STD``: a letterbox, a rotated photo's pad), and
its sides lie on edge pixels along at least ``MIN_SIDE_SUPPORT`` of their
length, one side let fall ``OCCLUSION`` lower (the finger or hand holding
the device). The frame's score is the best such support among the quads
(0 when there is none).

Per session: the device is seen when ``MIN_FRAMES`` frames show it; one
frame alone may be a coincidence of edges, a device held up to the camera
is in view for many. Where it stops working: an attacker who fills the
camera's whole view with the screen from the first frame (no border in
view) is not seen by this witness, only by MiniFASNet and the challenge.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["DeviceFrameWitness", "device_frame_score"]

WORK_PX = 320  # long side of the working image: a phone's bezel survives, the cost stays small (bench/liveness.py)
FACE_MARGIN = 0.1  # the face box grown by this fraction of its size on every side must lie inside the quad
MIN_AREA_RATIO = 1.8  # a quad hugging the face itself (hairline, jaw) is no device: the screen shows more
BORDER = 0.02  # every corner this fraction of the picture's size inside its borders
# Fraction of each side's length with an edge pixel within 2 px. Frames of the real phone replay score 0.93-1.0;
# 1264 bona fide photos at most 0.81 (a rotated photo's software pad); real clips and live phone sessions 0.
MIN_SIDE_SUPPORT = 0.85
# The hand that holds or taps the device hides part of one side: the weakest side may fall this much further.
OCCLUSION = 0.25
MIN_LINE = 0.12  # a side's detected segment is at least this fraction of the picture's short side
MAX_TILT_DEG = 25.0  # sides within this of vertical / horizontal: a device held roughly upright, tilted
TOP_LINES = 5  # longest candidate lines kept per side of the face (5**4 quads at most)
PAD_STD = 4.0  # grey-level spread below which the outside of a quad is a software fill, not a scene
MIN_FRAMES = 2  # frames showing the device before the session is refused
THRESHOLD = MIN_SIDE_SUPPORT  # a frame's score at or above this shows a device


def _support(edges: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of points along the segment a-b that fall on the (dilated) edge map."""
    n = max(8, int(np.hypot(*(b - a))))
    t = np.linspace(0.0, 1.0, n)
    pts = np.round(a[None, :] + t[:, None] * (b - a)[None, :]).astype(int)
    h, w = edges.shape
    pts[:, 0] = np.clip(pts[:, 0], 0, w - 1)
    pts[:, 1] = np.clip(pts[:, 1], 0, h - 1)
    return float(np.mean(edges[pts[:, 1], pts[:, 0]] > 0))


def _digital_pad(grey: np.ndarray, quad: np.ndarray) -> bool:
    """Whether the picture outside the quad is a flat fill (a letterbox, the black pad of a rotated photo).

    A camera filming a device sees a room or a hand around it, with texture and sensor noise; a picture that
    was padded by software has a constant border. Such a quad is the picture's own edge, not a device.
    """
    mask = np.zeros(grey.shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), (1,))
    inside = cv2.dilate(mask, np.ones((7, 7), np.uint8))
    outside = grey[inside == 0]
    return outside.size == 0 or float(np.std(outside)) < PAD_STD


def _lines(edges: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Long straight edge segments, split into near-vertical and near-horizontal (within ``MAX_TILT_DEG``)."""
    sh, sw = edges.shape
    found = cv2.HoughLinesP(edges, 1, np.pi / 180, 30, minLineLength=MIN_LINE * min(sh, sw), maxLineGap=4)
    vertical: list[np.ndarray] = []
    horizontal: list[np.ndarray] = []
    for x0, y0, x1, y1 in ([] if found is None else found.reshape(-1, 4)):
        angle = np.degrees(np.arctan2(abs(y1 - y0), abs(x1 - x0)))
        seg = np.array([[x0, y0], [x1, y1]], np.float64)
        if angle >= 90 - MAX_TILT_DEG:
            vertical.append(seg)
        elif angle <= MAX_TILT_DEG:
            horizontal.append(seg)
    return vertical, horizontal


def _meet(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Where the infinite lines through segments a and b cross (None when parallel)."""
    d1, d2 = a[1] - a[0], b[1] - b[0]
    den = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(den) < 1e-9:
        return None
    t = ((b[0][0] - a[0][0]) * d2[1] - (b[0][1] - a[0][1]) * d2[0]) / den
    out: np.ndarray = a[0] + t * d1
    return out


def _at(seg: np.ndarray, *, y: float | None = None, x: float | None = None) -> float:
    """The x of a segment's line at height y, or its y at x."""
    (x0, y0), (x1, y1) = seg
    if y is not None:
        return float(x0 if y1 == y0 else x0 + (y - y0) * (x1 - x0) / (y1 - y0))
    assert x is not None
    return float(y0 if x1 == x0 else y0 + (x - x0) * (y1 - y0) / (x1 - x0))


def device_frame_score(rgb: np.ndarray, box: np.ndarray) -> float:
    """The frame's evidence of a device framing the face: the best quad's side support, one side let be hidden.

    ``box`` is the face box (x0, y0, x1, y1) in ``rgb``'s pixels. A quad is made of four long straight edges,
    one on each side of the face (left and right near-vertical, above and below near-horizontal); 0.0 when no
    such four enclose the face. A quad's score is its second-weakest side's edge support, or its weakest
    side's plus ``OCCLUSION`` when lower (a finger on one edge); at or above ``THRESHOLD`` a device's
    screen or bezel frames the face.
    """
    h, w = rgb.shape[:2]
    scale = WORK_PX / max(h, w)
    # Grey first, then shrink: one channel to average instead of three (the same picture up to rounding).
    small = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    grey = cv2.GaussianBlur(small, (3, 3), 0)
    sh, sw = grey.shape
    med = float(np.median(grey))
    edges = cv2.Canny(grey, max(10.0, 0.5 * med), max(30.0, 1.2 * med))
    near = cv2.dilate(edges, np.ones((5, 5), np.uint8))  # "within 2 px" for the side support
    x0, y0, x1, y1 = (float(v) * scale for v in box[:4])
    mx, my = FACE_MARGIN * (x1 - x0), FACE_MARGIN * (y1 - y0)
    fx0, fy0, fx1, fy1 = x0 - mx, y0 - my, x1 + mx, y1 + my
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    vertical, horizontal = _lines(edges)

    def longest(segs: list[np.ndarray]) -> list[np.ndarray]:
        return sorted(segs, key=lambda s: -float(np.hypot(*(s[1] - s[0]))))[:TOP_LINES]

    left = longest([s for s in vertical if _at(s, y=cy) < fx0])
    right = longest([s for s in vertical if _at(s, y=cy) > fx1])
    top = longest([s for s in horizontal if _at(s, x=cx) < fy0])
    bottom = longest([s for s in horizontal if _at(s, x=cx) > fy1])
    face_area = (fx1 - fx0) * (fy1 - fy0)
    bx, by = BORDER * sw, BORDER * sh
    best = 0.0
    for le, ri, to, bo in itertools.product(left, right, top, bottom):
        corners = [_meet(le, to), _meet(ri, to), _meet(ri, bo), _meet(le, bo)]
        if any(c is None for c in corners):
            continue
        quad = np.array(corners, np.float32)
        if (quad[:, 0].min() < bx or quad[:, 0].max() > sw - 1 - bx or quad[:, 1].min() < by
                or quad[:, 1].max() > sh - 1 - by):
            continue
        if not cv2.isContourConvex(quad) or cv2.contourArea(quad) < MIN_AREA_RATIO * face_area:
            continue
        if any(cv2.pointPolygonTest(quad, (px, py), False) < 0
               for px, py in ((fx0, fy0), (fx1, fy0), (fx1, fy1), (fx0, fy1))):
            continue
        sides = sorted(_support(near, quad[i].astype(np.float64), quad[(i + 1) % 4].astype(np.float64))
                       for i in range(4))
        score = min(sides[1], sides[0] + OCCLUSION)
        if score > best and not _digital_pad(grey, quad):  # the costly check last, only for a better quad
            best = score
            if best >= 1.0:  # no quad scores higher
                break
    return best


@dataclass
class DeviceFrameWitness:
    """The session's device-frame evidence: each checked frame's score; attack once ``MIN_FRAMES`` show one."""

    threshold: float = THRESHOLD
    min_frames: int = MIN_FRAMES
    scores: list[float] = field(default_factory=list)

    def add(self, rgb: np.ndarray, box: np.ndarray) -> float:
        """Score one frame with its one face's box and keep the score."""
        s = device_frame_score(rgb, box)
        self.scores.append(s)
        return s

    @property
    def frames_seen(self) -> int:
        """Frames whose score shows a device framing the face."""
        return sum(s >= self.threshold for s in self.scores)

    @property
    def attack(self) -> bool:
        """Whether enough frames showed a device: the session is a recapture whatever MiniFASNet says."""
        return self.frames_seen >= self.min_frames
