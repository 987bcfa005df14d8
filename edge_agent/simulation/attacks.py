"""Made-up presentation attacks from real footage: screen replays and paper prints, re-captured by a camera.

Each attack takes a bona fide frame (a real person filmed by a real camera)
and shows it the way a second camera would see it on the attack instrument:

* ``screen``: the frame resampled to the display's pixel grid, the display's
  tone curve and colour cast (a backlit panel lifts blacks and tints
  whites), the sub-pixel grid that beats against the camera's sampling
  (moire), the bezel and the room around the device, a tilt (perspective
  warp), a glare patch from a room light;
* ``print``: ink on paper: a reduced tonal range (paper white, ink black),
  halftone dots, paper texture, a white margin, a slight bend;

then the re-capture: defocus, sensor noise, JPEG. Species are ``phone``
(a phone screen close to the camera), ``monitor`` (a larger screen farther
away, coarser pixel grid) and ``print``. All randomness comes from the
``rng`` given, so a variant is reproducible from its seed.

What this is not: a real replay. The optics of a real screen (viewing-angle
colour shift, refresh flicker, anti-glare coatings) and of real paper are
approximated, so figures measured on these attacks are marked as made-up
wherever they are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

__all__ = ["REPLAY_SPECIES", "SPECIES", "AttackStyle", "make_attack", "phone_to_phone", "style_for"]

SPECIES = ("phone", "monitor", "print")
# Species made over a whole clip rather than frame by frame (the instrument moves during the replay).
REPLAY_SPECIES = ("phone_to_phone",)


@dataclass(frozen=True)
class AttackStyle:
    """One attack instrument and its re-capture, drawn by ``style_for``; every random choice is a field."""

    species: str
    cover: float  # fraction of the captured frame's width the instrument's picture spans
    tilt_deg: float  # rotation of the instrument about its vertical axis
    roll_deg: float  # rotation in the image plane
    pixel_pitch: int  # display pixels per captured pixel cell (screens) / halftone cell (print), in captured px
    gamma: float
    black: float  # lowest level the instrument shows (0..255)
    white: float  # highest level
    tint: tuple[float, float, float]  # per-channel gain (R, G, B)
    glare: float  # peak added brightness of the glare patch (0..255)
    blur: float  # re-capture defocus sigma, px
    noise: float  # sensor noise sigma, grey levels
    jpeg: int  # re-capture JPEG quality


def style_for(species: str, rng: np.random.Generator) -> AttackStyle:
    """A random instrument and capture of one species."""
    if species not in SPECIES:
        raise ValueError(f"species must be one of {SPECIES}")
    u = rng.uniform
    if species == "print":
        return AttackStyle(species, u(0.75, 1.05), u(-20, 20), u(-6, 6), int(rng.integers(3, 6)), u(0.8, 1.2),
                           u(20, 45), u(200, 235), (u(0.95, 1.05), u(0.93, 1.02), u(0.85, 0.98)), u(0, 40),
                           u(0.6, 1.4), u(2, 5), int(rng.integers(60, 92)))
    near = species == "phone"
    return AttackStyle(species, u(0.8, 1.1) if near else u(0.6, 0.9), u(-25, 25), u(-8, 8),
                       int(rng.integers(2, 4)) if near else int(rng.integers(3, 6)), u(0.75, 1.25),
                       u(8, 30), u(215, 255), (u(0.9, 1.0), u(0.95, 1.05), u(1.0, 1.15)), u(20, 90),
                       u(0.5, 1.5), u(2, 6), int(rng.integers(60, 92)))


def _tone(img: np.ndarray, s: AttackStyle) -> np.ndarray:
    x = (img.astype(np.float32) / 255.0) ** s.gamma
    x = s.black + x * (s.white - s.black)
    out: np.ndarray = (x * np.asarray(s.tint, np.float32)).astype(np.float32)
    return out


def _subpixels(img: np.ndarray, pitch: int) -> np.ndarray:
    """An RGB stripe grid with dark gaps at the display's pitch: beats against the camera's pixels."""
    h, w = img.shape[:2]
    cols = np.arange(w) % pitch
    rows = np.arange(h) % pitch
    mask = np.ones((h, w, 3), np.float32)
    for c in range(3):
        mask[:, cols % 3 != c % max(1, pitch), c] *= 0.82
    mask[rows == pitch - 1] *= 0.7
    mask[:, cols == pitch - 1] *= 0.8
    return img * mask


def _halftone(img: np.ndarray, cell: int, rng: np.random.Generator) -> np.ndarray:
    """Ordered halftone: each cell's ink dot grows with darkness, per channel, screens at different angles."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty_like(img)
    for c, angle in enumerate((15.0, 75.0, 0.0)):
        a = np.radians(angle + rng.uniform(-3, 3))
        u = (xx * np.cos(a) + yy * np.sin(a)) / cell
        v = (-xx * np.sin(a) + yy * np.cos(a)) / cell
        d = np.hypot(u - np.round(u), v - np.round(v)) / 0.7071  # 0 at a dot centre, 1 at the cell corner
        darkness = 1.0 - img[:, :, c] / 255.0
        out[:, :, c] = np.where(d < np.sqrt(np.clip(darkness, 0, 1)), img[:, :, c] * 0.35, 255.0)
    paper = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.5) * 6
    printed: np.ndarray = np.clip(cv2.GaussianBlur(out, (0, 0), 0.7) * 0.6 + img * 0.4 + paper[:, :, None], 0, 255)
    return printed


