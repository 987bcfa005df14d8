"""Every byte the agent sends in a full verification, captured at the carrier: no image, crop or embedding.

The demo flow runs for real (enrolment, nonce, match with the real models,
signing, outbox, delivery over mTLS). A recording carrier keeps each request
exactly as received. We then search all of it, and the outbox file on disk,
for any 16-byte run of the embeddings (float32, float64, int8), of the chip
pixels and of the photo files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from edge_agent.carrier.server import CarrierService
from edge_agent.demo import run_demo
from edge_agent.vision.align import extract_chip, five_points
from edge_agent.vision.embedder import quantise_embedding
from edge_agent.vision.image import read_image

CAPTURED: list[tuple[str, bytes]] = []


class RecordingService(CarrierService):
    def _wrap(self, fn: Callable[[bytes, grpc.ServicerContext], Any]) -> Callable[..., Any]:
        inner = super()._wrap(fn)

        def record(data: bytes, context: grpc.ServicerContext) -> Any:
            CAPTURED.append((fn.__name__, bytes(data)))
            return inner(data, context)

        return record


def windows(blob: bytes, size: int = 16, step: int = 8) -> list[bytes]:
    return [blob[i: i + size] for i in range(0, max(1, len(blob) - size + 1), step)]


def test_only_signed_results_leave(pipeline, faces_dir: Path, tmp_path: Path, monkeypatch) -> None:
    CAPTURED.clear()
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    ref_path, probe_path = faces_dir / "img1.jpg", faces_dir / "img2.jpg"
    out = run_demo(ref_path, probe_path, service_class=RecordingService)
    assert out["carrier"]["accepted"]

    secrets_to_find: list[bytes] = []
    for path in (ref_path, probe_path):
        rgb = read_image(path)
        face = pipeline.analyse(rgb)
        emb = face.embedding
        secrets_to_find += windows(emb.astype(np.float32).tobytes())
        secrets_to_find += windows(emb.astype(np.float64).tobytes())
        secrets_to_find += windows(quantise_embedding(emb))
        chip = extract_chip(rgb, five_points(face.mesh.points))
        secrets_to_find += windows(chip.tobytes(), 48, 4501)
        secrets_to_find += windows(path.read_bytes(), 64, 997)

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
