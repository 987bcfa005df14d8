"""`make kiosk-demo` (tools/kiosk-demo.sh): carrier, provisioned agent on a rendered clip and the kiosk from one
command, the two URLs printed, and everything stopped by Ctrl-C (SIGINT to the foreground process group)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from kiosk_stack import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_one_command_prints_both_urls_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "EDGE_AGENT": str(Path(sys.executable).parent / "edge-agent"), "KIOSK_PORT": str(port),
           "SEED": "4", "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(["bash", str(REPO / "tools" / "kiosk-demo.sh")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 600
        assert proc.stdout is not None
        while not any(line.lstrip().startswith("clerk panel:") for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stdout.readline())
        out = "".join(lines)
        customer = re.search(r"customer screen: (\S+)", out)
        clerk = re.search(r"clerk panel: +(\S+)", out)
        assert customer and clerk, out
        assert customer.group(1).startswith(f"http://127.0.0.1:{port}/") and "operator" in clerk.group(1)
        for url in (customer.group(1), clerk.group(1)):  # a launch URL: /login sets the session cookie, then redirects
            browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
            with browser.open(url, timeout=30) as page:
                assert page.status == 200
        assert [p.name for p in tmp_path.iterdir()], "the working folder"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in its terminal does
        proc.wait(90)
        deadline = time.monotonic() + 30
        while _group_alive(proc.pid):
            assert time.monotonic() < deadline, "a process of the demo outlived Ctrl-C"
            time.sleep(0.5)
        assert list(tmp_path.iterdir()) == [], "the working folder was not removed"
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
