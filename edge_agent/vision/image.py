"""Decoding photos into RGB arrays, in memory, with specific errors for bad input.

Reference photos arrive as bytes (from the terminal or an ID chip) and never
touch disk; reading a file is only a convenience for the CLI.

Hostile bytes are stopped before any pixel is decoded: the magic bytes pick
one of the accepted formats (anything else is ``image_format_unsupported``),
Pillow reads that format's header alone to learn the size (a 34-byte WebP
can declare 16383x16383, an 854 KB PNG 30000x30000; decoding either first
took over 1 GB), and only an image within its format's pixel limit reaches OpenCV's decoder.
The limits are sized to the agent's memory budget (``MemoryHigh=384M`` with the
models loaded), not only to bombs: a decoded pixel costs 3 bytes per copy and
the pipeline makes a few. JPEG, the phone-photo format, is accepted up to
``MAX_PIXELS`` but decoded reduced (libjpeg's scaled IDCT, 1/2 to 1/8) to at
most ``DECODE_PIXELS``; a JPEG of several scans (progressive, or baseline
non-interleaved) is held whole as coefficients (up to 6 bytes a pixel, however
reduced the output), so it stops at ``MULTISCAN_PIXELS``. PNG and BMP have no
reduced decoder and stop at ``DECODE_PIXELS``, WebP (a larger decoder) lower;
JPEG 2000, what ID chips hold (102x126), stops near 1 MP, since OpenJPEG takes
about 20 bytes per pixel (6300x6300 took 900 MB). Measured peaks are in
tests/test_memory_budget.py. EXIF orientation is applied here for every format that carries it
(OpenCV honours it for JPEG only), so an upright face is upright whatever
the file.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from edge_agent.errors import ImageFormatUnsupported, ImageTooLarge, ImageUnreadable
from edge_agent.safe_read import read_regular

__all__ = ["ACCEPTED", "DECODE_PIXELS", "FORMAT_PIXELS", "MAX_BYTES", "MAX_PIXELS", "MULTISCAN_PIXELS",
           "check_frame_size", "decode_image", "jpeg_scans", "read_image"]

MAX_BYTES = 40 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 8x a 12 MP phone photo: any real reference photo or camera frame fits
DECODE_PIXELS = 12_000_000  # at most this many pixels are ever decoded (a 12 MP phone photo; 36 MB a copy)
MULTISCAN_PIXELS = 16_000_000  # progressive or multi-scan JPEG (all coefficients in memory): 12-16 MP phones
# accepted pixels per format (Pillow's name); a JPEG beyond DECODE_PIXELS is decoded reduced
FORMAT_PIXELS = {"JPEG": MAX_PIXELS, "PNG": DECODE_PIXELS, "WEBP": 8_000_000, "BMP": DECODE_PIXELS,
                 "JPEG2000": 1024 * 1024}
_REDUCED = ((1, cv2.IMREAD_COLOR), (2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4),
            (8, cv2.IMREAD_REDUCED_COLOR_8))
_MIN_SIDE = 32

# (magic at offset 0, Pillow format, name in messages). JPEG 2000 is what Chinese ID chips hold.
_FORMATS = (
    (b"\xff\xd8\xff", "JPEG", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG", "PNG"),
    (b"BM", "BMP", "BMP"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG2000", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG2000", "JPEG 2000"),
)
ACCEPTED = "JPEG, PNG, WebP, BMP or JPEG 2000"
_REFUSED = ((b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"GIF8", "GIF"), (b"#?RADIANCE", "Radiance HDR"),
            (b"#?RGBE", "Radiance HDR"), (b"\x00\x00\x01\x00", "ICO"), (b"8BPS", "Photoshop"), (b"<svg", "SVG"),
            (b"<?xml", "XML/SVG"), (b"%PDF", "PDF"), (b"\x00\x00\x00\x0cJXL ", "JPEG XL"), (b"\xff\x0a", "JPEG XL"))

# EXIF orientation (tag 0x0112) -> what turns the stored pixels upright.
_ORIENT = {
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    5: lambda a: cv2.transpose(a),
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.flip(cv2.transpose(a), -1),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def _sniff(data: bytes, name: str) -> tuple[str, str]:
    """(Pillow format, display name) from the magic bytes; anything else is refused before parsing."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP", "WebP"
    for magic, fmt, label in _FORMATS:
        if data.startswith(magic):
            return fmt, label
    head = data[:16].lstrip()
    for magic, label in _REFUSED:
        if head.startswith(magic):
            raise ImageFormatUnsupported(f"{name} is a {label} image; accepted formats: {ACCEPTED}")
    if data[:1] == b"P" and data[1:2] in b"1234567" and len(data) > 2 and data[2:3].isspace():
        raise ImageFormatUnsupported(f"{name} is a PNM (PBM/PGM/PPM) image; accepted formats: {ACCEPTED}")
    raise ImageUnreadable(f"{name} is not a readable image ({ACCEPTED} expected)")


