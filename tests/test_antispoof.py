"""The optional MiniFASNet slot on the sample real and attack images from ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.common import data_root
from edge_agent.vision.antispoof import AntiSpoof, crop_box
from edge_agent.vision.image import read_image


@pytest.fixture(scope="module")
def antispoof(pipeline) -> AntiSpoof:
    model = AntiSpoof.from_manifest(pipeline.manifest)
    if model is None:
        pytest.skip("MiniFASNet models not converted: run `make antispoof` (needs ../shared)")
    return model


@pytest.mark.parametrize(("name", "real"), [("image_T1.jpg", True), ("image_F1.jpg", False), ("image_F2.jpg", False)])
def test_sample_images(pipeline, antispoof: AntiSpoof, name: str, real: bool) -> None:
    path = data_root() / "antispoof" / "silent-face" / name
    if not path.exists():
        pytest.skip(f"{path} not found")
    rgb = read_image(path)
    (face,) = pipeline.detector.detect(rgb)
    assert (antispoof.real_score(rgb, face) >= 0.5) is real


def test_crop_stays_inside_the_image() -> None:
    box = np.array([10.0, 20.0, 110.0, 140.0])
    left, top, right, bottom = crop_box((480, 640, 3), box, 4.0)
    assert left == 0 and top >= 0 and right <= 639 and bottom <= 479
    assert crop_box((480, 640, 3), np.array([300.0, 200.0, 340.0, 250.0]), 2.7) == (266, 157, 374, 292)


def test_slot_is_empty_without_files(pipeline, tmp_path: Path) -> None:
    import shutil

    from edge_agent.vision.manifest import DEFAULT_MODEL_DIR, Manifest

    shutil.copytree(DEFAULT_MODEL_DIR, tmp_path / "m", ignore=shutil.ignore_patterns("antispoof_*"))
    assert AntiSpoof.from_manifest(Manifest.load(tmp_path / "m")) is None
