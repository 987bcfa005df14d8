"""The carrier's front door (issue 25): token lifetime, nonce rate, transaction ids, its own log, pg-temp.sh.

Tests that talk to a carrier run on both stores (SQLite and PostgreSQL, ``carrier_store``).
"""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from carrier_harness import Carrier, Device, enrol_device

from edge_agent.attest.result import encode_result
from edge_agent.carrier.client import enroll
from edge_agent.carrier.pki import make_csr, new_key
from edge_agent.clock import SystemClock
from edge_agent.errors import CarrierRefused
from edge_agent.reference_carrier.validate import TXN_ID
from edge_agent.service.daemon import TXN_ID as AGENT_TXN_ID

EA = [sys.executable, "-m", "edge_agent.cli"]
ROOT = Path(__file__).resolve().parents[1]
BAD_IDS = ["t\x00x", "t\x1b[2Jx", "t\u202ex", "t\u200bx", "a b", "t\nx", "x" * 65, "é"]


def details(fn) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value.code(), err.value.details()  # type: ignore[attr-defined]


@pytest.mark.slow  # seconds of model runs: the fast tier stays under its minute (tests/tier_budget.py)
def test_token_lifetime_is_bounded(tmp_path: Path) -> None:
    state = tmp_path / "c"
    subprocess.run([*EA, "carrier-server", "--state", str(state), "init"], check=True, capture_output=True, timeout=120)
    for ttl in ("-1", "0", "1e9", "169", "nan", "inf"):
        proc = subprocess.run([*EA, "carrier-server", "--state", str(state), "token", "--ttl-hours", ttl],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "token_ttl_invalid" in proc.stderr and not proc.stdout, (ttl, proc)
    proc = subprocess.run([*EA, "carrier-server", "--state", str(state), "token", "--ttl-hours", "168"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("tok-")


def test_nonce_issuance_per_device_is_rate_limited_with_a_clear_status(carrier: Carrier, device: Device) -> None:
    client = device.client(carrier.target)
    issued = refused = 0
    for i in range(45):
        try:
            client.get_nonce(device.device_id, f"r{i}")
            issued += 1
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
            assert exc.details().startswith("nonce_rate_limited:")  # type: ignore[attr-defined]
            refused += 1
    assert 30 <= issued <= 33 and refused >= 12, (issued, refused)  # a burst of 30, then 2 a second
    other = enrol_device(carrier)  # another device is not held back by this one
    assert other.client(carrier.target).get_nonce(other.device_id, "o1").nonce
    time.sleep(1.1)
    assert client.get_nonce(device.device_id, "later").nonce  # and the device gets more as time passes


def test_the_carrier_refuses_transaction_ids_the_agent_refuses(carrier: Carrier, device: Device) -> None:
    assert TXN_ID.pattern == AGENT_TXN_ID.pattern
    client = device.client(carrier.target)
    for bad in BAD_IDS:  # a NUL gave INTERNAL and a traceback on PostgreSQL; SQLite stored it, and bidi too
        code, text = details(lambda bad=bad: client.get_nonce(device.device_id, bad))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and text.startswith("transaction_id_invalid:"), repr(bad)
    nonce = bytes(client.get_nonce(device.device_id, "good-1").nonce)
    for bad in ("good\x00", "good\u202e"):  # a signed result naming such an id: refused before the database
        signed = device.sign(encode_result(device.fields(bad, nonce), 1, SystemClock().now_ms()))
        code, text = details(lambda signed=signed: client.submit(signed))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and text.startswith("transaction_id_invalid:"), repr(bad)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_carrier_server_run_logs_its_events_like_the_agent(tmp_path: Path) -> None:
    state, port, enroll_port = tmp_path / "c", _free_port(), _free_port()
    subprocess.run([*EA, "carrier-server", "--state", str(state), "init"], check=True, capture_output=True, timeout=120)
    token = subprocess.run([*EA, "carrier-server", "--state", str(state), "token", "--ttl-hours", "1"],
                           check=True, capture_output=True, text=True, timeout=120).stdout.strip()
    proc = subprocess.Popen([*EA, "carrier-server", "--state", str(state), "run", "--port", str(port),
                             "--enroll-port", str(enroll_port), "--log-format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and "carrier listening" in proc.stdout.readline()
        ca = (state / "ca.pem").read_bytes()
        target = f"127.0.0.1:{enroll_port}"
        with pytest.raises(CarrierRefused):
            enroll(target, ca, "tok-forged", b"k" * 32, make_csr(new_key()))
        enroll(target, ca, token, b"k" * 32, make_csr(new_key()))
        with grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca)) as ch:
            garbage = ch.unary_unary("/edge_agent.carrier.v1.Carrier/Enroll")
            for _ in range(20):  # malformed requests: one line each, no traceback
                with pytest.raises(grpc.RpcError):
                    garbage(b"\xff\xff\xff\xff", timeout=10)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert '"event": "device_enrolled"' in err, err[-2000:]
    assert '"reason": "token_refused"' in err
    assert err.count('"reason": "malformed_request"') == 20
    assert "Traceback" not in err


@pytest.mark.slow
def test_pg_temp_uses_a_password_and_a_private_socket() -> None:
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("PostgreSQL server binaries not installed")
    pg = Path(f"/tmp/edge-agent-pg-test-{os.getpid()}")  # the server's user must pass through every parent
    env = {**os.environ, "PG_TEMP_DIR": str(pg), "PG_TEMP_PORT": str(_free_port())}
    url = subprocess.run([str(ROOT / "tools/pg-temp.sh"), "start"], env=env, check=True, capture_output=True,
                         text=True, timeout=180).stdout.strip()
    try:
        import psycopg

        m = re.fullmatch(r"postgresql://edge:([A-Za-z0-9]{20,})@127\.0\.0\.1:(\d+)/carrier", url)
        assert m, url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url.replace(f":{m[1]}@", "@"), connect_timeout=10)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url.replace(m[1], "wrong-password"), connect_timeout=10)
        hba = (pg / "data" / "pg_hba.conf").read_text()
        assert not re.search(r"^\s*(local|host)\S*\s.*\btrust\b", hba, re.M), hba
        for folder in (pg, pg / "sock"):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        assert stat.S_IMODE((pg / "url").stat().st_mode) == 0o600
    finally:
        subprocess.run([str(ROOT / "tools/pg-temp.sh"), "stop"], env=env, check=False, capture_output=True,
                       timeout=120)
