"""The signed result: canonical bytes, Ed25519 signature, embedding commitment.

Canonical form: the ``Result`` message serialised deterministically, once,
on the device. Those bytes are what is signed, stored in the outbox and sent;
the verifier checks the signature over the bytes it received and only then
parses them, so no re-encoding can ever disagree with the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from google.protobuf.message import DecodeError

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.errors import BadSignature, MalformedResult

__all__ = ["FORMAT_VERSION", "BadSignature", "MalformedResult", "ResultFields", "commitment", "describe_signed",
           "encode_result", "parse_result", "parse_signed", "sign_result", "verify_signed_result"]

FORMAT_VERSION = 1
MAX_RESULT_BYTES = 4096


def _framed(*parts: bytes) -> bytes:
    # Length-prefixed so that ("ab", "c") and ("a", "bc") never collide.
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def commitment(secret: bytes, transaction_id: str, nonce: bytes, int8_embedding: bytes) -> bytes:
    """HMAC-SHA256(device secret, txn id || nonce || int8 embedding), each part length-prefixed.

    Binds the result to the exact template used without revealing it: without
    the device secret the value cannot be linked to a face or to another
    transaction. It is not a biometric identifier.
    """
    return hmac.new(secret, _framed(transaction_id.encode(), nonce, int8_embedding), hashlib.sha256).digest()


@dataclass(frozen=True)
class ResultFields:
    """What a session decides; the device fills in counter and time when it signs."""

    transaction_id: str
    device_id: str
    carrier_nonce: bytes
    model_manifest_sha256: str
    passed: bool
    reason_codes: tuple[str, ...] = ()
    liveness: int = pb.LIVENESS_NOT_RUN
    embedding_commitment: bytes = b""
    similarity: float | None = field(default=None)
    camera_sha256: bytes = b""  # the paired capture device's identity digest; empty for a file source


def encode_result(fields: ResultFields, counter: int, created_at_ms: int) -> bytes:
    """The canonical bytes of a result: serialised once, deterministically, and then signed as they are."""
    msg = pb.Result(
        format_version=FORMAT_VERSION,
        transaction_id=fields.transaction_id,
        device_id=fields.device_id,
        carrier_nonce=fields.carrier_nonce,
        counter=counter,
        created_at_unix_ms=created_at_ms,
        model_manifest_sha256=fields.model_manifest_sha256,
        decision=pb.DECISION_PASS if fields.passed else pb.DECISION_FAIL,
        reason_codes=list(fields.reason_codes),
        liveness=fields.liveness,  # type: ignore[arg-type]
        embedding_commitment=fields.embedding_commitment,
        has_similarity=fields.similarity is not None,
        similarity=fields.similarity or 0.0,
        camera_sha256=fields.camera_sha256,
    )
    return msg.SerializeToString(deterministic=True)


def sign_result(key: Ed25519PrivateKey, result_bytes: bytes) -> bytes:
    """The SignedResult wire bytes for ``result_bytes``."""
    return pb.SignedResult(result=result_bytes, signature=key.sign(result_bytes)).SerializeToString(
        deterministic=True
    )


def parse_signed(data: bytes) -> pb.SignedResult:
    """The SignedResult in ``data``, refusing oversized input and a missing signature or result."""
    if len(data) > MAX_RESULT_BYTES:
        raise MalformedResult(f"signed result is {len(data)} bytes; the limit is {MAX_RESULT_BYTES}")
    try:
        signed = pb.SignedResult.FromString(data)
    except DecodeError as exc:
        raise MalformedResult(f"signed result does not parse: {exc}") from None
    if len(signed.signature) != 64 or not signed.result:
        raise MalformedResult("signed result lacks a 64-byte signature or a result")
    return signed


def parse_result(result_bytes: bytes) -> pb.Result:
    """The Result in ``result_bytes``, refusing unknown versions, missing ids and any non-canonical encoding."""
    try:
        result = pb.Result.FromString(result_bytes)
    except DecodeError as exc:
        raise MalformedResult(f"result does not parse: {exc}") from None
    if result.format_version != FORMAT_VERSION:
        raise MalformedResult(f"result format {result.format_version} is not supported")
    if not result.transaction_id or not result.device_id or len(result.transaction_id) > 128:
        raise MalformedResult("result lacks a valid transaction id or device id")
    if result.decision not in (pb.DECISION_PASS, pb.DECISION_FAIL):
        raise MalformedResult("result has no decision")
    if len(result.embedding_commitment) not in (0, 32):
        raise MalformedResult("embedding commitment must be 32 bytes")
    if len(result.camera_sha256) not in (0, 32):
        raise MalformedResult("camera digest must be 32 bytes")
    # Canonical form only: anything that re-encodes differently (unknown fields,
    # non-minimal varints, reordered fields) is refused rather than interpreted.
    known = pb.Result()
    known.CopyFrom(result)
    known.DiscardUnknownFields()
    if known.SerializeToString(deterministic=True) != result_bytes:
        raise MalformedResult("result is not in canonical form")
    return result


def verify_signed_result(signed: pb.SignedResult, public_key: Ed25519PublicKey) -> pb.Result:
    """Verify the signature over the exact bytes received, then parse them."""
    try:
        public_key.verify(signed.signature, signed.result)
    except InvalidSignature:
        raise BadSignature("signature does not verify with the enrolled device key") from None
    return parse_result(signed.result)


def describe_signed(signed: pb.SignedResult, result: pb.Result) -> dict[str, Any]:
    """The signed result as people read it (demo output, the terminal client); no verification here."""
    return {
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
        "camera_sha256": result.camera_sha256.hex(),
        "signature": signed.signature.hex(),
        "signed_bytes": len(signed.result),
    }
