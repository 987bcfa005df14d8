"""100 back-to-back verifications through the terminal API: memory must not grow."""

from __future__ import annotations

import random
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import psutil
import pytest

from edge_agent._proto import agent_pb2 as apb
from edge_agent._proto import agent_pb2_grpc as apb_grpc
from edge_agent.attest.keys import DeviceKeys, MemoryKeyStore
from edge_agent.camera.source import FakeSource
from edge_agent.config import Config, LivenessSettings
from edge_agent.liveness.challenge import random_actions
from edge_agent.outbox.store import Outbox
from edge_agent.recorder import ResultRecorder
from edge_agent.service.daemon import Agent
from edge_agent.simulation.scenes import Face3D, live_scene
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.image import read_image

SEED = 9


@pytest.mark.slow
def test_100_sessions_memory_flat(pipeline, faces_dir: Path, tmp_path: Path, capsys) -> None:
    rgb = read_image(faces_dir / "img2.jpg")
    scene = live_scene(Face3D(rgb, pipeline.analyse(rgb).mesh.points),
                       [a.value for a in random_actions(random.Random(SEED))])
    items = list(scene)
    keys = DeviceKeys(MemoryKeyStore())
    keys.ensure()
    outbox = Outbox(tmp_path / "outbox.db")
    agent = Agent(Config(liveness=LivenessSettings(seed=SEED)), pipeline,
                  ResultRecorder("dev-load", keys, outbox, pipeline.manifest.sha256), None, "dev-load",
                  lambda: FakeSource(items), antispoof=AntiSpoof.require(pipeline.manifest))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    apb_grpc.add_AgentServicer_to_server(agent, server)
    sock = tmp_path / "agent.sock"
    server.add_insecure_port(f"unix:{sock}")
    server.start()
    ref = (faces_dir / "img1.jpg").read_bytes()
    proc = psutil.Process()
    try:
        with grpc.insecure_channel(f"unix:{sock}") as ch:
            stub = apb_grpc.AgentStub(ch)

            def one(i: int) -> str:
                events = list(stub.StartVerification(
                    apb.StartRequest(transaction_id=f"load-{i}", reference_photo=ref,
                                     carrier_nonce=np.random.bytes(32)), timeout=600))
                return events[-1].result.decision

            assert [one(i) for i in range(10)] == ["pass"] * 10  # warm-up: caches, arenas, interpreters
            before = proc.memory_info().rss
            decisions = [one(i) for i in range(10, 60)]
            middle = proc.memory_info().rss
            decisions += [one(i) for i in range(60, 110)]
            after = proc.memory_info().rss
    finally:
        server.stop(None)
    assert decisions == ["pass"] * 100
    assert outbox.backlog() == 110 and outbox.last_counter() == 110
    mb = 2**20
    with capsys.disabled():
        print(f"\n[load] 100 sessions: RSS {before / mb:.0f} MB -> {middle / mb:.0f} MB after 50 -> "
              f"{after / mb:.0f} MB after 100")
    # Allocator arenas settle during the first sessions; a leak shows as steady growth,
    # so the second 50 sessions must not add what a retained frame per session would (~0.9 MB each).
    assert (after - middle) / mb < 15, f"RSS grew {(after - middle) / mb:.1f} MB over the last 50 sessions"
