"""The agent's Preview rpc over real gRPC: downscaled JPEGs of the running session only, one watcher, and an end."""

from __future__ import annotations

import random
import threading
from concurrent import futures
from pathlib import Path

import cv2
import grpc
import numpy as np
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

SEED = 2


@pytest.mark.slow
def test_preview_streams_the_running_session_downscaled_and_ends_with_it(pipeline, faces_dir: Path,
                                                                          tmp_path: Path) -> None:
    rgb = read_image(faces_dir / "img2.jpg")
    scene = live_scene(Face3D(rgb, pipeline.analyse(rgb).mesh.points),
                       [a.value for a in random_actions(random.Random(SEED))])
    items = list(scene)
    keys = DeviceKeys(MemoryKeyStore())
    keys.ensure()
    agent = Agent(Config(liveness=LivenessSettings(seed=SEED)), pipeline,
                  ResultRecorder("dev-preview", keys, Outbox(tmp_path / "outbox.db"), pipeline.manifest.sha256), None,
                  "dev-preview", lambda: FakeSource(items), antispoof=AntiSpoof.require(pipeline.manifest))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    apb_grpc.add_AgentServicer_to_server(agent, server)  # type: ignore[no-untyped-call]
    sock = tmp_path / "agent.sock"
    server.add_insecure_port(f"unix:{sock}")
    server.start()
    try:
        with grpc.insecure_channel(f"unix:{sock}") as ch:
            stub = apb_grpc.AgentStub(ch)  # type: ignore[no-untyped-call]
            assert list(stub.Preview(apb.PreviewRequest(wait_ms=100), timeout=10)) == []  # no session: nothing
            frames: list[apb.PreviewFrame] = []
            refused: list[grpc.StatusCode] = []

            def watch() -> None:
                frames.extend(stub.Preview(apb.PreviewRequest(max_width=200, max_fps=15, wait_ms=10_000),
                                           timeout=600))

            watcher = threading.Thread(target=watch)
            watcher.start()
            session = stub.StartVerification(apb.StartRequest(
                transaction_id="prev-1", reference_photo=(faces_dir / "img1.jpg").read_bytes(),
                carrier_nonce=np.random.bytes(32)), timeout=600)
            events = []
            for ev in session:
                events.append(ev)
                if len(events) == 1:  # while the first watcher holds the place, a second one is refused
                    try:
                        list(stub.Preview(apb.PreviewRequest(wait_ms=0), timeout=10))
                    except grpc.RpcError as exc:
                        refused.append(exc.code())
            watcher.join(30)
            assert not watcher.is_alive(), "the preview did not end with the session"
    finally:
        server.stop(None)
    assert events[-1].result.decision == "pass"
    assert refused == [grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert frames and {f.transaction_id for f in frames} == {"prev-1"}
    h, w = items[0][0].shape[:2]
    for f in frames:
        img = cv2.imdecode(np.frombuffer(f.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert (f.width, f.height) == (200, round(h * 200 / w)) == (img.shape[1], img.shape[0])
    assert agent.preview._frame is None  # nothing kept after the session
