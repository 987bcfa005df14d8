"""`make demo` on a fresh clone: the embedded sample photo, where the photos come from, and the refusal of a
missing one before anything starts (tools/demo-local.sh --check, which `make demo` runs first)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples" / "faces"
SAMPLE = SAMPLES / "silent-face-image_T1.jpg"


def test_the_sample_is_the_pinned_upstream_file_with_its_licence() -> None:
    lines = (SAMPLES / "MANIFEST.sha256").read_text().split("\n")
    pinned = dict(reversed(line.split("  ", 1)) for line in lines if line)
    assert set(pinned) == {SAMPLE.name, "LICENSE-silent-face"}
    for name, digest in pinned.items():
        assert hashlib.sha256((SAMPLES / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (SAMPLES / "LICENSE-silent-face").read_text()
    readme = (SAMPLES / "README.md").read_text()
    assert "Apache-2.0" in readme and "Silent-Face-Anti-Spoofing" in readme and SAMPLE.name in readme


def _check(root: Path, *args: str, data: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EDGE_AGENT_DATA"}
    if data is not None:
        env["EDGE_AGENT_DATA"] = data
    return subprocess.run(["bash", str(root / "tools" / "demo-local.sh"), "--check", *args], capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The script and the sample in a folder with no ../shared beside it, as a fresh clone is."""
    root = tmp_path / "clone"
    (root / "tools").mkdir(parents=True)
    shutil.copy(REPO / "tools" / "demo-local.sh", root / "tools")
    shutil.copytree(SAMPLES, root / "samples" / "faces")
    return root


def _faces(folder: Path) -> Path:
    (folder / "faces" / "deepface").mkdir(parents=True)
    for name in ("img1.jpg", "img2.jpg"):
        (folder / "faces" / "deepface" / name).write_bytes(b"stand-in")  # --check looks only for the files
    return folder


def test_a_fresh_clone_uses_the_sample_as_reference_and_customer(clone: Path) -> None:
    proc = _check(clone)
    assert proc.returncode == 0, proc.stderr
    sample = clone / "samples" / "faces" / SAMPLE.name
    assert proc.stdout.strip() == f"demo photos: reference {sample}, customer {sample}"


def test_edge_agent_data_is_used_when_set_and_shared_beside_the_checkout_otherwise(clone: Path,
                                                                                    tmp_path: Path) -> None:
    given = _faces(tmp_path / "given")
    proc = _check(clone, data=str(given))
    assert proc.returncode == 0 and f"reference {given}/faces/deepface/img1.jpg" in proc.stdout, proc.stderr
    assert f"customer {given}/faces/deepface/img2.jpg" in proc.stdout
    _faces(tmp_path / "shared" / "data")  # ../shared/data beside the clone
    proc = _check(clone)
    assert f"reference {(tmp_path / 'shared' / 'data').resolve()}/faces/deepface/img1.jpg" in proc.stdout


def test_a_missing_photo_is_refused_at_the_start_with_the_fix(clone: Path, tmp_path: Path) -> None:
    proc = _check(clone, data=str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert f"photo {tmp_path}/nowhere/faces/deepface/img1.jpg does not exist" in proc.stderr
    assert "point EDGE_AGENT_DATA at the shared data folder" in proc.stderr and "unset it" in proc.stderr
    proc = _check(clone, str(tmp_path / "ref.jpg"))
    assert proc.returncode == 2 and "check the path given on the command line" in proc.stderr
    (clone / "samples" / "faces" / SAMPLE.name).unlink()
    proc = _check(clone)
    assert proc.returncode == 2 and "git checkout -- samples/faces" in proc.stderr


def test_make_passes_edge_agent_data_through_to_every_target(tmp_path: Path) -> None:
    """The Makefile no longer overrides EDGE_AGENT_DATA (it did for demo, bench, deb-check and arm-check)."""
    env = {**os.environ, "EDGE_AGENT_DATA": str(tmp_path)}
    for target in ("demo", "bench", "deb-check", "arm-check"):
        out = subprocess.run(["make", "-n", "-o", "edge_agent/_proto/carrier_pb2.py", target], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=60).stdout
        assert "EDGE_AGENT_DATA=" not in out, (target, out)
    out = subprocess.run(["make", "-n", "models"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=60).stdout
    assert f"--data {tmp_path}/faces/deepface" in out
