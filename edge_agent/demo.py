"""``edge-agent demo``: one verification end to end on this machine, printing the signed result.

Starts the reference carrier on loopback (temporary CA, mTLS), enrols a
temporary device with a one-time token, matches the probe photo against the
reference photo with the real models, signs the result, commits it to the
outbox, delivers it, and prints the result as the carrier verified it. No
liveness yet (issue 3): the result says LIVENESS_NOT_RUN.
"""

from __future__ import annotations

import secrets
import tempfile
import uuid
from pathlib import Path
from typing import Any

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.attest.result import parse_signed, verify_signed_result
from edge_agent.carrier.client import CarrierClient
from edge_agent.carrier.sender import Sender
from edge_agent.carrier.server import CarrierServer, CarrierService, open_store, server_state
from edge_agent.device import DeviceState
from edge_agent.errors import BadInput
from edge_agent.matching.matcher import decide
from edge_agent.outbox.store import Outbox
from edge_agent.recorder import ResultRecorder
from edge_agent.vision.image import read_image
from edge_agent.vision.pipeline import FacePipeline

__all__ = ["run_demo"]


def run_demo(reference: Path, probe: Path, *, models: Path | None = None,
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
            recorder = ResultRecorder(ident.device_id, state.keys, outbox, pipeline.manifest.sha256,
                                      require_liveness=False)

            txn = f"txn-{uuid.uuid4()}"
            nonce = bytes(client.get_nonce(ident.device_id, txn).nonce)
            try:
                ref = pipeline.analyse(read_image(reference))
            except BadInput as exc:
                raise exc.about("reference") from None
            reasons: tuple[str, ...] = ()
            try:
                live = pipeline.analyse(read_image(probe))
                match, emb = decide(ref.embedding, live.embedding, pipeline.threshold), live.embedding
            except BadInput as exc:  # a bad probe is a signed FAIL with its reason, not a crash
                match, emb, reasons = None, None, (exc.code,)
            record = recorder.record(txn, nonce, match, emb, reasons=reasons)
            report = Sender(outbox, client.submit).drain()
            delivered = outbox.get(txn)

            signed = parse_signed(record.signed)
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            result = verify_signed_result(signed, Ed25519PublicKey.from_public_bytes(state.keys.public_key()))
            audit = service.store.acceptance(txn)
            client.close()
            outbox.close()
        finally:
            server.stop(None)
    return {
        "signed_result": {
            "transaction_id": result.transaction_id,
            "device_id": result.device_id,
            "counter": result.counter,
            "created_at_unix_ms": result.created_at_unix_ms,
            "carrier_nonce": result.carrier_nonce.hex(),
            "model_manifest_sha256": result.model_manifest_sha256,
            "decision": pb.Decision.Name(result.decision),
            "reason_codes": list(result.reason_codes),
            "liveness": pb.LivenessVerdict.Name(result.liveness),
            "embedding_commitment": result.embedding_commitment.hex(),
            "similarity_sent": result.has_similarity,
            "signature": signed.signature.hex(),
            "signed_bytes": len(signed.result),
        },
        "carrier": {
            "accepted": audit is not None,
            "receipt_id": delivered.receipt,
            "outbox_state": delivered.state,
            "acked": report.acked,
            "rejected": report.rejected,
        },
        "local_only": {"similarity": round(match.similarity, 4) if match else None,
                       "threshold": round(pipeline.threshold, 4)},
    }


