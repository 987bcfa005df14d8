"""A kiosk whose port is taken says so before it prints any URL (it used to print its URL, then fail to bind)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.kiosk.command import KioskListenError, check_port


def test_a_taken_port_is_refused_before_any_url_is_printed(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(KioskListenError, match=f"cannot listen on 127.0.0.1:{port}.*--listen"):
            check_port("127.0.0.1", port)
        proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", "kiosk", "--listen", f"127.0.0.1:{port}",
                               "--socket", str(tmp_path / "agent.sock")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "http://" not in proc.stdout and "http://" not in proc.stderr, proc.stdout
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr
    check_port("127.0.0.1", port)  # free again: no error
