"""``edge-agent match`` as a user runs it: real models, real photos, exit codes, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.vision.manifest import DEFAULT_MODEL_DIR


def run(*args: str | Path) -> tuple[int, dict, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "edge_agent.cli", "match", *map(str, args), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def write(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.mark.slow
def test_same_person_matches(faces_dir: Path) -> None:
    code, out, _ = run(faces_dir / "img1.jpg", faces_dir / "img2.jpg")
    assert code == 0
    assert out["decision"] == "match"
    assert out["similarity"] >= out["threshold"]
    for side in ("reference", "probe"):
        assert set(out["timings_ms"][side]) >= {"decode", "detect", "landmarks", "align", "embed", "total"}
    assert len(out["manifest_sha256"]) == 64


@pytest.mark.slow
def test_different_people_do_not_match(faces_dir: Path) -> None:
    code, out, _ = run(faces_dir / "img1.jpg", faces_dir / "img20.jpg")
    assert code == 1
    assert out["decision"] == "no_match"
    assert out["similarity"] < out["threshold"]


@pytest.mark.slow
@pytest.mark.parametrize(("precision", "embedder"), [("int8", "face_embedding_sface_int8"),
                                                    ("dlib-float", "face_embedding_float")])
def test_other_embedders_agree(faces_dir: Path, precision: str, embedder: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge_agent.cli", "match", str(faces_dir / "img1.jpg"), str(faces_dir / "img2.jpg"),
         "--json", "--precision", precision, "--threads", "1"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["embedder"] == embedder


@pytest.mark.slow
def test_human_output(faces_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge_agent.cli", "match", str(faces_dir / "img1.jpg"), str(faces_dir / "img2.jpg")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("MATCH")
    assert "INFO:" not in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda d, t: t / "missing.jpg", "image_unreadable"),
        (lambda d, t: d / "LICENSE", "image_unreadable"),
        (lambda d, t: t, "image_unreadable"),  # a directory
        (lambda d, t: _truncated(d, t), "image_unreadable"),
        (lambda d, t: _empty(t), "image_unreadable"),
        (lambda d, t: _gradient(t), "no_face"),
        (lambda d, t: d / "couple.jpg", "multiple_faces"),
        (lambda d, t: _tiny_face(d, t), "face_too_small"),
        (lambda d, t: _blurred(d, t), "face_too_blurry"),
        (lambda d, t: _turned(d, t, cv2.ROTATE_180), "pose"),
        (lambda d, t: _turned(d, t, cv2.ROTATE_90_CLOCKWISE), "pose"),
    ],
    ids=["missing", "text-file", "directory", "truncated-jpeg", "empty", "no-face", "two-faces", "tiny", "blurred",
         "upside-down", "on-its-side"],
)
def test_bad_probe_exits_2_with_specific_error(faces_dir: Path, tmp_path: Path, make, error: str) -> None:
    code, out, err = run(faces_dir / "img1.jpg", make(faces_dir, tmp_path))
    assert code == 2
    assert out["error"] == error
    assert out["input"] == "probe"
    assert err.startswith("edge-agent: error: probe:")


@pytest.mark.slow
def test_bad_reference_is_named(faces_dir: Path, tmp_path: Path) -> None:
    code, out, _ = run(_gradient(tmp_path), faces_dir / "img1.jpg")
    assert (code, out["error"], out["input"]) == (2, "no_face", "reference")


@pytest.mark.slow
def test_tampered_model_exits_3(faces_dir: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(DEFAULT_MODEL_DIR, models)
    target = models / "sface_2021dec_fp16.tflite"  # the default embedder
    data = bytearray(target.read_bytes())
    data[-100] ^= 0x80
    target.write_bytes(bytes(data))
    code, out, _ = run(faces_dir / "img1.jpg", faces_dir / "img2.jpg", "--models", models)
    assert code == 3
    assert out["error"] == "model_integrity"


def _truncated(d: Path, t: Path) -> Path:
    data = (d / "img2.jpg").read_bytes()
    (t / "trunc.jpg").write_bytes(data[: len(data) // 50])
    return t / "trunc.jpg"


def _empty(t: Path) -> Path:
    (t / "empty.jpg").write_bytes(b"")
    return t / "empty.jpg"


def _gradient(t: Path) -> Path:
    g = np.tile(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (480, 1, 3))
    return write(t / "gradient.png", g)


def _tiny_face(d: Path, t: Path) -> Path:
    rgb = cv2.cvtColor(cv2.imread(str(d / "img2.jpg")), cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (w // 14, h // 14), interpolation=cv2.INTER_AREA)
    canvas = np.full((max(256, small.shape[0]), max(256, small.shape[1]), 3), 128, np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small
    return write(t / "tiny.png", canvas)


def _turned(d: Path, t: Path, turn: int) -> Path:
    return write(t / "turned.png", cv2.rotate(cv2.cvtColor(cv2.imread(str(d / "img2.jpg")), cv2.COLOR_BGR2RGB), turn))


@pytest.mark.slow
def test_small_background_face_does_not_make_a_photo_ambiguous(faces_dir: Path, tmp_path: Path) -> None:
    rgb = cv2.cvtColor(cv2.imread(str(faces_dir / "img2.jpg")), cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    passer_by = cv2.resize(cv2.cvtColor(cv2.imread(str(faces_dir / "img20.jpg")), cv2.COLOR_BGR2RGB),
                           (w // 3, h // 3), interpolation=cv2.INTER_AREA)
    canvas = rgb.copy()
    canvas[: passer_by.shape[0], : passer_by.shape[1]] = passer_by  # a smaller face in the corner
    code, out, _ = run(faces_dir / "img1.jpg", write(tmp_path / "background.png", canvas))
    assert (code, out["decision"]) == (0, "match")


def _blurred(d: Path, t: Path) -> Path:
    rgb = cv2.cvtColor(cv2.imread(str(d / "img2.jpg")), cv2.COLOR_BGR2RGB)
    # img2 has ~180 px between the eyes: a blur of a third of that leaves nothing to match (cosine < 0 to img1).
    return write(t / "blurred.png", cv2.GaussianBlur(rgb, (0, 0), 60))
