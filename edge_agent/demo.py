"""``edge-agent demo``: one verification end to end on this machine, printing the signed result.

Starts the reference carrier on loopback (temporary CA, mTLS) and enrols a
temporary device with a one-time token. The "customer" is the probe photo
animated in 3-D (``edge_agent.simulation``) performing this session's random
challenge: the liveness session runs on those frames with the real models,
its best frame is matched against the reference photo, and the result is
signed, committed to the outbox, delivered, and printed as the carrier
verified it. No camera is needed; on a device the frames come from the
camera instead.
"""

from __future__ import annotations

import random
import secrets
import tempfile
import uuid
from pathlib import Path
from typing import Any

from edge_agent.attest.result import describe_signed, parse_signed, verify_signed_result
from edge_agent.carrier.client import CarrierClient
from edge_agent.carrier.sender import Sender
from edge_agent.device import DeviceState
from edge_agent.errors import BadInput
from edge_agent.liveness.challenge import random_actions
from edge_agent.outbox.store import Outbox
from edge_agent.recorder import ResultRecorder
from edge_agent.reference_carrier.server import CarrierServer, CarrierService, open_store, server_state
from edge_agent.simulation.scenes import Face3D, live_scene
from edge_agent.verification import decide_session, liveness_session, reference_of
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.image import read_image
from edge_agent.vision.pipeline import FacePipeline

__all__ = ["run_demo"]


def run_demo(reference: Path, probe: Path, *, models: Path | None = None, seed: int | None = None,
             service_class: type[CarrierService] = CarrierService) -> dict[str, Any]:
    """Run the demo; ``service_class`` lets a test put a recording carrier in place of the plain one."""
    pipeline = FacePipeline.from_directory(models)
    with tempfile.TemporaryDirectory(prefix="edge-agent-demo-") as tmp:
        root = Path(tmp)
        ca, key, cert = server_state(root / "carrier", ["localhost", "127.0.0.1"])
        service = service_class(open_store(root / "carrier"), ca)
        server = CarrierServer(service, key, cert).start()
        try:
            token = "tok-" + secrets.token_urlsafe(16)
            service.store.add_token(token, service.clock.now_ms() + 600_000)
            state = DeviceState(root / "device")
            ident = state.enrol(f"127.0.0.1:{server.enroll_port}", f"127.0.0.1:{server.port}", ca.cert_pem, token)
            client = CarrierClient(ident.carrier_target, ident.credentials)
            outbox = Outbox(state.outbox_path)
            recorder = ResultRecorder(ident.device_id, state.keys, outbox, pipeline.manifest.sha256)

            txn = f"txn-{uuid.uuid4()}"
            nonce = bytes(client.get_nonce(ident.device_id, txn).nonce)
            try:
                ref = reference_of(pipeline, read_image(reference))
            except BadInput as exc:
                raise exc.about("reference") from None
            liveness_out: dict[str, Any] = {}
            try:
                probe_rgb = read_image(probe)
                customer = Face3D(probe_rgb, pipeline.analyse(probe_rgb).mesh.points)
            except BadInput as exc:  # a probe that cannot be animated is a signed FAIL with its reason
                record = recorder.record(txn, nonce, None, None, reasons=(exc.code,))
                match = None
            else:
                rng = random.Random(seed) if seed is not None else random.SystemRandom()
                actions = random_actions(rng)
                session = liveness_session(pipeline, actions, antispoof=AntiSpoof.from_manifest(pipeline.manifest))
                scene = live_scene(customer, [a.value for a in actions])
                prompts = [e.message for _t, e in session.run(scene) if e.kind == "prompt"]
                decision = decide_session(session, ref)
                live, match = decision.live, decision.match
                record = recorder.record(txn, nonce, match, live.embedding, liveness=live.verdict,
                                         reasons=tuple(live.reasons))
                liveness_out = {"challenge": [a.value for a in actions], "prompts": prompts,
                                "frames": live.frames, "ms_per_frame": round(live.ms_per_frame, 1),
                                "parallax": None if live.parallax is None else round(live.parallax, 3)}
            report = Sender(outbox, client.submit).drain()
            delivered = outbox.get(txn)

            signed = parse_signed(record.signed)
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            result = verify_signed_result(signed, Ed25519PublicKey.from_public_bytes(state.keys.public_key()))
            audit = service.store.acceptance(ident.device_id, txn)
            client.close()
            outbox.close()
        finally:
            server.stop(None)
    return {
        "signed_result": describe_signed(signed, result),
        "carrier": {
            "accepted": audit is not None,
            "receipt_id": delivered.receipt,
            "outbox_state": delivered.state,
            "acked": report.acked,
            "rejected": report.rejected,
        },
        "local_only": {"similarity": round(match.similarity, 4) if match else None,
                       "threshold": round(ref.threshold, 4), "liveness_session": liveness_out},
    }


