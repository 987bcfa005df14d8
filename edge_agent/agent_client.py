"""The one client of the agent API, shared by ``edge-agent terminal`` and the kiosk, and its one error mapping.

A status the agent answers means what ``edge_agent/errors.py`` says it means:
INVALID_ARGUMENT, NOT_FOUND and ALREADY_EXISTS are the request's fault
(``AgentRefused``, exit 2: fix the request); anything else is the agent that
cannot serve it now (``AgentUnavailable``, exit 3). No caller touches gRPC:
each method is one call and raises these typed errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any

import grpc

from edge_agent._proto import agent_pb2 as apb
from edge_agent.errors import AgentRefused, AgentUnavailable, EdgeAgentError

__all__ = ["AgentClient", "agent_error"]

_REFUSED = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS})
MAX_PHOTO_MESSAGE = 16 * 1024 * 1024  # a reference photo travels in StartRequest


def agent_error(exc: grpc.RpcError, target: str) -> EdgeAgentError:
    """The typed error for a failed call to the agent at ``target``."""
    code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN
    details = (exc.details() if callable(getattr(exc, "details", None)) else str(exc)) or ""
    if code == grpc.StatusCode.UNAVAILABLE and "connect" in details:
        return AgentUnavailable(f"no agent answers on {target}: is edge-agent serve running? ({details})")
    if code in _REFUSED:
        return AgentRefused(f"{code.name}: {details}")
    return AgentUnavailable(f"{code.name}: {details}")


class AgentClient:
    """One channel to the agent (``unix:/run/edge-agent/agent.sock`` or ``host:port``); thread-safe, as gRPC
    channels are. The terminal opens one per command (``with AgentClient(target) as agent``), the kiosk one for
    its lifetime."""

    def __init__(self, target: str) -> None:
        from edge_agent._proto import agent_pb2_grpc as apb_grpc

        self.target = target
        self._channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", MAX_PHOTO_MESSAGE)])
        self._stub: Any = apb_grpc.AgentStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Close the channel (the kiosk when it shuts down, the terminal after its command)."""
        self._channel.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _unary(self, method: str, request: Any, timeout: float = 5.0) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise agent_error(exc, self.target) from None

    def health(self) -> apb.HealthResponse:
        """The agent's Health answer; an agent that does not answer is AgentUnavailable."""
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
        """The session's events, the signed summary last; a cancelled or failed session raises its typed error."""
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
