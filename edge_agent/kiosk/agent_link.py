"""The kiosk's side of the terminal API: the same gRPC calls as ``edge-agent terminal``, kept open.

Errors become the terminal client's typed errors (agent_unavailable /
agent_refused, ``edge_agent/agent_client.py``), so the pages show what went wrong instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc

from edge_agent._proto import agent_pb2 as apb
from edge_agent.agent_client import agent_error

__all__ = ["AgentLink"]


class AgentLink:
    """One channel to the agent's socket; each method is one call (thread-safe, as gRPC channels are)."""

    def __init__(self, target: str) -> None:
        from edge_agent._proto import agent_pb2_grpc as apb_grpc

        self.target = target
        self._channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 16 * 1024 * 1024)])
        self._stub: Any = apb_grpc.AgentStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Close the channel when the kiosk shuts down."""
        self._channel.close()

    def _unary(self, method: str, request: Any, timeout: float = 5.0) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise agent_error(exc, self.target) from None

    def health(self) -> apb.HealthResponse:
        """The agent's Health answer for the clerk's panel; an agent that does not answer is AgentUnavailable."""
        response: apb.HealthResponse = self._unary("Health", apb.HealthRequest())
        return response

    def result(self, txn: str, token: str) -> apb.ResultStatus:
        """The carrier's state of a session's result: the agent answers only with the token that session handed out."""
        response: apb.ResultStatus = self._unary("GetResult", apb.ResultRequest(transaction_id=txn,
                                                                                 result_token=token))
        return response

    def cancel(self, txn: str) -> bool:
        """Ask the agent to stop session ``txn``; True when there was one to stop."""
        return bool(self._unary("Cancel", apb.CancelRequest(transaction_id=txn)).cancelled)

    def verify(self, txn: str, photo: bytes, timeout: float) -> Iterator[apb.SessionEvent]:
        """The session's events; a cancelled or failed session raises its typed error."""
        try:
            yield from self._stub.StartVerification(apb.StartRequest(transaction_id=txn, reference_photo=photo),
                                                    timeout=timeout)
        except grpc.RpcError as exc:
            raise agent_error(exc, self.target) from None

    def preview(self, max_width: int, max_fps: int, wait_ms: int) -> Iterator[apb.PreviewFrame]:
        """The running session's downscaled frames until it ends (nothing when none starts within wait_ms)."""
        try:
            yield from self._stub.Preview(apb.PreviewRequest(max_width=max_width, max_fps=max_fps, wait_ms=wait_ms))
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise agent_error(exc, self.target) from None
