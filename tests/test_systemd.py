"""The unit files (the agent and its kiosk): hardened to an exposure of at most 2.0 by systemd's own analyser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "edge-agent.service"
KIOSK_UNIT = UNIT.with_name("edge-agent-kiosk.service")


@pytest.mark.slow
@pytest.mark.parametrize("unit", [UNIT, KIOSK_UNIT], ids=lambda p: p.name)
def test_security_exposure_at_most_2(unit: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                          capture_output=True, text=True, timeout=60)
    m = re.search(rf"Overall exposure level for {re.escape(unit.name)}: ([0-9.]+)", proc.stdout)
    assert m, proc.stdout[-2000:] + proc.stderr
    assert float(m.group(1)) <= 2.0


def test_unit_keeps_what_the_service_needs() -> None:
    text = UNIT.read_text()
    for needed in ("Type=notify", "WatchdogSec=", "StateDirectory=edge-agent", "SupplementaryGroups=video",
                   "DeviceAllow=char-video4linux rw", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                   "Restart=on-failure"):
        assert needed in text


def test_kiosk_unit_runs_as_its_own_user_in_the_terminal_group_after_the_agent() -> None:
    text = KIOSK_UNIT.read_text()
    for needed in ("User=edge-kiosk", "Group=edge-kiosk", "SupplementaryGroups=edge-terminal",
                   "After=edge-agent.service", "RuntimeDirectory=edge-agent-kiosk", "--listen 127.0.0.1:8080",
                   "--launch-group edge-kiosk", "IPAddressAllow=localhost", "WantedBy=multi-user.target"):
        assert needed in text
    assert "Requires=edge-agent.service" not in text  # an agent restart must not take the screen down
    sysusers = UNIT.with_name("edge-agent.sysusers.conf").read_text().splitlines()
    assert "m edge-kiosk edge-terminal" in sysusers
    assert any(line.startswith("u edge-kiosk ") for line in sysusers)
    rules = (UNIT.parents[1] / "debian" / "rules").read_text()
    assert "systemd/edge-agent-kiosk.service" in rules and "systemd/kiosk-browser" in rules


def test_kiosk_browser_waits_for_the_launch_url_and_refuses_other_pages(tmp_path: Path) -> None:
    script = UNIT.with_name("kiosk-browser")
    subprocess.run(["sh", "-n", str(script)], check=True)
    proc = subprocess.run(["sh", str(script), "settings"], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2 and "customer or operator" in proc.stderr
    text = script.read_text()
    assert "/run/edge-agent-kiosk/launch-url" in text and "--kiosk" in text


@pytest.mark.slow
def test_install_script_dry_run() -> None:
    script = UNIT.parents[1] / "tools" / "install-rpi.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    out = subprocess.run(["bash", str(script)], env={"DRY_RUN": "1", "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert "apt-get install -y python3-picamera2 python3-libcamera" in out
    assert "tools/deb-build.sh" in out and "apt-get install -y /" in out and ".deb" in out
