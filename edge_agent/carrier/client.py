"""The device's gRPC client to the carrier: mTLS channel, deadlines on every call."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from edge_agent._proto import carrier_pb2 as pb
from edge_agent._proto import carrier_pb2_grpc as pb_grpc

__all__ = ["CarrierClient", "DeviceCredentials", "enroll"]


@dataclass(frozen=True)
class DeviceCredentials:
    ca_pem: bytes
    key_pem: bytes
    cert_pem: bytes


def enroll(target: str, ca_pem: bytes, token: str, signing_public_key: bytes, csr_pem: bytes,
           *, timeout: float = 10.0) -> pb.EnrollResponse:
    """Enrol over server-authenticated TLS (the device has no certificate yet)."""
    with grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca_pem)) as channel:
        stub = pb_grpc.CarrierStub(channel)  # type: ignore[no-untyped-call]
        resp: pb.EnrollResponse = stub.Enroll(
            pb.EnrollRequest(token=token, signing_public_key=signing_public_key, csr_pem=csr_pem), timeout=timeout
        )
        return resp


class CarrierClient:
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
        self._channel.close()

    def get_nonce(self, device_id: str, transaction_id: str) -> pb.NonceResponse:
        resp: pb.NonceResponse = self._stub.GetNonce(
            pb.NonceRequest(device_id=device_id, transaction_id=transaction_id), timeout=self.deadline_s
        )
        return resp

    def submit(self, signed: bytes) -> pb.SubmitAck:
        """Send the stored SignedResult bytes; the signed ``result`` field goes out byte for byte."""
        ack: pb.SubmitAck = self._stub.SubmitResult(pb.SignedResult.FromString(signed), timeout=self.deadline_s)
        return ack

    def heartbeat(self, device_id: str, now_ms: int, backlog: int) -> pb.HeartbeatResponse:
        resp: pb.HeartbeatResponse = self._stub.Heartbeat(
            pb.HeartbeatRequest(device_id=device_id, device_time_unix_ms=now_ms, outbox_backlog=backlog),
            timeout=self.deadline_s,
        )
        return resp

    def rotate_keys(self, request: pb.RotateRequest) -> pb.RotateResponse:
        resp: pb.RotateResponse = self._stub.RotateKeys(request, timeout=self.deadline_s)
        return resp

    def deregister(self, request: pb.DeregisterRequest) -> pb.DeregisterResponse:
        resp: pb.DeregisterResponse = self._stub.Deregister(request, timeout=self.deadline_s)
        return resp
