"""What a genuine signed result can say: checks the carrier makes after the signature verifies.

A valid signature proves which device signed, not that the statement is
possible. A device whose software is buggy or tampered with could sign a PASS
that no session can produce; the carrier refuses it with a specific reason
instead of recording it. Pure logic: no I/O.
"""

from __future__ import annotations

import math
import re

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.errors import InvalidResult
from edge_agent.transaction import TXN_ID, transaction_id_problem

__all__ = ["MAX_COUNTER", "TXN_ID", "InvalidResult", "check_result", "check_transaction_id"]

MAX_COUNTER = 2**63 - 1  # counters are stored as signed 64-bit integers
MAX_REASONS = 32
_DIGEST = re.compile(r"[0-9a-f]{64}")
_REASON = re.compile(r"[a-z0-9_.:-]{1,64}")
_KNOWN_LIVENESS = frozenset(pb.LivenessVerdict.values())


def check_transaction_id(transaction_id: str) -> None:
    """Raise ``InvalidResult`` unless the id is 1-64 of A-Z a-z 0-9 . _ : - (before a nonce, before the database)."""
    if problem := transaction_id_problem(transaction_id):  # the agent's and the kiosk's rule (transaction.py)
        raise InvalidResult("transaction_id_invalid", problem)


def check_result(result: pb.Result) -> None:
    """Raise ``InvalidResult`` unless ``result`` is something a correct device could have signed."""
    check_transaction_id(result.transaction_id)
    if not 1 <= result.counter <= MAX_COUNTER:
        raise InvalidResult("counter_out_of_range", f"counter {result.counter} is outside 1..2^63-1")
    if not _DIGEST.fullmatch(result.model_manifest_sha256):
        raise InvalidResult("manifest_digest_invalid", "model_manifest_sha256 is not a 32-byte lowercase hex digest")
    if result.liveness not in _KNOWN_LIVENESS:
        raise InvalidResult("liveness_invalid", f"liveness verdict {result.liveness} is not a known verdict")
    reasons = list(result.reason_codes)
    if len(reasons) > MAX_REASONS or not all(_REASON.fullmatch(r) for r in reasons):
        raise InvalidResult("reason_codes_invalid",
                            f"at most {MAX_REASONS} reason codes of 1-64 characters [a-z0-9_.:-]")
    if result.has_similarity and not (math.isfinite(result.similarity) and -1.0 <= result.similarity <= 1.0):
        raise InvalidResult("similarity_invalid", "similarity must be a finite number in [-1, 1]")
    if result.camera_sha256 and len(result.camera_sha256) != 32:
        raise InvalidResult("camera_digest_invalid", "camera_sha256 must be empty or a 32-byte SHA-256 digest")
    if result.decision == pb.DECISION_PASS:
        if result.liveness != pb.LIVENESS_LIVE:
            verdict = pb.LivenessVerdict.Name(result.liveness)
            raise InvalidResult("pass_not_live", f"a PASS needs a LIVE liveness verdict, not {verdict}")
        if not reasons:
            raise InvalidResult("pass_without_reasons", "a PASS must say why (face_match)")
        if "face_match" not in reasons or "face_mismatch" in reasons:
            raise InvalidResult("pass_without_match", "a PASS needs face_match and no face_mismatch")
        if len(result.embedding_commitment) != 32:
            raise InvalidResult("pass_without_commitment", "a PASS needs the 32-byte embedding commitment")
