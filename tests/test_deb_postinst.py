"""debian/postinst byte-compiles the private modules on a device, and skips that only when asked to.

tools/arm-check.sh installs the arm64 package under qemu, where compileall took most of an hour-long install
and has no bearing on the embeddings it compares; it sets EDGE_AGENT_NO_COMPILE=1. Everywhere else (a Pi,
deb-check) the variable is unset and the modules must still be compiled, since the agent's user cannot write
the .pyc files beside them later.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run_postinst(tmp_path: Path, no_compile: str | None) -> list[str]:
    """Run postinst configure with systemd-sysusers and python3 replaced by recorders; what python3 was asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    for name in ("systemd-sysusers", "python3"):
        (bin_dir / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\n')
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    if no_compile is not None:
        env["EDGE_AGENT_NO_COMPILE"] = no_compile
    subprocess.run(["sh", str(ROOT / "debian" / "postinst"), "configure"], env=env, check=True, timeout=30)
    return [line for line in calls.read_text().splitlines() if line.startswith("python3")]


@pytest.mark.parametrize("no_compile", [None, ""])
def test_a_normal_install_compiles_the_private_modules(tmp_path: Path, no_compile: str | None) -> None:
    assert _run_postinst(tmp_path, no_compile) == ["python3 -m compileall -q /usr/lib/edge-agent/python"]


def test_the_emulated_check_can_skip_the_compilation(tmp_path: Path) -> None:
    assert _run_postinst(tmp_path, "1") == []
