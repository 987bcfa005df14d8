"""BlazeFace decoding on real photos, and the geometry underneath it."""

from __future__ import annotations

import numpy as np

from edge_agent.vision.detector import ssd_anchors, weighted_nms
from edge_agent.vision.manifest import Manifest


def test_anchor_counts_match_models() -> None:
    m = Manifest.load()
    for key, n in (("face_detection_short", 896), ("face_detection_full", 2304)):
        a = m.entry(key)["anchors"]
        size = m.entry(key)["input"]["shape"][1]
        anchors = ssd_anchors(size, a["strides"], a["per_cell"])
        assert anchors.shape == (n, 2)
        assert anchors.min() > 0 and anchors.max() < 1


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    kps = np.zeros((3, 6, 2), np.float32)
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    out = weighted_nms(boxes, kps, scores, 0.3)
    assert len(out) == 2
    merged, _, score = out[0]
    assert score == np.float32(0.9)
    assert 0 < merged[0] < 1  # pulled towards the second box, weighted by score


def test_one_face_with_sensible_keypoints(pipeline, face) -> None:
    rgb = face("img1.jpg")
    faces = pipeline.detector.detect(rgb)
    assert len(faces) == 1
    f = faces[0]
    h, w = rgb.shape[:2]
    assert 0 <= f.box[0] < f.box[2] <= w and 0 <= f.box[1] < f.box[3] <= h
    right_eye, left_eye, nose = f.keypoints[0], f.keypoints[1], f.keypoints[2]
    assert right_eye[0] < left_eye[0]  # subject's right eye is on the image's left
    assert min(right_eye[1], left_eye[1]) < nose[1]  # eyes above the nose
    assert f.box[0] < nose[0] < f.box[2]


def test_two_people(pipeline, face) -> None:
    assert len(pipeline.detector.detect(face("couple.jpg"))) == 2


def test_group_photo_finds_several_faces(pipeline, face) -> None:
    assert len(pipeline.detector.detect(face("selfie-many-people.jpg"))) >= 4


def test_full_range_finds_a_small_distant_face(pipeline, face) -> None:
    rgb = face("img1.jpg")
    h, w = rgb.shape[:2]
    canvas = np.full((h * 4, w * 4, 3), 128, np.uint8)
    canvas[h * 2: h * 3, w: w * 2] = rgb  # same face at a quarter of the frame's size
    short = pipeline.detector.short.detect(canvas)
    both = pipeline.detector.detect(canvas)
    assert len(both) == 1
    assert len(short) <= 1  # the detector falls back to full range only when short range sees nothing


def test_no_face_in_a_plain_image(pipeline) -> None:
    gradient = np.tile(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (480, 1, 3))
    assert pipeline.detector.detect(gradient) == []
