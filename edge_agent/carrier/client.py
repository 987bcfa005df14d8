"""The device's gRPC client to the carrier: mTLS channel, deadlines on every call, typed failures.

This is the one boundary where ``grpc.RpcError`` is caught on the device side of
the carrier protocol: every call either returns the carrier's answer or raises
``CarrierUnavailable`` (the carrier could not be reached or did not answer in
time: retry) or ``CarrierRefused`` (it answered no: retrying the same request
will not help), both with the gRPC status name and detail. Code above it
(provisioning, selftest, the sender, the daemon) depends on the ``Carrier``
protocol only; ``edge_agent/carrier/fake.py`` is its in-memory stand-in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

import grpc

from edge_agent._proto import carrier_pb2 as pb
from edge_agent._proto import carrier_pb2_grpc as pb_grpc
from edge_agent.errors import CarrierRefused, CarrierUnavailable

__all__ = ["CARRIER_ERRORS", "RETRYABLE", "Carrier", "CarrierClient", "DeviceCredentials", "carrier_error", "enroll"]

# Statuses that say "not now" rather than "no": the sender retries these with backoff.
RETRYABLE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED"})
# What any carrier call may raise, for callers that treat both alike (a selftest line, a status field).
CARRIER_ERRORS = (CarrierUnavailable, CarrierRefused)

T = TypeVar("T")


class Carrier(Protocol):
    """What the device asks of its carrier; ``CarrierClient`` over gRPC, ``FakeCarrier`` in memory."""

    def get_nonce(self, device_id: str, transaction_id: str) -> pb.NonceResponse:
        """A fresh nonce bound to this transaction."""
        ...

    def submit(self, signed: bytes) -> pb.SubmitAck:
        """Deliver one stored SignedResult."""
        ...

    def heartbeat(self, device_id: str, now_ms: int, backlog: int) -> pb.HeartbeatResponse:
        """Liveness of the link and the carrier's clock."""
        ...

    def rotate_keys(self, request: pb.RotateRequest) -> pb.RotateResponse:
        """Enrol new signing and TLS keys under the current identity."""
        ...

    def deregister(self, request: pb.DeregisterRequest) -> pb.DeregisterResponse:
        """Revoke this device."""
        ...

    def close(self) -> None:
        """Release the channel."""
        ...


def carrier_error(exc: grpc.RpcError, target: str) -> CarrierUnavailable | CarrierRefused:
    """The typed error for a failed call: retryable statuses are unavailability, any other a refusal."""
    code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN
    detail = (exc.details() if callable(getattr(exc, "details", None)) else str(exc)) or ""
    status = code.name
    message = f"carrier {target}: {status}: {detail}" if detail else f"carrier {target}: {status}"
    if status in RETRYABLE:
        return CarrierUnavailable(message, status=status, detail=detail)
    return CarrierRefused(message, status=status, detail=detail)


@contextmanager
def _mapped(target: str) -> Iterator[None]:
    try:
        yield
    except grpc.RpcError as exc:
        raise carrier_error(exc, target) from None


@dataclass(frozen=True)
class DeviceCredentials:
    """The device's mTLS material: the carrier's CA, the device key and its certificate (PEM)."""

    ca_pem: bytes
    key_pem: bytes
    cert_pem: bytes


def enroll(target: str, ca_pem: bytes, token: str, signing_public_key: bytes, csr_pem: bytes,
           *, timeout: float = 10.0) -> pb.EnrollResponse:
    """Enrol over server-authenticated TLS (the device has no certificate yet)."""
    with grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca_pem)) as channel, \
            _mapped(target):
        stub = pb_grpc.CarrierStub(channel)  # type: ignore[no-untyped-call]
        resp: pb.EnrollResponse = stub.Enroll(
            pb.EnrollRequest(token=token, signing_public_key=signing_public_key, csr_pem=csr_pem), timeout=timeout
        )
        return resp


class CarrierClient:
    """The ``Carrier`` over gRPC with mutual TLS."""

    def __init__(self, target: str, creds: DeviceCredentials, *, deadline_s: float = 5.0) -> None:
        self.target = target
        self.deadline_s = deadline_s
        tls = grpc.ssl_channel_credentials(
            root_certificates=creds.ca_pem, private_key=creds.key_pem, certificate_chain=creds.cert_pem
        )
        # Reconnect within seconds once the carrier is back, instead of gRPC's default of up to 2 minutes.
        options = [("grpc.initial_reconnect_backoff_ms", 500), ("grpc.max_reconnect_backoff_ms", 5000),
                   ("grpc.min_reconnect_backoff_ms", 500)]
        self._channel = grpc.secure_channel(target, tls, options=options)
        self._stub = pb_grpc.CarrierStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Release the channel."""
        self._channel.close()

    def _call(self, method: Callable[..., T], request: object) -> T:
        with _mapped(self.target):
            return method(request, timeout=self.deadline_s)

    def get_nonce(self, device_id: str, transaction_id: str) -> pb.NonceResponse:
        """A fresh nonce bound to this transaction."""
        resp: pb.NonceResponse = self._call(self._stub.GetNonce,
                                            pb.NonceRequest(device_id=device_id, transaction_id=transaction_id))
        return resp

    def submit(self, signed: bytes) -> pb.SubmitAck:
        """Send the stored SignedResult bytes; the signed ``result`` field goes out byte for byte."""
        ack: pb.SubmitAck = self._call(self._stub.SubmitResult, pb.SignedResult.FromString(signed))
        return ack

    def heartbeat(self, device_id: str, now_ms: int, backlog: int) -> pb.HeartbeatResponse:
        """Liveness of the link and the carrier's clock."""
        resp: pb.HeartbeatResponse = self._call(
            self._stub.Heartbeat,
            pb.HeartbeatRequest(device_id=device_id, device_time_unix_ms=now_ms, outbox_backlog=backlog))
        return resp

    def rotate_keys(self, request: pb.RotateRequest) -> pb.RotateResponse:
        """Enrol new signing and TLS keys under the current identity."""
        resp: pb.RotateResponse = self._call(self._stub.RotateKeys, request)
        return resp

    def deregister(self, request: pb.DeregisterRequest) -> pb.DeregisterResponse:
        """Revoke this device."""
        resp: pb.DeregisterResponse = self._call(self._stub.Deregister, request)
        return resp
