"""A real ``edge-agent kiosk`` against a local user outside the terminal group (``nobody``) and a rebinding page.

The agent's socket refuses ``nobody``; the kiosk must not hand it the same powers over loopback. The client
runs as ``nobody`` through ``setpriv`` (the tests run as root); the kiosk's browser gets in only through the
launch URL that the kiosk wrote to its 0600 launch file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

NOBODY_CLIENT = r"""
import json, sys, urllib.error, urllib.request
base, launch = sys.argv[1], sys.argv[2]
out = {}
try:
    open(launch).read()
    out["launch_file"] = "read"
except OSError as exc:
    out["launch_file"] = type(exc).__name__
def call(name, path, data=None, headers=None):
    req = urllib.request.Request(base + path, data=data, headers={"X-Kiosk": "1", **(headers or {})},
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            out[name] = r.status
    except urllib.error.HTTPError as exc:
        out[name] = exc.code
call("start", "/api/start?txn=nobody-1", b"\xff\xd8 a photo")
call("status", "/api/status")
call("cancel", "/api/cancel", b"")
call("events", "/events")
call("preview", "/preview.mjpg")
call("operator", "/operator")
call("health", "/api/health")
call("login_guess", "/login?token=guess&next=/operator")
call("foreign_host", "/api/status", headers={"Host": "rebind.example:80"})
call("foreign_origin", "/api/cancel", b"", headers={"Origin": "http://rebind.example"})
print(json.dumps(out))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    work = tmp_path_factory.mktemp("kiosk-access")
    port, launch = _free_port(), work / "run" / "launch-url"
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent.cli", "kiosk", "--socket", str(work / "agent.sock"),
                             "--listen", f"127.0.0.1:{port}", "--launch-file", str(launch), "--no-speech"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            if launch.exists():
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    pass
            assert time.monotonic() < deadline, "kiosk did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", launch
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert "token=" not in out, "the secret was printed"
        assert not launch.exists(), "the launch file outlived the kiosk"


def _status(opener: urllib.request.OpenerDirector, url: str, data: bytes | None = None,
            headers: dict[str, str] | None = None) -> int:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with opener.open(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_a_local_user_outside_the_terminal_group_gets_nothing_from_the_kiosk(kiosk: tuple[str, Path]) -> None:
    base, launch = kiosk
    assert stat.S_IMODE(launch.stat().st_mode) == 0o600 and launch.stat().st_uid == os.getuid()
    open_dir = Path(tempfile.mkdtemp(dir="/tmp"))  # the real folder is private: show the file's own mode refuses too
    os.chmod(open_dir, 0o711)
    exposed = open_dir / "launch-url"
    shutil.copy2(launch, exposed)
    try:
        out = subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
                              "/usr/bin/python3", "-c", NOBODY_CLIENT, base, str(exposed)],
                             capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(open_dir)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got.pop("launch_file") == "PermissionError"
    assert got.pop("foreign_host") == 421 and got.pop("foreign_origin") == 403
    assert {k: v for k, v in got.items() if v not in (401, 403)} == {}, got


def test_the_launch_url_is_the_way_in_and_host_and_origin_are_checked(kiosk: tuple[str, Path]) -> None:
    base, launch = kiosk
    url = launch.read_text().strip()
    assert url.startswith(base + "/login?token=") and url.endswith("&next=/customer")
    jar = CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    assert _status(browser, base + "/api/status") == 401
    assert _status(browser, url.replace("next=/customer", "next=//evil.example/x")) == 200  # kept on this site
    secret = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]
    assert [c.name for c in jar] == ["edge_kiosk_session"] and all(secret not in str(c.value) for c in jar)
    assert _status(browser, base + "/api/status") == 200
    assert _status(browser, base + "/api/cancel", b"", {"X-Kiosk": "1"}) == 200
    assert _status(browser, base + "/api/cancel", b"", {"X-Kiosk": "1", "Origin": "http://rebind.example"}) == 403
    assert _status(browser, base + "/api/cancel", b"", {"X-Kiosk": "1", "Origin": base}) == 200
    assert _status(browser, base + "/api/status", headers={"Host": "rebind.example"}) == 421
