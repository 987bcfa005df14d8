"""From an RGB image to one face's embedding: detect, landmarks, align, quality gate, embed.

This is where the "is this image fit to verify?" rules live, so the CLI, the
liveness loop and the daemon all refuse the same inputs for the same reasons.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_agent.errors import FaceTooBlurry, FaceTooSmall, MultipleFaces, NoFace
from edge_agent.vision.align import extract_chip, five_points
from edge_agent.vision.detector import BlazeFace, Detection, FaceDetector
from edge_agent.vision.embedder import Embedder
from edge_agent.vision.eyes import EyeLandmarker
from edge_agent.vision.landmarks import FaceLandmarker, FaceMesh
from edge_agent.vision.manifest import Manifest
from edge_agent.vision.quality import sharpness

__all__ = ["FaceAnalysis", "FacePipeline", "QualityRules"]

EMBEDDERS = {"int8": "face_embedding_int8", "float": "face_embedding_float"}


@dataclass(frozen=True)
class QualityRules:
    """Limits a face must meet before it is embedded.

    ``min_eye_distance`` is in image pixels between the eye centres: below it
    the chip is mostly upsampling. ``min_sharpness`` is the Laplacian variance
    on the chip (see ``bench/accuracy.py`` for the distribution on real
    photos). Faces narrower than ``competitor_ratio`` times the largest face
    are ignored (background people, the ghost portrait on ID cards); two or
    more faces at or above it are refused as ambiguous.
    """

    min_eye_distance: float = 28.0
    min_sharpness: float = 50.0
    competitor_ratio: float = 0.5


@dataclass
class FaceAnalysis:
    """One face found in one image. ``embedding`` is biometric: keep in memory only."""

    detection: Detection
    mesh: FaceMesh
    chip_sharpness: float
    eye_distance: float
    embedding: np.ndarray = field(repr=False)
    timings_ms: dict[str, float]


def _clock() -> float:
    return time.perf_counter() * 1000.0


class FacePipeline:
    """Holds the loaded models; not thread-safe (one interpreter per model)."""

    def __init__(
        self,
        manifest: Manifest,
        *,
        precision: str = "int8",
        num_threads: int = 2,
        rules: QualityRules | None = None,
    ) -> None:
        if precision not in EMBEDDERS:
            raise ValueError(f"precision must be one of {sorted(EMBEDDERS)}")
        self.manifest = manifest
        self.embedder_key = EMBEDDERS[precision]
        self.rules = rules or QualityRules()

        def blaze(key: str) -> BlazeFace:
            anchors = manifest.entry(key)["anchors"]
            model = manifest.load_model(key, num_threads=num_threads)
            return BlazeFace(model, list(anchors["strides"]), list(anchors["per_cell"]))

        self.detector = FaceDetector(blaze("face_detection_short"), blaze("face_detection_full"))
        self.landmarker = FaceLandmarker(manifest.load_model("face_landmarks", num_threads=num_threads))
        self.embedder = Embedder(manifest.load_model(self.embedder_key, num_threads=num_threads))
        self.threshold = manifest.threshold(self.embedder_key)
        self.num_threads = num_threads
        self._eyes: EyeLandmarker | None = None

    def eye_landmarker(self) -> EyeLandmarker:
        """The eyelid model, loaded on first use (only liveness sessions need it), then shared like the others."""
        if self._eyes is None:
            self._eyes = EyeLandmarker(self.manifest.load_model("eye_landmarks", num_threads=self.num_threads))
        return self._eyes

    @classmethod
    def from_directory(cls, directory: Path | None = None, **kwargs: object) -> FacePipeline:
        return cls(Manifest.load(directory), **kwargs)  # type: ignore[arg-type]

    def primary_face(self, faces: list[Detection]) -> Detection:
        if not faces:
            raise NoFace("no face found")
        largest = faces[0]
        rivals = [f for f in faces[1:] if f.width >= self.rules.competitor_ratio * largest.width]
        if rivals:
            raise MultipleFaces(f"{1 + len(rivals)} faces of similar size found; exactly one is needed")
        return largest

    def analyse(self, rgb: np.ndarray) -> FaceAnalysis:
        timings: dict[str, float] = {}
        t = _clock()
        det = self.primary_face(self.detector.detect(rgb))
        timings["detect"] = _clock() - t

        t = _clock()
        mesh = self.landmarker.landmarks(rgb, det)
        timings["landmarks"] = _clock() - t

        t = _clock()
        pts = five_points(mesh.points)
        eye_distance = float(np.linalg.norm((pts[0] + pts[1]) / 2 - (pts[2] + pts[3]) / 2))
        if eye_distance < self.rules.min_eye_distance:
            raise FaceTooSmall(
                f"face too small: {eye_distance:.0f} px between the eyes, at least "
                f"{self.rules.min_eye_distance:.0f} px needed; move closer or use a larger photo"
            )
        chip = extract_chip(rgb, pts)
        sharp = sharpness(chip)
        timings["align"] = _clock() - t
        if sharp < self.rules.min_sharpness:
            raise FaceTooBlurry(
                f"face too blurred: sharpness {sharp:.0f}, at least {self.rules.min_sharpness:.0f} needed"
            )

        t = _clock()
        embedding = self.embedder.embed(chip)
        timings["embed"] = _clock() - t
        return FaceAnalysis(det, mesh, sharp, eye_distance, embedding, timings)
