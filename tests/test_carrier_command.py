"""``edge-agent carrier-server`` as an integrator runs it: init, token, run, enrol, submit, revoke, SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from edge_agent.attest.keys import DeviceKeys, MemoryKeyStore
from edge_agent.attest.result import ResultFields, encode_result, sign_result
from edge_agent.carrier.client import CarrierClient, DeviceCredentials, enroll
from edge_agent.carrier.pki import key_pem, make_csr, new_key
from edge_agent.clock import SystemClock

CLI = [sys.executable, "-m", "edge_agent.cli", "carrier-server"]


def cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "--state", str(state), *args], capture_output=True, text=True, timeout=60)


def test_carrier_server_command(tmp_path: Path) -> None:
    state = tmp_path / "carrier"
    assert cli(state, "init").returncode == 0
    token = cli(state, "token").stdout.strip()
    proc = subprocess.Popen([*CLI, "--state", str(state), "run", "--port", "0", "--enroll-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        ports = re.findall(r"127\.0\.0\.1:(\d+)", line)
        assert len(ports) == 2, line
        results, enrolment = (f"127.0.0.1:{p}" for p in ports)

        keys = DeviceKeys(MemoryKeyStore())
        keys.ensure()
        tls = new_key()
        ca = (state / "ca.pem").read_bytes()
        resp = enroll(enrolment, ca, token, keys.public_key(), make_csr(tls))
        client = CarrierClient(results, DeviceCredentials(ca, key_pem(tls), bytes(resp.certificate_pem)))
        nonce = bytes(client.get_nonce(resp.device_id, "t1").nonce)
        body = encode_result(ResultFields("t1", resp.device_id, nonce, "0" * 64, True), 1, SystemClock().now_ms())
        assert client.submit(sign_result(keys.signing_key(), body)).receipt_id

        assert cli(state, "revoke", resp.device_id).returncode == 0
        with pytest.raises(grpc.RpcError) as err:
            client.get_nonce(resp.device_id, "t2")
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
        assert cli(state, "revoke", "dev-unknown").returncode == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err_text = proc.communicate(timeout=30)
    assert proc.returncode == 0, err_text
    assert "carrier stopped" in out
