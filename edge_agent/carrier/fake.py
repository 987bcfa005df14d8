"""An in-memory ``Carrier`` for tests and demos: issues nonces, answers submissions as it is told.

No gRPC: it raises the same typed errors the real client does (``CarrierUnavailable``,
``CarrierRefused``), so the code under test sees exactly what it would see on the wire.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.errors import CarrierRefused, CarrierUnavailable

__all__ = ["FakeCarrier", "accept", "refuse", "unreachable"]


def accept(signed: bytes) -> pb.SubmitAck:
    """A receipt for any submission."""
    return pb.SubmitAck(receipt_id="rcpt-1", accepted_at_unix_ms=1)


def refuse(status: str, detail: str) -> Callable[[bytes], pb.SubmitAck]:
    """An answer that refuses every submission with ``status`` (a grpc.StatusCode name) and ``detail``."""

    def answer(signed: bytes) -> pb.SubmitAck:
        raise CarrierRefused(f"carrier fake: {status}: {detail}", status=status, detail=detail)

    return answer


def unreachable(signed: bytes) -> pb.SubmitAck:
    """An answer as from a carrier that cannot be reached."""
    raise CarrierUnavailable("carrier fake: UNAVAILABLE: connection refused", status="UNAVAILABLE",
                             detail="connection refused")


@dataclass
class FakeCarrier:
    """Issues random nonces; answers submissions with ``answer``; records what it was sent."""

    answer: Callable[[bytes], pb.SubmitAck] = accept
    submitted: list[bytes] = field(default_factory=list)
    server_time_ms: int | None = None  # None: the local clock

    def get_nonce(self, device_id: str, transaction_id: str) -> pb.NonceResponse:
        """32 random bytes, as the reference carrier issues."""
        return pb.NonceResponse(nonce=os.urandom(32))

    def submit(self, signed: bytes) -> pb.SubmitAck:
        """Remember the bytes, then answer as told."""
        self.submitted.append(signed)
        return self.answer(signed)

    def heartbeat(self, device_id: str, now_ms: int, backlog: int) -> pb.HeartbeatResponse:
        """The fake's clock: ``server_time_ms`` or the device's own."""
        return pb.HeartbeatResponse(server_time_unix_ms=now_ms if self.server_time_ms is None
                                    else self.server_time_ms)

    def rotate_keys(self, request: pb.RotateRequest) -> pb.RotateResponse:
        """Not offered by the fake: refused, as a carrier that does not know the device would."""
        raise CarrierRefused("carrier fake: UNIMPLEMENTED", status="UNIMPLEMENTED")

    def deregister(self, request: pb.DeregisterRequest) -> pb.DeregisterResponse:
        """Always revoked."""
        return pb.DeregisterResponse()

    def close(self) -> None:
        """Nothing to release."""
