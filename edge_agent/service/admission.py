"""'Busy' before a request body is read, and malformed bodies refused in one line: the agent's gRPC server.

A StartVerification carries a reference photo of up to 16 MB. grpcio reads and parses a unary request before
the servicer runs, so the servicer's own "a session is running" came only after every body was in memory: 20
concurrent 15 MB requests took the daemon from 259 to 583 MB. The interceptor runs before the body is read
(it sees only the method name): while a session runs, or one was just admitted and has not started, it answers
with a stream handler that never reads its request, so the body is never taken off the wire. The server also
caps concurrent calls (``MAX_CONCURRENT_RPCS``; grpcio refuses the rest before reading them) and its worker
threads, which bounds the bodies in memory at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc

from edge_agent.logs import log_event

__all__ = ["MAX_CONCURRENT_RPCS", "MAX_MESSAGE_BYTES", "BusyFirst", "agent_server"]

log = logging.getLogger(__name__)

START = "/edge_agent.agent.v1.Agent/StartVerification"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_CONCURRENT_RPCS = 8  # a session, its preview, health and result polls, and a few refused callers
ADMISSION_LEASE_S = 10.0  # an admitted start that never reached the servicer frees its place after this


class BusyFirst(grpc.ServerInterceptor):
    """Refuses StartVerification with RESOURCE_EXHAUSTED, body unread, while ``busy()`` or another start is admitted."""

    def __init__(self, busy: Callable[[], bool]) -> None:
        self.busy = busy
        self._lock = threading.Lock()
        self._admitted_until = 0.0

    def _admit(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self.busy() or now < self._admitted_until:
                return False
            self._admitted_until = now + ADMISSION_LEASE_S
            return True

    def _started(self) -> None:
        with self._lock:
            self._admitted_until = 0.0

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        """Runs before grpcio reads the body: a busy start gets an unread refusal, every call our own parsing."""
        handler = continuation(details)
        if handler is None or handler.request_streaming:
            return handler
        if details.method == START and not self._admit():
            return grpc.stream_stream_rpc_method_handler(_refuse_unread)
        return _checked(handler, details.method.rsplit("/", 1)[-1], self._started if details.method == START else None)


class _Malformed:
    """A request body that did not parse: the handler refuses it, instead of grpcio logging a traceback."""


def _checked(handler: Any, method: str, on_start: Callable[[], None] | None) -> Any:
    """``handler`` with its own request parsing: bytes that are not the request message get INVALID_ARGUMENT
    ``malformed_request`` and one log line (grpcio logged a traceback and answered INTERNAL)."""
    parse = handler.request_deserializer

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data) if parse is not None else data
        except Exception:  # any parse failure is the caller's malformed bytes
            return _Malformed()

    def refuse(context: grpc.ServicerContext) -> None:
        log_event(log, "request_refused", logging.WARNING, code="INVALID_ARGUMENT", reason="malformed_request",
                  method=method)
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "malformed_request: the request is not a valid message")

    if handler.response_streaming:
        streaming = handler.unary_stream

        def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            if on_start is not None:
                on_start()  # the servicer's own lock holds the place from here
            if isinstance(request, _Malformed):
                refuse(context)
            yield from streaming(request, context)

        return grpc.unary_stream_rpc_method_handler(stream, request_deserializer=deserialize,
                                                    response_serializer=handler.response_serializer)
    unary = handler.unary_unary

    def call(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, _Malformed):
            refuse(context)
        return unary(request, context)

    return grpc.unary_unary_rpc_method_handler(call, request_deserializer=deserialize,
                                               response_serializer=handler.response_serializer)


def _refuse_unread(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
    """Never iterates ``requests``: the photo stays unread."""
    log_event(log, "request_refused", logging.WARNING, code="RESOURCE_EXHAUSTED", reason="session_busy")
    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "session_busy: a verification is already running on this "
                  "camera")
    yield from ()


def agent_server(busy: Callable[[], bool]) -> grpc.Server:
    """The agent's gRPC server: 4 workers, 16 MB messages, bounded concurrent calls, busy answered unread."""
    return grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[BusyFirst(busy)],
                       options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)],
                       maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS)
