"""The terminal API against hostile or careless clients: real models, real gRPC on a Unix socket, real outbox.

Each refusal must come before the customer is asked to do anything (the
first event of the stream is the error) and leave the outbox untouched.
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import numpy as np
import pytest

from edge_agent._proto import agent_pb2 as apb
from edge_agent._proto import agent_pb2_grpc as apb_grpc
from edge_agent.attest.keys import DeviceKeys, MemoryKeyStore
from edge_agent.attest.result import parse_result, parse_signed
from edge_agent.camera.identity import CameraIdentity
from edge_agent.camera.source import FakeSource
from edge_agent.carrier.fake import FakeCarrier, accept, refuse, unreachable
from edge_agent.carrier.sender import Sender
from edge_agent.config import ApiConfig, Config, LivenessSettings
from edge_agent.liveness.challenge import random_actions
from edge_agent.logs import JsonFormatter
from edge_agent.outbox.store import Outbox
from edge_agent.recorder import ResultRecorder
from edge_agent.service.daemon import Agent
from edge_agent.simulation.scenes import Face3D, live_scene
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.image import read_image

SEED = 9


@pytest.fixture(scope="module")
def scene(pipeline, faces_dir: Path) -> list[tuple[np.ndarray, int]]:
    rgb = read_image(faces_dir / "img2.jpg")
    return list(live_scene(Face3D(rgb, pipeline.analyse(rgb).mesh.points),
                           [a.value for a in random_actions(random.Random(SEED))]))


class _Refused(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@dataclass
class PairedSource(FakeSource):
    """Frames as a paired camera delivers them: ``identity`` set as V4L2Source / PiCameraSource set it."""

    identity: CameraIdentity | None = None


@dataclass
class Running:
    sock: Path
    outbox: Outbox
    agent: Agent

    def stub(self) -> apb_grpc.AgentStub:
        return apb_grpc.AgentStub(grpc.insecure_channel(f"unix:{self.sock}"))


@pytest.fixture
def running(pipeline, scene, tmp_path: Path) -> Iterator[Callable[..., Running]]:
    servers: list[tuple[grpc.Server, threading.Event]] = []

    def start(carrier: FakeCarrier | None = None, config: Config | None = None, frames: int = 4,
              camera: CameraIdentity | None = None) -> Running:
        """An agent whose camera shows ``frames`` frames of a live scene (the default few end in a quick FAIL:
        the tests that only need a finished session do not pay for a whole challenge)."""
        keys = DeviceKeys(MemoryKeyStore())
        keys.ensure()
        outbox = Outbox(tmp_path / f"outbox{len(servers)}.db")
        cfg = config or Config(liveness=LivenessSettings(seed=SEED))
        agent = Agent(cfg, pipeline, ResultRecorder("dev-api", keys, outbox, pipeline.manifest.sha256),
                      carrier, "dev-api", lambda: PairedSource(scene[:frames], identity=camera),  # type: ignore[arg-type]
                      antispoof=AntiSpoof.require(pipeline.manifest))
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        apb_grpc.add_AgentServicer_to_server(agent, server)
        sock = tmp_path / f"agent{len(servers)}.sock"
        server.add_insecure_port(f"unix:{sock}")
        server.start()
        stop = threading.Event()
        if carrier is not None:
            sender = Sender(Outbox(outbox.path), carrier.submit, base_ms=50, cap_ms=100)
            threading.Thread(target=sender.run, args=(stop, 0.05), daemon=True).start()
        servers.append((server, stop))
        return Running(sock, outbox, agent)

    yield start
    for server, stop in servers:
        stop.set()
        server.stop(None)


def nonce(n: int = 32) -> bytes:
    return np.random.bytes(n)


def start(stub: apb_grpc.AgentStub, txn: str, ref: bytes, carrier_nonce: bytes = b"") -> list[apb.SessionEvent]:
    return list(stub.StartVerification(apb.StartRequest(transaction_id=txn, reference_photo=ref,
                                                        carrier_nonce=carrier_nonce), timeout=120))


def first_event_error(stub: apb_grpc.AgentStub, request: apb.StartRequest) -> grpc.RpcError:
    """The error a request gets, asserting it came before any prompt."""
    call = stub.StartVerification(request, timeout=120)
    with pytest.raises(grpc.RpcError) as err:
        next(call)
    return err.value


@pytest.mark.parametrize("size", [0, 1, 15, 65, 5000])
def test_nonce_length_is_checked_before_the_session(size: int, running, faces_dir: Path) -> None:
    run = running()
    ref = (faces_dir / "img1.jpg").read_bytes()
    if size == 0:  # no nonce and no carrier: a specific FAILED_PRECONDITION reason
        err = first_event_error(run.stub(), apb.StartRequest(transaction_id="n-0", reference_photo=ref))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert err.details().startswith("no_nonce:")
    else:
        err = first_event_error(run.stub(), apb.StartRequest(transaction_id=f"n-{size}", reference_photo=ref,
                                                             carrier_nonce=nonce(size)))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details().startswith("bad_nonce:") and "16-64 bytes" in err.details()
    assert run.outbox.last_counter() == 0  # no counter consumed, nothing signed


def test_unhealthy_agent_names_the_problem(pipeline) -> None:
    agent = Agent(Config(), pipeline, None, None, "", lambda: FakeSource([]),
                  ["model_integrity: face_landmark.tflite does not match"])

    class Ctx:
        def abort(self, code: grpc.StatusCode, details: str) -> None:
            raise _Refused(code, details)

    with pytest.raises(_Refused) as err:
        next(agent.StartVerification(apb.StartRequest(transaction_id="u-1"), Ctx()))  # type: ignore[arg-type]
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.details() == "agent_unhealthy: model_integrity: face_landmark.tflite does not match"


def test_reused_transaction_is_refused_before_the_challenge(running, faces_dir: Path) -> None:
    run = running()
    ref = (faces_dir / "img1.jpg").read_bytes()
    assert start(run.stub(), "dup-1", ref, nonce())[-1].result.stored
    err = first_event_error(run.stub(), apb.StartRequest(transaction_id="dup-1", reference_photo=ref,
                                                         carrier_nonce=nonce()))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert err.details().startswith("duplicate_transaction:")
    assert run.outbox.last_counter() == 1


BAD_TXNS = ["", "t 1", "t-1 decision=pass counter=1", "t\nsession_done", "x" * 65, "tränsaction", "a/b", "a=b"]


@pytest.mark.parametrize("txn", BAD_TXNS)
def test_transaction_ids_outside_the_safe_alphabet_are_refused(txn: str, running, faces_dir: Path) -> None:
    run = running()
    ref = (faces_dir / "img1.jpg").read_bytes()
    stub = run.stub()
    err = first_event_error(stub, apb.StartRequest(transaction_id=txn, reference_photo=ref, carrier_nonce=nonce()))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and err.details().startswith("bad_transaction_id:")
    for call, request in ((stub.GetResult, apb.ResultRequest(transaction_id=txn)),
                          (stub.Cancel, apb.CancelRequest(transaction_id=txn))):
        with pytest.raises(grpc.RpcError) as other:
            call(request, timeout=10)
        assert other.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert run.outbox.last_counter() == 0


def test_a_transaction_id_cannot_forge_a_log_event(running, faces_dir: Path, caplog) -> None:
    run = running()
    ref = (faces_dir / "img1.jpg").read_bytes()
    forged = "t-9 decision=pass counter=77"
    caplog.set_level(logging.INFO)
    with pytest.raises(grpc.RpcError):
        start(run.stub(), forged, ref, nonce())
    events = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    assert not any(e.get("counter") == "77" or e.get("decision") == "pass" for e in events), events
    refused = [e for e in events if e["event"] == "request_refused"]
    assert len(refused) == 1 and refused[0]["reason"] == "bad_transaction_id"  # logged once, no traceback
    assert not any("exception" in e for e in events)


@pytest.mark.slow
def test_get_result_only_for_the_client_that_ran_the_session(running, faces_dir: Path) -> None:
    run = running()
    ref = (faces_dir / "img1.jpg").read_bytes()
    stub = run.stub()
    summary = start(stub, "own-1", ref, nonce())[-1].result
    assert len(summary.result_token) >= 16
    status = stub.GetResult(apb.ResultRequest(transaction_id="own-1", result_token=summary.result_token), timeout=10)
    assert status.state == "pending" and status.counter == summary.counter and status.signed_result
    for token in ("", "x" * len(summary.result_token), summary.result_token[:-1]):
        with pytest.raises(grpc.RpcError) as err:
            stub.GetResult(apb.ResultRequest(transaction_id="own-1", result_token=token), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    # A result this agent did not produce in this window (an old record) is not served to anyone.
    with pytest.raises(grpc.RpcError) as old:
        stub.GetResult(apb.ResultRequest(transaction_id="never-ran", result_token=summary.result_token), timeout=10)
    assert old.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


@pytest.mark.slow
def test_get_result_window_expires(running, faces_dir: Path) -> None:
    cfg = Config(liveness=LivenessSettings(seed=SEED), api=replace(ApiConfig(), result_window_s=1e-6))
    run = running(config=cfg)
    summary = start(run.stub(), "late-1", (faces_dir / "img1.jpg").read_bytes(), nonce())[-1].result
    with pytest.raises(grpc.RpcError) as err:
        run.stub().GetResult(apb.ResultRequest(transaction_id="late-1", result_token=summary.result_token),
                             timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def _terminal(sock: Path, ref: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_agent.cli", "terminal", "--socket", str(sock), "verify",
                           "--reference", str(ref), "--timeout", "1200", *extra],
                          capture_output=True, text=True, timeout=1500)


_reject = refuse("FAILED_PRECONDITION", "counter 1 does not increase (last accepted 9)")


def test_only_an_accepted_pass_exits_0() -> None:
    from edge_agent.terminal import outcome

    assert [outcome("pass", s) for s in ("acked", "rejected", "pending")] == [0, 5, 4]
    assert [outcome("fail", s) for s in ("acked", "rejected", "pending")] == [1, 1, 1]


@pytest.mark.slow
def test_the_terminal_exits_5_and_says_why_when_the_carrier_rejects_a_pass(running, faces_dir: Path) -> None:
    run = running(carrier=FakeCarrier(_reject), frames=10_000)
    proc = _terminal(run.sock, faces_dir / "img1.jpg", "--wait-delivery", "10")
    assert proc.returncode == 5, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "\nPASS  liveness" in proc.stdout
    assert "carrier: REJECTED: FAILED_PRECONDITION: counter 1 does not increase" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("answer,code,said", [(accept, 1, "carrier: ACCEPTED (receipt rcpt-1)"),
                                              (unreachable, 1, "carrier: PENDING")])
def test_the_terminal_shows_the_carrier_state_of_a_fail(answer, code: int, said: str, running,
                                                        faces_dir: Path) -> None:
    run = running(carrier=FakeCarrier(answer))
    proc = _terminal(run.sock, faces_dir / "img1.jpg", "--wait-delivery", "3")
    assert proc.returncode == code, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "\nFAIL  liveness" in proc.stdout
    assert said in proc.stdout


def test_an_image_bomb_as_reference_photo_is_refused_by_name(running) -> None:
    from test_hostile_files import WEBP_BOMB

    run = running()
    err = first_event_error(run.stub(), apb.StartRequest(transaction_id="bomb-1", reference_photo=WEBP_BOMB,
                                                         carrier_nonce=nonce()))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("image_too_large:")
    assert run.outbox.last_counter() == 0


@pytest.mark.slow  # seconds of model runs: the fast tier stays under its minute (tests/tier_budget.py)
def test_the_signed_result_names_the_camera(running, faces_dir: Path) -> None:
    """The capture device's identity digest is signed with the result (a file source leaves it empty:
    test_signing.py)."""
    camera = CameraIdentity("v4l2", "uvcvideo", "HD Pro Webcam C920", "usb-0000:01:00.0-1.3")
    run = running(camera=camera)
    start(run.stub(), "cam-1", (faces_dir / "img1.jpg").read_bytes(), nonce())
    signed = parse_result(parse_signed(run.outbox.get("cam-1").signed).result)
    assert signed.camera_sha256 == camera.digest
