"""What the benchmarks (and the tests that drive them) share: data location and dlib's own pipeline."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"


def data_root() -> Path:
    """``EDGE_AGENT_DATA`` if set, else ``../shared/data`` beside the checkout."""
    env = os.environ.get("EDGE_AGENT_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def deepface_dir() -> Path:
    return data_root() / "faces" / "deepface"


def face_recognition_models_dir() -> Path:
    """Where face-recognition-models put its .dat files, found without importing it.

    (Its ``__init__`` imports ``pkg_resources``, which current setuptools no longer ships.)
    """
    import importlib.metadata

    for f in importlib.metadata.files("face-recognition-models") or []:
        if f.name == "dlib_face_recognition_resnet_model_v1.dat":
            return Path(str(f.locate())).parent
    raise FileNotFoundError("face-recognition-models is not installed: pip install -e '.[test]'")


class DlibPipeline:
    """face_recognition's recipe: HOG detector (1 upsample), 5-point shape predictor, ResNet descriptor."""

    name = "dlib (HOG + 5-point + ResNet)"

    def __init__(self) -> None:
        import dlib

        models = face_recognition_models_dir()
        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def chip(self, rgb: np.ndarray) -> np.ndarray | None:
        faces = self.detector(rgb, 1)
        if not faces:
            return None
        face = max(faces, key=lambda r: r.width())
        return np.asarray(self._dlib.get_face_chip(rgb, self.predictor(rgb, face), size=150, padding=0.25))

    def embed_chip(self, chip: np.ndarray) -> np.ndarray:
        return np.asarray(self.encoder.compute_face_descriptor(chip), np.float32)

    def embed(self, rgb: np.ndarray) -> tuple[np.ndarray | None, dict[str, float]]:
        t0 = time.perf_counter()
        faces = self.detector(rgb, 1)
        t1 = time.perf_counter()
        if not faces:
            return None, {"detect": (t1 - t0) * 1000}
        face = max(faces, key=lambda r: r.width())
        shape = self.predictor(rgb, face)
        t2 = time.perf_counter()
        vec = np.asarray(self.encoder.compute_face_descriptor(rgb, shape), np.float32)
        t3 = time.perf_counter()
        return vec / np.linalg.norm(vec), {
            "detect": (t1 - t0) * 1000, "landmarks+align+embed": (t3 - t1) * 1000, "landmarks": (t2 - t1) * 1000,
        }