def _room(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A plausible out-of-focus room behind the instrument: smooth colour blobs."""
    small = rng.uniform(40, 200, (4, 5, 3)).astype(np.float32)
    room: np.ndarray = cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 9)
    return room.astype(np.float32)


def make_attack(rgb: np.ndarray, style: AttackStyle, rng: np.random.Generator,
                finger: tuple[float, float] | None = None) -> np.ndarray:
    """The bona fide RGB frame as a camera of the same size would capture it on the attack instrument.

    ``finger``: a finger entering from the bottom edge at (x, reach) as fractions of the frame's width and
    height, in front of the instrument (the attacker's hand holding or tapping the device).
    """
    h, w = rgb.shape[:2]
    s = style
    pic_w = max(32, int(w * s.cover))
    pic_h = max(32, int(h * s.cover))
    pic = cv2.resize(rgb, (pic_w, pic_h), interpolation=cv2.INTER_AREA).astype(np.float32)
    pic = _tone(pic, s)
    if s.species == "print":
        pic = _halftone(pic, s.pixel_pitch, rng)
        margin = max(4, pic_w // 14)
        frame_colour = np.array([235.0, 232.0, 222.0])
    else:
        pic = _subpixels(pic, s.pixel_pitch)
        margin = max(4, pic_w // (10 if s.species == "phone" else 18))
        frame_colour = rng.uniform(5, 30) * np.ones(3)
    board = np.empty((pic_h + 2 * margin, pic_w + 2 * margin, 3), np.float32)
    board[:] = frame_colour
    board[margin:margin + pic_h, margin:margin + pic_w] = pic
    bh, bw = board.shape[:2]
    # The instrument in the room: rotate about its vertical axis (tilt) and in plane (roll), project.
    t, r = np.radians(s.tilt_deg), np.radians(s.roll_deg)
    corners = np.array([[-bw / 2, -bh / 2, 0], [bw / 2, -bh / 2, 0], [bw / 2, bh / 2, 0], [-bw / 2, bh / 2, 0]])
    rot_y = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    rot_z = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    xyz = corners @ (rot_z @ rot_y).T
    focal = 1.6 * w
    z = xyz[:, 2] + focal
    centre = np.array([w / 2 + rng.uniform(-0.05, 0.05) * w, h / 2 + rng.uniform(-0.05, 0.05) * h])
    dst = xyz[:, :2] * (focal / z)[:, None] + centre
    src = np.array([[0, 0], [bw, 0], [bw, bh], [0, bh]], np.float32)
    hmat = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    if s.species == "print":  # a slight bend: the sheet bows along its width
        ys, xs = np.mgrid[0:bh, 0:bw].astype(np.float32)
        bow = rng.uniform(-0.02, 0.02) * bh * np.sin(np.pi * xs / bw)
        board = cv2.remap(board, xs, ys + bow, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    out: np.ndarray = _room(h, w, rng)
    warped = cv2.warpPerspective(board, hmat, (w, h), flags=cv2.INTER_LINEAR, borderValue=(-1, -1, -1))
    inside = warped[:, :, 0] >= 0
    out[inside] = warped[inside]
    if s.glare > 0:
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.05, 0.6) * h
        rx, ry = rng.uniform(0.1, 0.35) * w, rng.uniform(0.05, 0.2) * h
        patch = s.glare * np.exp(-(((gx - cx) / rx) ** 2 + ((gy - cy) / ry) ** 2))
        out[inside] += patch[inside, None]
    if finger is not None:
        _finger(out, finger, rng)
    out = cv2.GaussianBlur(out, (0, 0), s.blur).astype(np.float32)
    out = out + rng.normal(0, s.noise, out.shape).astype(np.float32)
    bgr = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, s.jpeg])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError("JPEG encode failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _finger(out: np.ndarray, finger: tuple[float, float], rng: np.random.Generator) -> None:
    """A finger from the bottom edge: a skin-toned, shaded rounded bar drawn in place on the float image."""
    h, w = out.shape[:2]
    x, reach = finger
    width = int(w * rng.uniform(0.1, 0.14))
    tip = (int(x * w), int(h * (1 - reach)))
    drawn = np.zeros((h, w), np.float32)
    cv2.line(drawn, (tip[0] + int(rng.uniform(-0.1, 0.1) * w), h + width), tip, (1.0,), width)
    cv2.circle(drawn, tip, width // 2, (1.0,), -1)
    mask = np.asarray(cv2.GaussianBlur(drawn, (0, 0), 2.0), np.float32)
    skin = np.array([rng.uniform(170, 220), rng.uniform(120, 160), rng.uniform(95, 130)], np.float32)
    shade = 0.75 + 0.25 * cv2.GaussianBlur(mask, (0, 0), width / 4.0)
    out[:] = out * (1 - mask[:, :, None]) + (skin[None, None, :] * shade[:, :, None]) * mask[:, :, None]


def phone_to_phone(frames: list[tuple[np.ndarray, int]], rng: np.random.Generator,
                   ) -> list[tuple[np.ndarray, int]]:
    """A phone filming another phone that plays the clip, as the real replays are made.

    For the first 0.8-1.5 s the playing phone is in view whole: bezel, the table or room around it, and the
    attacker's finger on its lower part (starting the playback). Then the attacker moves closer over
    0.3-0.6 s until the screen fills the frame (its border out of view), and stays there, with the screen's
    pixel grid beating against the camera's (moire), a tilt that drifts, and one or two finger taps on the
    screen's lower edge later on. One instrument for the whole clip; fresh noise per frame.
    """
    style = style_for("phone", rng)
    t0 = frames[0][1] if frames else 0
    lead = rng.uniform(800, 1500)
    zoom = rng.uniform(300, 600)
    near, far = rng.uniform(0.5, 0.7), rng.uniform(1.15, 1.4)
    end = frames[-1][1] - t0 if frames else 0
    taps = [rng.uniform(lead + zoom, max(lead + zoom + 1, end)) for _ in range(int(rng.integers(1, 3)))]
    start_x = rng.uniform(0.35, 0.65)
    out = []
    for rgb, t in frames:
        dt = t - t0
        k = float(np.clip((dt - lead) / zoom, 0.0, 1.0))
        cover = near + (far - near) * (3 * k * k - 2 * k * k * k)  # smooth zoom-in
        drift = np.sin(dt / 700.0)
        frame_style = replace(style, cover=cover, tilt_deg=style.tilt_deg * 0.4 * (1 - k) + 4 * drift,
                              roll_deg=style.roll_deg * 0.5 + 2 * drift)
        finger: tuple[float, float] | None = None
        if dt < lead:
            finger = (start_x, 0.25)
        elif any(abs(dt - tap) < 150 for tap in taps):
            finger = (rng.uniform(0.3, 0.7), 0.12)
        out.append((make_attack(rgb, frame_style, rng, finger), t))
    return out
