"""Shared fixtures: the real models, the real deepface photos (skipped cleanly when absent)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import data_root, deepface_dir  # noqa: E402
from edge_agent.vision.image import read_image  # noqa: E402
from edge_agent.vision.pipeline import FacePipeline  # noqa: E402


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    folder = deepface_dir()
    if not (folder / "master.csv").exists():
        pytest.skip(f"deepface photos not found at {folder}: put ../shared beside the checkout or set EDGE_AGENT_DATA")
    return folder


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    """lfw-dev (LFW-style photos of people outside everything else shared here), with its pairs.tsv."""
    folder = data_root() / "faces" / "lfw-dev"
    if not (folder / "pairs.tsv").exists():
        if os.environ.get("CI"):
            pytest.fail(f"lfw-dev not found at {folder} (CI must have ../shared or EDGE_AGENT_DATA)")
        pytest.skip(f"lfw-dev not found at {folder}: put ../shared beside the checkout or set EDGE_AGENT_DATA")
    return folder


@pytest.fixture(scope="session")
def pipeline() -> FacePipeline:
    return FacePipeline.from_directory(precision="float")


@pytest.fixture(scope="session")
def dlib_pipeline() -> FacePipeline:
    """The old default: the int8 port of dlib's descriptor, kept as the measured baseline."""
    return FacePipeline.from_directory(precision="dlib-int8")


@pytest.fixture(scope="session")
def dlib_float_pipeline() -> FacePipeline:
    return FacePipeline.from_directory(precision="dlib-float")


@pytest.fixture(scope="session")
def face(faces_dir: Path):
    """A photo with exactly one clear face."""

    def load(name: str = "img1.jpg") -> np.ndarray:
        return read_image(faces_dir / name)

    return load
