"""Both eyes in one eyelid call: the batch-2 call gives each eye exactly the contour two single calls give."""

from __future__ import annotations

import numpy as np

from edge_agent.vision.eyes import EyeLandmarker


def test_one_batched_call_gives_the_two_single_calls_contours(pipeline, face) -> None:
    rgb = face("img1.jpg")
    mesh = pipeline.analyse(rgb).mesh.points
    batched = EyeLandmarker(pipeline.manifest.load_model("eye_landmarks", num_threads=1))
    single = EyeLandmarker(pipeline.manifest.load_model("eye_landmarks", num_threads=1))
    single.model.resize_input((1, single.size, single.size, 3))
    single.batched = False
    assert batched.batched and batched.model.inputs[0].shape[0] == 2
    got, want = batched.contours(rgb, mesh), single.contours(rgb, mesh)
    for g, w in zip(got, want, strict=True):
        assert g.shape == (16, 2)
        np.testing.assert_allclose(g, w, atol=1e-4)
    assert np.linalg.norm(got[0].mean(0) - got[1].mean(0)) > 10  # two different eyes, not one twice
