"""The client side of the agent API (``edge-agent terminal``, the kiosk): its one gRPC error mapping.

A status the agent answers means what ``edge_agent/errors.py`` says it means:
INVALID_ARGUMENT, NOT_FOUND and ALREADY_EXISTS are the request's fault
(``AgentRefused``, exit 2: fix the request); anything else is the agent that
cannot serve it now (``AgentUnavailable``, exit 3).
"""

from __future__ import annotations

import grpc

from edge_agent.errors import AgentRefused, AgentUnavailable, EdgeAgentError

__all__ = ["agent_error"]

_REFUSED = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS})


def agent_error(exc: grpc.RpcError, target: str) -> EdgeAgentError:
    """The typed error for a failed call to the agent at ``target``."""
    code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN
    details = (exc.details() if callable(getattr(exc, "details", None)) else str(exc)) or ""
    if code == grpc.StatusCode.UNAVAILABLE and "connect" in details:
        return AgentUnavailable(f"no agent answers on {target}: is edge-agent serve running? ({details})")
    if code in _REFUSED:
        return AgentRefused(f"{code.name}: {details}")
    return AgentUnavailable(f"{code.name}: {details}")
