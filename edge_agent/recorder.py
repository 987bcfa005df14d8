"""Turns a verification outcome into a signed, durably stored result for the carrier.

This is the one place where a session's outcome meets the device's keys: it
computes the embedding commitment (the embedding itself goes no further),
decides whether the raw score may travel (only when configured: scores help
an attacker hill-climb), and puts the result in the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.attest.keys import DeviceKeys
from edge_agent.attest.liveness import liveness_to_proto
from edge_agent.attest.result import ResultFields, commitment, parse_result, parse_signed, sign_result
from edge_agent.liveness.verdict import Verdict
from edge_agent.matching.matcher import MatchResult
from edge_agent.outbox.store import Outbox, Record
from edge_agent.vision.embedder import quantise_embedding

__all__ = ["ResultRecorder", "SignedSummary", "signed_summary"]


@dataclass(frozen=True)
class SignedSummary:
    """What a signed result says, as the agent API reports it: "pass"/"fail", the verdict's wire name, reasons."""

    decision: str
    liveness: str
    reason_codes: tuple[str, ...]


def signed_summary(signed: bytes) -> SignedSummary:
    """Read back from the signed bytes, so a summary can never disagree with what the carrier gets."""
    result = parse_result(parse_signed(signed).result)
    return SignedSummary("pass" if result.decision == pb.DECISION_PASS else "fail",
                         pb.LivenessVerdict.Name(result.liveness), tuple(result.reason_codes))


@dataclass
class ResultRecorder:
    """Signs a session's outcome and puts it in the outbox."""

    device_id: str
    keys: DeviceKeys
    outbox: Outbox
    manifest_sha256: str
    send_similarity: bool = False
    # A pass needs a live verdict. Only match-only flows (the demo, before the
    # liveness session exists) turn this off; the result then says NOT_RUN.
    require_liveness: bool = True

    def record(
        self,
        transaction_id: str,
        nonce: bytes,
        match: MatchResult | None,
        probe_embedding: np.ndarray | None,
        *,
        liveness: Verdict = Verdict.NOT_RUN,
        reasons: tuple[str, ...] = (),
        camera: bytes = b"",
    ) -> Record:
        """Sign and commit; returns once the result is durable. ``match`` None means no comparison was possible.

        ``camera`` is the digest of the capture device's identity (``CameraIdentity.digest``), empty when
        the frames came from a file.
        """
        live_ok = liveness is Verdict.LIVE or (not self.require_liveness and liveness is Verdict.NOT_RUN)
        passed = match is not None and match.matched and live_ok
        codes = list(reasons)
        if match is not None:
            codes.append("face_match" if match.matched else "face_mismatch")
        commit = b""
        if probe_embedding is not None:
            commit = commitment(self.keys.commitment_secret(), transaction_id, nonce,
                                quantise_embedding(probe_embedding))
        fields = ResultFields(
            transaction_id=transaction_id,
            device_id=self.device_id,
            carrier_nonce=nonce,
            model_manifest_sha256=self.manifest_sha256,
            passed=passed,
            reason_codes=tuple(codes),
            liveness=liveness_to_proto(liveness),
            embedding_commitment=commit,
            similarity=match.similarity if (self.send_similarity and match is not None) else None,
            camera_sha256=camera,
        )
        key = self.keys.signing_key()
        return self.outbox.put(fields, lambda body: sign_result(key, body))
