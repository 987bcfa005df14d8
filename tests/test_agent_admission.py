"""The agent's gRPC front: malformed bodies are one log line and INVALID_ARGUMENT; busy is answered unread.

Before, 400 malformed requests wrote 317 ERROR tracebacks (grpcio's own "Exception deserializing message!")
and answered INTERNAL; and a StartVerification was parsed whole before the servicer could say busy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from edge_agent._proto import agent_pb2 as apb
from edge_agent._proto import agent_pb2_grpc as apb_grpc
from edge_agent.config import Config
from edge_agent.service.admission import agent_server
from edge_agent.service.daemon import Agent

METHODS = ("Health", "GetResult", "Cancel", "StartVerification", "Preview")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Agent, grpc.Channel]]:
    agent = Agent(Config(), None, None, None, "dev-admission", lambda: None)  # type: ignore[arg-type,return-value]
    server = agent_server(agent.busy)
    apb_grpc.add_AgentServicer_to_server(agent, server)  # type: ignore[no-untyped-call]
    sock = tmp_path / "agent.sock"
    server.add_insecure_port(f"unix:{sock}")
    server.start()
    channel = grpc.insecure_channel(f"unix:{sock}")
    try:
        yield agent, channel
    finally:
        channel.close()
        server.stop(None)


def _call(channel: grpc.Channel, method: str, body: bytes) -> grpc.StatusCode:
    path = f"/edge_agent.agent.v1.Agent/{method}"
    try:
        if method in ("StartVerification", "Preview"):
            list(channel.unary_stream(path)(body, timeout=10))
        else:
            channel.unary_unary(path)(body, timeout=10)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[attr-defined,no-any-return]
    return grpc.StatusCode.OK


def test_malformed_requests_are_one_line_each_and_no_traceback(served: tuple[Agent, grpc.Channel],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    _, channel = served
    caplog.set_level(logging.INFO)
    codes = [_call(channel, m, b"\xff\xff\xff\xff" + bytes([i])) for i in range(80) for m in METHODS]
    assert set(codes) == {grpc.StatusCode.INVALID_ARGUMENT} and len(codes) == 400
    refused = [r for r in caplog.records if r.getMessage() == "request_refused"]
    assert [(r.name, r.getMessage(), r.exc_info) for r in caplog.records if r.exc_info] == []
    assert len(refused) == 400
    assert {r.ea_fields.get("reason") for r in refused} == {"malformed_request"}  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_start_while_busy_is_refused_before_the_servicer_sees_it(served: tuple[Agent, grpc.Channel]) -> None:
    agent, channel = served
    entered: list[str] = []
    agent._start = lambda request, context: entered.append(request.transaction_id) or iter(())  # type: ignore
    body = apb.StartRequest(transaction_id="busy-1", reference_photo=b"\xff\xd8" + bytes(4 << 20)).SerializeToString()
    agent._lock.acquire()
    try:
        assert _call(channel, "StartVerification", body) == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        agent._lock.release()
    assert entered == []  # answered by the interceptor, the request unread and unparsed
    assert _call(channel, "StartVerification", body) == grpc.StatusCode.OK and entered == ["busy-1"]
    assert _call(channel, "StartVerification", body) == grpc.StatusCode.OK  # the admission lease was handed on
