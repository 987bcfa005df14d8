"""``edge-agent serve`` stops feeding the systemd watchdog when its sender thread is dead, and says why.

The daemon runs as a process with NOTIFY_SOCKET and WATCHDOG_USEC as systemd sets them. To have a dead
sender, a two-line wrapper replaces ``Sender.run`` with a function that returns at once (nothing in the real
sender can end its loop any more); the control run is the unmodified daemon.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from carrier_harness import start_carrier
from test_daemon import provisioned

from edge_agent._proto import agent_pb2 as apb
from edge_agent._proto import agent_pb2_grpc as apb_grpc

WRAPPER = ("import sys\n"
           "from edge_agent.carrier.sender import Sender\n"
           "if sys.argv.pop(1) == 'dead':\n"
           "    Sender.run = lambda self, stop, idle_s=1.0: None\n"
           "from edge_agent.cli import main\n"
           "sys.exit(main(sys.argv[1:]))\n")


def run_daemon(tmp_path: Path, state: Path, mode: str) -> tuple[list[bytes], apb.HealthResponse]:
    """(notify messages within ~3 s of READY, Health) of a daemon whose sender is ``mode`` (alive or dead)."""
    work = tmp_path / mode
    work.mkdir()
    sock, notify_path = work / "agent.sock", work / "notify"
    cfg = work / "config.toml"
    cfg.write_text(f'log_format = "json"\nstate_dir = "{state}"\n[camera]\nsource = "{work}"\n'
                   f'[api]\nsocket = "{sock}"\nsocket_group = "nogroup-for-tests"\n')
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(120)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "400000"}  # a beat every 0.2 s
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER, mode, "serve", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert notify.recv(64) == b"READY=1"
        messages: list[bytes] = []
        notify.settimeout(0.5)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                messages.append(notify.recv(64))
        with grpc.insecure_channel(f"unix:{sock}") as ch:
            health = apb_grpc.AgentStub(ch).Health(apb.HealthRequest(), timeout=30)  # type: ignore[no-untyped-call]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
        notify.close()
    assert "Traceback" not in err, err[-2000:]
    if mode == "dead":
        assert '"event": "watchdog_withheld"' in err
    return messages, health


@pytest.mark.slow
def test_a_dead_sender_stops_the_watchdog_and_makes_health_say_why(tmp_path: Path) -> None:
    carrier = start_carrier(tmp_path / "carrier")
    try:
        state = provisioned(carrier, tmp_path / "device")
        beats, health = run_daemon(tmp_path, state, "alive")
        assert beats.count(b"WATCHDOG=1") >= 5 and health.healthy, (beats, health.problems)
        beats, health = run_daemon(tmp_path, state, "dead")
        assert b"WATCHDOG=1" not in beats, beats
        assert not health.healthy and any(p.startswith("sender_dead") for p in health.problems), health.problems
    finally:
        carrier.stop()
