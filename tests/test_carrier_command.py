"""``edge-agent carrier-server`` as an integrator runs it: init, token, run, enrol, submit, revoke, SIGTERM.

On both stores; two replicas (two processes, one store), one of them killed with SIGKILL.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from carrier_harness import StoreFactory

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.attest.keys import DeviceKeys, MemoryKeyStore
from edge_agent.attest.result import ResultFields, encode_result, sign_result
from edge_agent.carrier.client import CarrierClient, DeviceCredentials, enroll
from edge_agent.carrier.pki import key_pem, make_csr, new_key
from edge_agent.clock import SystemClock
from edge_agent.errors import CarrierRefused

CLI = [sys.executable, "-m", "edge_agent.cli", "carrier-server"]


def cli(state: Path, store: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "--state", str(state), "--store", store, *args], capture_output=True, text=True,
                          timeout=60)


def replica(state: Path, store: str) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen([*CLI, "--state", str(state), "--store", store, "run", "--port", "0",
                             "--enroll-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    ports = re.findall(r"127\.0\.0\.1:(\d+)", line)
    assert len(ports) == 2, line + proc.stderr.read()  # type: ignore[union-attr]
    return proc, f"127.0.0.1:{ports[0]}", f"127.0.0.1:{ports[1]}"


@pytest.mark.slow
def test_carrier_server_command(tmp_path: Path, carrier_store: StoreFactory) -> None:
    state = tmp_path / "carrier"
    store = carrier_store.url() or f"sqlite:///{state / 'carrier.db'}"
    assert cli(state, store, "init").returncode == 0
    token = cli(state, store, "token").stdout.strip()
    proc, results, enrolment = replica(state, store)
    other, other_results, _ = replica(state, store)
    try:
        keys = DeviceKeys(MemoryKeyStore())
        keys.ensure()
        tls = new_key()
        ca = (state / "ca.pem").read_bytes()
        resp = enroll(enrolment, ca, token, keys.public_key(), make_csr(tls))
        client = CarrierClient(results, DeviceCredentials(ca, key_pem(tls), bytes(resp.certificate_pem)))
        nonce = bytes(client.get_nonce(resp.device_id, "t1").nonce)
        fields = ResultFields("t1", resp.device_id, nonce, "0" * 64, True, ("face_match",), pb.LIVENESS_LIVE,
                              bytes(32))
        signed = sign_result(keys.signing_key(), encode_result(fields, 1, SystemClock().now_ms()))
        ack = client.submit(signed)
        assert ack.receipt_id and not ack.duplicate

        # The other replica knows the device and the result; it carries on when the first one is killed.
        proc.kill()
        proc.wait(10)
        creds = DeviceCredentials(ca, key_pem(tls), bytes(resp.certificate_pem))
        survivor = CarrierClient(other_results, creds)
        again = survivor.submit(signed)
        assert again.duplicate and again.receipt_id == ack.receipt_id
        audit = cli(state, store, "audit", "t1")
        assert audit.returncode == 0 and ack.receipt_id in audit.stdout
        assert cli(state, store, "audit", "t1", "--device", "dev-someone-else").returncode == 1

        assert cli(state, store, "revoke", resp.device_id).returncode == 0
        with pytest.raises(CarrierRefused) as err:  # the device's own client: typed errors
            survivor.get_nonce(resp.device_id, "t2")
        assert err.value.status == "PERMISSION_DENIED"
        assert cli(state, store, "revoke", "dev-unknown").returncode == 2
        assert cli(state, store, "prune", "--keep-hours", "0").returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        other.send_signal(signal.SIGTERM)
        out, err_text = other.communicate(timeout=30)
    assert other.returncode == 0, err_text
    assert "carrier stopped" in out


@pytest.mark.slow
@pytest.mark.parametrize("store", ["mysql://carrier", "postgresql://edge@127.0.0.1:1/carrier?connect_timeout=1"])
def test_bad_or_unreachable_store_is_one_clear_line(tmp_path: Path, store: str) -> None:
    done = cli(tmp_path / "carrier", store, "token")
    assert done.returncode == 3  # the carrier's own store is unusable: not the operator's input (docs/errors.md)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("edge-agent carrier-server: error: carrier_store_"), done.stderr


@pytest.mark.slow
def test_cameras_report_finds_a_device_whose_camera_changed(tmp_path: Path, carrier_store: StoreFactory) -> None:
    """A device's results from cameras X, X, Y, X give three runs and exit 1; a steady device gives one run."""
    import dataclasses
    import json

    from carrier_harness import enrol_device, start_carrier

    url = carrier_store.url()
    state = tmp_path / "c"
    carrier = start_carrier(state, store=url)
    x, y, z = bytes([1] * 32), bytes([2] * 32), bytes([3] * 32)
    try:
        swapped, steady = enrol_device(carrier), enrol_device(carrier)
        for dev, cameras in ((swapped, (x, x, y, x)), (steady, (z, z))):
            client = dev.client(carrier.target)
            for i, camera in enumerate(cameras, start=1):
                nonce = bytes(client.get_nonce(dev.device_id, f"t{i}").nonce)
                fields = dataclasses.replace(dev.fields(f"t{i}", nonce), camera_sha256=camera)
                client.submit(dev.sign(encode_result(fields, i, SystemClock().now_ms())))
    finally:
        carrier.stop()
    store = url or f"sqlite:///{state / 'carrier.db'}"

    every = cli(state, store, "cameras")
    assert every.returncode == 1, every.stderr
    runs = [json.loads(line) for line in every.stdout.splitlines()]
    mine = [(r["camera_sha256"], r["first_counter"], r["last_counter"], r["results"]) for r in runs
            if r["device_id"] == swapped.device_id]
    assert mine == [(x.hex(), 1, 2, 2), (y.hex(), 3, 3, 1), (x.hex(), 4, 4, 1)]
    assert [(r["camera_sha256"], r["results"], r["changed"]) for r in runs if r["device_id"] == steady.device_id] \
        == [(z.hex(), 2, False)]

    changed = cli(state, store, "cameras", "--changed")
    assert {json.loads(line)["device_id"] for line in changed.stdout.splitlines()} == {swapped.device_id}
    alone = cli(state, store, "cameras", "--device", steady.device_id)
    assert alone.returncode == 0 and len(alone.stdout.splitlines()) == 1
    later = cli(state, store, "cameras", "--since-ms", str(SystemClock().now_ms() + 60_000))
    assert later.returncode == 0 and later.stdout == ""
