"""Shared fixtures: the real models, the real deepface photos.

The photos and clips live in ``../shared`` (or ``$EDGE_AGENT_DATA``). A local
run without them skips the tests that need them; in CI (``CI`` set) a
missing data folder stops the whole run at start, loudly: CI always has it,
so its absence is a broken pipeline, not a reason to report green.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bench.common import data_root, deepface_dir
from edge_agent.vision.image import read_image
from edge_agent.vision.pipeline import FacePipeline

# What the suite reads from the data folder; each must exist in CI.
REQUIRED_DATA = ("faces/deepface/master.csv", "antispoof/silent-face", "video/real", "video/phone-samples")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_data() -> list[str]:
    return [str(data_root() / p) for p in REQUIRED_DATA if not (data_root() / p).exists()]


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = missing_data()
    if missing and in_ci():
        pytest.exit("CI is set but the shared data is missing (set EDGE_AGENT_DATA or put ../shared beside the "
                    "checkout); the tests that need it would otherwise be skipped and the run look green: "
                    + ", ".join(missing), returncode=3)


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    folder = deepface_dir()
    if not (folder / "master.csv").exists():
        message = f"deepface photos not found at {folder}: put ../shared beside the checkout or set EDGE_AGENT_DATA"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
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
def phone_samples_dir() -> Path:
    """Real phone recordings stored sideways with a rotation flag (three live sessions, one phone replay)."""
    folder = data_root() / "video" / "phone-samples"
    if not (folder / "README.md").exists():
        message = f"phone samples not found at {folder}: put ../shared beside the checkout or set EDGE_AGENT_DATA"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
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

# The carrier tests' store fixture (carrier_store: SQLite and PostgreSQL), from tests/carrier_harness.py.
# The fast tier's time budget (tests/tier_budget.py).
pytest_plugins = ["carrier_harness", "tier_budget"]
