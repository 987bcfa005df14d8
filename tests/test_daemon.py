"""``edge-agent serve`` as a process: terminal API on a Unix socket, a real carrier, sd_notify, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from carrier_harness import Carrier, start_carrier
from clips import write_customer_clip

from edge_agent._proto import agent_pb2 as apb
from edge_agent._proto import agent_pb2_grpc as apb_grpc
from edge_agent.device import DeviceState
from edge_agent.vision.manifest import DEFAULT_MODEL_DIR

SEED = 5


@pytest.fixture(scope="module")
def frames_dir(pipeline, faces_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_customer_clip(pipeline, faces_dir / "img2.jpg", SEED, tmp_path_factory.mktemp("camera"))


def provisioned(carrier: Carrier, state: Path) -> Path:
    """A device state folder enrolled with ``carrier``, as `edge-agent provision` leaves it."""
    DeviceState(state).enrol(carrier.enroll_target, carrier.target, (carrier.state / "ca.pem").read_bytes(),
                             carrier.token())
    return state


def start_daemon(tmp_path: Path, frames: Path, state: Path, models: Path = DEFAULT_MODEL_DIR,
                 env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], Path]:
    sock = tmp_path / "run" / "agent.sock"
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'state_dir = "{state}"\n[camera]\nsource = "{frames}"\n[models]\ndirectory = "{models}"\n'
        f'[api]\nsocket = "{sock}"\nsocket_group = "nogroup-for-tests"\n[liveness]\nseed = {SEED}\n'
    )
    cfg.write_text('log_format = "json"\n' + cfg.read_text())
    env = {**os.environ, **(env_extra or {})}
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent.cli", "serve", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not sock.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "daemon did not open its socket"
        time.sleep(0.1)
    return proc, sock


def stop_with_logs(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    return out, err


def stop(proc: subprocess.Popen[str]) -> str:
    return stop_with_logs(proc)[0]


@pytest.mark.slow
def test_full_verification_through_the_terminal_api(frames_dir: Path, faces_dir: Path, tmp_path: Path) -> None:
    carrier = start_carrier(tmp_path / "carrier")
    try:
        state = provisioned(carrier, tmp_path / "device")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(tmp_path / "notify"))
        proc, sock = start_daemon(tmp_path, frames_dir, state, env_extra={"NOTIFY_SOCKET": str(tmp_path / "notify")})
        try:
            assert notify.recv(64) == b"READY=1"
            assert oct(sock.stat().st_mode & 0o777) == "0o660"
            with grpc.insecure_channel(f"unix:{sock}") as ch:
                stub = apb_grpc.AgentStub(ch)
                health = stub.Health(apb.HealthRequest(), timeout=10)
                assert health.healthy and health.device_id.startswith("dev-")
                ref = (faces_dir / "img1.jpg").read_bytes()
                events = list(stub.StartVerification(apb.StartRequest(transaction_id="t-1", reference_photo=ref),
                                                     timeout=120))
                kinds = [e.WhichOneof("event") for e in events]
                assert kinds.count("prompt") == 3 and kinds[-1] == "result"
                result = events[-1].result
                assert (result.decision, result.liveness, result.stored) == ("pass", "LIVENESS_LIVE", True)
                with pytest.raises(grpc.RpcError) as err:
                    list(stub.StartVerification(apb.StartRequest(transaction_id="t-2", reference_photo=b"junk"),
                                                timeout=30))
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
            deadline = time.monotonic() + 20  # the background sender delivers it
            while not carrier.service.store.acceptances("t-1") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert carrier.service.store.acceptances("t-1")
        finally:
            out, err_text = stop_with_logs(proc)
        assert "edge-agent stopped" in out
        events = [json.loads(line) for line in err_text.splitlines() if line.startswith("{")]
        done = [e for e in events if e["event"] == "session_done"]
        assert done and done[0]["txn"] == "t-1" and done[0]["decision"] == "pass"
        assert all(set(e) <= {"level", "logger", "event", "txn", "decision", "counter", "duplicate", "attempt",
                              "code", "error", "problems", "signal", "group", "liveness", "duration_ms",
                              "model_set", "ms", "problem", "reason", "records", "last", "mark"}
                   for e in events), events
        assert {"models_loaded", "session_started", "session_done"} <= {e["event"] for e in events}
        assert notify.recv(64) == b"STOPPING=1"
        assert not sock.exists()
    finally:
        carrier.server.stop(None)


@pytest.mark.slow
def test_tampered_model_leaves_the_daemon_up_and_unhealthy(frames_dir: Path, tmp_path: Path) -> None:
    import shutil

    models = tmp_path / "models"
    shutil.copytree(DEFAULT_MODEL_DIR, models)
    data = bytearray((models / "face_landmark.tflite").read_bytes())
    data[1000] ^= 0xFF
    (models / "face_landmark.tflite").write_bytes(bytes(data))
    proc, sock = start_daemon(tmp_path, frames_dir, tmp_path / "unprovisioned", models=models)
    try:
        with grpc.insecure_channel(f"unix:{sock}") as ch:
            stub = apb_grpc.AgentStub(ch)
            health = stub.Health(apb.HealthRequest(), timeout=10)
            assert not health.healthy
            assert any("model_integrity" in p for p in health.problems)
            assert any("not_enrolled" in p for p in health.problems)
            with pytest.raises(grpc.RpcError) as err:
                list(stub.StartVerification(apb.StartRequest(transaction_id="t", reference_photo=b"x"), timeout=30))
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
            details = err.value.details()  # type: ignore[attr-defined]
            assert details.startswith("agent_unhealthy: ") and "model_integrity" in details, details
    finally:
        stop(proc)


@pytest.mark.slow
def test_camera_failure_and_client_disconnect_leave_the_daemon_serving(
    frames_dir: Path, faces_dir: Path, tmp_path: Path
) -> None:
    carrier = start_carrier(tmp_path / "carrier")
    try:
        state = provisioned(carrier, tmp_path / "device")
        broken = tmp_path / "broken-camera"
        broken.mkdir()
        for i, f in enumerate(sorted(frames_dir.iterdir())[:12]):
            (broken / f"{i:04d}.png").write_bytes(f.read_bytes())
        (broken / "0012.png").write_bytes(b"the camera vanished")
        proc, sock = start_daemon(tmp_path, broken, state)
        try:
            ref = (faces_dir / "img1.jpg").read_bytes()
            with grpc.insecure_channel(f"unix:{sock}") as ch:
                stub = apb_grpc.AgentStub(ch)
                with pytest.raises(grpc.RpcError) as err:
                    list(stub.StartVerification(apb.StartRequest(transaction_id="c-1", reference_photo=ref),
                                                timeout=60))
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
                assert "camera_error" in err.value.details()  # type: ignore[attr-defined]
                # A client that walks away after the first prompt.
                call = stub.StartVerification(apb.StartRequest(transaction_id="c-2", reference_photo=ref), timeout=60)
                first = next(call)
                assert first.WhichOneof("event") in ("prompt", "hint", "progress")
                call.cancel()
                deadline = time.monotonic() + 20
                while stub.Health(apb.HealthRequest(), timeout=10).session_active:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
                assert stub.Health(apb.HealthRequest(), timeout=10).healthy
        finally:
            stop(proc)
    finally:
        carrier.server.stop(None)


@pytest.mark.slow
def test_one_session_per_camera_and_sigterm_mid_session(frames_dir: Path, faces_dir: Path, tmp_path: Path) -> None:
    carrier = start_carrier(tmp_path / "carrier")
    try:
        state = provisioned(carrier, tmp_path / "device")
        proc, sock = start_daemon(tmp_path, frames_dir, state)
        ref = (faces_dir / "img1.jpg").read_bytes()
        with grpc.insecure_channel(f"unix:{sock}") as ch:
            stub = apb_grpc.AgentStub(ch)
            first = stub.StartVerification(apb.StartRequest(transaction_id="s-1", reference_photo=ref), timeout=120)
            next(first)  # the session is running
            with pytest.raises(grpc.RpcError) as err:
                list(stub.StartVerification(apb.StartRequest(transaction_id="s-2", reference_photo=ref), timeout=30))
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
            assert stub.Health(apb.HealthRequest(), timeout=10).session_active
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(grpc.RpcError):
                for _ in first:
                    pass
        out, err_text = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "edge-agent stopped" in out, err_text[-2000:]
        from edge_agent.outbox.store import Outbox

        # Neither the refused session nor the one SIGTERM interrupted left a record, nor used a counter.
        box = Outbox(state / "outbox.db")
        assert box.all() == [] and box.last_counter() == 0
    finally:
        carrier.server.stop(None)
