"""Frames from a recorded clip or a folder of images, with timestamps, for verify runs and replays."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edge_agent.errors import BadInput, ImageFormatUnsupported, ImageUnreadable
from edge_agent.safe_read import open_regular
from edge_agent.vision.image import check_frame_size, read_image

__all__ = ["CLIP_CODECS", "IMAGE_SUFFIXES", "frame_sizes", "iter_frames", "mjpeg_frame_sizes"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}

# A JPEG start-of-frame marker (baseline, extended, progressive, lossless; not DHT C4, JPG C8, DAC CC) and its
# segment: length, precision, height, width, component count.
_SOF = re.compile(rb"\xff[\xc0-\xc3\xc5-\xc7\xc9-\xcb\xcd-\xcf](..)(.)(..)(..)(.)", re.DOTALL)
# A PNG (a frame of a PNG-coded clip) and its IHDR: width, height.
_IHDR = re.compile(rb"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR(....)(....)", re.DOTALL)
_SCAN_CHUNK = 1 << 20
_TAIL = 32  # bytes kept between chunks: the longest pattern above

# Clip codecs (FourCC as OpenCV reports it) whose frame sizes are checked before any frame is decoded: image codecs
# per frame (each JPEG's or PNG's own header, read by frame_sizes), the others by the stream header (raw and FFV1
# frames carry no size; the inter-frame codecs' in-band resizes are a residual risk, docs/hostile-input.md).
# Any other codec, e.g. a TIFF, BMP, WebP or JPEG 2000 clip, is refused: its frames could declare any size.
_MJPEG = {"MJPG", "mjpg", "AVDJ", "jpeg"}
CLIP_CODECS = frozenset({*_MJPEG, "MPNG", "png ", "PNG1", "I420", "IYUV", "YV12", "YUY2", "UYVY", "\0\0\0\0", "DIB ",
                         "RGB ", "BGR ", "RGBA", "BGRA", "raw ", "FFV1", "h264", "H264", "avc1", "AVC1", "x264",
                         "X264", "hvc1", "hev1", "HEVC", "H265", "FMP4", "fmp4", "mp4v", "MP4V", "XVID", "xvid",
                         "DIVX", "DX50", "VP80", "VP90", "vp08", "vp09", "av01", "AV01"})


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


def _fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))


def mjpeg_frame_sizes(source: str) -> Iterator[tuple[int, int]]:
    """(width, height) of each JPEG or PNG frame in the file (``frame_sizes``; the name motion-JPEG clips had)."""
    return frame_sizes(source)


def frame_sizes(source: str) -> Iterator[tuple[int, int]]:
    """(width, height) that each JPEG or PNG frame in a clip declares, read without decoding any.

    The container's header need not tell the truth: each MJPEG frame carries
    its own size, and FFmpeg allocates whatever a frame declares when it
    decodes it (a 12000x12000 frame in a 640x480 clip took 270 MB, and the
    format allows 65535x65535). So every frame header is read first. Inside
    JPEG entropy-coded data a 0xFF byte is always followed by 0x00 or a
    restart marker, so only real markers (or, rarely, container bytes) match;
    the segment's own consistency (length = 8 + 3 x components, precision 8
    or 12) screens out container bytes that merely look like one. A PNG frame
    (a PNG-coded clip: 16000x16000 took ``verify`` to 1 GB) is found by its
    signature and IHDR, whatever the container says about the codec.
    """
    fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        tail = b""
        while chunk := os.read(fd, _SCAN_CHUNK):
            data = tail + chunk
            found: list[tuple[int, int, int]] = []
            for m in _SOF.finditer(data):
                length, precision, components = int.from_bytes(m[1], "big"), m[2][0], m[5][0]
                if m.end() > len(tail) and precision in (8, 12) and components in (1, 3, 4) \
                        and length == 8 + 3 * components:
                    found.append((m.start(), int.from_bytes(m[4], "big"), int.from_bytes(m[3], "big")))
            for m in _IHDR.finditer(data):
                if m.end() > len(tail):
                    found.append((m.start(), int.from_bytes(m[1], "big"), int.from_bytes(m[2], "big")))
            for _, width, height in sorted(found):
                yield width, height
            tail = data[-_TAIL:]
    finally:
        os.close(fd)


# The container's display rotation (degrees clockwise, as ffmpeg reports it) -> the turn that makes a frame upright.
# Phones store portrait video sideways with such a flag; OpenCV decodes the stored, sideways frames unless told, and
# a face on its side is neither detected nor judged as the face it is. The rotation is applied here rather than with
# CAP_PROP_ORIENTATION_AUTO (set off explicitly) so that every OpenCV build and backend turns frames the same way.
_UPRIGHT = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def _iter_video(path: Path, source: str, fps: float) -> Iterator[tuple[np.ndarray, int]]:
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise ImageUnreadable(f"{path} is not a readable video")
    try:
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
        check_frame_size(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), str(path))
        codec = _fourcc(cap)
        if codec not in CLIP_CODECS:
            raise ImageFormatUnsupported(f"{path} is coded as {codec.strip(chr(0)) or 'unknown'!r}, whose frames are "
                                         "not size-checked: use motion-JPEG, PNG, H.264, HEVC, MPEG-4, VP8/9, AV1, "
                                         "FFV1 or raw video")
        for width, height in frame_sizes(source):  # any codec: a JPEG or PNG frame inside is checked
            check_frame_size(width, height, str(path))
        turn = _UPRIGHT.get(round(cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360)
        index = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                if index == 0:
                    raise ImageUnreadable(f"{path} holds no decodable frames")
                return
            pos = cap.get(cv2.CAP_PROP_POS_MSEC)
            t = round(pos) if pos > 0 or index == 0 else round(index * 1000 / fps)
            if turn is not None:
                bgr = cv2.rotate(bgr, turn)
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), t
            index += 1
    finally:
        cap.release()
