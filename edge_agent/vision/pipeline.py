"""From an RGB image to one face's embedding: detect, landmarks, align, quality gate, embed.

This is where the "is this image fit to verify?" rules live, so the CLI, the
liveness loop and the daemon all refuse the same inputs for the same reasons.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge_agent.errors import FaceTooBlurry, FaceTooSmall, MultipleFaces, NoFace, Pose
from edge_agent.vision.align import (
    ARCFACE_SIZE,
    ARCFACE_TEMPLATE,
    arcface_points,
    extract_chip,
    five_points,
    warp_to_template,
)
from edge_agent.vision.detector import BlazeFace, Detection, FaceDetector
from edge_agent.vision.embedder import Embedder
from edge_agent.vision.eyes import EyeLandmarker
from edge_agent.vision.landmarks import FaceLandmarker, FaceMesh
from edge_agent.vision.manifest import Manifest
from edge_agent.vision.quality import dominant_face, relative_sharpness, roll_degrees

__all__ = ["EMBEDDERS", "REFERENCE_FORMATS", "FaceAnalysis", "FacePipeline", "QualityRules", "reference_format_of"]

# Embedder choice (config ``models.precision``) -> manifest key. SFace is the default; the dlib port stays as
# the measured baseline (docs/face-matching.md).
EMBEDDERS = {
    "float": "face_embedding_sface_float",
    "int8": "face_embedding_sface_int8",
    "int8-dynamic": "face_embedding_sface_int8_dynamic",
    "dlib-float": "face_embedding_float",
    "dlib-int8": "face_embedding_int8",
}
# What the reference photo is: an ordinary photo, or the 102x126 ~1 KB portrait read from an ID card chip.
REFERENCE_FORMATS = ("photo", "id-chip")
# Detection score by which the image turned upside down must beat the image as given to call the face upside down.
_UPSIDE_DOWN_MARGIN = 0.1
# Largest image taken for a chip portrait (102x126 on the card; some reader SDKs pad the bitmap a little).
_CHIP_MAX_SIDE = 160


def reference_format_of(rgb: np.ndarray) -> str:
    """``id-chip`` for a reference no bigger than an ID card chip's portrait, else ``photo``.

    The two formats have their own calibrated thresholds (both at FMR 1e-4):
    a 1 KB portrait scores lower against a live face than a photo does.
    """
    return "id-chip" if max(rgb.shape[:2]) <= _CHIP_MAX_SIDE else "photo"


@dataclass(frozen=True)
class QualityRules:
    """Limits a face must meet before it is embedded (ISO/IEC 29794-5 terms in brackets).

    ``min_eye_distance`` is in image pixels between the eye centres
    [inter-eye distance]: an ID card chip portrait has about 24, so the floor
    sits below that. ``min_sharpness`` is ``relative_sharpness`` of the
    aligned chip [sharpness]: contrast- and scale-free, so a dim webcam frame
    or a small photo is not mistaken for a blurred one; the floor only
    refuses faces with no usable detail (see docs/face-matching.md for the
    measured distribution). ``max_roll`` refuses faces rotated beyond what
    alignment should undo [head pose]; an upside-down face is refused, not
    compared. A face is the subject when it is clearly dominant by size and
    closeness to the centre [single face present]: a rival whose dominance
    reaches ``dominance_ratio`` of it makes the photo ambiguous. Dominance is
    the face's width times (1 - ``centre_weight`` x its distance from the
    centre in half-diagonals): with 0.5, 108 of lfw-dev's 7,303 photos were
    refused (a neighbour's face beside the subject); with 1.0, 12 are
    (detector-only count), while two people side by side still are. Faces
    narrower than ``competitor_ratio`` times the largest are ignored by the
    liveness loop (background people, the ghost portrait on ID cards).
    """

    min_eye_distance: float = 18.0
    min_sharpness: float = 0.05
    max_roll: float = 40.0
    dominance_ratio: float = 0.7
    centre_weight: float = 1.0
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
    """Holds the loaded models; not thread-safe (one interpreter per model).

    ``flip`` averages the embeddings of the chip and of its mirror image.
    On lfw-dev that lowers FNMR at FMR 1e-4 from 1.8 % to 1.6 % (SFace's
    README) for a second inference per face; off by default, because the
    manifest thresholds were calibrated without it and the gain is within the
    noise of the 1e-4 operating point (docs/face-matching.md).
    """

    def __init__(
        self,
        manifest: Manifest,
        *,
        precision: str = "float",
        num_threads: int = 2,
        rules: QualityRules | None = None,
        flip: bool = False,
    ) -> None:
        if precision not in EMBEDDERS:
            raise ValueError(f"precision must be one of {sorted(EMBEDDERS)}")
        self.manifest = manifest
        self.embedder_key = EMBEDDERS[precision]
        self.rules = rules or QualityRules()
        self.flip = flip

        def blaze(key: str) -> BlazeFace:
            anchors = manifest.entry(key)["anchors"]
            model = manifest.load_model(key, num_threads=num_threads)
            return BlazeFace(model, list(anchors["strides"]), list(anchors["per_cell"]))

        self.detector = FaceDetector(blaze("face_detection_short"), blaze("face_detection_full"))
        self.landmarker = FaceLandmarker(manifest.load_model("face_landmarks", num_threads=num_threads))
        self.embedder = Embedder(manifest.load_model(self.embedder_key, num_threads=num_threads))
        self.arcface = manifest.entry(self.embedder_key).get("alignment", "dlib150") == "arcface112"
        self.threshold = manifest.threshold(self.embedder_key)
        self.num_threads = num_threads
        self._eyes: EyeLandmarker | None = None

    def threshold_for(self, reference_format: str) -> float:
        """The calibrated threshold for references of this format (``photo`` is ``self.threshold``)."""
        if reference_format not in REFERENCE_FORMATS:
            raise ValueError(f"reference format must be one of {REFERENCE_FORMATS}")
        if reference_format == "photo":
            return self.threshold
        return self.manifest.threshold(self.embedder_key, reference_format)

    def eye_landmarker(self) -> EyeLandmarker:
        """The eyelid model, loaded on first use (only liveness sessions need it), then shared like the others."""
        if self._eyes is None:
            self._eyes = EyeLandmarker(self.manifest.load_model("eye_landmarks", num_threads=self.num_threads))
        return self._eyes

    @classmethod
    def from_directory(cls, directory: Path | None = None, **kwargs: object) -> FacePipeline:
        """The pipeline over the model set in ``directory`` (the factory set by default)."""
        return cls(Manifest.load(directory), **kwargs)  # type: ignore[arg-type]

    def primary_face(self, faces: list[Detection], shape: tuple[int, ...]) -> Detection:
        """The subject among ``faces``; NoFace when there is none, MultipleFaces when another rivals it."""
        if not faces:
            raise NoFace("no face found")
        face, rivals = dominant_face(faces, shape, self.rules.dominance_ratio, self.rules.centre_weight)
        if rivals:
            raise MultipleFaces(f"{1 + rivals} faces of similar size and place found; exactly one is needed")
        return face

    def find_face(self, rgb: np.ndarray) -> Detection:
        """The subject's face, or the specific reason there is none to use.

        An upside-down face can still be "found" (BlazeFace reads its mouth as
        eyes, and the mesh then fits an upright face to it), at a lower score
        than the same image turned upright: so the image is also tried turned
        by 180 degrees, and a clearly better face there means the photo is
        upside down (deepface img1/img2: 0.89/0.96 upright, 0.70/0.66 upside down).
        """
        faces = self.detector.detect(rgb)
        turned = self.detector.detect(np.ascontiguousarray(cv2.rotate(rgb, cv2.ROTATE_180)))
        if turned and (not faces or turned[0].score >= max(f.score for f in faces) + _UPSIDE_DOWN_MARGIN):
            raise Pose("face upside down; hold the photo or the head upright")
        if not faces:
            # A face the detector only finds once the image is turned is a pose problem, not a missing face.
            for turn in (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE):
                if self.detector.detect(np.ascontiguousarray(cv2.rotate(rgb, turn))):
                    raise Pose("face on its side; hold the photo or the head upright")
        return self.primary_face(faces, rgb.shape)

    def align(self, rgb: np.ndarray, mesh_points: np.ndarray) -> np.ndarray:
        """The chip the embedder was trained on, from the face mesh."""
        if self.arcface:
            return warp_to_template(rgb, arcface_points(mesh_points), ARCFACE_TEMPLATE, ARCFACE_SIZE)
        return extract_chip(rgb, five_points(mesh_points))

    def embed_chip(self, chip: np.ndarray) -> np.ndarray:
        """Unit embedding of an aligned chip, averaged with its mirror image when ``flip`` is on."""
        vec = self.embedder.embed(chip)
        if self.flip:
            both = vec + self.embedder.embed(np.ascontiguousarray(chip[:, ::-1]))
            vec = both / float(np.linalg.norm(both))
        return vec

    def analyse(self, rgb: np.ndarray) -> FaceAnalysis:
        """The subject's face checked for pose, size and sharpness, then embedded; timed stage by stage."""
        timings: dict[str, float] = {}
        t = _clock()
        det = self.find_face(rgb)
        timings["detect"] = _clock() - t

        t = _clock()
        mesh = self.landmarker.landmarks(rgb, det)
        timings["landmarks"] = _clock() - t

        t = _clock()
        pts = arcface_points(mesh.points)
        eye_distance = float(np.linalg.norm(pts[1] - pts[0]))
        roll = roll_degrees(pts)
        if abs(roll) > self.rules.max_roll:
            raise Pose(
                f"head tilted {abs(roll):.0f} degrees, at most {self.rules.max_roll:.0f} allowed; hold it upright"
            )
        if eye_distance < self.rules.min_eye_distance:
            raise FaceTooSmall(
                f"face too small: {eye_distance:.0f} px between the eyes, at least "
                f"{self.rules.min_eye_distance:.0f} px needed; move closer or use a larger photo"
            )
        chip = self.align(rgb, mesh.points)
        sharp = relative_sharpness(chip)
        timings["align"] = _clock() - t
        if sharp < self.rules.min_sharpness:
            raise FaceTooBlurry(
                f"face too blurred: sharpness {sharp:.3f}, at least {self.rules.min_sharpness:.3f} needed"
            )

        t = _clock()
        embedding = self.embed_chip(chip)
        timings["embed"] = _clock() - t
        return FaceAnalysis(det, mesh, sharp, eye_distance, embedding, timings)
