"""The quality gate's measures: dominant face, roll, contrast-free sharpness (pure logic, plus one real face)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.vision.align import arcface_points
from edge_agent.vision.detector import Detection
from edge_agent.vision.image import read_image
from edge_agent.vision.pipeline import FacePipeline, QualityRules, reference_format_of
from edge_agent.vision.quality import dominant_face, relative_sharpness, roll_degrees


def face(x0: float, y0: float, side: float) -> Detection:
    return Detection(np.array([x0, y0, x0 + side, y0 + side]), 0.9, np.zeros((6, 2)))


def test_a_small_face_in_the_background_does_not_rival_the_subject() -> None:
    subject, passer_by = face(200, 120, 240), face(10, 10, 110)
    assert dominant_face([subject, passer_by], (480, 640), 0.7) == (subject, 0)


def test_two_people_side_by_side_are_ambiguous() -> None:
    left, right = face(80, 140, 200), face(360, 140, 190)
    _, rivals = dominant_face([left, right], (480, 640), 0.7)
    assert rivals == 1


def test_a_face_at_the_edge_counts_less_than_one_of_the_same_size_in_the_centre() -> None:
    centred, edge = face(250, 170, 150), face(0, 0, 150)
    assert dominant_face([edge, centred], (480, 640), 0.7) == (centred, 0)


def test_roll_of_the_eye_line() -> None:
    upright = np.array([[40.0, 50], [70, 50], [55, 70], [42, 90], [68, 90]])
    assert roll_degrees(upright) == 0.0
    assert abs(roll_degrees(upright[[1, 0, 2, 4, 3]] * [1, -1])) == 180.0  # upside down


@pytest.mark.slow  # real photos, blurred at several strengths (~5 s)
def test_sharpness_ignores_contrast_and_sees_blur(pipeline: FacePipeline, faces_dir: Path) -> None:
    rgb = read_image(faces_dir / "img1.jpg")
    mesh = pipeline.landmarker.landmarks(rgb, pipeline.find_face(rgb)).points
    sharp = relative_sharpness(pipeline.align(rgb, mesh))
    dim = relative_sharpness(pipeline.align((rgb * 0.3).astype(np.uint8), mesh))
    eyes = arcface_points(mesh)
    # Blur of a third of the eye distance: the face no longer matches anyone (cosine < 0 to another photo of her).
    sigma = float(np.linalg.norm(eyes[1] - eyes[0])) / 3
    blurred = relative_sharpness(pipeline.align(cv2.GaussianBlur(rgb, (0, 0), sigma), mesh))
    floor = QualityRules().min_sharpness
    assert sharp > 2 * floor and dim > 2 * floor
    assert abs(dim - sharp) / sharp < 0.25, "a dim photo of a sharp face is still sharp"
    assert blurred < floor


def test_reference_format_from_size() -> None:
    assert reference_format_of(np.zeros((126, 102, 3), np.uint8)) == "id-chip"
    assert reference_format_of(np.zeros((250, 250, 3), np.uint8)) == "photo"
