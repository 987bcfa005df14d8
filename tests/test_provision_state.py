"""``edge-agent provision`` on a state folder it cannot use: a clear error and exit 3, never an OSError traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["under_a_file", "read_only"])
def test_unusable_state_folder_is_a_clear_error(tmp_path: Path, layout: str) -> None:
    if layout == "under_a_file":
        (tmp_path / "file").write_text("not a folder")
        state = tmp_path / "file" / "state"
        cmd = [sys.executable, "-m", "edge_agent.cli"]
    else:  # as on a fresh Pi before the package made /var/lib/edge-agent: the user may not create it
        state = tmp_path / "ro" / "state"
        (tmp_path / "ro").mkdir(mode=0o555)
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-m", "edge_agent.cli"]
        if subprocess.run([*cmd[:4], "true"], capture_output=True).returncode != 0:
            pytest.skip("needs root to run as nobody (setpriv)")
        if subprocess.run([*cmd[:4], sys.executable, "-c", ""], capture_output=True).returncode != 0:
            pytest.skip(f"nobody cannot run {sys.executable}")
        tmp_path.chmod(0o755)
        tmp_path.parent.chmod(0o755)
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    ca.chmod(0o644)
    proc = subprocess.run([*cmd, "provision", "--state", str(state), "--carrier", "127.0.0.1:9", "--ca", str(ca),
                           "--token", "tok-x", "--json"], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 3
    err = json.loads(proc.stdout)
    assert err["error"] == "state_dir_unusable" and str(state) in err["message"]
    assert "sudo -u edge-agent" in err["message"]
