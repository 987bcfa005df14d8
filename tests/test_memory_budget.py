"""The agent's inputs inside the unit's memory limit (``MemoryHigh=384M``), with the models loaded.

Each format's largest accepted reference photo is run through the real pipeline (``edge-agent match``, which
loads the same models as the daemon) in a child process whose peak RSS is read with ``getrusage``; the inputs
one step over are refused from the header. Clips of any codec have each frame's size checked before decoding.
The photos are a real face (the shared data set) scaled up in tmp, never committed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from PIL import Image
from test_hostile_files import _MEASURE, clip_with_one_huge_frame, run_measured

from edge_agent._proto import agent_pb2 as apb
from edge_agent._proto import agent_pb2_grpc as apb_grpc
from edge_agent.errors import ImageTooLarge
from edge_agent.vision.image import DECODE_PIXELS, FORMAT_PIXELS, MULTISCAN_PIXELS, decode_image, jpeg_scans

MEMORY_HIGH_MB = 384


def match_measured(reference: Path, probe: Path) -> tuple[int, dict, int]:
    """(exit code, the --json answer, peak RSS in MB) of ``edge-agent match REFERENCE PROBE --json``."""
    proc = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "edge_agent.cli", "match",
                           str(reference), str(probe), "--json"], capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    peak_kb = int(proc.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return proc.returncode, json.loads(proc.stdout), peak_kb // 1024


@pytest.fixture(scope="module")
def face(faces_dir: Path) -> np.ndarray:
    bgr = cv2.imread(str(faces_dir / "img1.jpg"))
    assert bgr is not None
    return bgr


def _side(pixels: int, aspect: float = 1.0) -> tuple[int, int]:
    """(width, height) of about ``pixels`` (not over) at width/height ``aspect``."""
    h = int((pixels / aspect) ** 0.5)
    w = int(h * aspect)
    while w * h > pixels:
        w -= 1
    return w, h


def largest(face: np.ndarray, folder: Path) -> dict[str, Path]:
    """The largest reference photo each format accepts, made from a real face."""
    out: dict[str, Path] = {}
    w, h = _side(FORMAT_PIXELS["JPEG"], 4 / 3)
    cv2.imwrite(str(out.setdefault("jpeg", folder / "max.jpg")), cv2.resize(face, (w, h)),
                [cv2.IMWRITE_JPEG_QUALITY, 92])
    w, h = _side(MULTISCAN_PIXELS, 4 / 3)
    Image.fromarray(cv2.resize(face, (w, h))[:, :, ::-1]).save(out.setdefault("progressive", folder / "maxp.jpg"),
                                                               quality=95, progressive=True, subsampling=0)
    w, h = _side(FORMAT_PIXELS["PNG"], 4 / 3)
    cv2.imwrite(str(out.setdefault("png", folder / "max.png")), cv2.resize(face, (w, h)))
    w, h = _side(min(FORMAT_PIXELS["BMP"], (40 * 1024 * 1024 - 1024) // 3), 4 / 3)
    cv2.imwrite(str(out.setdefault("bmp", folder / "max.bmp")), cv2.resize(face, (w, h)))
    w, h = _side(FORMAT_PIXELS["WEBP"], 4 / 3)
    cv2.imwrite(str(out.setdefault("webp", folder / "max.webp")), cv2.resize(face, (w, h)),
                [cv2.IMWRITE_WEBP_QUALITY, 90])
    w, h = _side(FORMAT_PIXELS["JPEG2000"], 102 / 126)
    cv2.imwrite(str(out.setdefault("jpeg2000", folder / "max.jp2")), cv2.resize(face, (w, h)))
    return out


@pytest.mark.slow
def test_the_largest_accepted_photo_of_each_format_stays_under_memory_high(face: np.ndarray, faces_dir: Path,
                                                                           tmp_path: Path) -> None:
    peaks = {}
    for kind, path in largest(face, tmp_path).items():
        code, result, peak_mb = match_measured(faces_dir / "img1.jpg", path)
        assert "error" not in result or result["error"] != "image_too_large", (kind, result)
        assert code in (0, 1), (kind, result)  # decoded and compared: a match or not (the aspect changed)
        peaks[kind] = peak_mb
        path.unlink()
    print("peak RSS MB", peaks)
    assert max(peaks.values()) < MEMORY_HIGH_MB, peaks


def test_one_step_over_each_format_limit_is_refused_from_the_header(face: np.ndarray, tmp_path: Path) -> None:
    w, h = _side(FORMAT_PIXELS["JPEG2000"] + 20_000, 102 / 126)
    _, jp2 = cv2.imencode(".jp2", cv2.resize(face, (w, h)))
    with pytest.raises(ImageTooLarge, match="JPEG 2000"):  # 6300x6300 took the daemon to 902 MB
        decode_image(jp2.tobytes())
    w, h = _side(MULTISCAN_PIXELS + 200_000, 4 / 3)
    buf = tmp_path / "p.jpg"
    Image.fromarray(cv2.resize(face, (w, h))[:, :, ::-1]).save(buf, quality=80, progressive=True)
    data = buf.read_bytes()
    assert jpeg_scans(data) > 1
    with pytest.raises(ImageTooLarge, match="progressive or multi-scan"):
        decode_image(data)
    Image.open(buf).save(buf, quality=80)  # the same picture, baseline: accepted (decoded reduced past 12 MP)
    assert jpeg_scans(buf.read_bytes()) == 1
    out = decode_image(buf.read_bytes())
    assert out.shape[0] * out.shape[1] <= DECODE_PIXELS and abs(out.shape[1] / out.shape[0] - w / h) < 0.01
    w, h = _side(DECODE_PIXELS + 100_000, 4 / 3)
    _, png = cv2.imencode(".png", np.zeros((h, w, 3), np.uint8))
    with pytest.raises(ImageTooLarge, match="PNG"):
        decode_image(png.tobytes())


def test_a_large_jpeg_is_decoded_reduced(face: np.ndarray) -> None:
    w, h = _side(30_000_000, 4 / 3)
    _, jpg = cv2.imencode(".jpg", cv2.resize(face, (w, h)), [cv2.IMWRITE_JPEG_QUALITY, 70])
    rgb = decode_image(jpg.tobytes())
    assert rgb.shape == (-(-h // 2), -(-w // 2), 3) and rgb.shape[0] * rgb.shape[1] <= DECODE_PIXELS


def test_png_frames_of_a_clip_are_read_without_decoding(tmp_path: Path) -> None:
    from edge_agent.camera.files import frame_sizes

    clip = clip_with_one_huge_frame(tmp_path / "png.avi", "png ", ".png", 4000)
    assert list(frame_sizes(str(clip))) == [(640, 480), (640, 480), (4000, 4000)]


@pytest.mark.slow
def test_a_clip_of_any_codec_with_a_huge_frame_is_refused_before_decoding(faces_dir: Path, tmp_path: Path) -> None:
    photo = str(faces_dir / "img1.jpg")
    clip = clip_with_one_huge_frame(tmp_path / "png.avi", "png ", ".png", 16000)  # took verify to 1,062 MB
    code, err, peak_mb = run_measured("verify", "--reference", photo, "--video", str(clip))
    assert (code, err["error"], err["input"]) == (2, "image_too_large", "video"), err
    assert "16000x16000" in err["message"] and peak_mb < MEMORY_HIGH_MB, peak_mb
    tiff = tmp_path / "tiff.avi"
    writer = cv2.VideoWriter(str(tiff), cv2.VideoWriter_fourcc(*"tiff"), 15, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    code, err, _ = run_measured("verify", "--reference", photo, "--video", str(tiff))
    assert (code, err["error"]) == (2, "image_format_unsupported"), err


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise KeyError("VmRSS")


def busy_agent_under_load(tmp_path: Path, plain: bool = False, rounds: int = 3,
                          callers: int = 20) -> tuple[list[grpc.StatusCode], int, int]:
    """(status of every call, RSS before in KB, peak RSS in KB) of a busy agent sent ``callers`` concurrent 15 MB
    StartVerification requests, ``rounds`` times."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("agent_memory_server.py")), str(sock),
                             *(["plain"] if plain else [])], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        before = _rss_kb(proc.pid)
        photo = np.random.default_rng(0).bytes(15 * 1024 * 1024)
        codes: list[grpc.StatusCode] = []

        def call(i: int) -> None:
            with grpc.insecure_channel(f"unix:{sock}") as ch:
                stub = apb_grpc.AgentStub(ch)  # type: ignore[no-untyped-call]
                try:
                    list(stub.StartVerification(apb.StartRequest(transaction_id=f"mem-{i}", reference_photo=photo,
                                                                 carrier_nonce=b""), timeout=60))
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as exc:
                    codes.append(exc.code())

        for r in range(rounds):
            threads = [threading.Thread(target=call, args=(r * callers + i,)) for i in range(callers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
        out, _ = proc.communicate("", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    peak = int(out.split("VmHWM")[1].split()[0])
    return codes, before, peak


@pytest.mark.slow
def test_twenty_concurrent_large_starts_are_refused_busy_unread_and_stay_under_memory_high(tmp_path: Path) -> None:
    codes, before, peak = busy_agent_under_load(tmp_path)
    print(f"busy agent: RSS before {before // 1024} MB, peak {peak // 1024} MB over 3 x 20 calls of 15 MB")
    assert set(codes) == {grpc.StatusCode.RESOURCE_EXHAUSTED} and len(codes) == 60
    assert peak // 1024 < MEMORY_HIGH_MB
    assert (peak - before) // 1024 < 48, "bodies of refused calls were read into memory"
