"""The unit file: hardened to an exposure of at most 2.0 by systemd's own analyser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "edge-agent.service"


@pytest.mark.slow
def test_security_exposure_at_most_2() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(UNIT)],
                          capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for edge-agent\.service: ([0-9.]+)", proc.stdout)
    assert m, proc.stdout[-2000:] + proc.stderr
    assert float(m.group(1)) <= 2.0


def test_unit_keeps_what_the_service_needs() -> None:
    text = UNIT.read_text()
    for needed in ("Type=notify", "WatchdogSec=", "StateDirectory=edge-agent", "SupplementaryGroups=video",
                   "DeviceAllow=char-video4linux rw", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                   "Restart=on-failure"):
        assert needed in text


@pytest.mark.slow
def test_install_script_dry_run() -> None:
    script = UNIT.parents[1] / "tools" / "install-rpi.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    out = subprocess.run(["bash", str(script)], env={"DRY_RUN": "1", "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert "apt-get install -y python3-picamera2 python3-libcamera" in out
    assert "tools/deb-build.sh" in out and "apt-get install -y /" in out and ".deb" in out
