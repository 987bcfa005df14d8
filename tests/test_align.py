"""Alignment: the similarity solve and the chip it produces."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.vision.align import CHIP_SIZE, chip_template, extract_chip, five_points, similarity_transform


@given(
    angle=st.floats(-3.0, 3.0),
    scale=st.floats(0.05, 20.0),
    tx=st.floats(-500, 500),
    ty=st.floats(-500, 500),
)
@settings(max_examples=200, deadline=None)
def test_similarity_transform_recovers_exact_transform(angle: float, scale: float, tx: float, ty: float) -> None:
    src = np.array([[10, 20], [80, 22], [30, 90], [70, 95], [50, 60]], np.float64)
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    m = np.array([[c, -s, tx], [s, c, ty]])
    dst = src @ m[:, :2].T + m[:, 2]
    assert np.allclose(similarity_transform(src, dst), m, atol=1e-6 * max(1.0, scale))


def test_template_matches_dlib_padding() -> None:
    t = chip_template()
    # dlib: (padding + p) / (2 * padding + 1) * size, padding 0.25
    assert np.allclose(t[4], (0.25 + np.array([0.4901123135679, 0.6277975316475])) / 1.5 * CHIP_SIZE)


def test_chip_puts_landmarks_on_template(pipeline, face) -> None:
    for name in ("img1.jpg", "img20.jpg"):
        rgb = face(name)
        det = pipeline.detector.detect(rgb)[0]
        chip = extract_chip(rgb, five_points(pipeline.landmarker.landmarks(rgb, det).points))
        assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3)
        # Landmarks found again on the chip itself land where the template wants them.
        chip_det = pipeline.detector.detect(chip)
        assert chip_det, "the aligned chip should still contain a detectable face"
        pts = five_points(pipeline.landmarker.landmarks(chip, chip_det[0]).points)
        assert np.abs(pts - chip_template()).max() < 0.08 * CHIP_SIZE