def _check_pixels(width: int, height: int, name: str, what: str = "is", limit: int = MAX_PIXELS,
                  label: str = "") -> None:
    if width * height > limit:
        raise ImageTooLarge(f"{name} {what} {width}x{height} pixels; the limit{' for ' + label if label else ''} "
                            f"is {limit} pixels")


def check_frame_size(width: int, height: int, name: str = "video") -> None:
    """Refuse a video whose frames would exceed the decode limit, before any frame is decoded."""
    _check_pixels(width, height, name, "has frames of", DECODE_PIXELS)


def jpeg_scans(data: bytes) -> int:
    """How many scans (SOS markers) the JPEG's own image has, walking its segments (an EXIF thumbnail's are skipped).

    Inside entropy-coded data a 0xFF byte is followed only by 0x00 (stuffing) or a restart marker, so the next
    real marker is found by jumping from 0xFF to 0xFF.
    """
    i, scans, end = 2, 0, len(data)
    while True:
        i = data.find(b"\xff", i)
        if i < 0 or i + 1 >= end:
            return scans
        marker = data[i + 1]
        if marker == 0xFF or marker == 0x00 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 1 if marker == 0xFF else 2
            continue
        if marker == 0xD9:  # end of image
            return scans
        if i + 4 > end:
            return scans
        scans += marker == 0xDA
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")


def _header(data: bytes, fmt: str, label: str, name: str) -> tuple[int, int, int]:
    """(width, height, EXIF orientation) from the header alone: Pillow parses it without decoding pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own, lower, limit decides
            im = Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"{name} declares a decompression bomb's size; "
                            f"the limit is {MAX_PIXELS} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageUnreadable(f"{name} is a corrupt {label} image: its header does not read ({exc})") from None
    with im:
        width, height = im.size
        raw = im.info.get("exif")
    orientation = 1
    if raw:
        try:
            exif = Image.Exif()
            exif.load(raw)
            orientation = int(exif.get(0x0112, 1))
        except Exception:  # a malformed EXIF block is metadata we ignore, never a crash
            orientation = 1
    return width, height, orientation


def decode_image(data: bytes, *, name: str = "image") -> np.ndarray:
    """Decode JPEG/PNG/WebP/BMP/JPEG 2000 bytes to an HxWx3 uint8 RGB array, upright (EXIF orientation applied)."""
    if not data:
        raise ImageUnreadable(f"{name} is empty")
    if len(data) > MAX_BYTES:
        raise ImageTooLarge(f"{name} is {len(data)} bytes; the limit is {MAX_BYTES}")
    fmt, label = _sniff(data, name)
    width, height, orientation = _header(data, fmt, label, name)
    _check_pixels(width, height, name, limit=FORMAT_PIXELS[fmt], label=label)
    if fmt == "JPEG" and width * height > MULTISCAN_PIXELS and jpeg_scans(data) > 1:
        _check_pixels(width, height, name, limit=MULTISCAN_PIXELS, label="a progressive or multi-scan JPEG")
    scale, flag = next((r, f) for r, f in _REDUCED if fmt != "JPEG" or width * height <= DECODE_PIXELS * r * r)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flag | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        raise ImageUnreadable(f"{name} is corrupt: its {label} header reads but its pixels do not")
    if bgr.shape[:2] != (-(-height // scale), -(-width // scale)):  # what the header check saw (reduced)
        raise ImageUnreadable(f"{name} is corrupt: its {label} header and pixels disagree on the size")
    if orientation in _ORIENT:
        bgr = _ORIENT[orientation](bgr)
    if min(bgr.shape[:2]) < _MIN_SIDE:
        raise ImageUnreadable(f"{name} is {bgr.shape[1]}x{bgr.shape[0]} pixels, too small to hold a face")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def read_image(path: Path) -> np.ndarray:
    """``decode_image`` of a regular file, read once and to at most ``MAX_BYTES`` (never /dev/zero or a FIFO)."""
    data = read_regular(path, MAX_BYTES, "image", ImageUnreadable, too_large=ImageTooLarge)
    return decode_image(data, name=str(path))
