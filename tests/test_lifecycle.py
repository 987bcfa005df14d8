"""Key rotation and decommissioning, as processes against a real carrier, including kills mid-rotation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from carrier_harness import Carrier, start_carrier

from edge_agent.carrier.client import CarrierClient
from edge_agent.device import DeviceState, agent_lock
from edge_agent.errors import CarrierRefused
from edge_agent.matching.matcher import decide
from edge_agent.outbox.store import Outbox
from edge_agent.recorder import ResultRecorder


@pytest.fixture
def carrier(tmp_path: Path):
    c = start_carrier(tmp_path / "carrier")
    yield c
    c.server.stop(None)


def cli(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", *map(str, args), "--json"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}, proc.stderr


def enrolled(carrier: Carrier, state: Path) -> DeviceState:
    dev = DeviceState(state)
    dev.enrol(carrier.enroll_target, carrier.target, (carrier.state / "ca.pem").read_bytes(), carrier.token())
    return dev


def record_result(dev: DeviceState, txn: str) -> None:
    """A signed result committed to the device's outbox (not yet delivered)."""
    ident = dev.identity()
    client = CarrierClient(ident.carrier_target, ident.credentials)
    nonce = bytes(client.get_nonce(ident.device_id, txn).nonce)
    client.close()
    emb = np.ones(128, np.float32) / np.sqrt(128)
    box = Outbox(dev.outbox_path)
    ResultRecorder(ident.device_id, dev.keys, box, "0" * 64).record(txn, nonce, decide(emb, emb, 0.9), emb)
    box.close()


def works_with_carrier(dev: DeviceState, carrier: Carrier) -> None:
    """The device's current certificate is accepted and the carrier holds its current signing key."""
    ident = dev.identity()
    client = CarrierClient(ident.carrier_target, ident.credentials)
    client.heartbeat(ident.device_id, 0, 0)
    client.close()
    assert carrier.service.store.device(ident.device_id).signing_public_key == dev.keys.public_key()


@pytest.mark.slow
def test_rotate_delivers_first_then_retires_the_old_certificate(carrier: Carrier, tmp_path: Path) -> None:
    dev = enrolled(carrier, tmp_path / "device")
    old = dev.identity()
    old_pub = dev.keys.public_key()
    record_result(dev, "txn-before-rotation")
    code, out, err = cli("rotate-keys", "--state", dev.root)
    assert code == 0, err
    assert out["results_delivered_first"] == 1 and out["old_signing_key_sha256"] != out["new_signing_key_sha256"]
    assert carrier.service.store.acceptances("txn-before-rotation")
    assert dev.keys.public_key() != old_pub
    works_with_carrier(dev, carrier)
    stale = CarrierClient(old.carrier_target, old.credentials)
    with pytest.raises(CarrierRefused) as info:
        stale.heartbeat(old.device_id, 0, 0)
    assert info.value.status == "PERMISSION_DENIED" and "replaced" in info.value.detail
    stale.close()
    record_result(dev, "txn-after-rotation")  # signed with the new key, accepted
    code, out, _ = cli("rotate-keys", "--state", dev.root)
    assert code == 0 and carrier.service.store.acceptances("txn-after-rotation")
    assert not [n for n in dev.keys.store.names() if n.endswith(".next")]


@pytest.mark.slow
def test_rotate_refuses_with_undelivered_results_and_while_the_agent_runs(carrier: Carrier, tmp_path: Path) -> None:
    dev = enrolled(carrier, tmp_path / "device")
    with agent_lock(dev.root):
        code, out, err = cli("rotate-keys", "--state", dev.root)
    assert (code, out["error"]) == (3, "agent_running") and "systemctl stop edge-agent" in err
    record_result(dev, "txn-stuck")
    carrier.server.stop(None)
    before = dev.keys.public_key()
    code, out, err = cli("rotate-keys", "--state", dev.root)
    assert (code, out["error"]) == (3, "outbox_backlog")
    assert dev.keys.public_key() == before and not (dev.root / "tls.pem.next").exists()


@pytest.mark.slow
@pytest.mark.parametrize("point", ["rotate.after_carrier", "rotate.before_swap", "rotate.mid_swap"])
def test_kill_during_rotation_leaves_a_working_identity(carrier: Carrier, tmp_path: Path, point: str) -> None:
    dev = enrolled(carrier, tmp_path / "device")
    proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", "rotate-keys", "--state", str(dev.root)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "EDGE_AGENT_CRASH_AT": point})
    assert proc.returncode == -9
    if point == "rotate.after_carrier":  # the carrier switched, the device never heard: the repeat recovers
        code, _, err = cli("rotate-keys", "--state", dev.root)
        assert code == 0, err
    works_with_carrier(dev, carrier)  # reading the identity rolls an interrupted swap forward
    assert cli("status", "--state", dev.root)[0] == 0
    code, _, err = cli("rotate-keys", "--state", dev.root)
    assert code == 0, err
    works_with_carrier(dev, carrier)


@pytest.mark.slow
def test_decommission_revokes_then_erases(carrier: Carrier, tmp_path: Path) -> None:
    dev = enrolled(carrier, tmp_path / "device")
    device_id = dev.identity().device_id
    record_result(dev, "txn-last")
    code, out, err = cli("decommission", "--state", dev.root)
    assert (code, out["error"]) == (2, "bad_input") and "--yes" in err
    code, out, err = cli("decommission", "--state", dev.root, "--yes")
    assert code == 0, err
    assert out["results_delivered_first"] == 1 and out["carrier"] == "revoked"
    assert carrier.service.store.acceptances("txn-last")
    assert carrier.service.store.device(device_id).revoked
    assert sorted(p.name for p in dev.root.iterdir()) == ["agent.lock"]
    code, out, _ = cli("status", "--state", dev.root)
    assert "not_enrolled" in json.dumps(out) or "no device identity" in json.dumps(out)
    code, out, _ = cli("decommission", "--state", dev.root, "--yes")
    assert code == 0 and out["device_id"] is None


@pytest.mark.slow
def test_decommission_with_the_carrier_down(carrier: Carrier, tmp_path: Path) -> None:
    dev = enrolled(carrier, tmp_path / "device")
    device_id = dev.identity().device_id
    record_result(dev, "txn-undelivered")
    carrier.server.stop(None)
    code, out, _ = cli("decommission", "--state", dev.root, "--yes")
    assert (code, out["error"]) == (3, "outbox_backlog")
    code, out, _ = cli("decommission", "--state", dev.root, "--yes", "--force")
    assert (code, out["error"]) == (3, "carrier_unreachable") and (dev.root / "device.json").exists()
    code, out, _ = cli("decommission", "--state", dev.root, "--yes", "--force", "--offline")
    assert code == 0 and out["results_discarded"] == 1
    assert f"carrier-server revoke {device_id}" in out["carrier"]
    assert not (dev.root / "device.json").exists() and not (dev.root / "keys").exists()
