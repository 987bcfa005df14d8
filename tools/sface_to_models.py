#!/usr/bin/env python3
"""Copy OpenCV Zoo's SFace face embedder into models/, check it, and write its manifest entries.

SFace (Apache-2.0) reaches FNMR 1.8 % at FMR 1e-4 on lfw-dev where the dlib
descriptor misses far more; see ``docs/face-matching.md``. The .tflite files
were converted from the upstream ONNX file as described in
``../shared/data/models/sface-2021dec/README.md``; this script does not
convert again, it takes those files byte for byte and refuses them unless:

* their sha256 and size are the published ones,
* they load under the TFLite runtime here with the documented input spec,
* on the README's synthetic input they give the published embedding (cosine >= 0.999).

Then it copies the licence next to them and writes (or rewrites) the two
``face_embedding_sface_*`` entries of ``models/manifest.json``. Thresholds are
written by ``tools/calibrate_threshold.py``, not here. Rerun:
``.venv/bin/python tools/sface_to_models.py [--source DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_agent.vision.runtime import Model  # noqa: E402

MODELS = ROOT / "models"
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "models" / "sface-2021dec"
LICENCE_FILE = "LICENSE-sface.txt"
UPSTREAM = (
    "opencv/opencv_zoo@966be4cb6eefc2a4f586ed0581bf4bbaa2533070:"
    "models/face_recognition_sface/face_recognition_sface_2021dec_int8bq.onnx "
    "(sha256 fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee), "
    "converted with onnx2tf 1.28.8 (and the TF 2.21 TFLiteConverter for int8); "
    "copied unchanged by tools/sface_to_models.py"
)

# file -> (manifest key, sha256, bytes, precision text, input dtype)
FILES: dict[str, tuple[str, str, int, str, str]] = {
    "sface_2021dec_fp16.tflite": (
        "face_embedding_sface_float",
        "a169f26517f059b3530ce84ce0f6365b243436b024e1515bee76f2c5fbdc5c9c",
        19_317_436,
        "float16 weights, float32 activations, input and output",
        "float32",
    ),
    "sface_2021dec_int8.tflite": (
        "face_embedding_sface_int8",
        "e16c820cf277b8e9d8722c20e2d66c166e4cd65f1bcfcaeb45bc1eff7157889f",
        9_967_416,
        "full-integer int8 (per-channel weights), uint8 input, float32 output; "
        "calibrated on 200 aligned lfw-dev faces (seed 1234)",
        "uint8",
    ),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def synthetic_input() -> np.ndarray:
    """The README's self-test image: rgb[y,x,c] = (7x + 3y + 50c) % 256."""
    y, x, c = np.meshgrid(np.arange(112), np.arange(112), np.arange(3), indexing="ij")
    return ((7 * x + 3 * y + 50 * c) % 256).astype(np.uint8)


def check(path: Path, want_sha: str, want_bytes: int, dtype: str, reference: list[float]) -> None:
    if path.stat().st_size != want_bytes or sha256(path) != want_sha:
        raise SystemExit(f"{path} is not the published file (size or sha256 differ)")
    model = Model(path, sha256=want_sha, num_threads=1)
    spec = model.inputs[0]
    if spec.shape != (1, 112, 112, 3) or str(spec.dtype) != dtype:
        raise SystemExit(f"{path}: input {spec.shape} {spec.dtype}, expected (1, 112, 112, 3) {dtype}")
    (out,) = model.run(synthetic_input()[None])
    vec = out.reshape(-1)
    cos = float(vec @ np.asarray(reference) / (np.linalg.norm(vec) * np.linalg.norm(reference)))
    if cos < 0.999:
        raise SystemExit(f"{path}: self-test embedding at cosine {cos:.4f} from the published one")
    print(f"{path.name}: sha256 ok, input {spec.shape} {spec.dtype}, self-test cosine {cos:.5f}")


def entry(name: str, key: str, precision: str, dtype: str) -> dict[str, Any]:
    path = MODELS / name
    return {
        "file": name,
        "role": "128-d face embedding (SFace, MobileFaceNet-type, OpenCV Zoo 2021dec); "
        + ("the default embedder" if key.endswith("float") else "int8 build, for targets where it is faster"),
        "licence": f"Apache-2.0 (OpenCV Zoo, models/face_recognition_sface; text in {LICENCE_FILE})",
        "precision": precision,
        "input": {
            "shape": [1, 112, 112, 3],
            "dtype": dtype,
            "layout": "RGB face chip aligned by a similarity transform of 5 points (eye centres, nose tip, "
            "mouth corners) onto the ArcFace 112x112 template",
            "range": [0, 255],
            "note": "raw pixel values; the model normalises them itself",
        },
        "outputs": {"embedding": "[1, 128] float32, not normalised: L2-normalise, compare by cosine"},
        "alignment": "arcface112",
        "source": UPSTREAM,
        "training_data_caveat": "not documented for this weight file; the SFace paper used CASIA-WebFace, "
        "VGGFace2 and MS1MV2, whose terms restrict commercial use or leave it unclear",
        "sha256": sha256(path),
        "bytes": path.stat().st_size,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder with the SFace files")
    args = ap.parse_args()
    selftest = json.loads((args.source / "selftest.json").read_text())["models"]
    for name, (_key, want_sha, want_bytes, _precision, dtype) in FILES.items():
        check(args.source / name, want_sha, want_bytes, dtype, selftest[name]["l2_normalised_embedding"])
    for name in FILES:
        shutil.copyfile(args.source / name, MODELS / name)
    shutil.copyfile(args.source / "LICENSE", MODELS / LICENCE_FILE)

    manifest_path = MODELS / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for name, (key, _sha, _bytes, precision, dtype) in FILES.items():
        manifest["models"][key] = entry(name, key, precision, dtype)
    for key in ("face_embedding_float", "face_embedding_int8"):
        manifest["models"][key]["alignment"] = "dlib150"
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {manifest_path}")


if __name__ == "__main__":
    main()
