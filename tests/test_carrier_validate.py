"""The carrier's rules for what a signed result can say (pure logic; the gRPC answers are in test_carrier.py)."""

from __future__ import annotations

import pytest

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.reference_carrier.validate import MAX_COUNTER, InvalidResult, check_result, check_transaction_id


def result(**changes: object) -> pb.Result:
    base = dict(format_version=1, transaction_id="t", device_id="d", carrier_nonce=b"n" * 32, counter=1,
                created_at_unix_ms=1, model_manifest_sha256="a" * 64, decision=pb.DECISION_PASS,
                reason_codes=["face_match"], liveness=pb.LIVENESS_LIVE, embedding_commitment=b"c" * 32)
    base.update(changes)
    return pb.Result(**base)  # type: ignore[arg-type]


def reason(r: pb.Result) -> str | None:
    try:
        check_result(r)
    except InvalidResult as exc:
        return exc.reason
    return None


def test_a_genuine_pass_and_honest_fails_are_fine() -> None:
    assert reason(result()) is None
    assert reason(result(counter=MAX_COUNTER)) is None
    for verdict in (pb.LIVENESS_SPOOF, pb.LIVENESS_NOT_RUN, pb.LIVENESS_INCONCLUSIVE, pb.LIVENESS_UNSPECIFIED):
        assert reason(result(decision=pb.DECISION_FAIL, liveness=verdict, reason_codes=["face_mismatch"])) is None
    assert reason(result(decision=pb.DECISION_FAIL, reason_codes=[], embedding_commitment=b"")) is None
    assert reason(result(has_similarity=True, similarity=0.5)) is None
    assert reason(result(camera_sha256=b"k" * 32)) is None  # the paired camera's digest


@pytest.mark.parametrize(("changes", "expected"), [
    ({"counter": 0}, "counter_out_of_range"),
    ({"counter": MAX_COUNTER + 1}, "counter_out_of_range"),
    ({"model_manifest_sha256": ""}, "manifest_digest_invalid"),
    ({"model_manifest_sha256": "g" * 64}, "manifest_digest_invalid"),
    ({"model_manifest_sha256": "a" * 65}, "manifest_digest_invalid"),
    ({"liveness": 17}, "liveness_invalid"),
    ({"reason_codes": ["face_match"] * 33}, "reason_codes_invalid"),
    ({"reason_codes": ["face_match", "x" * 65]}, "reason_codes_invalid"),
    ({"reason_codes": ["face_match", "txn=evil other=1"]}, "reason_codes_invalid"),
    ({"has_similarity": True, "similarity": float("nan")}, "similarity_invalid"),
    ({"has_similarity": True, "similarity": 3.0}, "similarity_invalid"),
    ({"liveness": pb.LIVENESS_SPOOF}, "pass_not_live"),
    ({"liveness": pb.LIVENESS_NOT_RUN}, "pass_not_live"),
    ({"liveness": pb.LIVENESS_UNSPECIFIED}, "pass_not_live"),
    ({"reason_codes": []}, "pass_without_reasons"),
    ({"reason_codes": ["blink"]}, "pass_without_match"),
    ({"reason_codes": ["face_match", "face_mismatch"]}, "pass_without_match"),
    ({"embedding_commitment": b""}, "pass_without_commitment"),
    ({"camera_sha256": b"c" * 31}, "camera_digest_invalid"),
    ({"camera_sha256": b"c" * 33}, "camera_digest_invalid"),
])
def test_impossible_results_name_their_reason(changes: dict[str, object], expected: str) -> None:
    assert reason(result(**changes)) == expected


def test_transaction_ids_for_nonces() -> None:
    check_transaction_id("txn-1")
    for bad in ("", "x" * 129):
        with pytest.raises(InvalidResult) as err:
            check_transaction_id(bad)
        assert err.value.reason == "transaction_id_invalid"
