"""A child process for test_memory_budget: the agent's gRPC server with the models loaded, held busy.

``python agent_memory_server.py SOCKET [plain]``: serves an Agent (real pipeline, memory keys, outbox in the
socket's folder) whose camera is held by a session, so every StartVerification is refused busy. ``plain``
builds the server as before issue 25 (no admission interceptor), for comparison. Prints ``ready PID`` and,
when stdin closes, ``VmHWM KB`` and ``VmRSS KB``.
"""

from __future__ import annotations

import sys
from concurrent import futures
from pathlib import Path

import grpc

from edge_agent._proto import agent_pb2_grpc as apb_grpc
from edge_agent.attest.keys import DeviceKeys, MemoryKeyStore
from edge_agent.camera.source import FakeSource
from edge_agent.config import Config
from edge_agent.outbox.store import Outbox
from edge_agent.recorder import ResultRecorder
from edge_agent.service.admission import agent_server
from edge_agent.service.daemon import Agent
from edge_agent.vision.pipeline import FacePipeline


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def main() -> None:
    sock, plain = Path(sys.argv[1]), sys.argv[2:] == ["plain"]
    pipeline = FacePipeline.from_directory(precision="float")
    keys = DeviceKeys(MemoryKeyStore())
    keys.ensure()
    recorder = ResultRecorder("dev-mem", keys, Outbox(sock.parent / "outbox.db"), pipeline.manifest.sha256)
    agent = Agent(Config(), pipeline, recorder, None, "dev-mem", lambda: FakeSource([]))
    if plain:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                             options=[("grpc.max_receive_message_length", 16 * 1024 * 1024)])
    else:
        server = agent_server(agent.busy)
    apb_grpc.add_AgentServicer_to_server(agent, server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"unix:{sock}")
    server.start()
    agent._lock.acquire()  # a session holds the camera
    print("ready", flush=True)
    sys.stdin.read()
    print("VmHWM", _status("VmHWM"), "VmRSS", _status("VmRSS"), flush=True)
    server.stop(None)


if __name__ == "__main__":
    main()
