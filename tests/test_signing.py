"""Canonical signed results and the embedding commitment (pure logic, fuzzed)."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.attest.result import (
    BadSignature,
    MalformedResult,
    ResultFields,
    commitment,
    encode_result,
    parse_signed,
    sign_result,
    verify_signed_result,
)

KEY = Ed25519PrivateKey.generate()
FIELDS = ResultFields("txn-1", "dev-1", b"n" * 32, "a" * 64, True, ("face_match",), pb.LIVENESS_LIVE, b"c" * 32)
SIGNED = sign_result(KEY, encode_result(FIELDS, 7, 1_800_000_000_000))


def test_roundtrip() -> None:
    result = verify_signed_result(parse_signed(SIGNED), KEY.public_key())
    assert (result.transaction_id, result.counter, result.decision) == ("txn-1", 7, pb.DECISION_PASS)
    assert not result.has_similarity


def test_the_camera_digest_is_signed_and_must_be_a_digest() -> None:
    from dataclasses import replace

    from edge_agent.camera.identity import CameraIdentity

    camera = CameraIdentity("v4l2", "uvcvideo", "HD Webcam", "usb-0000:01:00.0-1.2").digest
    signed = sign_result(KEY, encode_result(replace(FIELDS, camera_sha256=camera), 8, 5))
    assert verify_signed_result(parse_signed(signed), KEY.public_key()).camera_sha256 == camera
    assert verify_signed_result(parse_signed(SIGNED), KEY.public_key()).camera_sha256 == b""  # a file source
    bad = sign_result(KEY, encode_result(replace(FIELDS, camera_sha256=camera[:31]), 9, 5))
    with pytest.raises(MalformedResult, match="camera digest"):
        verify_signed_result(parse_signed(bad), KEY.public_key())


def test_encoding_is_deterministic() -> None:
    assert encode_result(FIELDS, 7, 5) == encode_result(FIELDS, 7, 5)


def test_commitment_is_framed_and_keyed() -> None:
    s = secrets.token_bytes(32)
    assert commitment(s, "ab", b"c", b"e") != commitment(s, "a", b"bc", b"e")
    assert commitment(s, "t", b"n", b"e") != commitment(secrets.token_bytes(32), "t", b"n", b"e")
    assert len(commitment(s, "t", b"n", b"e")) == 32


def test_other_key_is_rejected() -> None:
    with pytest.raises(BadSignature):
        verify_signed_result(parse_signed(SIGNED), Ed25519PrivateKey.generate().public_key())


def test_non_canonical_bytes_are_rejected_even_when_signed() -> None:
    body = parse_signed(SIGNED).result + b"\xf8\x07\x01"  # an unknown field 127
    with pytest.raises(MalformedResult, match="canonical"):
        verify_signed_result(parse_signed(sign_result(KEY, body)), KEY.public_key())


def test_oversized_is_rejected() -> None:
    with pytest.raises(MalformedResult, match="limit"):
        parse_signed(b"\x0a" + b"\x00" * 5000)


@pytest.mark.slow  # every bit of a signed result (~4 s)
@given(st.integers(0, len(SIGNED) * 8 - 1))
@settings(max_examples=len(SIGNED) * 8, deadline=None)
def test_every_bit_flip_is_rejected(bit: int) -> None:
    data = bytearray(SIGNED)
    data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises((MalformedResult, BadSignature)):
        verify_signed_result(parse_signed(bytes(data)), KEY.public_key())


@given(st.binary(max_size=6000))
@settings(max_examples=500, deadline=None)
def test_arbitrary_bytes_only_raise_typed_errors(data: bytes) -> None:
    with pytest.raises((MalformedResult, BadSignature)):
        verify_signed_result(parse_signed(data), KEY.public_key())
