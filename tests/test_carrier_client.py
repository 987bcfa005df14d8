"""The device's carrier client at its boundary: real gRPC on loopback in, typed errors out."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from carrier_harness import Carrier, Device, enrol_device, start_carrier

from edge_agent._proto import carrier_pb2 as pb
from edge_agent._proto import carrier_pb2_grpc as pb_grpc
from edge_agent.carrier.client import CarrierClient, carrier_error
from edge_agent.carrier.fake import FakeCarrier, accept, refuse, unreachable
from edge_agent.carrier.sender import Sender
from edge_agent.errors import CarrierRefused, CarrierUnavailable, grpc_status_of
from edge_agent.outbox.store import Outbox


@pytest.fixture(scope="module")
def carrier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Carrier]:
    c = start_carrier(tmp_path_factory.mktemp("carrier"))  # SQLite: the client's mapping is not the store's job
    yield c
    c.stop()


@pytest.fixture(scope="module")
def device(carrier: Carrier) -> Device:
    return enrol_device(carrier)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Refusing(pb_grpc.CarrierServicer):
    """A carrier that answers every heartbeat with one status."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code

    def Heartbeat(self, request: pb.HeartbeatRequest, context: grpc.ServicerContext) -> pb.HeartbeatResponse:
        context.abort(self.code, "said no")
        raise AssertionError


@pytest.fixture
def plain_carrier() -> Iterator[tuple[str, _Refusing]]:
    servicer = _Refusing(grpc.StatusCode.PERMISSION_DENIED)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_CarrierServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(None)


def _stub_call(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        pb_grpc.CarrierStub(channel).Heartbeat(pb.HeartbeatRequest(device_id="d"), timeout=5)


@pytest.mark.parametrize("code,kind", [(grpc.StatusCode.PERMISSION_DENIED, CarrierRefused),
                                       (grpc.StatusCode.FAILED_PRECONDITION, CarrierRefused),
                                       (grpc.StatusCode.UNAVAILABLE, CarrierUnavailable),
                                       (grpc.StatusCode.DEADLINE_EXCEEDED, CarrierUnavailable)])
def test_a_real_status_becomes_the_typed_error(plain_carrier, code: grpc.StatusCode, kind: type) -> None:
    target, servicer = plain_carrier
    servicer.code = code
    with pytest.raises(grpc.RpcError) as raw:
        _stub_call(target)
    mapped = carrier_error(raw.value, target)
    assert type(mapped) is kind
    assert (mapped.status, mapped.detail) == (code.name, "said no")
    assert code.name in str(mapped) and target in str(mapped)


def test_nobody_listening_is_unavailable_with_the_client(carrier: Carrier, device: Device) -> None:
    client = CarrierClient(f"127.0.0.1:{free_port()}", device.creds, deadline_s=2)
    try:
        with pytest.raises(CarrierUnavailable) as err:
            client.heartbeat(device.device_id, 0, 0)
    finally:
        client.close()
    assert err.value.status in ("UNAVAILABLE", "DEADLINE_EXCEEDED")
    assert grpc_status_of(err.value) == "UNAVAILABLE"


def test_the_real_carrier_refusing_a_result_is_a_refusal(carrier: Carrier, device: Device) -> None:
    client = CarrierClient(carrier.target, device.creds)
    try:
        assert client.heartbeat(device.device_id, 0, 0).server_time_unix_ms > 0
        with pytest.raises(CarrierRefused) as err:
            client.submit(pb.SignedResult(result=b"not a result", signature=b"s" * 64).SerializeToString())
    finally:
        client.close()
    assert err.value.status == "INVALID_ARGUMENT" and err.value.detail


def test_the_sender_retries_unavailable_and_rejects_refused(tmp_path: Path, device: Device) -> None:
    box = Outbox(tmp_path / "outbox.db")
    try:
        rec = box.put(device.fields("t-1", b"n" * 32), device.sign)
        fake = FakeCarrier(unreachable)
        report = Sender(box, fake.submit).drain()
        assert report.waiting and box.get("t-1").state == "pending"
        assert box.get("t-1").last_error == "UNAVAILABLE: connection refused"
        fake.answer = refuse("FAILED_PRECONDITION", "counter too low")
        box.mark_retry("t-1", "", 0)
        report = Sender(box, fake.submit).drain()
        assert (report.rejected, box.get("t-1").state) == (1, "rejected")
        assert box.get("t-1").last_error == "FAILED_PRECONDITION: counter too low"
        fake.answer = accept
        box.put(device.fields("t-2", b"m" * 32), device.sign)
        assert Sender(box, fake.submit).drain().acked == 1
        assert fake.submitted[-1] == box.get("t-2").signed and rec.counter == 1
    finally:
        box.close()
