"""Our converted descriptor against dlib's own, on the same aligned chips of real faces.

The chips are cut by dlib itself (HOG detector, 5-point predictor,
get_face_chip 150 px, padding 0.25), so only the networks differ. Photos
used to calibrate the int8 model (odd numbers) are reported apart from the
held-out ones.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from edge_agent.vision.image import read_image

dlib = pytest.importorskip("dlib", reason="dlib-bin is a test dependency: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def dlib_chips(faces_dir: Path) -> dict[str, np.ndarray]:
    from bench.common import DlibPipeline

    dl = DlibPipeline()
    chips = {}
    for path in sorted(faces_dir.glob("img*.jpg")):
        chip = dl.chip(read_image(path))
        if chip is not None:
            chips[path.name] = chip
    assert len(chips) >= 50
    return chips


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.slow
@pytest.mark.parametrize(("precision", "floor"), [("float", 0.999), ("int8", 0.98)])
def test_descriptor_matches_dlib(
    request: pytest.FixtureRequest, dlib_chips: dict[str, np.ndarray], precision: str, floor: float,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench.common import DlibPipeline

    pipe = request.getfixturevalue("dlib_pipeline" if precision == "int8" else "dlib_float_pipeline")
    dl = DlibPipeline()
    sims = {name: _cos(pipe.embedder.embed(chip), dl.embed_chip(chip)) for name, chip in dlib_chips.items()}
    calib = [v for k, v in sims.items() if int(re.findall(r"\d+", k)[0]) % 2 == 1]
    held = [v for k, v in sims.items() if int(re.findall(r"\d+", k)[0]) % 2 == 0]
    with capsys.disabled():
        print(
            f"\n[parity] {precision}: {len(sims)} chips, cosine to dlib mean {np.mean(list(sims.values())):.5f} "
            f"min {min(sims.values()):.5f}; held out ({len(held)}) mean {np.mean(held):.5f} min {min(held):.5f}; "
            f"calibration ({len(calib)}) min {min(calib):.5f}"
        )
    assert min(sims.values()) >= floor


@pytest.mark.slow
def test_end_to_end_embedding_close_to_dlib_pipeline(dlib_pipeline, faces_dir: Path) -> None:
    """Different detector, landmarks and warp, same descriptor (the dlib port): the embeddings should still agree."""
    from bench.common import DlibPipeline

    dl = DlibPipeline()
    sims = []
    for path in sorted(faces_dir.glob("img*.jpg"))[::3]:
        rgb = read_image(path)
        theirs, _ = dl.embed(rgb)
        assert theirs is not None
        sims.append(_cos(dlib_pipeline.analyse(rgb).embedding, theirs))
    assert np.mean(sims) > 0.99
    assert min(sims) > 0.97
