"""``edge-agent provision`` / ``status`` against a real carrier on loopback, as a technician runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from carrier_harness import Carrier, start_carrier


@pytest.fixture
def carrier(tmp_path: Path):
    c = start_carrier(tmp_path / "carrier")
    yield c
    c.server.stop(None)


def cli(*args: str | Path) -> tuple[int, dict, str]:
    proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", *map(str, args), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout, (args, proc.returncode, proc.stderr)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def provision(carrier: Carrier, state: Path, token: str, *extra: str) -> tuple[int, dict, str]:
    return cli("provision", "--carrier", carrier.target, "--enroll", carrier.enroll_target,
               "--ca", carrier.state / "ca.pem", "--token", token, "--state", state, *extra)


@pytest.mark.slow
def test_provision_is_idempotent_and_force_replaces(carrier: Carrier, tmp_path: Path) -> None:
    state = tmp_path / "device"
    code, out, _ = provision(carrier, state, carrier.token())
    assert (code, out["result"], out["changed"]) == (0, "provisioned", True)
    first = out["device_id"]
    assert carrier.service.store.device(first) is not None
    for key in (state / "keys").iterdir():
        assert key.stat().st_mode & 0o777 == 0o600
    before = {p.name: p.read_bytes() for p in (state / "keys").iterdir()}

    code, out, _ = provision(carrier, state, "any-token")
    assert (code, out["result"], out["changed"], out["device_id"]) == (0, "already_provisioned", False, first)
    assert {p.name: p.read_bytes() for p in (state / "keys").iterdir()} == before

    code, out, _ = provision(carrier, state, carrier.token(), "--force")
    assert code == 0 and out["changed"] and out["device_id"] != first
    assert out["signing_key_sha256"] != ""


@pytest.mark.slow
def test_provision_reports_the_camera_pairing(carrier: Carrier, tmp_path: Path) -> None:
    """The configured camera is paired at provisioning; a missing one is reported, not fatal."""
    config = tmp_path / "config.toml"
    config.write_text('[camera]\nsource = "/dev/video97"\n')
    code, out, _ = provision(carrier, tmp_path / "a", carrier.token(), "--config", config)
    assert (code, out["result"]) == (0, "provisioned")
    assert (out["camera"]["result"], out["camera"]["code"]) == ("not_paired", "camera_error")
    config.write_text(f'[camera]\nsource = "{tmp_path / "clip.mp4"}"\n')
    code, out, _ = provision(carrier, tmp_path / "b", carrier.token(), "--config", config)
    assert (code, out["camera"]["result"]) == (0, "no_camera")


@pytest.mark.slow
def test_used_token_is_a_clear_refusal(carrier: Carrier, tmp_path: Path) -> None:
    token = carrier.token()
    assert provision(carrier, tmp_path / "a", token)[0] == 0
    code, out, err = provision(carrier, tmp_path / "b", token)
    assert (code, out["error"]) == (2, "enrolment_refused")
    assert "new one-time token" in err
    assert not (tmp_path / "b" / "device.json").exists()  # no half-written identity


@pytest.mark.slow
def test_unreachable_carrier(carrier: Carrier, tmp_path: Path) -> None:
    code, out, _ = cli("provision", "--carrier", "127.0.0.1:9", "--enroll", "127.0.0.1:9", "--ca",
                       carrier.state / "ca.pem", "--token", "t", "--state", tmp_path / "d")
    assert (code, out["error"]) == (3, "carrier_unreachable")


@pytest.mark.slow
def test_status(carrier: Carrier, tmp_path: Path) -> None:
    state = tmp_path / "device"
    code, out, _ = cli("status", "--state", state)
    assert code == 0 and "error" in out["identity"] and out["outbox"]["pending"] == 0
    provision(carrier, state, carrier.token())
    code, out, _ = cli("status", "--state", state)
    assert code == 0
    assert out["identity"]["device_id"].startswith("dev-")
    assert out["identity"]["certificate_expires"] > out["identity"]["enrolled_at"]
    assert len(out["models"]["manifest_sha256"]) == 64
    assert out["last_successful_submission"] is None


@pytest.mark.slow
def test_force_refuses_while_results_signed_under_the_identity_are_undelivered(carrier: Carrier,
                                                                              tmp_path: Path) -> None:
    from edge_agent.attest.result import ResultFields, sign_result
    from edge_agent.device import DeviceState
    from edge_agent.outbox.store import Outbox

    state = tmp_path / "device"
    code, out, _ = provision(carrier, state, carrier.token())
    first = out["device_id"]
    key = DeviceState(state).keys.signing_key()
    box = Outbox(state / "outbox.db")
    box.put(ResultFields("t-undelivered", first, b"n" * 32, "a" * 64, True), lambda b: sign_result(key, b))
    box.close()
    record = json.loads((state / "device.json").read_text())
    (state / "device.json").write_text(json.dumps({**record, "carrier": "127.0.0.1:1"}))  # carrier unreachable
    keys_before = {p.name: p.read_bytes() for p in (state / "keys").iterdir()}
    code, out, _ = provision(carrier, state, carrier.token(), "--force")
    assert (code, out["error"]) == (3, "outbox_backlog"), out
    assert "1 signed results are not delivered" in out["message"]
    assert {p.name: p.read_bytes() for p in (state / "keys").iterdir()} == keys_before  # nothing replaced
    assert json.loads((state / "device.json").read_text())["device_id"] == first
    code, out, _ = provision(carrier, state, carrier.token(), "--force", "--discard-undelivered")
    assert (code, out["result"], out["results_discarded"]) == (0, "provisioned", 1)
    assert out["device_id"] != first


def cli_env(env: dict[str, str], *args: str | Path) -> tuple[int, dict]:
    json_flag = [] if args[0] == "config" else ["--json"]  # `config show` prints JSON as it is
    proc = subprocess.run([sys.executable, "-m", "edge_agent.cli", *map(str, args), *json_flag],
                          capture_output=True, text=True, timeout=60, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.slow
def test_without_state_every_command_uses_the_folder_the_daemon_uses(carrier: Carrier, tmp_path: Path) -> None:
    """The config's state_dir (or EDGE_AGENT_STATE over it) for provision, status, selftest and the daemon alike.

    provision, status, rotate-keys and decommission used to fall back on /var/lib/edge-agent while the daemon
    and selftest read the config: an identity provisioned where the daemon never looked.
    """
    state = tmp_path / "state-from-config"
    config = tmp_path / "config.toml"
    config.write_text(f'state_dir = "{state}"\n[camera]\nsource = "{tmp_path / "clip.mp4"}"\n')
    env = {k: v for k, v in os.environ.items() if k != "EDGE_AGENT_STATE"} | {"EDGE_AGENT_CONFIG": str(config)}
    code, out = cli_env(env, "provision", "--carrier", carrier.target, "--enroll", carrier.enroll_target,
                        "--ca", carrier.state / "ca.pem", "--token", carrier.token())
    assert (code, out["state_dir"]) == (0, str(state)), out
    assert (state / "device.json").exists()
    code, out = cli_env(env, "status")
    assert (code, out["identity"]["state_dir"]) == (0, str(state))
    code, out = cli_env(env, "selftest")
    assert {c["name"]: c["status"] for c in out["checks"]}["identity"] == "PASS", out
    code, out = cli_env(env, "config", "show")
    assert out["state_dir"] == str(state)

    other = tmp_path / "state-from-env"
    env["EDGE_AGENT_STATE"] = str(other)
    assert cli_env(env, "config", "show")[1]["state_dir"] == str(other)
    code, out = cli_env(env, "status")
    assert code == 0 and "error" in out["identity"], out  # nothing provisioned there
