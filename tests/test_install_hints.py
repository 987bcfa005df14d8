"""Clear words for an installer instead of a traceback or the wrong advice: the picamera2 hint fits the way
edge-agent was installed, the kiosk's web stack comes with every install, and `make deb` names the apt-get
command for its missing build dependencies."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from edge_agent.camera.source import PiCameraSource, picamera2_missing_hint
from edge_agent.errors import CameraError

ROOT = Path(__file__).resolve().parents[1]


def test_a_system_python_is_told_apt_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Debian package runs on /usr/bin/python3 (prefix == base_prefix): no venv advice for it."""
    monkeypatch.setattr(sys, "prefix", sys.base_prefix)
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import picamera2 -> ImportError
    with pytest.raises(CameraError) as err:
        PiCameraSource()._open()
    assert "sudo apt install python3-picamera2" in str(err.value)
    assert "venv" not in str(err.value) and "site-packages" not in str(err.value)


def test_a_venv_is_told_to_see_the_system_packages(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    hint = picamera2_missing_hint()
    assert "sudo apt install python3-picamera2" in hint and "--system-site-packages" in hint
    assert str(tmp_path / "venv") in hint


def test_the_kiosk_web_stack_is_a_default_dependency() -> None:
    """`pip install .` then `edge-agent kiosk` must not end in "No module named 'starlette'"."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split("=")[0].split(";")[0].strip() for d in deps}
    assert {"starlette", "uvicorn"} <= names


def test_make_deb_names_the_apt_command_for_missing_build_dependencies(tmp_path: Path) -> None:
    """A PATH with everything of this box but debhelper, dpkg-buildpackage and lintian."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    hidden = {"dh", "dpkg-buildpackage", "lintian"}
    for d in ("/usr/local/bin", "/usr/bin", "/bin"):
        for entry in sorted(Path(d).iterdir()) if Path(d).is_dir() else []:
            link = bin_dir / entry.name
            if entry.name not in hidden and not link.exists():
                link.symlink_to(entry)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "SUITE": "trixie"}
    proc = subprocess.run(["bash", str(ROOT / "tools" / "deb-build.sh"), "amd64"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert "missing build dependencies: dpkg-dev debhelper lintian" in proc.stderr
    assert "sudo apt-get install dpkg-dev debhelper lintian" in proc.stderr


def test_an_unknown_suite_is_refused_before_anything_is_built() -> None:
    proc = subprocess.run(["bash", str(ROOT / "tools" / "deb-build.sh"), "amd64"], env={**os.environ, "SUITE": "sid"},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "SUITE=sid: bookworm or trixie" in proc.stderr
