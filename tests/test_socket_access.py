"""The store terminal's user reaches the agent's socket with the unit as shipped, tested with real users and groups.

The daemon runs as its own user with the groups edge-agent.service gives it, in a runtime
folder made with the unit's RuntimeDirectoryMode; a second user in the terminal group
connects, a third user outside it cannot. Needs root (useradd) and the system python3
(the test venv's interpreter may sit in a folder other users cannot enter).
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from edge_agent._proto import agent_pb2 as apb
from edge_agent._proto import agent_pb2_grpc as apb_grpc

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "edge-agent.service"
SYSTEM_PYTHON = Path("/usr/bin/python3")
CONNECT = "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])"


def unit_setting(key: str) -> str:
    values = [line.split("=", 1)[1].strip() for line in UNIT.read_text().splitlines() if line.startswith(f"{key}=")]
    assert len(values) == 1, f"{key}= appears {len(values)} times in {UNIT.name}"
    return values[0]


@dataclass
class Accounts:
    terminal_group: str
    daemon: str
    terminal: str
    stranger: str


@pytest.fixture(scope="module")
def accounts() -> Iterator[Accounts]:
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to create the daemon, terminal and stranger users")
    if not SYSTEM_PYTHON.exists():
        pytest.skip("needs the system python3 (/usr/bin/python3) to run as other users")
    version = subprocess.run([str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    if version != str(sys.version_info[:2]):
        pytest.skip(f"/usr/bin/python3 is {version}, the test venv {sys.version_info[:2]}: its packages would not load")
    tag = secrets.token_hex(3)
    acc = Accounts(f"eat-term-{tag}", f"eat-agent-{tag}", f"eat-kiosk-{tag}", f"eat-other-{tag}")
    nologin = ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
    subprocess.run(["groupadd", "--system", acc.terminal_group], check=True)
    try:
        subprocess.run(["useradd", *nologin, "--user-group", acc.daemon], check=True)
        subprocess.run(["useradd", *nologin, "--user-group", "--groups", acc.terminal_group, acc.terminal], check=True)
        subprocess.run(["useradd", *nologin, "--user-group", acc.stranger], check=True)
        yield acc
    finally:
        for user in (acc.daemon, acc.terminal, acc.stranger):
            subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", acc.terminal_group], capture_output=True)


def start_as(acc: Accounts, base: Path, extra_groups: list[str]) -> tuple[subprocess.Popen[str], Path]:
    """The daemon as ``acc.daemon`` with ``extra_groups``, its runtime folder made as systemd would."""
    user = pwd.getpwnam(acc.daemon)
    run = base / "run"
    run.mkdir(mode=0o700)
    os.chown(run, user.pw_uid, user.pw_gid)
    os.chmod(run, int(unit_setting("RuntimeDirectoryMode"), 8))
    state = base / "state"
    state.mkdir(mode=0o700)
    os.chown(state, user.pw_uid, user.pw_gid)
    sock = run / "agent.sock"
    cfg = base / "config.toml"
    cfg.write_text(f'state_dir = "{state}"\nlog_format = "json"\n'
                   f'[api]\nsocket = "{sock}"\nsocket_group = "{acc.terminal_group}"\n')
    os.chmod(cfg, 0o644)
    site = [p for p in sys.path if p.endswith("site-packages")]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join([str(ROOT), *site])}
    proc = subprocess.Popen([str(SYSTEM_PYTHON), "-m", "edge_agent.cli", "serve", "--config", str(cfg)],
                            user=user.pw_uid, group=user.pw_gid, extra_groups=extra_groups, cwd="/", env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not sock.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "daemon did not open its socket"
        time.sleep(0.1)
    return proc, sock


def connects_as(user: str, sock: Path) -> bool:
    pw = pwd.getpwnam(user)
    groups = [g.gr_gid for g in grp.getgrall() if user in g.gr_mem]
    proc = subprocess.run([str(SYSTEM_PYTHON), "-c", CONNECT, str(sock)], user=pw.pw_uid, group=pw.pw_gid,
                          extra_groups=groups, cwd="/", env={"PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0 or "PermissionError" in proc.stderr, proc.stderr
    return proc.returncode == 0


def health_warnings(sock: Path) -> list[str]:
    with grpc.insecure_channel(f"unix:{sock}") as ch:
        return list(apb_grpc.AgentStub(ch).Health(apb.HealthRequest(), timeout=30).warnings)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]


@pytest.fixture
def base() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="edge-agent-sock-"))  # not under pytest's 0700 tmp folder
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.slow
def test_terminal_group_reaches_the_socket_with_the_unit_as_shipped(accounts: Accounts, base: Path) -> None:
    groups = {"edge-terminal": accounts.terminal_group}
    extra = [groups.get(g, g) for g in unit_setting("SupplementaryGroups").split()]
    proc, sock = start_as(accounts, base, [g for g in extra if g in groups.values() or _exists(g)])
    try:
        assert health_warnings(sock) == []
        assert grp.getgrgid(sock.stat().st_gid).gr_name == accounts.terminal_group
        assert connects_as(accounts.terminal, sock)
        assert not connects_as(accounts.stranger, sock)
    finally:
        stop(proc)


@pytest.mark.slow
def test_health_names_a_socket_group_the_agent_cannot_set(accounts: Accounts, base: Path) -> None:
    proc, sock = start_as(accounts, base, [])  # the agent is not in the terminal group
    try:
        (warning,) = health_warnings(sock)
        assert warning.startswith("socket_group:") and accounts.terminal_group in warning
        assert not connects_as(accounts.terminal, sock)
    finally:
        stop(proc)


def _exists(group: str) -> bool:
    try:
        grp.getgrnam(group)
    except KeyError:
        return False
    return True
