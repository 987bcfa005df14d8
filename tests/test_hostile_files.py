"""Hostile files as reference photo, video or model bundle: bounded memory, regular files only, named formats.

The bombs are built here in tmp (none is a photo): their whole point is a
tiny file that declares a huge image. Peak memory is measured on the real
CLI in a child process (``getrusage(RUSAGE_CHILDREN)`` in a one-line
wrapper, so no other child of pytest counts).
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from edge_agent.errors import ImageFormatUnsupported, ImageTooLarge, ImageUnreadable
from edge_agent.modelset.bundle import BundleInvalid, read_bundle_file
from edge_agent.safe_read import read_regular
from edge_agent.vision.image import decode_image, read_image

PEAK_LIMIT_MB = 300
# A lossless WebP of 16383x16383 black pixels, as Pillow writes it: 34 bytes; decoding it took 1081 MB.
WEBP_BOMB = bytes.fromhex("524946461a000000574542505650384c0e0000002ffebfff0f071011fd0f4444ff03")
_MEASURE = ("import resource, subprocess, sys\n"
            "rc = subprocess.run(sys.argv[1:]).returncode\n"
            "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(rc)\n")


def run_measured(*args: str) -> tuple[int, dict, int]:
    """(exit code, the --json error object, peak RSS in MB) of ``edge-agent ARGS --json``."""
    proc = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "edge_agent.cli", *args, "--json"],
                          capture_output=True, text=True, timeout=300)
    peak_kb = int(proc.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1]), peak_kb // 1024


def png_bomb(path: Path, side: int = 30000) -> Path:
    """A valid grayscale PNG of side x side zeros: under 1 MB on disk, 900 MB decoded."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    comp = zlib.compressobj(9)
    rows = bytes((side + 1) * 1000)  # 1000 scanlines (filter byte + pixels) at a time
    idat = b"".join(comp.compress(rows) for _ in range(side // 1000)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def photo(faces_dir: Path) -> Path:
    return faces_dir / "img1.jpg"


@pytest.fixture(scope="module")
def upright(photo: Path) -> np.ndarray:
    """The shared face photo at 240x180 (odd sizes would hide a swapped width and height): quick to re-encode."""
    return cv2.resize(read_image(photo), (180, 240), interpolation=cv2.INTER_AREA)


@pytest.mark.slow
def test_image_bombs_are_refused_from_the_header(photo: Path, tmp_path: Path) -> None:
    webp = tmp_path / "bomb.webp"
    webp.write_bytes(WEBP_BOMB)
    png = png_bomb(tmp_path / "bomb.png")
    assert png.stat().st_size < 1 << 20
    for bomb in (webp, png):
        code, err, peak_mb = run_measured("match", str(photo), str(bomb))
        assert (code, err["error"], err["input"]) == (2, "image_too_large", "probe"), err
        assert peak_mb < PEAK_LIMIT_MB, f"{bomb.name}: peak RSS {peak_mb} MB"


@pytest.mark.slow
def test_video_with_huge_frames_is_refused_before_decoding(photo: Path, tmp_path: Path) -> None:
    clip = tmp_path / "huge.avi"
    frame = np.full((12000, 12000, 3), 90, np.uint8)
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 15, (12000, 12000))
    for _ in range(3):
        writer.write(frame)
    writer.release()
    del frame
    code, err, peak_mb = run_measured("verify", "--reference", str(photo), "--video", str(clip))
    assert (code, err["error"], err["input"]) == (2, "image_too_large", "video"), err
    assert "12000x12000" in err["message"]
    assert peak_mb < PEAK_LIMIT_MB, f"peak RSS {peak_mb} MB"


def clip_with_one_huge_frame(path: Path, fourcc: str, ext: str, side: int) -> Path:
    """A 640x480 AVI of ``fourcc`` whose last frame is replaced by a side x side ``ext`` image (its own size)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 15, (640, 480))
    assert writer.isOpened(), fourcc
    for i in range(3):
        writer.write(np.full((480, 640, 3), 60 + 40 * i, np.uint8))
    writer.release()
    avi = bytearray(path.read_bytes())
    big = cv2.imencode(ext, np.full((side, side, 3), 90, np.uint8))[1].tobytes()
    idx1 = avi.find(b"idx1")
    last = avi.rfind(b"00dc", 0, idx1)
    old = struct.unpack("<I", avi[last + 4: last + 8])[0]
    grow = (len(big) + (len(big) & 1)) - (old + (old & 1))
    avi[last: last + 8 + old + (old & 1)] = b"00dc" + struct.pack("<I", len(big)) + big + b"\0" * (len(big) & 1)
    movi = avi.find(b"movi") - 8
    for at in (4, movi + 4):  # RIFF and movi LIST sizes
        avi[at: at + 4] = struct.pack("<I", struct.unpack("<I", avi[at: at + 4])[0] + grow)
    idx1 = avi.find(b"idx1")
    entry = idx1 + 8 + (struct.unpack("<I", avi[idx1 + 4: idx1 + 8])[0] // 16 - 1) * 16
    avi[entry + 12: entry + 16] = struct.pack("<I", len(big))
    path.write_bytes(bytes(avi))
    return path


def mjpeg_clip_with_one_huge_frame(path: Path, side: int = 12000) -> Path:
    """A 640x480 motion-JPEG AVI whose header tells the truth about its first frames and whose last frame is
    a side x side JPEG: each MJPEG frame declares its own size, and FFmpeg allocates what the frame says."""
    return clip_with_one_huge_frame(path, "MJPG", ".jpg", side)


def test_mjpeg_frame_headers_are_read_without_decoding(tmp_path: Path) -> None:
    from edge_agent.camera.files import mjpeg_frame_sizes

    clip = mjpeg_clip_with_one_huge_frame(tmp_path / "mixed.avi", side=4000)
    assert list(mjpeg_frame_sizes(str(clip))) == [(640, 480), (640, 480), (4000, 4000)]


@pytest.mark.slow
def test_video_whose_header_lies_about_a_later_frame_is_refused_before_decoding(photo: Path, tmp_path: Path) -> None:
    clip = mjpeg_clip_with_one_huge_frame(tmp_path / "lying.avi")
    code, err, peak_mb = run_measured("verify", "--reference", str(photo), "--video", str(clip))
    assert (code, err["error"], err["input"]) == (2, "image_too_large", "video"), err
    assert "12000x12000" in err["message"]
    assert peak_mb < PEAK_LIMIT_MB, f"peak RSS {peak_mb} MB"


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


NOT_FILES = {
    "/dev/zero": lambda t: Path("/dev/zero"),
    "/dev/urandom": lambda t: Path("/dev/urandom"),
    "fifo": _fifo,
    "directory": lambda t: t,
}


@pytest.mark.parametrize("kind", sorted(NOT_FILES))
def test_non_regular_files_are_refused_as_photo_video_and_bundle(kind: str, tmp_path: Path) -> None:
    from edge_agent.camera.files import iter_frames

    path = NOT_FILES[kind](tmp_path)
    with pytest.raises(ImageUnreadable, match=r"not a regular file|is a directory"):
        read_image(path)
    with pytest.raises(BundleInvalid, match=r"not a regular file|is a directory"):
        read_bundle_file(path)
    if kind != "directory":  # a directory is a valid frame folder for a clip source
        with pytest.raises(ImageUnreadable, match="not a regular file"):
            next(iter_frames(path))


@pytest.mark.slow
def test_the_cli_refuses_a_fifo_and_dev_zero_with_exit_2(photo: Path, tmp_path: Path) -> None:
    run = [sys.executable, "-m", "edge_agent.cli"]
    for path in (_fifo(tmp_path), Path("/dev/zero")):
        # The timeout only keeps a regression (a hang on the FIFO) from stalling the suite.
        ref = subprocess.run([*run, "match", str(path), str(photo), "--json"], capture_output=True, text=True,
                             timeout=120)
        assert ref.returncode == 2, ref.stderr[-1500:]
        assert json.loads(ref.stdout)["input"] == "reference"
        vid = subprocess.run([*run, "verify", "--reference", str(photo), "--video", str(path), "--json"],
                             capture_output=True, text=True, timeout=120)
        assert vid.returncode == 2, vid.stderr[-1500:]
        assert "not a regular file" in json.loads(vid.stdout)["message"]
        bundle = subprocess.run([*run, "models", "install", str(path), "--state", str(tmp_path / "s"), "--json"],
                                capture_output=True, text=True, timeout=120)
        assert bundle.returncode == 2, bundle.stderr[-1500:]
        assert json.loads(bundle.stdout)["error"] == "bundle_invalid"


def test_reads_are_bounded_even_when_the_size_lies(tmp_path: Path) -> None:
    # /proc files report st_size 0 but hold more: the read itself must stop at limit + 1.
    with pytest.raises(ImageTooLarge):
        read_regular(Path("/proc/self/maps"), 16, "test", ImageUnreadable, too_large=ImageTooLarge)
    exact = tmp_path / "exact"
    exact.write_bytes(b"x" * 16)
    assert read_regular(exact, 16, "test") == b"x" * 16


def _encode(rgb: np.ndarray, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,kw", [("TIFF", {}), ("GIF", {}), ("PPM", {}), ("ICO", {}), ("PSD", None)])
def test_other_formats_are_refused_by_name(fmt: str, kw: dict | None, upright: np.ndarray) -> None:
    rgb = upright[:64, :64]
    data = _encode(rgb, fmt, **kw) if kw is not None else b"8BPS\x00\x01" + bytes(64)
    with pytest.raises(ImageFormatUnsupported, match="accepted formats: JPEG, PNG, WebP, BMP or JPEG 2000"):
        decode_image(data)


def test_hdr_and_svg_are_refused_by_name(upright: np.ndarray) -> None:
    ok, hdr = cv2.imencode(".hdr", upright[:64, :64].astype(np.float32) / 255)
    assert ok
    for data in (hdr.tobytes(), b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>'):
        with pytest.raises(ImageFormatUnsupported) as err:
            decode_image(data)
        assert err.value.code == "image_format_unsupported"
    with pytest.raises(ImageUnreadable) as unknown:
        decode_image(b"just some text, not an image at all")
    assert unknown.value.code == "image_unreadable"


@pytest.mark.parametrize("fmt,kw", [("PNG", {}), ("WEBP", {"lossless": True}), ("BMP", {}),
                                    ("JPEG2000", {"irreversible": False})])
def test_every_named_format_decodes_to_the_same_pixels(fmt: str, kw: dict, upright: np.ndarray) -> None:
    rgb = upright
    assert np.array_equal(decode_image(_encode(rgb, fmt, **kw)), rgb)


# What each EXIF orientation asks the viewer to do; the stored pixels are the inverse.
_STORE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
          5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
          8: Image.Transpose.ROTATE_270}


@pytest.mark.parametrize("fmt,kw", [("WEBP", {"lossless": True}), ("PNG", {}), ("JPEG", {"quality": 95})])
@pytest.mark.parametrize("orientation", sorted(_STORE))
def test_exif_orientation_is_applied_for_every_format(fmt: str, kw: dict, orientation: int,
                                                     upright: np.ndarray) -> None:
    stored = np.asarray(Image.fromarray(upright).transpose(_STORE[orientation]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode_image(_encode(stored, fmt, exif=exif.tobytes(), **kw))
    assert decoded.shape == upright.shape
    if fmt == "JPEG":  # lossy: close to upright (a wrong orientation differs by tens of levels)
        assert np.mean(np.abs(decoded.astype(int) - upright.astype(int))) < 4
    else:
        assert np.array_equal(decoded, upright)


def test_the_unit_bounds_the_daemons_memory() -> None:
    import re

    unit = (Path(__file__).resolve().parents[1] / "systemd" / "edge-agent.service").read_text()
    limits = {k: int(v) for k, v in re.findall(r"^(MemoryHigh|MemoryMax)=(\d+)M$", unit, re.MULTILINE)}
    assert set(limits) == {"MemoryHigh", "MemoryMax"}, unit
    # Above what a daemon with its models and a bounded input peaks at, below a 1 GB Pi's memory.
    assert PEAK_LIMIT_MB < limits["MemoryHigh"] < limits["MemoryMax"] <= 768
