"""Every byte the agent sends in a full verification, captured at the carrier: no image, crop or embedding.

The demo flow runs for real (enrolment, nonce, a liveness session on the
animated probe, match with the real models, signing, outbox, delivery over
mTLS). A recording carrier keeps each request exactly as received. We then
search all of it for any 16-byte run of the embeddings (the session's live
embedding and the photos', as float32, float64 and int8), of the chip pixels,
of the session's frames and of the photo files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

import edge_agent.verification as verification
from edge_agent.demo import run_demo
from edge_agent.liveness.session import LivenessResult, LivenessSession
from edge_agent.reference_carrier.server import CarrierService
from edge_agent.vision.embedder import quantise_embedding
from edge_agent.vision.image import read_image

CAPTURED: list[tuple[str, bytes]] = []
SEEN: list[np.ndarray] = []  # what the liveness session held in memory: frames and its embedding


class WatchedSession(LivenessSession):
    def feed(self, rgb: np.ndarray, t_ms: int) -> list[Any]:
        if len(SEEN) < 40:
            SEEN.append(rgb.copy())
        return super().feed(rgb, t_ms)

    def result(self) -> LivenessResult:
        r = super().result()
        if r.embedding is not None:
            SEEN.append(r.embedding.copy())
        return r


class RecordingService(CarrierService):
    def _wrap(self, fn: Callable[[bytes, grpc.ServicerContext], Any]) -> Callable[..., Any]:
        inner = super()._wrap(fn)

        def record(data: bytes, context: grpc.ServicerContext) -> Any:
            CAPTURED.append((fn.__name__, bytes(data)))
            return inner(data, context)

        return record


def windows(blob: bytes, size: int = 16, step: int = 8) -> list[bytes]:
    return [blob[i: i + size] for i in range(0, max(1, len(blob) - size + 1), step)]


@pytest.mark.slow
def test_only_signed_results_leave(pipeline, faces_dir: Path, tmp_path: Path, monkeypatch) -> None:
    CAPTURED.clear()
    SEEN.clear()
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(verification, "LivenessSession", WatchedSession)  # the one assembly the demo uses
    ref_path, probe_path = faces_dir / "img1.jpg", faces_dir / "img2.jpg"
    out = run_demo(ref_path, probe_path, seed=3, service_class=RecordingService)
    assert out["carrier"]["accepted"]
    assert out["signed_result"]["liveness"] == "LIVENESS_LIVE"
    live_embedding = SEEN[-1]
    assert live_embedding.shape == (128,)

    secrets_to_find: list[bytes] = []
    for path in (ref_path, probe_path):
        rgb = read_image(path)
        face = pipeline.analyse(rgb)
        emb = face.embedding
        secrets_to_find += windows(emb.astype(np.float32).tobytes())
        secrets_to_find += windows(emb.astype(np.float64).tobytes())
        secrets_to_find += windows(quantise_embedding(emb))
        chip = pipeline.align(rgb, face.mesh.points)
        secrets_to_find += windows(chip.tobytes(), 48, 4501)
        secrets_to_find += windows(path.read_bytes(), 64, 997)

    secrets_to_find += windows(live_embedding.astype(np.float32).tobytes())
    secrets_to_find += windows(quantise_embedding(live_embedding))
    for frame in SEEN[:-1:8]:
        secrets_to_find += windows(frame.tobytes(), 48, 9973)

    methods = [name for name, _ in CAPTURED]
    assert methods == ["enroll", "get_nonce", "submit"]
    wire = b"".join(data for _, data in CAPTURED)
    submit = CAPTURED[-1][1]
    assert len(submit) < 400, "a signed result is a few hundred bytes; anything larger carries something else"
    # Control: the search does find an embedding when one is there.
    control = wire + quantise_embedding(pipeline.analyse(read_image(probe_path)).embedding)
    assert any(w in control for w in secrets_to_find)
    leaked = [w for w in secrets_to_find if w and w in wire]
    assert not leaked, f"{len(leaked)} biometric byte runs found on the wire"
    assert out["signed_result"]["similarity_sent"] is False
