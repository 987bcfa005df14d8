"""The store as separate processes for the kiosk's browser tests and latency benchmark.

Like tools/demo-local.sh: a reference carrier on loopback, a provisioned
device, a simulated customer clip (``edge-agent simulate`` with a fixed
challenge seed), ``edge-agent serve`` with that clip as its camera, and
``edge-agent kiosk`` on a free loopback port. Plus a headless Chromium from
Debian driven by selenium. Everything lives in one temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EA = [sys.executable, "-m", "edge_agent.cli"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required", "--hide-scrollbars"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, ok: Any, proc: subprocess.Popen[str] | None = None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.2)


def make_clip(photo: Path, seed: int, out: Path) -> Path:
    """A customer clip performing challenge order ``seed`` (rendered once, reused by the processes)."""
    if not out.exists():
        subprocess.run([*EA, "simulate", str(photo), "--seed", str(seed), "--out", str(out)], check=True,
                       capture_output=True, text=True, timeout=300)
    return out


@dataclass
class Store:
    work: Path
    carrier_state: Path
    socket: Path
    kiosk_url: str
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    kiosk_proc: subprocess.Popen[str] | None = None

    @property
    def launch_file(self) -> Path:
        return self.work / "kiosk-run" / "launch-url"

    @property
    def secret(self) -> str:
        """The kiosk's per-boot secret, read from its launch file as a launcher would."""
        query = urllib.parse.urlsplit(self.launch_file.read_text().strip()).query
        return urllib.parse.parse_qs(query)["token"][0]

    def page(self, path: str) -> str:
        """The launch URL that logs a browser in and lands on ``path``."""
        url = self.launch_file.read_text().strip()
        return url.replace("next=%2Fcustomer", "").replace("next=/customer", "") + "next=" + urllib.parse.quote(path)

    def request(self, path: str, data: bytes | None = None) -> urllib.request.Request:
        headers = {"Authorization": f"Bearer {self.secret}"} | ({"X-Kiosk": "1"} if data is not None else {})
        return urllib.request.Request(self.kiosk_url + path, data=data, headers=headers,
                                      method="POST" if data is not None else "GET")

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.request(path), timeout=10) as r:
            return json.loads(r.read())

    def audit(self, txn: str) -> dict[str, Any]:
        out = subprocess.run([*EA, "carrier-server", "--state", str(self.carrier_state), "audit", txn],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        parsed: dict[str, Any] = json.loads(out[out.index("{"):])
        return parsed

    def logs(self, name: str) -> str:
        return (self.work / name).read_text(errors="replace") if (self.work / name).exists() else ""


def _spawn(store: Store, name: str, args: list[str]) -> subprocess.Popen[str]:
    out = open(store.work / f"{name}.out", "w")  # noqa: SIM115 - closed with the process
    err = open(store.work / f"{name}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(args, stdout=out, stderr=err, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    store.procs.append(proc)
    return proc


@contextmanager
def store(work: Path, clip: Path, seed: int, kiosk_args: tuple[str, ...] = ()) -> Iterator[Store]:
    """Carrier, provisioned device, agent daemon (camera = ``clip``) and kiosk; all stopped at the end."""
    work.mkdir(parents=True, exist_ok=True)
    port, enroll_port, kiosk_port = free_port(), free_port(), free_port()
    s = Store(work, work / "carrier", work / "agent.sock", f"http://127.0.0.1:{kiosk_port}")
    try:
        subprocess.run([*EA, "carrier-server", "--state", str(s.carrier_state), "init"], check=True,
                       capture_output=True, timeout=60)
        carrier = _spawn(s, "carrier", [*EA, "carrier-server", "--state", str(s.carrier_state), "run", "--port",
                                        str(port), "--enroll-port", str(enroll_port)])
        _wait("carrier", lambda: "carrier listening" in s.logs("carrier.out"), carrier)
        token = subprocess.run([*EA, "carrier-server", "--state", str(s.carrier_state), "token", "--ttl-hours", "1"],
                               check=True, capture_output=True, text=True, timeout=60).stdout.strip()
        subprocess.run([*EA, "provision", "--state", str(work / "device"), "--carrier", f"127.0.0.1:{port}",
                        "--enroll", f"127.0.0.1:{enroll_port}", "--token", token, "--ca",
                        str(s.carrier_state / "ca.pem")], check=True, capture_output=True, timeout=120)
        (work / "config.toml").write_text(
            f'state_dir = "{work / "device"}"\nlog_format = "json"\n[camera]\nsource = "{clip}"\n'
            f'[api]\nsocket = "{s.socket}"\nsocket_group = "nogroup-for-tests"\n[liveness]\nseed = {seed}\n')
        agent = _spawn(s, "agent", [*EA, "serve", "--config", str(work / "config.toml")])
        _wait("agent socket", s.socket.exists, agent)
        s.kiosk_proc = _spawn(s, "kiosk", [*EA, "kiosk", "--socket", str(s.socket), "--listen",
                                           f"127.0.0.1:{kiosk_port}", "--session-timeout", "900", "--launch-file",
                                           str(s.launch_file), *kiosk_args])

        def kiosk_up() -> bool:
            try:
                return s.launch_file.exists() and bool(s.get_json("/api/health").get("reachable"))
            except OSError:
                return False

        _wait("kiosk", kiosk_up, s.kiosk_proc)
        yield s
    finally:
        for proc in reversed(s.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def chromium(width: int, height: int, profile: Path, env: dict[str, str] | None = None) -> Any:
    """Debian's headless Chromium through its chromedriver, with a fresh profile (``env``: its environment)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
        opts.add_argument(flag)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver", env={**os.environ, **(env or {})})
    driver = webdriver.Chrome(options=opts, service=service)
    viewport(driver, width, height)
    return driver


def viewport(driver: Any, width: int, height: int) -> None:
    """The page's exact size (per tab: call again after opening one)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def browser_available() -> bool:
    return shutil.which("chromium") is not None and shutil.which("chromedriver") is not None
